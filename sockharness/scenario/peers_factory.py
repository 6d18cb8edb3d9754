"""Turn a scenario's ``peers:`` declarations into started peers, proxies and external programs.

Peers may refer to each other (a proxy's ``upstream``, a client's ``target``), so they start in dependency
order; a cycle or an unknown name is reported with the peer's name. Everything started is registered
in the run's context, which stops it at the end whatever happens.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any

from sockharness import peers as peer_kinds
from sockharness.scenario import model_peers as m
from sockharness.scenario.context import ScenarioContext, ScenarioSetupError
from sockharness.scenario.external import ExternalTarget
from sockharness.scenario.model_types import AddressSpec

PayloadResolver = Callable[[Any], bytes]


def _shutdown_how(value: str | int) -> int:
    return int(getattr(socket, value)) if isinstance(value, str) else int(value)


def script_steps(script: list[Any], payload: PayloadResolver) -> list[peer_kinds.Step]:
    """The peer-layer steps for a scripted peer's ``script:`` list."""
    steps: list[peer_kinds.Step] = []
    for step in script:
        name, value = step.name, step.argument
        if name == "recv":
            steps.append(peer_kinds.Recv(int(value)))
        elif name == "recv_until":
            steps.append(peer_kinds.RecvUntil(payload(value)))
        elif name == "recv_eof":
            steps.append(peer_kinds.RecvEOF())
        elif name == "expect":
            steps.append(peer_kinds.Expect(payload(value)))
        elif name == "send":
            steps.append(peer_kinds.Send(payload(value)))
        elif name == "sendall":
            steps.append(peer_kinds.SendAll(payload(value)))
        elif name == "sleep":
            steps.append(peer_kinds.Sleep(float(value)))
        elif name == "shutdown":
            steps.append(peer_kinds.Shutdown(_shutdown_how(value)))
        elif name == "close":
            steps.append(peer_kinds.Close())
        elif name == "reset":
            steps.append(peer_kinds.Reset())
        elif name == "stall":
            steps.append(peer_kinds.Stall(None if value is None else float(value)))
        elif name == "set_rcvbuf":
            steps.append(peer_kinds.SetBuf(rcvbuf=int(value)))
        elif name == "set_sndbuf":
            steps.append(peer_kinds.SetBuf(sndbuf=int(value)))
        elif name == "echo":
            steps.append(peer_kinds.Echo())
        elif name == "drain":
            steps.append(peer_kinds.Drain())
        else:  # the model admits exactly the names above; a new one must be taught here
            raise ScenarioSetupError(f"script step {name!r} is not supported by this runner")
    return steps


def _references(spec: Any) -> list[str]:
    address: AddressSpec | None = None
    if isinstance(spec, m.ProxyPeer):
        address = spec.upstream
    elif isinstance(spec, m.TcpClientPeer):
        address = spec.target
    return [address.ref] if address is not None and address.ref is not None else []


def start_order(declared: Mapping[str, Any]) -> list[str]:
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


def _peer_address(ctx: ScenarioContext, spec: AddressSpec, owner: str) -> tuple[Any, ...]:
    if spec.ref is not None:
        return tuple(ctx.peer(spec.ref).address)
    if spec.literal is not None:
        return tuple(spec.literal)
    raise ScenarioSetupError(
        f"peer {owner!r}: {spec.text} cannot be used here (variables exist only in steps)"
    )


def _backend(ctx: ScenarioContext, name: str) -> Any:
    backend = ctx.backends.get(name)
    if backend is not None:
        return backend
    if name == "embedded":
        from sockharness.faults.embedded import EmbeddedBackend

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
        from sockharness.faults.toxiproxy_backend import ToxiproxyBackend

        backend = ToxiproxyBackend(ctx.options.toxiproxy_url)
    else:
        raise ScenarioSetupError(f"unknown fault backend {name!r} (expected embedded or toxiproxy)")
    ctx.backends[name] = backend
    ctx.on_close(f"{name} fault backend", backend.close)
    return backend


