"""Turn a scenario's ``peers:`` declarations into started peers, proxies and external programs.

Peers may refer to each other (a proxy's ``upstream``, a client's ``target``: each kind names its address
fields), so they start in dependency order; a cycle or an unknown name is reported with the peer's name.
How a kind starts is its own ``start`` (``_language.model_peers``); everything started is
registered in the run's context, which stops it at the end whatever happens.
"""

from __future__ import annotations

from collections.abc import Mapping

from sockharness.scenario._language.model_peers import PeerBase
from sockharness.scenario._language.script_steps import script_steps
from sockharness.scenario._run.context import ScenarioContext, ScenarioSetupError
from sockharness.scenario._run.peer_run import PayloadResolver, PeerRun

__all__ = ["PayloadResolver", "PeerRun", "script_steps", "start_order", "start_peers"]


def _references(spec: PeerBase) -> list[str]:
    return [address.ref for _, address in spec.references() if address.ref is not None]


def start_order(declared: Mapping[str, PeerBase]) -> list[str]:
    """Peer names so that every peer starts after the peers it points at (declaration order otherwise)."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = " -> ".join((*chain, name))
            raise ScenarioSetupError(f"peers refer to each other in a cycle: {cycle}")
        state[name] = "visiting"
        for ref in _references(declared[name]):
            if ref in declared:
                visit(ref, (*chain, name))
            else:
                known = ", ".join(declared) or "none"
                raise ScenarioSetupError(
                    f"peer {name!r} refers to {ref!r}, which is not a peer (peers: {known})"
                )
        state[name] = "done"
        order.append(name)

    for name in declared:
        visit(name, ())
    return order


def start_peers(ctx: ScenarioContext, declared: Mapping[str, PeerBase], payload: PayloadResolver) -> None:
    """Start every declared peer (dependencies first) and record it in ``ctx.peers``."""
    run = PeerRun(ctx, payload)
    for name in start_order(declared):
        ctx.peers[name] = declared[name].start(run, name)
