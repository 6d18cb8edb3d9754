"""A UDP proxy on the engine's reactor: one upstream socket per client address, datagram toxics per session.

UDP has no connections, so the proxy makes its own: the first datagram from a client address opens a
*session* with a fresh upstream socket connected to the upstream, so the upstream's replies come back on
that socket and go to that client only. A session ends after ``idle_timeout`` seconds without a datagram in
either direction (and never while it still holds delayed datagrams), or when the proxy stops.

Each session direction has a :class:`~sockharness.faults._engine.datagram_toxics.DatagramChain`; what it
emits waits in an outbox ordered by due time and leaves on the reactor's timers, never early. The proxy
shares the TCP proxy's model and API (name, listen, upstream, enabled, toxics), so the engine, the HTTP API
and the backends handle both through one :class:`EngineProxy` surface; ``to_json`` adds ``"protocol": "udp"``.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import logging
import random
import socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sockharness.faults._engine.datagram_toxics import Datagram, DatagramChain
from sockharness.faults._engine.engine import EngineProxy
from sockharness.faults._engine.reactor import EPOLLIN
from sockharness.faults._engine.toxics import DOWNSTREAM, STREAMS, UPSTREAM, ToxicSpec
from sockharness.faults._errors import ToxicExists, ToxicNotFound
from sockharness.faults._events import engine_log, log_event
from sockharness.peers._addresses import format_address

if TYPE_CHECKING:
    from sockharness.faults._engine.engine import FaultEngine


def _refuse_target(spec: ToxicSpec) -> None:
    """A connection target means nothing to datagrams: refused, never applied to every datagram."""
    spec.toxic_type.check_target("udp", not spec.target.is_everything)


#: Seconds without a datagram after which a client's session (and its upstream socket) is closed.
DEFAULT_IDLE_TIMEOUT = 60.0
MAX_DATAGRAM = 65535
DATAGRAMS_PER_WAKEUP = 64
#: Send errors a datagram may meet and that only lose that datagram, as the network would.
_LOST_ON_SEND = (errno.ECONNREFUSED, errno.ENOBUFS, errno.EAGAIN, errno.EHOSTUNREACH, errno.ENETUNREACH)


def check_idle_timeout(seconds: object) -> float:
    """A session idle timeout: a positive number of seconds."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError(f"idle_timeout must be a positive number of seconds, got {seconds!r}")
    return float(seconds)


class _Direction:
    """One direction of one session: its chain, its outbox and its counters; a reactor timer target."""

    def __init__(self, session: UdpSession, stream: str) -> None:
        self.session = session
        self.stream = stream
        proxy = session.proxy
        prefix = f"{proxy.engine.seed}/{proxy.name}/{session.serial}/{stream}/"
        self.chain = DatagramChain(
            lambda toxic, start: random.Random(f"{prefix}{toxic}/{start}"), session.port
        )
        self.outbox: list[tuple[float, int, bytes]] = []
        self.order = itertools.count()
        self.armed: float | None = None
        self.datagrams_in = self.datagrams_out = self.bytes_in = self.bytes_out = 0

    def accept(self, payload: bytes, now: float) -> None:
        self.datagrams_in += 1
        self.bytes_in += len(payload)
        if not self.chain.stages and not self.outbox:
            self.send(payload)  # no toxic and nothing held: straight on, without the outbox's bookkeeping
            return
        self.queue(self.chain.push(Datagram(payload, now), now), now)

    def send(self, payload: bytes) -> None:
        if self.session.send(self.stream, payload):
            self.datagrams_out += 1
            self.bytes_out += len(payload)

    def queue(self, datagrams: list[Datagram], now: float) -> None:
        for datagram in datagrams:
            heapq.heappush(self.outbox, (datagram.due, next(self.order), datagram.payload))
        self.flush(now)

    def flush(self, now: float) -> None:
        """Send what is due, then wake again for the next due datagram or held one."""
        outbox = self.outbox
        while outbox and outbox[0][0] <= now:
            self.send(heapq.heappop(outbox)[2])
        wake = [
            when for when in (outbox[0][0] if outbox else None, self.chain.deadline()) if when is not None
        ]
        if wake and (self.armed is None or min(wake) < self.armed or self.armed <= now):
            self.armed = min(wake)
            self.session.proxy.engine.reactor.call_at(self.armed, self)

    def on_timer(self, now: float) -> None:
        if self.session.closed:
            return
        if self.armed is not None and self.armed <= now:
            self.armed = None
        self.queue(self.chain.release(now), now)

    @property
    def pending(self) -> bool:
        return bool(self.outbox) or self.chain.deadline() is not None