def _start_proxy(ctx: ScenarioContext, name: str, spec: m.ProxyPeer) -> Any:
    chosen = spec.backend if "backend" in spec.model_fields_set else ctx.options.backend
    upstream = _peer_address(ctx, spec.upstream, name)
    listen = f"[{spec.host}]:0" if ":" in spec.host else f"{spec.host}:0"
    proxy = _backend(ctx, chosen).create_proxy((str(upstream[0]), int(upstream[1])), name=name, listen=listen)
    ctx.on_close(f"proxy {name!r}", proxy.close)
    for toxic in spec.toxics:
        proxy.add_toxic(
            toxic.type,
            name=toxic.name,
            stream=toxic.stream,
            toxicity=toxic.toxicity,
            **toxic.attribute_values(),
        )
    ctx.proxies[name] = proxy
    return proxy


def build_peer(ctx: ScenarioContext, name: str, spec: Any, payload: PayloadResolver) -> Any:
    """Create (not start) the peer object for one declaration; proxies and externals are handled apart."""
    registry = ctx.registry
    common: dict[str, Any] = {"host": spec.host, "name": name, "registry": registry}
    if isinstance(spec, m.EchoPeer):
        return peer_kinds.EchoServer(**common)
    if isinstance(spec, m.DiscardPeer):
        return peer_kinds.DiscardServer(**common)
    if isinstance(spec, m.SilentPeer):
        return peer_kinds.SilentServer(rcvbuf=spec.rcvbuf, sndbuf=spec.sndbuf, **common)
    if isinstance(spec, m.ReplyPeer):
        return peer_kinds.ReplyServer(payload(spec.reply), spec.read, **common)
    if isinstance(spec, m.HttpHelloPeer):
        return peer_kinds.HTTPHelloServer(**common)
    if isinstance(spec, m.ClosedPortPeer):
        return peer_kinds.ClosedPort(**common)
    if isinstance(spec, m.FullBacklogPeer):
        return peer_kinds.FullBacklog(spec.backlog, **common)
    if isinstance(spec, m.UdpEchoPeer):
        return peer_kinds.UDPEcho(**common)
    if isinstance(spec, m.UdpClosedPortPeer):
        return peer_kinds.UDPClosedPort(**common)
    if isinstance(spec, m.TcpServerPeer):
        return peer_kinds.ScriptedTCPServer(
            script_steps(spec.script, payload),
            backlog=spec.backlog,
            rcvbuf=spec.rcvbuf,
            sndbuf=spec.sndbuf,
            max_connections=spec.max_connections,
            **common,
        )
    if isinstance(spec, m.TcpClientPeer):
        return peer_kinds.ScriptedTCPClient(
            _peer_address(ctx, spec.target, name),
            script_steps(spec.script, payload),
            connect_timeout=spec.connect_timeout,
            rcvbuf=spec.rcvbuf,
            sndbuf=spec.sndbuf,
            name=name,
            registry=registry,
        )
    raise ScenarioSetupError(
        f"peer {name!r}: kind {getattr(spec, 'kind', spec)!r} is not supported by this runner"
    )


def _start_external(ctx: ScenarioContext, name: str, spec: m.ExternalPeer) -> ExternalTarget:
    if spec.address.literal is None:
        raise ScenarioSetupError(f'external peer {name!r}: address must be a literal such as "127.0.0.1:0"')
    host, port = str(spec.address.literal[0]), int(spec.address.literal[1])
    target = ExternalTarget(
        spec.argv,
        host=host,
        port=port,
        env=spec.env,
        ready_timeout=spec.ready_timeout,
        name=name,
        cwd=ctx.options.cwd,
    )
    ctx.on_close(f"external peer {name!r}", target.close)
    return target.start()


def start_peers(ctx: ScenarioContext, declared: Mapping[str, Any], payload: PayloadResolver) -> None:
    """Start every declared peer (dependencies first) and record it in ``ctx.peers``."""
    for name in start_order(declared):
        spec = declared[name]
        if isinstance(spec, m.ProxyPeer):
            ctx.peers[name] = _start_proxy(ctx, name, spec)
        elif isinstance(spec, m.ExternalPeer):
            ctx.peers[name] = _start_external(ctx, name, spec)
        else:
            peer = build_peer(ctx, name, spec, payload)
            ctx.peers[name] = peer
            ctx.on_close(f"peer {name!r}", peer.stop)
            peer.start()
