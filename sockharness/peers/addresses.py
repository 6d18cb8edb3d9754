"""Address helpers shared by the peers: family from a host literal, readable rendering, IPv6 availability."""

from __future__ import annotations

import functools
import socket
from typing import Any

__all__ = ["family_for_host", "format_address", "ipv6_available", "ipv6_unavailable_reason", "target_address"]


def family_for_host(host: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 literal such as "::1", AF_INET otherwise (the harness only uses literals)."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def format_address(address: Any) -> str:
    """``127.0.0.1:5555`` / ``[::1]:5555``; anything else is shown with repr()."""
    if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[0], str):
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return repr(address)


def target_address(target: Any, *, argument: str = "target") -> tuple[Any, ...]:
    """Accept a peer (anything with ``.address``), a ``(host, port[, flow, scope])`` tuple or a list."""
    address = getattr(target, "address", target)
    if isinstance(address, list):
        address = tuple(address)
    if not (isinstance(address, tuple) and len(address) in (2, 4) and isinstance(address[0], str)):
        raise TypeError(f"{argument}: expected a peer or a (host, port) tuple, got {target!r}")
    if isinstance(address[1], bool) or not isinstance(address[1], int):
        raise TypeError(f"{argument}: port must be an int, got {address[1]!r}")
    return address


@functools.lru_cache(maxsize=1)
def ipv6_unavailable_reason() -> str | None:
    """None when a TCP socket can bind ::1 here; otherwise why not (for a clear pytest skip reason)."""
    if not socket.has_ipv6:
        return "this Python was built without IPv6 support (socket.has_ipv6 is False)"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        return f"the IPv6 loopback ::1 cannot be bound here ({exc})"
    return None


def ipv6_available() -> bool:
    """Whether the IPv6 loopback ::1 is usable on this machine (checked once per process)."""
    return ipv6_unavailable_reason() is None
