"""Scenario steps: exactly one action key (``recv: {...}``) plus optional expectation keys.

Each action has a typed arguments model; the runner dispatches on ``step.action`` and reads
``step.args``. Scalar shorthands (``close: c``, ``proxy_down: px``, ``sleep: 100ms``) are expanded here.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    create_model,
    model_validator,
)

from sockharness._units import DURATION_PATTERN, parse_duration
from sockharness.scenario.errors import describe_value, did_you_mean
from sockharness.scenario.model_toxics import Toxic
from sockharness.scenario.model_types import (
    VARIABLE_PATTERN,
    Address,
    Count,
    Duration,
    Name,
    PositiveCount,
    RawInt,
    Size,
    StrictModel,
    VarName,
    check_exclusive,
    fail,
    parsed_by,
    socket_constant,
)
from sockharness.scenario.model_values import BytesExpectation, Elapsed, Matcher, Payload, Raises

__all__ = ["ACTIONS", "BYTES_ACTIONS", "EXPECTATION_KEYS", "Step", "StepBase"]

_VARIABLE_RE = re.compile(VARIABLE_PATTERN)
_MsgFlag = socket_constant("MSG_")
_Flags = list[_MsgFlag]  # type: ignore[valid-type]


class Args(StrictModel):
    """Arguments of one action."""

    what: ClassVar[str] = "a mapping of arguments"


class SocketRefArgs(Args):
    socket: Name


def _shorthand(key: str) -> Any:
    def expand(value: Any) -> Any:
        return {key: value} if isinstance(value, str) else value

    return expand


def _with_shorthand(model: type[Args], key: str) -> Any:
    """``close: c`` means ``close: {socket: c}``; the schema admits both forms."""
    return Annotated[model, BeforeValidator(_shorthand(key), json_schema_input_type=Name | model)]


class SocketArgs(Args):
    as_: Name = Field(alias="as")
    family: socket_constant("AF_") = "AF_INET"  # type: ignore[valid-type]
    type: socket_constant("SOCK_") = "SOCK_STREAM"  # type: ignore[valid-type]
    proto: socket_constant("IPPROTO_") = 0  # type: ignore[valid-type]


class AddressArgs(SocketRefArgs):
    address: Address


class ListenArgs(SocketRefArgs):
    backlog: RawInt | None = None


class SetblockingArgs(SocketRefArgs):
    flag: bool


def _timeout_value(value: Any) -> float | int | bool | None:
    """A duration string, null, or a raw number passed as-is (so -1 and 1e10 can test the errors)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return parse_duration(value)


class SettimeoutArgs(SocketRefArgs):
    value: Annotated[
        float | int | bool | None,
        parsed_by(_timeout_value),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": ["null", "number", "boolean"]},
                    {"type": "string", "pattern": DURATION_PATTERN},
                ],
                "description": "a duration, null (blocking), or a raw number passed as-is",
            }
        ),
    ]


class AcceptArgs(SocketRefArgs):
    as_: Name | None = Field(default=None, alias="as")


class SendArgs(SocketRefArgs):
    data: Payload
    flags: _Flags = Field(default_factory=list)


class SendtoArgs(SendArgs):
    address: Address


class RecvArgs(SocketRefArgs):
    bufsize: Size
    flags: _Flags = Field(default_factory=list)


def _one_of_required(*keys: str) -> dict[str, Any]:
    return {"oneOf": [{"required": [key]} for key in keys]}


class RecvUntilArgs(SocketRefArgs):
    model_config = ConfigDict(json_schema_extra=_one_of_required("size", "delimiter", "eof"))

    size: Size | None = None
    delimiter: Payload | None = None
    eof: Literal[True] | None = None
    bufsize: Size = 65536

    @model_validator(mode="before")
    @classmethod
    def _one_stop_condition(cls, data: Any) -> Any:
        check_exclusive(data, ("size", "delimiter", "eof"), "recv_until", required=True)
        return data


class ShutdownArgs(SocketRefArgs):
    how: socket_constant("SHUT_")  # type: ignore[valid-type]


def _option_value_tag(value: Any) -> str:
    return "§int" if isinstance(value, int) else "§payload"


class SetsockoptArgs(SocketRefArgs):
    level: socket_constant("SOL_", "IPPROTO_")  # type: ignore[valid-type]
    option: socket_constant()  # type: ignore[valid-type]
    value: Annotated[
        Annotated[RawInt, Tag("§int")] | Annotated[Payload, Tag("§payload")], Discriminator(_option_value_tag)
    ]


