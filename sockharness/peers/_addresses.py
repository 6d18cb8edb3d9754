"""One way to say an address: parse ``host:port``, render ``(host, port)``, accept whatever names a target.

Every entry point (peer classes, fixtures, the scenario layer, the fault proxies) goes through these few
functions, so ``"127.0.0.1:80"``, ``"[::1]:80"``, ``("::1", 80)``, a started peer, a proxy and anything with
an ``.address`` mean the same thing everywhere, and a value that cannot work fails at the call with the
reason.
Pure: no name resolution, no sockets (except the cached IPv6 probe at the bottom).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from typing import Any

__all__ = [
    "LOOPBACK_HOSTS",
    "coerce_address",
    "family_for_host",
    "format_address",
    "ipv6_available",
    "ipv6_unavailable_reason",
    "is_loopback",
    "parse_host_port",
    "target_address",
]

#: The loopback literals the harness binds by default; any 127.0.0.0/8 literal is loopback too.
LOOPBACK_HOSTS = ("127.0.0.1", "::1")


def family_for_host(host: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 literal such as "::1", AF_INET otherwise (the harness only uses literals)."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def format_address(address: Any) -> str:
    """``("127.0.0.1", 80)`` -> ``127.0.0.1:80``, ``("::1", 80, 0, 0)`` -> ``[::1]:80``.

    A string is taken to be written already (Toxiproxy's ``host:port`` notation) and passes unchanged;
    anything else is shown with repr(), so a message about a bad value still shows the value.
    """
    if isinstance(address, str):
        return address
    if isinstance(address, tuple | list) and len(address) >= 2 and isinstance(address[0], str):
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return repr(address)


def _check_port(port: object, text: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"address {text!r}: the port must be an int, got {port!r}")
    if not 0 <= port <= 65535:
        raise ValueError(f"address {text!r}: port {port} is out of range (0..65535)")
    return port


def parse_host_port(text: str) -> tuple[str, int]:
    """``"127.0.0.1:80"`` / ``"[::1]:80"`` / ``"localhost:80"`` -> ``(host, port)``.

    Raises ValueError naming the text and what is wrong with it: no port, a port that is not a number or out
    of range, an IPv6 literal without brackets (``"::1:80"`` is ambiguous), an empty host.
    """
    if not isinstance(text, str):
        raise TypeError(f"address: expected text such as '127.0.0.1:80', got {text!r}")
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError(f"address {text!r} is not host:port: an IPv6 literal is written [::1]:80")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"address {text!r} is not host:port: the port is missing")
        if ":" in host:
            raise ValueError(
                f"address {text!r} is not host:port: write an IPv6 literal in brackets, [::1]:80"
            )
    if not host:
        raise ValueError(f"address {text!r} is not host:port: the host is empty")
    if not port_text.isascii() or not port_text.isdigit():
        raise ValueError(f"address {text!r} is not host:port: port {port_text!r} is not a number")
    return host, _check_port(int(port_text), text)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and a loopback IP literal (127.0.0.0/8, ::1); no name is ever resolved."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_literal(host: str, text: object, argument: str) -> str:
    if host == "localhost":
        return "127.0.0.1"  # what Toxiproxy (Go's resolver, IPv4 first) picks; never a DNS lookup
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"{argument}: {text!r} names the host {host!r}, but an IP literal (127.0.0.1, ::1) or localhost "
            "is needed here: the socket family is chosen from it and no other name is resolved"
        ) from None
    return host


def coerce_address(target: Any, *, argument: str = "target", literal: bool = True) -> tuple[Any, ...]:
    """Whatever names an address, as a socket address tuple ``(host, port)`` or ``(host, port, flow, scope)``.

    Accepts a peer, a proxy or anything with ``.address``; a ``(host, port[, flow, scope])`` tuple or list;
    ``"host:port"`` or ``"[::1]:port"``. With ``literal`` (the default) the host must be an IP literal, since
    the harness picks the socket family from it; ``localhost`` is taken as 127.0.0.1 (as Toxiproxy does).
    Wrong types raise TypeError, wrong values ValueError, both naming ``argument`` and the value.
    """
    address = getattr(target, "address", target)
    if isinstance(address, str):
        try:
            address = parse_host_port(address)
        except ValueError as error:
            raise ValueError(f"{argument}: {error}") from None
    elif isinstance(address, list):
        address = tuple(address)
    if not (isinstance(address, tuple) and len(address) in (2, 4) and isinstance(address[0], str)):
        raise TypeError(
            f"{argument}: expected a peer, a (host, port) tuple or 'host:port' text, got {target!r}"
        )
    if isinstance(address[1], bool) or not isinstance(address[1], int):
        raise TypeError(f"{argument}: port must be an int, got {address[1]!r}")
    try:
        _check_port(address[1], format_address(address))
    except ValueError as error:
        raise ValueError(f"{argument}: {error}") from None
    if literal:
        host = _check_literal(
            address[0], target if isinstance(target, str) else format_address(address), argument
        )
        address = (host, *address[1:])
    return address


def target_address(target: Any, *, argument: str = "target") -> tuple[Any, ...]:
    """The address a client connects to: :func:`coerce_address` with an IP literal required."""
    return coerce_address(target, argument=argument)


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
