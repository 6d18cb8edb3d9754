"""Packet faults: nftables rules in the private network namespace (``--sockharness-netns`` only)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Self

from pydantic import ConfigDict, Field, WithJsonSchema, model_validator

from sockharness.netns._rules import Direction as _Direction
from sockharness.netns._rules import FaultKind as _FaultKind
from sockharness.netns._rules import RejectWith as _RejectWith
from sockharness.scenario._actions.args import Args, one_of_required
from sockharness.scenario._actions.base import (
    Action,
    Environment,
    Introduce,
    ScenarioSetupError,
    Use,
    register,
)
from sockharness.scenario._language.errors import describe_value
from sockharness.scenario._language.model_types import (
    VARIABLE_PATTERN,
    Name,
    check_exclusive,
    choice_parser,
    choice_schema,
    fail,
    parsed_by,
)

if TYPE_CHECKING:
    from sockharness.netns import PacketFaults
    from sockharness.scenario._run.context import ScenarioContext

_VARIABLE_RE = re.compile(VARIABLE_PATTERN)

# The words are the netns layer's enums, so the YAML and the rules it renders cannot disagree.
FaultKind = Annotated[_FaultKind, choice_parser(_FaultKind), choice_schema(_FaultKind)]
RejectWith = Annotated[_RejectWith, choice_parser(_RejectWith), choice_schema(_RejectWith)]
Direction = Annotated[_Direction, choice_parser(_Direction), choice_schema(_Direction)]


def _check_port(value: object) -> int | str:
    if isinstance(value, str) and _VARIABLE_RE.match(value):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"expected a port 1..65535 or a $variable, got {describe_value(value)}")
    return value


class PacketFaultArgs(Args):
    """A netns packet fault on a peer's port (or a literal port); ``as`` names it for removal."""

    model_config = ConfigDict(
        json_schema_extra={
            **one_of_required("peer", "port"),
            "allOf": [
                {
                    "if": {"properties": {"kind": {"const": "loss"}}},
                    "then": {"required": ["percent"]},
                    "else": {"not": {"required": ["percent"]}},
                },
                {
                    "if": {"not": {"properties": {"kind": {"const": "reject"}}}},
                    "then": {"not": {"required": ["with"]}},
                },
            ],
        }
    )

    peer: Name | None = None
    port: (
        Annotated[
            int | str,
            parsed_by(_check_port),
            WithJsonSchema(
                {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "string"}]}
            ),
        ]
        | None
    ) = None
    kind: FaultKind
    percent: Annotated[float, Field(gt=0, le=100)] | None = None
    with_: RejectWith | None = Field(default=None, alias="with")
    direction: Direction = _Direction.BOTH
    as_: Name | None = Field(default=None, alias="as")

    @model_validator(mode="before")
    @classmethod
    def _target(cls, data: object) -> object:
        check_exclusive(data, ("peer", "port"), "packet_fault", required=True)
        return data

    @model_validator(mode="after")
    def _kind_options(self) -> Self:
        if self.kind == "loss" and self.percent is None:
            raise fail("packet_fault kind loss needs percent (0 < percent <= 100)")
        if self.kind != "loss" and self.percent is not None:
            raise fail(
                f"percent applies to kind loss only, not {self.kind}", subpath=["percent"], at_key=True
            )
        if self.kind != "reject" and self.with_ is not None:
            raise fail(f"with applies to kind reject only, not {self.kind}", subpath=["with"], at_key=True)
        return self


@dataclass(frozen=True)
class PacketFault:
    kind: FaultKind
    port: int
    direction: Direction
    percent: float | None
    reject_with: RejectWith | None
    name: str | None


def packet_faults(ctx: ScenarioContext) -> PacketFaults:
    """The run's packet faults, created on first use (and cleared when the scenario ends)."""
    if not ctx.options.netns:
        raise ScenarioSetupError(
            "packet faults need the private network namespace mode: run with --sockharness-netns "
            "(`sockharness run --netns`) and mark the scenario `netns`"
        )
    if ctx.packet_faults is None:
        from sockharness.netns import PacketFaults  # Linux-only: imported when a step needs it

        faults = PacketFaults()
        ctx.packet_faults = faults
        ctx.on_close("packet faults", faults.clear)
    return ctx.packet_faults


@register
class PacketFaultAction(Action[PacketFaultArgs, PacketFault]):
    name = "packet_fault"
    summary = "install a netns packet fault (blackhole, loss, reject, cut) on a peer's port"
    arguments = PacketFaultArgs
    returns = "the fault's name"
    needs_netns = True

    def uses(self, args: PacketFaultArgs) -> Iterator[Use]:
        if args.peer is not None:
            yield Use("peer", args.peer, ("peer",))
        if isinstance(args.port, str):
            yield Use("variable", args.port, ("port",))

    def introduces(self, args: PacketFaultArgs) -> Iterator[Introduce]:
        if args.as_ is not None:
            yield Introduce("fault", args.as_)

    def resolve(self, args: PacketFaultArgs, env: Environment) -> PacketFault:
        if args.peer is not None:
            port = env.port_of(args.peer)
        elif isinstance(args.port, str):
            value = env.variable(args.port)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ScenarioSetupError(f"port {args.port} is {value!r}, not a port number")
            port = value
        else:
            assert args.port is not None  # the model requires peer or port
            port = args.port
        return PacketFault(args.kind, port, args.direction, args.percent, args.with_, args.as_)

    def call(self, ctx: ScenarioContext, resolved: PacketFault) -> str:
        return packet_faults(ctx).add(
            resolved.kind,
            resolved.port,
            direction=resolved.direction,
            percent=resolved.percent,
            reject_with=resolved.reject_with,
            name=resolved.name,
        )


@dataclass(frozen=True)
class FaultName:
    name: str


@register
class RemovePacketFaultAction(Action[str, FaultName]):
    name = "remove_packet_fault"
    summary = "remove a packet fault named by `packet_fault: {as: ...}`"
    arguments = Name
    needs_netns = True

    def uses(self, args: str) -> Iterator[Use]:
        yield Use("fault", args)

    def resolve(self, args: str, env: Environment) -> FaultName:
        return FaultName(args)

    def call(self, ctx: ScenarioContext, resolved: FaultName) -> None:
        packet_faults(ctx).remove(resolved.name)