class GetsockoptArgs(SocketRefArgs):
    level: socket_constant("SOL_", "IPPROTO_")  # type: ignore[valid-type]
    option: socket_constant()  # type: ignore[valid-type]
    buflen: PositiveCount | None = None


class WaitArgs(SocketRefArgs):
    for_: Literal["readable", "writable"] = Field(alias="for")
    timeout: Duration


class PeerArgs(Args):
    name: Name
    action: Literal["wait", "check", "stop"] = "wait"
    timeout: Duration | None = None


class ProxyRefArgs(Args):
    proxy: Name


class UpdateToxicArgs(ProxyRefArgs):
    name: Annotated[str, Field(min_length=1)]
    attributes: dict[str, Count]


class RemoveToxicArgs(ProxyRefArgs):
    name: Annotated[str, Field(min_length=1)]


#: Upper bound of ``repeat.times``: enough to fill any buffer, small enough to stay a unit test.
MAX_REPEAT: Final = 10000


def _check_times(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPEAT:
        raise ValueError(f"expected repeat times between 1 and {MAX_REPEAT}, got {describe_value(value)}")
    return value


class RepeatArgs(Args):
    times: Annotated[
        int, parsed_by(_check_times), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_REPEAT})
    ]
    steps: Annotated[list[Step], Field(min_length=1)]
    until_raises: Raises | None = None


def _check_port(value: Any) -> int | str:
    if isinstance(value, str) and _VARIABLE_RE.match(value):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"expected a port 1..65535 or a $variable, got {describe_value(value)}")
    return value