class UdpSession:
    """One client address: its upstream socket and both directions."""

    def __init__(
        self, proxy: UdpEngineProxy, serial: int, client: tuple[object, ...], upstream: socket.socket
    ):
        self.proxy = proxy
        self.serial = serial
        self.client = client
        self.port = int(str(client[1]))
        self.upstream = upstream
        self.closed = False
        self.last_active = time.monotonic()
        self.up = _Direction(self, UPSTREAM)
        self.down = _Direction(self, DOWNSTREAM)
        for spec in proxy.toxics():
            self.direction(spec.stream).chain.add(spec)

    def direction(self, stream: str) -> _Direction:
        return self.up if stream == UPSTREAM else self.down

    def send(self, stream: str, payload: bytes) -> bool:
        """One datagram out: upstream on the session's socket, downstream from the proxy's listener."""
        try:
            if stream == UPSTREAM:
                self.upstream.send(payload)
            else:
                listener = self.proxy.listener
                if listener is None:
                    return False
                listener.sendto(payload, self.client)
        except OSError as error:
            if error.errno in _LOST_ON_SEND:
                return False
            raise
        return True

    def on_readable(self, events: int) -> None:
        for _ in range(DATAGRAMS_PER_WAKEUP):
            try:
                payload = self.upstream.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno == errno.ECONNREFUSED:  # ICMP: nothing listens upstream (yet)
                    continue
                raise
            now = time.monotonic()
            self.last_active = now
            self.down.accept(payload, now)

    @property
    def pending(self) -> bool:
        return self.up.pending or self.down.pending

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.proxy.engine.reactor.unregister(self.upstream.fileno())
        self.upstream.close()


