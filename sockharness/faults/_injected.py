"""Faults you asked for are not failures: which scripted peers tolerate the disconnects a fault causes.

A test or scenario that injects a fault which cuts connections (a toxic whose type ``disconnects`` in the
toxic registry: reset_peer, timeout, limit_data; or a proxy taken down) is not failed by the reset or early
EOF that fault causes. :class:`InjectedFaults` is told about each such fault *before* it is injected, and
from that moment on the scripted peers it reaches tolerate disconnects: the proxy's upstream server and
the scripted clients aimed at the proxy, including those that start later. Proxies chained in front of or
behind the faulted one pass the cut on, so their clients and upstreams are reached too.

Granularity: per peer, from that moment on (connections already running included, since a peer reads its
flag when the disconnect happens). A peer no fault was aimed at still fails loudly on a disconnect, and
wrong bytes fail every peer whatever it tolerates.

Pure bookkeeping over objects the caller hands in: no sockets, no engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sockharness.peers._tcp_client import ScriptedTCPClient
from sockharness.peers._tcp_server import ScriptedTCPServer

__all__ = ["InjectedFaults", "ProxyEnds", "cuts_connections", "toxic_type_named"]

Endpoint = tuple[str, int]


class ProxyEnds(Protocol):
    """What the bookkeeping needs of a proxy: where it listens and where it relays to."""

    @property
    def address(self) -> tuple[str, int]: ...

    @property
    def upstream(self) -> tuple[str, int]: ...


def cuts_connections(toxic: str | None) -> bool:
    """Whether injecting ``toxic`` (a toxic type; None: the proxy goes down) cuts connections.

    An unknown type raises UnknownToxicType here, before anything is marked, as adding it would."""
    if toxic is None:
        return True
    from sockharness.faults._engine.toxic_types import cuts_connections as toxic_cuts

    return toxic_cuts(toxic)


class _HasToxics(Protocol):
    def toxics(self) -> list[Any]: ...


def toxic_type_named(proxy: _HasToxics, name: str) -> str | None:
    """The type of ``proxy``'s toxic ``name`` (an update is injected like an add of that type); None
    when there is none, so the update itself fails with the backend's words."""
    return next((toxic.type for toxic in proxy.toxics() if toxic.name == name), None)


def _endpoint(address: Any) -> Endpoint | None:
    """``(host, port)`` of a socket address tuple (IPv6's flow and scope dropped); None when unknown."""
    if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[0], str):
        return address[0], int(address[1])
    return None


@dataclass
class InjectedFaults:
    """The ends of the proxies that had a connection-cutting fault injected, in one test or scenario."""

    #: Listen addresses of faulted proxies and of proxies in front of them: clients aimed here tolerate.
    client_targets: set[Endpoint] = field(default_factory=set)
    #: Upstream addresses of faulted proxies and of proxies behind them: servers here tolerate.
    server_addresses: set[Endpoint] = field(default_factory=set)

    def inject(
        self,
        proxy: ProxyEnds,
        toxic: str | None,
        *,
        peers: Iterable[object] = (),
        proxies: Iterable[ProxyEnds] = (),
        upstream_peer: object | None = None,
    ) -> None:
        """Record that ``toxic`` (None: down) is about to be injected on ``proxy``; if it cuts connections,
        ``upstream_peer`` and every scripted peer in ``peers`` at either end of the proxy (through the chain
        of ``proxies``) tolerate disconnects from now on. Call it before injecting, so no cut comes first."""
        if not cuts_connections(toxic):
            return
        chain = [(_endpoint(p.address), _endpoint(p.upstream)) for p in proxies]
        self.client_targets |= _closure(_endpoint(proxy.address), chain, towards_clients=True)
        self.server_addresses |= _closure(_endpoint(proxy.upstream), chain, towards_clients=False)
        for peer in peers:
            self.follow(peer)
        if isinstance(upstream_peer, ScriptedTCPServer | ScriptedTCPClient):
            upstream_peer.tolerate_disconnects = True

    def follow(self, peer: object) -> None:
        """A scripted peer (already started or about to start) tolerates disconnects if it sits at an end
        of a faulted proxy; anything else is left alone."""
        if isinstance(peer, ScriptedTCPServer):
            reached = _endpoint(peer.address) in self.server_addresses
        elif isinstance(peer, ScriptedTCPClient):
            reached = _endpoint(peer.target) in self.client_targets
        else:
            return
        if reached:
            peer.tolerate_disconnects = True


def _closure(
    start: Endpoint | None,
    chain: list[tuple[Endpoint | None, Endpoint | None]],
    *,
    towards_clients: bool,
) -> set[Endpoint]:
    """``start`` and every endpoint a cut there reaches through the proxies of ``chain`` (listen, upstream):
    towards the clients, the listen addresses of proxies relaying to a reached listen address; towards the
    servers, the upstreams of proxies listening on a reached upstream address."""
    if start is None:
        return set()
    reached = {start}
    grew = True
    while grew:  # bounded: each pass adds an endpoint of ``chain`` or stops
        grew = False
        for listen, upstream in chain:
            near, far = (upstream, listen) if towards_clients else (listen, upstream)
            if near in reached and far is not None and far not in reached:
                reached.add(far)
                grew = True
    return reached