class PacketFaultArgs(Args):
    """A netns packet fault on a peer's port (or a literal port); ``as`` names it for removal."""

    model_config = ConfigDict(
        json_schema_extra={
            **_one_of_required("peer", "port"),
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
    kind: Literal["blackhole", "loss", "reject", "cut"]
    percent: Annotated[float, Field(gt=0, le=100)] | None = None
    with_: (
        Literal["tcp-reset", "host-unreachable", "net-unreachable", "port-unreachable", "admin-prohibited"]
        | None
    ) = Field(default=None, alias="with")
    direction: Literal["in", "out", "both"] = "both"
    as_: Name | None = Field(default=None, alias="as")

    @model_validator(mode="before")
    @classmethod
    def _target(cls, data: Any) -> Any:
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


#: action key -> arguments type (as written in YAML).
_ACTION_TYPES: Final[dict[str, Any]] = {
    "socket": SocketArgs,
    "bind": AddressArgs,
    "listen": ListenArgs,
    "setblocking": SetblockingArgs,
    "getblocking": _with_shorthand(SocketRefArgs, "socket"),
    "settimeout": SettimeoutArgs,
    "gettimeout": _with_shorthand(SocketRefArgs, "socket"),
    "accept": AcceptArgs,
    "connect": AddressArgs,
    "connect_ex": AddressArgs,
    "send": SendArgs,
    "sendall": SendArgs,
    "sendto": SendtoArgs,
    "recv": RecvArgs,
    "recvfrom": RecvArgs,
    "recv_until": RecvUntilArgs,
    "close": _with_shorthand(SocketRefArgs, "socket"),
    "shutdown": ShutdownArgs,
    "getpeername": _with_shorthand(SocketRefArgs, "socket"),
    "getsockname": _with_shorthand(SocketRefArgs, "socket"),
    "fileno": _with_shorthand(SocketRefArgs, "socket"),
    "setsockopt": SetsockoptArgs,
    "getsockopt": GetsockoptArgs,
    "wait": WaitArgs,
    "sleep": Duration,
    "peer": PeerArgs,
    "add_toxic": Toxic,
    "update_toxic": UpdateToxicArgs,
    "remove_toxic": RemoveToxicArgs,
    "proxy_down": _with_shorthand(ProxyRefArgs, "proxy"),
    "proxy_up": _with_shorthand(ProxyRefArgs, "proxy"),
    "repeat": RepeatArgs,
    "packet_fault": PacketFaultArgs,
    "remove_packet_fault": Name,
}
ACTIONS: Final = tuple(_ACTION_TYPES)
#: Actions whose result is bytes (or holds bytes), where a ``bytes:`` expectation makes sense.
BYTES_ACTIONS: Final = ("recv", "recvfrom", "recv_until")
EXPECTATION_KEYS: Final = ("returns", "raises", "bytes", "elapsed", "save", "save_elapsed", "label")


def _step_schema(schema: dict[str, Any], model: type[Any]) -> None:
    """What JSON Schema can say about a step beyond its keys: no returns/bytes together with raises, and
    bytes only where the action yields bytes."""
    action = getattr(model, "action", "")
    schema["not"] = {"anyOf": [{"required": ["returns", "raises"]}, {"required": ["bytes", "raises"]}]}
    if action and action not in BYTES_ACTIONS:
        schema.get("properties", {}).pop("bytes", None)


class StepBase(StrictModel):
    """Expectation keys shared by every step; subclasses add exactly one action field."""

    model_config = ConfigDict(json_schema_extra=_step_schema)

    what: ClassVar[str] = "a step mapping"
    action: ClassVar[str] = ""
    returns: Matcher = None
    raises: Raises | None = None
    bytes: BytesExpectation | None = None
    elapsed: Elapsed | None = None
    save: VarName | None = None
    #: names a variable for the call's wall time in seconds (a float), e.g. to report a slowdown in observe.
    save_elapsed: VarName | None = None
    label: str | None = None

    @property
    def args(self) -> Any:
        """The action's arguments: an ``*Args`` model, or the scalar for sleep / remove_packet_fault."""
        return getattr(self, self.action)

    @property
    def checks_return(self) -> bool:
        """True when ``returns`` was written (``returns: null`` checks for None)."""
        return "returns" in self.model_fields_set

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.raises is not None and self.checks_return:
            raise fail("a step cannot have both returns and raises", subpath=["returns"], at_key=True)
        if self.bytes is not None and self.action not in BYTES_ACTIONS:
            raise fail(
                f"bytes applies to {', '.join(BYTES_ACTIONS)} only, not {self.action}",
                subpath=["bytes"],
                at_key=True,
            )
        if self.raises is not None and self.bytes is not None:
            raise fail("a step cannot have both bytes and raises", subpath=["bytes"], at_key=True)
        if self.save is not None and self.save == self.save_elapsed:
            raise fail(
                f"save and save_elapsed both name {self.save!r}: the result and the time need two names",
                subpath=["save_elapsed"],
            )
        if self.action == "add_toxic" and self.args.proxy is None:
            raise fail("add_toxic needs proxy: the name of a proxy peer", subpath=["add_toxic"])
        return self


def _step_class(action: str, args_type: Any) -> type[StepBase]:
    class_name = "".join(part.title() for part in action.split("_")) + "Step"
    model: type[StepBase] = create_model(  # type: ignore[call-overload]
        class_name, __base__=StepBase, __module__=__name__, **{action: (args_type, ...)}
    )
    model.action = action
    return model


STEP_CLASSES: Final[dict[str, type[StepBase]]] = {
    action: _step_class(action, args_type) for action, args_type in _ACTION_TYPES.items()
}


def _step_tag(value: Any) -> str | None:
    if isinstance(value, StepBase):
        return f"§{value.action}"
    if isinstance(value, dict):
        found = [key for key in value if key in _ACTION_TYPES]
        return f"§{found[0]}" if len(found) == 1 else None
    return None


def _step_shape(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    if isinstance(value, StepBase):
        return value
    if not isinstance(value, dict):
        hint = did_you_mean(value, ACTIONS) if isinstance(value, str) else ""
        raise fail(
            "expected a step mapping like {recv: {socket: c, bufsize: 1024}}, "
            f"got {describe_value(value)}{hint}"
        )
    actions = [key for key in value if key in _ACTION_TYPES]
    if len(actions) > 1:
        listed = " and ".join(repr(key) for key in actions)
        raise fail(f"a step has exactly one action; found {listed}", subpath=[actions[1]], at_key=True)
    if not actions:
        unknown = [key for key in value if key not in EXPECTATION_KEYS]
        if unknown:
            key = unknown[0]
            hint = did_you_mean(key, ACTIONS + EXPECTATION_KEYS)
            raise fail(f"unknown step action {describe_value(key)}{hint}", subpath=[key], at_key=True)
        raise fail(f"a step needs one action key ({', '.join(ACTIONS)})")
    return handler(value)


_union: Any = None
for _action, _cls in STEP_CLASSES.items():
    _member = Annotated[_cls, Tag(f"§{_action}")]  # type: ignore[valid-type]
    _union = _member if _union is None else _union | _member
#: One step as written: the union of every action's step class, picked by the action key.
Step = Annotated[_union, Discriminator(_step_tag), WrapValidator(_step_shape)]

RepeatArgs.model_rebuild()
for _cls in STEP_CLASSES.values():
    _cls.model_rebuild()
