"""``EmbeddedBackend``: the FaultBackend/FaultProxy API on the in-process engine (no server to start)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress

from sockharness.faults._engine.connection_log import ConnectionRecord
from sockharness.faults._engine.engine import EngineProxy, FaultEngine
from sockharness.faults._engine.targeting import Target
from sockharness.faults._engine.toxic_types import proxy_protocol
from sockharness.faults._engine.toxics import ToxicSpec, toxic_update
from sockharness.faults._errors import ProxyNotFound
from sockharness.faults._interface import upstream_text
from sockharness.peers._addresses import parse_host_port


class EmbeddedProxy:
    """A FaultProxy backed by one engine proxy."""

    def __init__(self, backend: EmbeddedBackend, proxy: EngineProxy) -> None:
        self._backend = backend
        self._proxy = proxy
        self.name = proxy.name
        self._closed = False

    @property
    def engine_proxy(self) -> EngineProxy:
        return self._proxy

    @property
    def address(self) -> tuple[str, int]:
        return parse_host_port(self._proxy.listen)

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def upstream(self) -> tuple[str, int]:
        return parse_host_port(self._proxy.upstream)

    @property
    def enabled(self) -> bool:
        return self._proxy.enabled

    @property
    def protocol(self) -> str:
        """``"tcp"`` or ``"udp"``."""
        return self._proxy.protocol

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
        spec = ToxicSpec.build(type, name=name, stream=stream, toxicity=toxicity, target=target, **attributes)
        spec.toxic_type.check_protocol(proxy_protocol(self._proxy.protocol))
        return self._proxy.add_toxic(spec).name

    def update_toxic(
        self,
        name: str,
        *,
        target: Target | Mapping[str, object] | None = None,
        **attributes: int | float | str,
    ) -> None:
        data = toxic_update(self._proxy.get_toxic(name), attributes, target)
        self._proxy.update_toxic(name, data)

    def remove_toxic(self, name: str) -> None:
        self._proxy.remove_toxic(name)

    def toxics(self) -> list[ToxicSpec]:
        return self._proxy.toxics()

    def connections(self) -> list[ConnectionRecord]:
        return self._proxy.connection_log()

    def disable(self) -> None:
        self._backend.engine.update_proxy(self.name, enabled=False)

    def enable(self) -> None:
        self._backend.engine.update_proxy(self.name, enabled=True)

    @contextmanager
    def down(self) -> Iterator[None]:
        self.disable()
        try:
            yield
        finally:
            self.enable()

    def reset(self) -> None:
        self._proxy.remove_all_toxics()
        self.enable()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with suppress(ProxyNotFound, RuntimeError):
            self._backend.engine.delete_proxy(self.name)
        self._backend._forget(self)

    def __repr__(self) -> str:
        return f"<EmbeddedProxy {self.name} {self._proxy.listen} -> {self._proxy.upstream}>"


class EmbeddedBackend:
    """Proxies in this process. Pass ``engine=`` to share one engine (e.g. with the HTTP API server);
    otherwise the backend owns a private engine seeded with ``seed`` and closes it in ``close()``."""

    name = "embedded"

    def __init__(self, seed: int | None = None, *, engine: FaultEngine | None = None) -> None:
        self._owns_engine = engine is None
        self.engine = engine if engine is not None else FaultEngine(seed=seed)
        self._proxies: list[EmbeddedProxy] = []
        self._names = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def seed(self) -> int:
        """The engine's seed: pass it back to replay every random choice of a run."""
        return self.engine.seed

    def create_proxy(
        self, upstream: object, *, name: str | None = None, listen: str = "127.0.0.1:0", protocol: str = "tcp"
    ) -> EmbeddedProxy:
        upstream_address = upstream_text(upstream)
        proxy_protocol(protocol)
        with self._lock:
            if name is None:
                existing = self.engine.proxies()
                name = next(f"proxy_{n}" for n in self._names if f"proxy_{n}" not in existing)
            engine_proxy = self.engine.create_proxy(name, listen, upstream_address, protocol=protocol)
            proxy = EmbeddedProxy(self, engine_proxy)
            self._proxies.append(proxy)
            return proxy

    def proxies(self) -> list[EmbeddedProxy]:
        with self._lock:
            return list(self._proxies)

    def reset(self) -> None:
        for proxy in self.proxies():
            proxy.reset()

    def close(self) -> None:
        for proxy in self.proxies():
            proxy.close()
        if self._owns_engine:
            self.engine.close()

    def _forget(self, proxy: EmbeddedProxy) -> None:
        with self._lock:
            if proxy in self._proxies:
                self._proxies.remove(proxy)

    def __enter__(self) -> EmbeddedBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["EmbeddedBackend", "EmbeddedProxy"]
