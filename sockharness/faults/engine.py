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

    def start(self) -> None:
        """Bind the listen address (in the caller's thread, so bind errors raise here) and accept."""
        if self.enabled:
            return
        try:
            family, sockaddr = _resolve(self.listen, passive=True)
        except (OSError, ValueError) as error:
            raise ListenError(f"listen tcp {self.listen}: {error}") from error
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(sockaddr)
            listener.listen(socket.SOMAXCONN)
            listener.setblocking(False)
        except OSError as error:
            listener.close()
            text = os.strerror(error.errno).lower() if error.errno else str(error)
            raise ListenError(f"listen tcp {self.listen}: bind: {text}") from error
        host, port = listener.getsockname()[:2]
        self.listen = format_address((host, port))
        self._listener = listener

        def register() -> None:
            self.engine.reactor.register(listener.fileno(), EPOLLIN, self._on_accept)
            self.enabled = True

        try:
            self.engine.reactor.call(register)
        except BaseException:
            listener.close()
            self._listener = None
            raise

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
        """Toxiproxy's rules: a new listen or upstream restarts the proxy (live connections close)."""
        with self._lock:
            proxy = self.get_proxy(name)
            want_enabled = proxy.enabled if enabled is None else enabled
            new_listen = proxy.listen if listen is None else listen
            new_upstream = proxy.upstream if upstream is None else upstream
            if new_listen != proxy.listen or new_upstream != proxy.upstream:
                proxy.stop()
                proxy.listen = new_listen
                proxy.upstream = new_upstream
                proxy._resolve_upstream()
            if want_enabled and not proxy.enabled:
                proxy.start()
            elif not want_enabled and proxy.enabled:
                proxy.stop()
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
