"""The backend-neutral fault API (docs/architecture.md): tests and scenarios talk to these Protocols, so
the same test runs against the embedded engine and a real Toxiproxy server."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from sockharness.faults._engine.connection_log import ConnectionRecord
from sockharness.faults._engine.targeting import Target
from sockharness.faults._engine.toxics import ToxicSpec
from sockharness.faults._errors import BadRequest
from sockharness.peers._addresses import coerce_address, format_address


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
    def host(self) -> str:
        """``address[0]``: the listen IP, as a peer's ``.host``."""
        ...

    @property
    def port(self) -> int:
        """``address[1]``: the listen port, as a peer's ``.port``."""
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
        target: Target | Mapping[str, object] | None = None,
        **attributes: int | float | str,
    ) -> str:
        """Add a toxic at the end of its stream's chain; returns its name.

        Attributes are in Toxiproxy's units (ms; µs for the slicer's delay; bytes; KB/s); durations and
        sizes may also be strings with a unit (``latency="100ms"``, ``bytes="64KiB"``). An unknown type or
        attribute, a wrong type or a negative value raises at once, before the proxy changes.

        ``target`` limits the toxic to chosen connections and a window in their life (``{"first": 2}``:
        the next two connections only; see ``sockharness.faults.Target``); embedded backend only."""
        ...

    def update_toxic(
        self,
        name: str,
        *,
        target: Target | Mapping[str, object] | None = None,
        **attributes: int | float | str,
    ) -> None:
        """Change some attributes (``toxicity=`` changes the toxicity) of a toxic, validated as in
        ``add_toxic``. ``target`` replaces the toxic's target (``{}``: every connection again; None
        leaves it as it is); embedded backend only, as in ``add_toxic``."""
        ...

    def remove_toxic(self, name: str) -> None: ...

    def toxics(self) -> list[ToxicSpec]: ...

    def connections(self) -> list[ConnectionRecord]:
        """The connection log: one record per accepted connection, oldest first (embedded backend only)."""
        ...

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
        self, upstream: object, *, name: str | None = None, listen: str = "127.0.0.1:0", protocol: str = "tcp"
    ) -> FaultProxy:
        """A proxy in front of ``upstream``: ``(host, port)``, ``"host:port"``, ``"[::1]:port"``, a peer, a
        proxy or anything with ``.address`` (see :func:`upstream_text`). ``protocol="udp"`` makes a UDP proxy
        (embedded backend only) that carries the ``udp_*`` datagram toxics."""
        ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


def upstream_text(upstream: object, *, argument: str = "create_proxy(upstream=...)") -> str:
    """A proxy's upstream as Toxiproxy's ``host:port`` text, from every form a peer accepts: ``(host, port)``,
    ``"host:port"``, ``"[::1]:port"``, a peer, a proxy, anything with ``.address``.

    A value that cannot work (no port, a host name the harness would have to resolve) raises here rather
    than as resets later: a wrong type TypeError, a wrong value :class:`BadRequest`, worded as the HTTP API
    words it."""
    try:
        address = coerce_address(upstream, argument=argument)
    except ValueError as error:
        shown = (
            upstream if isinstance(upstream, str) else format_address(getattr(upstream, "address", upstream))
        )
        raise BadRequest(f'bad request body: upstream "{shown}" is not an address here: {error}') from None
    return format_address(address)


__all__ = ["FaultBackend", "FaultProxy", "upstream_text"]
