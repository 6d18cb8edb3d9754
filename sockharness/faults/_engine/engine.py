"""The embedded fault engine: named TCP proxies with Toxiproxy's model (proxies, toxics, enable/disable).

The engine owns one reactor thread that carries every connection of every proxy. All changes to proxies
and toxics run on that thread (through ``Reactor.call``), so a connection accepted while a toxic is being
added sees the toxic exactly once, and toxics reach live connections the moment the call returns.

Every random choice comes from ``random.Random`` instances derived from ``seed`` (one per connection,
stream and toxic), so a run is replayed by passing the seed it printed (``FaultEngine.seed``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType

from sockharness._seeds import fresh_seed
from sockharness.faults._engine.chain import ConnectionFacts
from sockharness.faults._engine.checks import (
    check_name,
    check_upstream,
    is_loopback_ip,
    is_unspecified_ip,
    split_host_port,
)
from sockharness.faults._engine.connection import Connection
from sockharness.faults._engine.connection_log import LOG_SIZE, ConnectionRecord
from sockharness.faults._engine.reactor import EPOLLIN, Reactor
from sockharness.faults._engine.toxic_types import proxy_protocol
from sockharness.faults._engine.toxics import STREAMS, ToxicSpec
from sockharness.faults._errors import (
    ListenError,
    NotLoopback,
    ProxyExists,
    ProxyLoop,
    ProxyNotFound,
    ToxicExists,
    ToxicNotFound,
)
from sockharness.faults._events import engine_log, log_event
from sockharness.peers._addresses import format_address

ACCEPT_PAUSE = 0.05  # seconds without accepting after running out of descriptors
#: Live connections one proxy carries at most; more are accepted and closed at once. It contains a loop
#: the engine cannot see (A -> another process -> A), which would otherwise grow until the fd limit.
DEFAULT_MAX_CONNECTIONS_PER_PROXY = 16384
REFUSAL_LOG_INTERVAL = 1.0  # seconds between two "connection refused: cap reached" warnings of a proxy

SockAddr = tuple[str, int]


def _resolve(text: str, *, passive: bool) -> tuple[socket.AddressFamily, tuple[object, ...]]:
    host, port = split_host_port(text)
    flags = socket.AI_PASSIVE if passive else 0
    infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, flags)
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def _resolve_listen(listen: str, *, prefix: str) -> tuple[socket.AddressFamily, tuple[object, ...]]:
    """Resolve a listen address or raise :class:`ListenError` worded like Go's address errors."""
    host, sep, port = listen.rpartition(":")
    if not sep:
        raise ListenError(f"{prefix}address {listen}: missing port in address")
    if not port.isdigit():
        raise ListenError(f"{prefix}lookup tcp/{port}: unknown port")
    if int(port) > 65535:
        raise ListenError(f"{prefix}address {port}: invalid port")
    try:
        return _resolve(listen, passive=True)
    except (OSError, ValueError) as error:
        raise ListenError(f"{prefix}lookup {host}: {error}") from error


def _same_endpoint(upstream: SockAddr, listen: SockAddr) -> bool:
    """Whether connecting to ``upstream`` reaches a listener bound to ``listen`` (an unspecified address
    on either side means "this machine": ``0.0.0.0:P`` reaches ``127.0.0.1:P`` and the reverse)."""
    if upstream[1] != listen[1] or listen[1] == 0:
        return False
    return upstream[0] == listen[0] or is_unspecified_ip(upstream[0]) or is_unspecified_ip(listen[0])


def endpoint_of_listen(listen: str) -> SockAddr | None:
    """``(ip, port)`` a listen string resolves to; None when it does not resolve or says port 0."""
    try:
        _family, sockaddr = _resolve_listen(listen, prefix="")
    except ListenError:
        return None
    port = int(str(sockaddr[1]))
    return (str(sockaddr[0]), port) if port else None