class UdpEngineProxy(EngineProxy):
    """A named UDP proxy; the same surface as the TCP :class:`EngineProxy`, datagram toxics only."""

    protocol = "udp"
    socket_type = socket.SOCK_DGRAM

    def __init__(
        self,
        engine: FaultEngine,
        name: str,
        listen: str,
        upstream: str,
        *,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        self.idle_timeout = check_idle_timeout(idle_timeout)
        super().__init__(engine, name, listen, upstream)
        self.sessions: dict[tuple[object, ...], UdpSession] = {}
        self.expired_sessions = 0
        self._sweep_at: float | None = None

    def set_idle_timeout(self, seconds: float) -> None:
        """Sessions quiet for ``seconds`` end (checked from the next sweep on)."""
        self.idle_timeout = check_idle_timeout(seconds)

    @property
    def listener(self) -> socket.socket | None:
        return self._listener

    def to_json(self) -> dict[str, object]:
        return {**super().to_json(), "protocol": "udp"}

    # --- toxics ----------------------------------------------------------------------------------------
    def add_toxic(self, spec: ToxicSpec) -> ToxicSpec:
        spec.toxic_type.check_protocol("udp")
        _refuse_target(spec)

        def add() -> ToxicSpec:
            if any(existing.name == spec.name for existing in self._specs):
                raise ToxicExists()
            self._specs.append(spec)
            for session in self.sessions.values():
                session.direction(spec.stream).chain.add(spec)
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
            _refuse_target(new)
            self._specs[index] = new
            for session in self.sessions.values():
                session.direction(new.stream).chain.update(new)
            return new

        return self.engine.reactor.call(update)

    def remove_toxic(self, name: str) -> None:
        def remove() -> None:
            spec = next((spec for spec in self._specs if spec.name == name), None)
            if spec is None:
                raise ToxicNotFound()
            self._specs.remove(spec)
            now = time.monotonic()
            for session in self.sessions.values():
                direction = session.direction(spec.stream)
                direction.queue(direction.chain.remove(name, now), now)

        self.engine.reactor.call(remove)
        log_event(engine_log, logging.INFO, "Toxic removed", proxy=self.name, toxic=name)

    # --- counters --------------------------------------------------------------------------------------
    def connection_count(self) -> int:
        """Live sessions (a UDP proxy's "connections")."""
        return len(self.sessions)

    def byte_counts(self) -> dict[str, tuple[int, int]]:
        def count() -> dict[str, tuple[int, int]]:
            totals = {stream: list(pair) for stream, pair in self._closed_bytes.items()}
            for session in self.sessions.values():
                for stream in STREAMS:
                    direction = session.direction(stream)
                    totals[stream][0] += direction.bytes_in
                    totals[stream][1] += direction.bytes_out
            return {stream: (pair[0], pair[1]) for stream, pair in totals.items()}

        return self.engine.reactor.call(count)

    def datagram_counts(self) -> dict[str, tuple[int, int]]:
        """Per stream, ``(received, sent on)`` datagrams of the live sessions (read on the reactor thread):
        a test waits on these rather than sleeping."""

        def count() -> dict[str, tuple[int, int]]:
            totals = {stream: [0, 0] for stream in STREAMS}
            for session in self.sessions.values():
                for stream in STREAMS:
                    direction = session.direction(stream)
                    totals[stream][0] += direction.datagrams_in
                    totals[stream][1] += direction.datagrams_out
            return {stream: (pair[0], pair[1]) for stream, pair in totals.items()}

        return self.engine.reactor.call(count)

    # --- sockets ---------------------------------------------------------------------------------------
    def _bind_listener(self, listener: socket.socket, sockaddr: tuple[object, ...]) -> None:
        listener.bind(sockaddr)  # no listen(): datagrams arrive on the bound socket itself

    def restart_connections(self, upstream: str | None = None) -> None:
        def restart() -> None:
            if upstream is not None:
                self.set_upstream(upstream)
            self._close_sessions()

        self.engine.reactor.call(restart)

    def stop(self) -> None:
        def stop() -> None:
            listener = self._listener
            if listener is not None:
                self.engine.reactor.unregister(listener.fileno())
                listener.close()
                self._listener = None
            self._close_sessions()
            self.enabled = False

        self.engine.reactor.call(stop)

    def _close_sessions(self) -> None:
        for session in list(self.sessions.values()):
            self._end(session)

    def _end(self, session: UdpSession) -> None:
        session.close()
        self.sessions.pop(session.client, None)
        for stream in STREAMS:
            direction = session.direction(stream)
            self._closed_bytes[stream][0] += direction.bytes_in
            self._closed_bytes[stream][1] += direction.bytes_out

    # --- datagrams -------------------------------------------------------------------------------------
    def _on_datagram(self, events: int) -> None:
        listener = self._listener
        if listener is None:
            return
        for _ in range(DATAGRAMS_PER_WAKEUP):
            try:
                payload, client = listener.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno == errno.ECONNREFUSED:  # an ICMP error for an earlier reply to a client
                    continue
                raise
            session = self.sessions.get(client) or self._open_session(client)
            if session is None:
                continue
            now = time.monotonic()
            session.last_active = now
            session.up.accept(payload, now)

    _on_listener_readable = _on_datagram

    def _open_session(self, client: tuple[object, ...]) -> UdpSession | None:
        """A new session for ``client``: an upstream socket connected to the upstream (so its replies come
        back here and only here); None (the datagram is dropped, as the network would) if impossible."""
        target = self._upstream_address
        peer = format_address((str(client[0]), int(str(client[1]))))
        if target is None or len(self.sessions) >= self.engine.max_connections_per_proxy:
            why = "the upstream address does not resolve" if target is None else "the session cap is reached"
            log_event(
                engine_log, logging.WARNING, "Datagram dropped", proxy=self.name, client=peer, reason=why
            )
            return None
        upstream = socket.socket(target[0], socket.SOCK_DGRAM)
        try:
            upstream.setblocking(False)
            upstream.connect(target[1])
        except OSError as error:
            upstream.close()
            log_event(
                engine_log,
                logging.WARNING,
                "Datagram dropped",
                proxy=self.name,
                client=peer,
                reason=str(error),
            )
            return None
        self._serial += 1
        session = UdpSession(self, self._serial, client, upstream)
        self.sessions[client] = session
        self.engine.reactor.register(upstream.fileno(), EPOLLIN, session.on_readable)
        log_event(
            engine_log,
            logging.INFO,
            "UDP session opened",
            proxy=self.name,
            client=peer,
            upstream=self.upstream,
        )
        self._arm_sweep(session.last_active + self.idle_timeout)
        return session

    def _arm_sweep(self, when: float) -> None:
        if self._sweep_at is None or when < self._sweep_at:
            self._sweep_at = when
            self.engine.reactor.call_at(when, self)

    def on_timer(self, now: float) -> None:
        """Idle sweep: end sessions quiet for ``idle_timeout`` that hold nothing back, then re-arm."""
        if self._sweep_at is None or now < self._sweep_at:
            return
        self._sweep_at = None
        for session in list(self.sessions.values()):
            if now - session.last_active >= self.idle_timeout and not session.pending:
                self.expired_sessions += 1
                self._end(session)
                log_event(
                    engine_log, logging.INFO, "UDP session expired", proxy=self.name, client=session.port
                )
        if self.sessions:
            oldest = min(session.last_active for session in self.sessions.values())
            self._arm_sweep(max(oldest + self.idle_timeout, now + 0.01))


__all__ = ["DEFAULT_IDLE_TIMEOUT", "UdpEngineProxy", "UdpSession", "check_idle_timeout"]
