"""The backend-neutral fault API (docs/architecture.md): tests and scenarios talk to these Protocols, so
the same test runs against the embedded engine and a real Toxiproxy server."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from sockharness.faults._engine.toxics import ToxicSpec


@runtime_checkable
class FaultProxy(Protocol):
    """One TCP proxy in front of an upstream; toxics act on its live and future connections."""

    # Read-only properties, so both plain attributes and computed properties satisfy the Protocol.
    @property
    def name(self) -> str: ...

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect (the resolved listen address)."""
        ...

    @property
    def upstream(self) -> tuple[str, int]: ...

    @property
    def enabled(self) -> bool: ...

    def add_toxic(
        self,
        type: str,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        **attributes: int | float | str,
    ) -> str:
        """Add a toxic at the end of its stream's chain; returns its name.

        Attributes are in Toxiproxy's units (ms; µs for the slicer's delay; bytes; KB/s); durations and
        sizes may also be strings with a unit (``latency="100ms"``, ``bytes="64KiB"``). An unknown type or
        attribute, a wrong type or a negative value raises at once, before the proxy changes."""
        ...

    def update_toxic(self, name: str, **attributes: int | float | str) -> None:
        """Change some attributes (``toxicity=`` changes the toxicity) of a toxic, validated as in
        ``add_toxic``."""
        ...

    def remove_toxic(self, name: str) -> None: ...

    def toxics(self) -> list[ToxicSpec]: ...

    def disable(self) -> None:
        """Close the listener (new connects are refused) and drop live connections."""
        ...

    def enable(self) -> None:
        """Listen again on the same address."""
        ...

    def down(self) -> AbstractContextManager[None]:
        """``with proxy.down():`` disabled inside the block, enabled again after it."""
        ...

    def reset(self) -> None:
        """Remove every toxic and enable."""
        ...

    def close(self) -> None:
        """Delete the proxy (its connections are closed)."""
        ...


@runtime_checkable
class FaultBackend(Protocol):
    """Creates proxies; ``close`` deletes every proxy this backend object created."""

    @property
    def name(self) -> str:
        """ "embedded" | "toxiproxy" """
        ...

    def create_proxy(
        self, upstream: tuple[str, int] | str, *, name: str | None = None, listen: str = "127.0.0.1:0"
    ) -> FaultProxy: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


def format_address(address: tuple[str, int] | str) -> str:
    """``("::1", 80)`` -> ``"[::1]:80"``; strings pass unchanged (Toxiproxy's host:port notation)."""
    if isinstance(address, str):
        return address
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str) -> tuple[str, int]:
    """``"127.0.0.1:80"`` / ``"[::1]:80"`` / ``"localhost:80"`` -> ``(host, port)``; ValueError names it."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"address {text!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"address {text!r}: port {port} is out of range")
    return host, port


__all__ = ["FaultBackend", "FaultProxy", "format_address", "parse_address"]
