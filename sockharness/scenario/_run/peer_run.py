"""What a peer kind gets when it starts: the run's context, the payload resolver, address and backend lookup.

Each peer kind's ``start`` (in ``_language.model_peers``) receives one :class:`PeerRun`, so a
kind never reaches into the runner: it builds its object, asks :meth:`PeerRun.start` to register and start it
(or registers its own cleanup), and returns it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sockharness.peers import PeerBase
from sockharness.peers._addresses import coerce_address
from sockharness.scenario._language.model_types import AddressSpec
from sockharness.scenario._run.context import ScenarioContext, ScenarioSetupError

__all__ = ["PayloadResolver", "PeerRun"]

PayloadResolver = Callable[[Any], bytes]


@dataclass(frozen=True)
class PeerRun:
    """The run a peer starts in: ``ctx`` owns cleanup, ``payload`` turns YAML payloads into bytes."""

    ctx: ScenarioContext
    payload: PayloadResolver

    def address(self, spec: AddressSpec, owner: str) -> tuple[Any, ...]:
        """Where ``spec`` points: a started peer's address or a literal (variables exist only in steps)."""
        if spec.ref is not None:
            return coerce_address(self.ctx.peer(spec.ref), argument=f"peer {owner!r}")
        if spec.literal is not None:
            return tuple(spec.literal)
        raise ScenarioSetupError(
            f"peer {owner!r}: {spec.text} cannot be used here (variables exist only in steps)"
        )

    def start(self, name: str, peer: PeerBase) -> PeerBase:
        """Register ``peer`` to stop when the run closes, then start it."""
        self.ctx.on_close(f"peer {name!r}", peer.stop)
        return peer.start()

    def backend(self, name: str) -> Any:
        """The run's fault backend ``name`` ("embedded" or "toxiproxy"), created on first use."""
        ctx = self.ctx
        backend = ctx.backends.get(name)
        if backend is not None:
            return backend
        if name == "embedded":
            from sockharness.faults._backends.embedded import EmbeddedBackend

            # Per-scenario seed: toxicity rolls and jitter replay whatever order the scenarios run in.
            seed = ctx.scenario_seed if ctx.scenario_seed is not None else ctx.options.seed
            backend = EmbeddedBackend(seed=seed)
        elif name == "toxiproxy":
            if not ctx.options.toxiproxy_url:
                raise ScenarioSetupError(
                    "a proxy peer uses the toxiproxy backend, but no Toxiproxy server is known: start one "
                    "(`toxiproxy-server -host 127.0.0.1`) and pass --sockharness-toxiproxy-url, "
                    "or use backend: embedded"
                )
            from sockharness.faults._backends.toxiproxy_backend import ToxiproxyBackend

            backend = ToxiproxyBackend(ctx.options.toxiproxy_url)
        else:
            raise ScenarioSetupError(f"unknown fault backend {name!r} (expected embedded or toxiproxy)")
        ctx.backends[name] = backend
        ctx.on_close(f"{name} fault backend", backend.close)
        return backend