class EngineProxy:
    """One proxy. Attributes mirror Toxiproxy's JSON; ``listen`` is the resolved ``"host:port"``."""

    protocol = "tcp"
    #: The listener's socket type (a UDP proxy's is SOCK_DGRAM).
    socket_type = socket.SOCK_STREAM

    def __init__(self, engine: FaultEngine, name: str, listen: str, upstream: str) -> None:
        check_name(name)
        check_upstream(upstream)
        self.engine = engine
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self._specs: list[ToxicSpec] = []
        self._listener: socket.socket | None = None
        self._connections: set[Connection] = set()
        self._serial = 0
        # per toxic name, the serial of the last connection accepted before it was added: a targeted toxic
        # counts connections from there (connection 1 is the next one)
        self._bases: dict[str, int] = {}
        self._log: deque[ConnectionRecord] = deque(maxlen=LOG_SIZE)
        self._upstream_address: tuple[socket.AddressFamily, tuple[object, ...]] | None = None
        # bytes moved by connections already closed, per stream: [received, sent] (live ones are summed
        # at scrape time, so the relay never counts twice)
        self._closed_bytes: dict[str, list[int]] = {stream: [0, 0] for stream in STREAMS}
        self._last_refusal_log = 0.0
        self.refused_connections = 0
        self._resolve_upstream()

    # --- JSON and toxics -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [spec.to_json() for spec in self.toxics()],
        }

    def toxics(self) -> list[ToxicSpec]:
        """Upstream toxics first, then downstream ones, each in the order added (as Toxiproxy lists them)."""
        specs = list(self._specs)
        return [spec for stream in STREAMS for spec in specs if spec.stream == stream]

    def get_toxic(self, name: str) -> ToxicSpec:
        for spec in list(self._specs):
            if spec.name == name:
                return spec
        raise ToxicNotFound()

    def add_toxic(self, spec: ToxicSpec) -> ToxicSpec:
        spec.toxic_type.check_protocol("tcp")

        def add() -> ToxicSpec:
            if any(existing.name == spec.name for existing in self._specs):
                raise ToxicExists()
            self._specs.append(spec)
            self._bases[spec.name] = self._serial
            for connection in list(self._connections):
                connection.direction(spec.stream).apply(lambda chain, now: chain.add(spec, now))
            return spec

        added = self.engine.reactor.call(add)
        log_event(engine_log, logging.INFO, "Toxic added", proxy=self.name, toxic=added.name, type=added.type)
        return added

    def update_toxic(self, name: str, data: Mapping[str, object]) -> ToxicSpec:
        def update() -> ToxicSpec:
            index = next((i for i, spec in enumerate(self._specs) if spec.name == name), None)
            if index is None:
                raise ToxicNotFound()
            new = self._specs[index].updated(data)
            self._specs[index] = new
            for connection in list(self._connections):
                connection.direction(new.stream).apply(lambda chain, now: chain.update(new, now))
            return new

        return self.engine.reactor.call(update)

    def remove_toxic(self, name: str) -> None:
        def remove() -> None:
            spec = next((spec for spec in self._specs if spec.name == name), None)
            if spec is None:
                raise ToxicNotFound()
            self._specs.remove(spec)
            self._bases.pop(name, None)
            for connection in list(self._connections):
                if not connection.closed:
                    connection.direction(spec.stream).apply(lambda chain, now: chain.remove(name, now))

        self.engine.reactor.call(remove)
        log_event(engine_log, logging.INFO, "Toxic removed", proxy=self.name, toxic=name)

    def remove_all_toxics(self) -> None:
        for spec in self.toxics():
            with contextlib.suppress(ToxicNotFound):
                self.remove_toxic(spec.name)

    def connection_count(self) -> int:
        return len(self._connections)

    def connection_log(self) -> list[ConnectionRecord]:
        """Copies of the connection log, oldest first, with live connections' byte counts brought up to
        date (read on the reactor thread, so a record is never seen half-written)."""

        def snapshot() -> list[ConnectionRecord]:
            for connection in self._connections:
                record = connection.record
                if record is not None and record.ended is None:
                    record.bytes_up, record.bytes_down = connection.up.bytes_out, connection.down.bytes_out
            return [record.snapshot() for record in self._log]

        return self.engine.reactor.call(snapshot)

    def byte_counts(self) -> dict[str, tuple[int, int]]:
        """Per stream, ``(received, sent)`` bytes since the proxy was created: what Toxiproxy's
        ``toxiproxy_proxy_{received,sent}_bytes_total`` counters report (read on the reactor thread)."""

        def count() -> dict[str, tuple[int, int]]:
            totals = {stream: list(pair) for stream, pair in self._closed_bytes.items()}
            for connection in self._connections:
                for stream in STREAMS:
                    direction = connection.direction(stream)
                    totals[stream][0] += direction.bytes_in
                    totals[stream][1] += direction.bytes_out
            return {stream: (pair[0], pair[1]) for stream, pair in totals.items()}

        return self.engine.reactor.call(count)

    # --- addresses, as the loop check compares them ------------------------------------------------------
    def listen_endpoint(self) -> SockAddr | None:
        """The ``(ip, port)`` this proxy listens on, or would on enable; None while that is port 0."""
        listener = self._listener
        if listener is not None:
            with contextlib.suppress(OSError):
                host, port = listener.getsockname()[:2]
                return str(host), int(port)
        return endpoint_of_listen(self.listen)

    def upstream_endpoint(self) -> SockAddr | None:
        target = self._upstream_address
        return None if target is None else (str(target[1][0]), int(str(target[1][1])))

    # --- listening -------------------------------------------------------------------------------------
    def _resolve_upstream(self) -> None:
        try:
            self._upstream_address = _resolve(self.upstream, passive=False)
        except (OSError, ValueError):
            # Like Toxiproxy, a bad upstream is only noticed per connection: each client is closed at once.
            self._upstream_address = None

    def bind(self, listen: str, *, creating: bool = True) -> socket.socket:
        """A bound, listening, non-blocking socket for ``listen``; nothing of the proxy changes.

        Errors are :class:`ListenError` worded as Toxiproxy's: ``creating`` adds the ``listen tcp: ``
        prefix that Go's ``net.Listen`` puts before an address error (an update resolves first and has
        none); a bind failure reads ``listen tcp <addr>: bind: <reason>`` in both cases (``udp`` for a UDP
        proxy, as Go words it).
        """
        family, sockaddr = _resolve_listen(listen, prefix=f"listen {self.protocol}: " if creating else "")
        self.engine.check_listen_host(listen, str(sockaddr[0]))
        listener = socket.socket(family, self.socket_type)
        try:
            self._bind_listener(listener, sockaddr)
            listener.setblocking(False)
        except OSError as error:
            listener.close()
            text = os.strerror(error.errno).lower() if error.errno else str(error)
            # Go names the resolved address (``localhost:3310`` reads ``127.0.0.1:3310``), so do we.
            where = format_address((str(sockaddr[0]), int(str(sockaddr[1]))))
            raise ListenError(f"listen {self.protocol} {where}: bind: {text}") from error
        return listener

    def _bind_listener(self, listener: socket.socket, sockaddr: tuple[object, ...]) -> None:
        """Bind ``listener`` to ``sockaddr`` and make it ready (a TCP proxy listens; a UDP one only binds)."""
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(sockaddr)
        listener.listen(socket.SOMAXCONN)

    def start(self) -> None:
        """Bind the listen address (in the caller's thread, so bind errors raise here) and accept."""
        if self.enabled:
            return
        self.serve(self.bind(self.listen))

    def serve(self, listener: socket.socket) -> None:
        """Accept on ``listener`` (from :meth:`bind`); ``listen`` becomes its resolved address."""
        host, port = listener.getsockname()[:2]
        try:
            self.engine.check_loop(self, (str(host), int(port)), self.upstream_endpoint())
        except BaseException:
            listener.close()
            raise

        def register() -> None:
            self.engine.reactor.register(listener.fileno(), EPOLLIN, self._on_listener_readable)
            self._listener = listener
            self.listen = format_address((host, port))
            self.enabled = True

        try:
            self.engine.reactor.call(register)
        except BaseException:
            listener.close()
            raise

    def listens_on(self, listen: str) -> bool:
        """True when the open listener already has the address ``listen`` resolves to."""
        listener = self._listener
        if listener is None:
            return False
        try:
            family, sockaddr = _resolve_listen(listen, prefix="")
        except ListenError:
            return False
        here = listener.getsockname()
        return family == listener.family and tuple(sockaddr[:2]) == tuple(here[:2]) and sockaddr[1] != 0

    def set_upstream(self, upstream: str) -> None:
        """Point new connections at ``upstream`` (resolved here, outside the reactor thread)."""
        check_upstream(upstream)
        self.upstream = upstream
        self._resolve_upstream()

    def restart_connections(self, upstream: str | None = None) -> None:
        """Close every live connection (clients see EOF), optionally switching the upstream, while the
        listener stays open: done in one reactor step, so no client reaches the old upstream after it."""
        resolved = self._upstream_address
        if upstream is not None:
            try:
                resolved = _resolve(upstream, passive=False)
            except (OSError, ValueError):
                resolved = None  # as _resolve_upstream: each client is closed at once

        def restart() -> None:
            if upstream is not None:
                self.upstream = upstream
                self._upstream_address = resolved
            for connection in list(self._connections):
                connection.close()

        self.engine.reactor.call(restart)

    def stop(self) -> None:
        """Close the listener (new connects are refused) and every live connection (clients see EOF)."""

        def stop() -> None:
            listener = self._listener
            if listener is not None:
                self.engine.reactor.unregister(listener.fileno())
                listener.close()
                self._listener = None
            for connection in list(self._connections):
                connection.close()
            self.enabled = False

        self.engine.reactor.call(stop)

    def _on_accept(self, events: int) -> None:
        """Accept ONE client per wake-up; the listener is level-triggered, so the next poll reports it
        again while clients wait in the backlog.

        Why one: each accept also connects upstream (a loopback handshake, ~0.1 ms of the reactor's time
        with the Python around it), and a batch of them made every established connection of every proxy
        wait for the whole batch (64 accepts = several ms); one at a time, their data is served between
        two accepts. It also drops the ``accept4`` that failed with EAGAIN after every lone connection.
        """
        listener = self._listener
        if listener is None:
            return
        try:
            client, address = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                self._pause_accepting()
                return
            if error.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                return  # that one client gave up; the listener stays readable for the next
            raise
        if len(self._connections) >= self.engine.max_connections_per_proxy:
            self._refuse(client, address, "the proxy's connection cap is reached")
        elif not self.engine.reactor.within_budget(client.fileno()):
            self._refuse(client, address, "the process is near its descriptor limit")
        else:
            self._open(client, address)

    #: The listener's reactor handler (a class alias, not a wrapper: no extra call per accept). A UDP
    #: proxy points it at its datagram reader.
    _on_listener_readable = _on_accept

    def _refuse(self, client: socket.socket, address: object, why: str) -> None:
        """Close a just-accepted client (it sees EOF): a loop the engine could not see stops growing
        here, and the descriptors kept in reserve stay free for the API."""
        client.close()
        self.refused_connections += 1
        now = time.monotonic()
        if now - self._last_refusal_log >= REFUSAL_LOG_INTERVAL:
            self._last_refusal_log = now
            log_event(
                engine_log,
                logging.WARNING,
                "Client refused",
                proxy=self.name,
                reason=why,
                cap=self.engine.max_connections_per_proxy,
                refused=self.refused_connections,
                live=len(self._connections),
            )

    def _pause_accepting(self) -> None:
        """Out of descriptors: stop watching the listener for a while (the readable listener would
        otherwise wake the reactor in a busy loop); clients wait in the backlog until it resumes."""
        listener = self._listener
        if listener is None:
            return
        self.engine.reactor.unregister(listener.fileno())
        self.engine.reactor.call_at(time.monotonic() + ACCEPT_PAUSE, self)

    def on_timer(self, now: float) -> None:
        """End of an accept pause (see ``_pause_accepting``)."""
        listener = self._listener
        if listener is not None and listener.fileno() not in self.engine.reactor.handlers:
            self.engine.reactor.register(listener.fileno(), EPOLLIN, self._on_listener_readable)

    def _open(self, client: socket.socket, address: object) -> None:
        """Relay a new client: connect upstream and start both directions."""
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = format_address(address[:2]) if isinstance(address, tuple) else str(address)
        target = self._upstream_address
        if target is None:
            client.close()
            log_event(
                engine_log,
                logging.WARNING,
                "Unable to open connection to upstream",
                proxy=self.name,
                client=peer,
                upstream=self.upstream,
                error="the upstream address does not resolve",
            )
            return
        try:
            # Non-blocking from birth: one ioctl(FIONBIO) fewer per connection than setblocking(False).
            upstream = socket.socket(target[0], socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        except OSError as error:
            client.close()
            log_event(
                engine_log,
                logging.WARNING,
                "Unable to open connection to upstream",
                proxy=self.name,
                client=peer,
                upstream=self.upstream,
                error=os.strerror(error.errno) if error.errno else str(error),
            )
            return
        if not self.engine.reactor.within_budget(upstream.fileno()):
            upstream.close()
            self._refuse(client, address, "the process is near its descriptor limit")
            return
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._serial += 1
        client_host, client_port = _host_port(address)
        record = ConnectionRecord(self.name, self._serial, peer, time.time(), time.monotonic())
        self._log.append(record)
        facts = ConnectionFacts(
            self._serial,
            client_host,
            client_port,
            bases=dict(self._bases) if self._bases else _NO_BASES,
            note=record.note,
            applied=record.toxics,
            accepted_at=record.started,
        )
        connection = Connection(
            self.engine.reactor,
            self.name,
            self._serial,
            self.engine.seed,
            client,
            upstream,
            self._specs,
            self._connection_closed,
            record,
            facts,
        )
        connection.log_fields = {"proxy": self.name, "client": peer, "upstream": self.upstream}
        self._connections.add(connection)
        log_event(engine_log, logging.INFO, "Accepted client", **connection.log_fields)
        connection.start(target[1])

    def _connection_closed(self, connection: Connection) -> None:
        self._connections.discard(connection)
        for stream in STREAMS:
            direction = connection.direction(stream)
            totals = self._closed_bytes[stream]
            totals[0] += direction.bytes_in
            totals[1] += direction.bytes_out
        if engine_log.isEnabledFor(logging.INFO):
            log_event(
                engine_log,
                logging.INFO,
                "Client closed",
                **connection.log_fields,
                bytes_up=connection.up.bytes_out,
                bytes_down=connection.down.bytes_out,
            )


#: The bases of a connection accepted while the proxy has no toxics (shared: one fewer dict per connection).
_NO_BASES: Mapping[str, int] = MappingProxyType({})


def _host_port(address: object) -> tuple[str, int]:
    """A client's ``(ip, port)`` from ``accept()``'s address (IPv6 adds flow info and scope)."""
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]), int(address[1])
    return str(address), 0


