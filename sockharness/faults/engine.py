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
import os
import random
import socket
import threading
import time
from collections.abc import Mapping

from sockharness.faults.connection import Connection
from sockharness.faults.errors import ListenError, ProxyExists, ProxyNotFound, ToxicExists, ToxicNotFound
from sockharness.faults.interface import format_address, parse_address
from sockharness.faults.reactor import EPOLLIN, Reactor
from sockharness.faults.toxics import STREAMS, ToxicSpec

ACCEPTS_PER_WAKEUP = 64
ACCEPT_PAUSE = 0.05  # seconds without accepting after running out of descriptors


def _resolve(text: str, *, passive: bool) -> tuple[socket.AddressFamily, tuple[object, ...]]:
    host, port = parse_address(text)
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


class EngineProxy:
    """One proxy. Attributes mirror Toxiproxy's JSON; ``listen`` is the resolved ``"host:port"``."""

    def __init__(self, engine: FaultEngine, name: str, listen: str, upstream: str) -> None:
        self.engine = engine
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self._specs: list[ToxicSpec] = []
        self._listener: socket.socket | None = None
        self._connections: set[Connection] = set()
        self._serial = 0
        self._upstream_address: tuple[socket.AddressFamily, tuple[object, ...]] | None = None
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
        def add() -> ToxicSpec:
            if any(existing.name == spec.name for existing in self._specs):
                raise ToxicExists()
            self._specs.append(spec)
            for connection in list(self._connections):
                connection.direction(spec.stream).apply(lambda chain, now: chain.add(spec, now))
            return spec

        return self.engine.reactor.call(add)

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
            for connection in list(self._connections):
                if not connection.closed:
                    connection.direction(spec.stream).apply(lambda chain, now: chain.remove(name, now))

        self.engine.reactor.call(remove)

    def remove_all_toxics(self) -> None:
        for spec in self.toxics():
            with contextlib.suppress(ToxicNotFound):
                self.remove_toxic(spec.name)

    def connection_count(self) -> int:
        return len(self._connections)

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
        none); a bind failure reads ``listen tcp <addr>: bind: <reason>`` in both cases.
        """
        family, sockaddr = _resolve_listen(listen, prefix="listen tcp: " if creating else "")
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(sockaddr)
            listener.listen(socket.SOMAXCONN)
            listener.setblocking(False)
        except OSError as error:
            listener.close()
            text = os.strerror(error.errno).lower() if error.errno else str(error)
            raise ListenError(f"listen tcp {listen}: bind: {text}") from error
        return listener

    def start(self) -> None:
        """Bind the listen address (in the caller's thread, so bind errors raise here) and accept."""
        if self.enabled:
            return
        self.serve(self.bind(self.listen))

    def serve(self, listener: socket.socket) -> None:
        """Accept on ``listener`` (from :meth:`bind`); ``listen`` becomes its resolved address."""
        host, port = listener.getsockname()[:2]

        def register() -> None:
            self.engine.reactor.register(listener.fileno(), EPOLLIN, self._on_accept)
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
        listener = self._listener
        if listener is None:
            return
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                client, _address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._pause_accepting()
                    return
                if error.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue  # that one client gave up; the next may be fine
                raise
            self._open(client)

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
            self.engine.reactor.register(listener.fileno(), EPOLLIN, self._on_accept)

    def _open(self, client: socket.socket) -> None:
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        target = self._upstream_address
        if target is None:
            client.close()
            return
        try:
            upstream = socket.socket(target[0], socket.SOCK_STREAM)
        except OSError:
            client.close()
            return
        upstream.setblocking(False)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._serial += 1
        connection = Connection(
            self.engine.reactor,
            self.name,
            self._serial,
            self.engine.seed,
            client,
            upstream,
            self._specs,
            self._connections.discard,
        )
        self._connections.add(connection)
        connection.start(target[1])


class FaultEngine:
    """Named proxies sharing one reactor thread; thread-safe."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed: int = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self.reactor = Reactor().start()
        self._proxies: dict[str, EngineProxy] = {}
        self._lock = threading.RLock()
        self._closed = False

    def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> EngineProxy:
        with self._lock:
            self._check_open()
            if name in self._proxies:
                raise ProxyExists()
            proxy = EngineProxy(self, name, listen, upstream)
            if enabled:
                proxy.start()
            self._proxies[name] = proxy
            return proxy

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
            if new_listen is not None:  # every check that can fail comes before the first change
                keep_listener = want_enabled and proxy.listens_on(new_listen)
                if want_enabled and not keep_listener:
                    new_listener = proxy.bind(new_listen, creating=False)
                else:
                    _resolve_listen(new_listen, prefix="")
            try:
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
            return proxy

    def delete_proxy(self, name: str) -> None:
        with self._lock:
            proxy = self.get_proxy(name)
            proxy.stop()
            del self._proxies[name]

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


__all__ = ["EngineProxy", "FaultEngine"]
