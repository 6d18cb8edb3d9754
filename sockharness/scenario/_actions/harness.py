"""Actions on the harness rather than a socket: pauses, peers, and the fault proxies' toxics."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Final, Literal

from pydantic import Field, WithJsonSchema

from sockharness.faults._injected import toxic_type_named
from sockharness.scenario._actions.args import Args, with_shorthand
from sockharness.scenario._actions.base import (
    Action,
    Environment,
    ScenarioSetupError,
    ToxicChange,
    Use,
    register,
)
from sockharness.scenario._language.errors import describe_value
from sockharness.scenario._language.model_toxics import Toxic, ToxicBase, Toxicity, ToxicTarget
from sockharness.scenario._language.model_types import Duration, Name, parsed_by

if TYPE_CHECKING:
    from sockharness.scenario._run.context import ScenarioContext

#: How long ``peer: {name: p}`` waits for the peer's script when no ``timeout`` is written.
PEER_WAIT_TIMEOUT: Final = 5.0


@dataclass(frozen=True)
class Pause:
    seconds: float


@register
class SleepAction(Action[float, Pause]):
    name = "sleep"
    summary = "pause the scenario (`sleep: 100ms`), e.g. to let a timer toxic fire"
    arguments = Duration

    def resolve(self, args: float, env: Environment) -> Pause:
        return Pause(float(args))

    def call(self, ctx: ScenarioContext, resolved: Pause) -> None:
        time.sleep(resolved.seconds)  # sync-ok: the scenario asked for this pause


class PeerArgs(Args):
    name: Name
    action: Literal["wait", "check", "stop"] = "wait"
    timeout: Duration | None = None


@dataclass(frozen=True)
class PeerCommand:
    name: str
    action: Literal["wait", "check", "stop"]
    timeout: float


@register
class PeerAction(Action[PeerArgs, PeerCommand]):
    name = "peer"
    summary = "wait for a scripted peer to finish (then check it), check it, or stop it"
    arguments = PeerArgs

    def uses(self, args: PeerArgs) -> Iterator[Use]:
        yield Use("peer", args.name, ("name",))

    def resolve(self, args: PeerArgs, env: Environment) -> PeerCommand:
        return PeerCommand(args.name, args.action, args.timeout or PEER_WAIT_TIMEOUT)

    def call(self, ctx: ScenarioContext, resolved: PeerCommand) -> None:
        peer = ctx.peer(resolved.name)
        if resolved.action == "wait":
            wait_done = getattr(peer, "wait_done", None)
            if wait_done is None:
                raise ScenarioSetupError(
                    f"peer {resolved.name!r} has no script to wait for (only tcp_server/tcp_client)"
                )
            wait_done(resolved.timeout)
            peer.check()
        elif resolved.action == "check":
            peer.check()
        else:
            peer.stop(resolved.timeout)


# --- proxies -----------------------------------------------------------------------------------------


class ProxyRefArgs(Args):
    proxy: Name


def _proxy_use(name: str) -> Use:
    return Use("proxy", name, ("proxy",))


@dataclass(frozen=True)
class NewToxic:
    proxy: str
    type: str
    name: str | None
    stream: str
    toxicity: float
    attributes: Mapping[str, object]
    target: Mapping[str, object] | None = None


@register
class AddToxicAction(Action[ToxicBase, NewToxic]):
    name = "add_toxic"
    summary = "add a toxic to a proxy peer (Toxiproxy's types and attributes)"
    arguments = Toxic
    returns = "the toxic's name"

    def uses(self, args: ToxicBase) -> Iterator[Use]:
        if args.proxy is not None:
            yield _proxy_use(args.proxy)

    def problem(self, args: ToxicBase) -> str | None:
        return "add_toxic needs proxy: the name of a proxy peer" if args.proxy is None else None

    def resolve(self, args: ToxicBase, env: Environment) -> NewToxic:
        assert args.proxy is not None  # problem() rejected it at load time
        return NewToxic(
            args.proxy,
            args.type,
            args.name,
            args.stream,
            args.toxicity,
            args.attribute_values(),
            args.target_values(),
        )

    def call(self, ctx: ScenarioContext, resolved: NewToxic) -> str:
        proxy = ctx.proxy(resolved.proxy)
        ctx.before_fault(proxy, resolved.type)
        name: str = proxy.add_toxic(
            resolved.type,
            name=resolved.name,
            stream=resolved.stream,
            toxicity=resolved.toxicity,
            target=resolved.target,
            **resolved.attributes,
        )
        return name


def _attribute_value(value: object) -> int | float | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number or a text (100ms, 64KiB, close), got {describe_value(value)}")
    return value


#: One attribute value of an update, before the toxic's type checks it (a number or a text with a unit).
AttributeScalar = Annotated[
    int | float | str,
    parsed_by(_attribute_value),
    WithJsonSchema({"type": ["number", "string"], "description": "a number, or a text such as 100ms"}),
]


class UpdateToxicArgs(ProxyRefArgs):
    name: Annotated[str, Field(min_length=1)]
    #: Values as ``add_toxic`` takes them (``latency: 100ms``, ``action: close``), checked against the
    #: toxic's type: at load time when the scenario adds that toxic, else when the step runs.
    attributes: dict[str, AttributeScalar] = Field(default_factory=dict)
    toxicity: Toxicity | None = None
    #: A new target (``{}``: every connection again); connection indexes keep counting from the add.
    target: ToxicTarget | None = None


@dataclass(frozen=True)
class ToxicUpdate:
    proxy: str
    name: str
    #: Attributes, and ``toxicity`` when the step changes it (the Python API's keywords).
    changes: Mapping[str, int | float | str]
    target: Mapping[str, object] | None


@register
class UpdateToxicAction(Action[UpdateToxicArgs, ToxicUpdate]):
    name = "update_toxic"
    summary = "change attributes, toxicity or target of a toxic that is in place"
    arguments = UpdateToxicArgs

    def uses(self, args: UpdateToxicArgs) -> Iterator[Use]:
        yield _proxy_use(args.proxy)

    def problem(self, args: UpdateToxicArgs) -> str | None:
        if not args.attributes and args.toxicity is None and args.target is None:
            return "update_toxic changes nothing: give attributes, toxicity or target"
        return None

    def changes_toxic(self, args: UpdateToxicArgs) -> ToxicChange:
        targeted = args.target is not None and args.target.narrows
        return ToxicChange(args.proxy, args.name, args.attributes, targeted)

    def resolve(self, args: UpdateToxicArgs, env: Environment) -> ToxicUpdate:
        changes: dict[str, int | float | str] = dict(args.attributes)
        if args.toxicity is not None:
            changes["toxicity"] = args.toxicity
        target = args.target.values() if args.target is not None else None
        return ToxicUpdate(args.proxy, args.name, changes, target)

    def call(self, ctx: ScenarioContext, resolved: ToxicUpdate) -> None:
        proxy = ctx.proxy(resolved.proxy)
        toxic = toxic_type_named(proxy, resolved.name)
        if toxic is not None:
            ctx.before_fault(proxy, toxic)
        proxy.update_toxic(resolved.name, target=resolved.target, **resolved.changes)


class RemoveToxicArgs(ProxyRefArgs):
    name: Annotated[str, Field(min_length=1)]


@dataclass(frozen=True)
class ToxicRemoval:
    proxy: str
    name: str


@register
class RemoveToxicAction(Action[RemoveToxicArgs, ToxicRemoval]):
    name = "remove_toxic"
    summary = "remove a toxic from a proxy peer"
    arguments = RemoveToxicArgs

    def uses(self, args: RemoveToxicArgs) -> Iterator[Use]:
        yield _proxy_use(args.proxy)

    def resolve(self, args: RemoveToxicArgs, env: Environment) -> ToxicRemoval:
        return ToxicRemoval(args.proxy, args.name)

    def call(self, ctx: ScenarioContext, resolved: ToxicRemoval) -> None:
        ctx.proxy(resolved.proxy).remove_toxic(resolved.name)


@dataclass(frozen=True)
class OnProxy:
    proxy: str


class _ProxySwitch(Action[ProxyRefArgs, OnProxy]):
    arguments = with_shorthand(ProxyRefArgs, "proxy")

    def uses(self, args: ProxyRefArgs) -> Iterator[Use]:
        yield _proxy_use(args.proxy)

    def resolve(self, args: ProxyRefArgs, env: Environment) -> OnProxy:
        return OnProxy(args.proxy)


@register
class ProxyDownAction(_ProxySwitch):
    name = "proxy_down"
    summary = "disable a proxy peer: connections are closed and new ones refused (`proxy_down: px`)"

    def call(self, ctx: ScenarioContext, resolved: OnProxy) -> None:
        proxy = ctx.proxy(resolved.proxy)
        ctx.before_fault(proxy, None)
        proxy.disable()


@register
class ProxyUpAction(_ProxySwitch):
    name = "proxy_up"
    summary = "enable a proxy peer again (`proxy_up: px`)"

    def call(self, ctx: ScenarioContext, resolved: OnProxy) -> None:
        ctx.proxy(resolved.proxy).enable()


@register
class ProxyConnectionsAction(_ProxySwitch):
    name = "proxy_connections"
    summary = (
        "how many connections a proxy peer has accepted, from its connection log (`proxy_connections: px`, "
        "`returns: 3`): how many attempts a retrying client made; embedded backend only"
    )
    returns = "the number of connections accepted"

    def call(self, ctx: ScenarioContext, resolved: OnProxy) -> int:
        return len(ctx.proxy(resolved.proxy).connections())