def _proxy_class(protocol: str) -> type[EngineProxy]:
    """The proxy class of a protocol (the UDP one imported only when used)."""
    if protocol == "udp":
        from sockharness.faults._engine.udp_proxy import UdpEngineProxy

        return UdpEngineProxy
    proxy_protocol(protocol)
    return EngineProxy


class FaultEngine:
    """Named proxies sharing one reactor thread; thread-safe.

    Proxies listen on the loopback only unless ``allow_non_loopback`` says otherwise (a proxy relays to
    anything it is told to, so exposing one is a deliberate choice). ``max_connections_per_proxy`` caps
    each proxy's live connections; the reactor also keeps a reserve of descriptors the proxies never
    take, so the process (and the API serving it) keeps working when a loop floods a proxy.
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        allow_non_loopback: bool = False,
        max_connections_per_proxy: int = DEFAULT_MAX_CONNECTIONS_PER_PROXY,
    ) -> None:
        if max_connections_per_proxy < 1:
            raise ValueError(f"max_connections_per_proxy={max_connections_per_proxy} must be positive")
        self.seed: int = seed if seed is not None else fresh_seed()
        self.allow_non_loopback = allow_non_loopback
        self.max_connections_per_proxy = max_connections_per_proxy
        self.reactor = Reactor().start()
        self._proxies: dict[str, EngineProxy] = {}
        self._lock = threading.RLock()
        self._closed = False

    def create_proxy(
        self, name: str, listen: str, upstream: str, enabled: bool = True, protocol: str = "tcp"
    ) -> EngineProxy:
        """All-or-nothing: every check (name, upstream, loopback, loop, bind) passes before it exists.
        ``protocol="udp"`` makes a UDP proxy (``udp_proxy``), with the same surface."""
        with self._lock:
            self._check_open()
            check_name(name)
            if name in self._proxies:
                raise ProxyExists()
            proxy = _proxy_class(protocol)(self, name, listen, upstream)
            if enabled:
                proxy.start()  # binds, then checks for a loop with the bound port, then accepts
            else:
                endpoint = endpoint_of_listen(listen)
                if endpoint is not None:
                    self.check_listen_host(listen, endpoint[0])
                    self.check_loop(proxy, endpoint, proxy.upstream_endpoint())
            self._proxies[name] = proxy
            log_event(
                engine_log,
                logging.INFO,
                "Proxy created",
                proxy=name,
                listen=proxy.listen,
                upstream=upstream,
                enabled=proxy.enabled,
            )
            return proxy

    def check_listen_host(self, listen: str, ip: str) -> None:
        """Refuse a listen address that resolved off the loopback, unless allowed at construction."""
        if self.allow_non_loopback or is_loopback_ip(ip):
            return
        raise NotLoopback(
            f"bad request body: listen address {listen} ({ip}) is not a loopback address; proxies listen on "
            "127.0.0.0/8 or ::1 only (sockharness serve --allow-non-loopback, or "
            "FaultEngine(allow_non_loopback=True), allows other addresses)"
        )

    def check_loop(self, proxy: EngineProxy, listen: SockAddr | None, upstream: SockAddr | None) -> None:
        """Refuse a configuration in which ``proxy`` (listening on ``listen``, relaying to ``upstream``)
        reaches itself, directly or through other proxies of this engine (of the same protocol): each
        connection would open another one until the process runs out of descriptors. Chains that end
        elsewhere are fine."""
        if listen is None or upstream is None:
            return
        endpoints: list[tuple[EngineProxy, SockAddr | None, SockAddr | None]] = [(proxy, listen, upstream)]
        endpoints += [
            (other, other.listen_endpoint(), other.upstream_endpoint())
            for other in self._proxies.values()
            if other is not proxy and other.protocol == proxy.protocol  # a UDP port is not a TCP one
        ]
        path = [proxy.name]
        seen: set[str] = set()
        target: SockAddr | None = upstream
        while target is not None:
            hop = next((e for e in endpoints if e[1] is not None and _same_endpoint(target, e[1])), None)
            if hop is None:
                return
            if hop[0] is proxy:
                route = " -> ".join(f'"{name}"' for name in [*path, proxy.name])
                raise ProxyLoop(
                    f"bad request body: proxy loop: the upstream {format_address(upstream)} of proxy "
                    f'"{proxy.name}" leads back to its own listen address {format_address(listen)} '
                    f"({route}); every connection would open another until the descriptors run out"
                )
            if hop[0].name in seen:
                return
            seen.add(hop[0].name)
            path.append(hop[0].name)
            target = hop[2]

    def get_proxy(self, name: str) -> EngineProxy:
        with self._lock:
            try:
                return self._proxies[name]
            except KeyError:
                raise ProxyNotFound() from None

    def proxies(self) -> dict[str, EngineProxy]:
        with self._lock:
            return dict(self._proxies)

    def update_proxy(
        self,
        name: str,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
    ) -> EngineProxy:
        """Toxiproxy's rules: a new listen or upstream restarts the proxy (live connections close).

        All-or-nothing: a new listen is resolved, and bound when the proxy is to be enabled, before
        anything changes, so on any error the proxy is exactly as it was (still listening, same
        connections). Toxiproxy resolves first too, but a bind failure leaves it disabled on the new
        address, after which its ``/reset`` fails until the address is fixed.
        """
        with self._lock:
            proxy = self.get_proxy(name)
            want_enabled = proxy.enabled if enabled is None else enabled
            new_listen = listen if listen is not None and listen != proxy.listen else None
            new_upstream = upstream if upstream is not None and upstream != proxy.upstream else None
            new_listener: socket.socket | None = None
            keep_listener = False
            if new_upstream is not None:
                check_upstream(new_upstream)
            if new_listen is not None:  # every check that can fail comes before the first change
                keep_listener = want_enabled and proxy.listens_on(new_listen)
                if want_enabled and not keep_listener:
                    new_listener = proxy.bind(new_listen, creating=False)
                else:
                    _family, sockaddr = _resolve_listen(new_listen, prefix="")
                    self.check_listen_host(new_listen, str(sockaddr[0]))
            try:
                if new_listener is not None:
                    host, port = new_listener.getsockname()[:2]
                    planned_listen: SockAddr | None = (str(host), int(port))
                elif new_listen is not None and not keep_listener:
                    planned_listen = endpoint_of_listen(new_listen)
                else:
                    planned_listen = proxy.listen_endpoint()
                planned_upstream = proxy.upstream_endpoint()
                if new_upstream is not None:
                    try:
                        _family, address = _resolve(new_upstream, passive=False)
                        planned_upstream = (str(address[0]), int(str(address[1])))
                    except (OSError, ValueError):
                        planned_upstream = None
                self.check_loop(proxy, planned_listen, planned_upstream)
                if new_listener is not None or (new_listen is not None and not keep_listener):
                    proxy.stop()
                    if new_listen is not None and new_listener is None:
                        proxy.listen = new_listen  # kept as written until the proxy binds it
                    if new_upstream is not None:
                        proxy.set_upstream(new_upstream)
                elif new_listen is not None or new_upstream is not None:
                    proxy.restart_connections(new_upstream)  # the listener stays: no refused connects
                if new_listener is not None:
                    listener, new_listener = new_listener, None
                    proxy.serve(listener)
                elif want_enabled and not proxy.enabled:
                    proxy.start()
                elif not want_enabled and proxy.enabled:
                    proxy.stop()
            finally:
                if new_listener is not None:
                    new_listener.close()
            log_event(
                engine_log,
                logging.INFO,
                "Proxy updated",
                proxy=name,
                listen=proxy.listen,
                upstream=proxy.upstream,
                enabled=proxy.enabled,
            )
            return proxy

    def delete_proxy(self, name: str) -> None:
        with self._lock:
            proxy = self.get_proxy(name)
            proxy.stop()
            del self._proxies[name]
            log_event(engine_log, logging.INFO, "Proxy deleted", proxy=name, listen=proxy.listen)

    def reset(self) -> None:
        """Every proxy: enabled again, all toxics removed (the proxies themselves stay)."""
        with self._lock:
            for proxy in self._proxies.values():
                if not proxy.enabled:
                    proxy.start()
                proxy.remove_all_toxics()

    def close(self) -> None:
        """Delete every proxy and stop the reactor thread; idempotent."""
        with self._lock:
            if self._closed:
                return
            for name in list(self._proxies):
                with contextlib.suppress(RuntimeError):
                    self.delete_proxy(name)
            self._closed = True
            self.reactor.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the fault engine is closed")

    def __enter__(self) -> FaultEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """True once no proxy has a live connection (for tests that check nothing is left behind)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(self.reactor.call(proxy.connection_count) for proxy in self.proxies().values()):
                return True
            time.sleep(0.005)  # sync-ok: bounded poll of reactor-owned state from another thread
        return False


__all__ = ["EngineProxy", "FaultEngine", "endpoint_of_listen"]
