"""Scenario steps: exactly one action key (``recv: {...}``) plus optional expectation keys.

The actions themselves (argument models, resolution, the call, result traits) are the entries of
:data:`sockharness.scenario._actions.REGISTRY`; this module builds one step class per entry and the
discriminated union :data:`Step` from it. Scalar shorthands (``close: c``) belong to the entries.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Final, Self

from pydantic import (
    ConfigDict,
    Discriminator,
    Tag,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
    model_validator,
)

from sockharness.scenario._actions import REGISTRY, Action, Container
from sockharness.scenario._actions.args import Args, SocketRefArgs
from sockharness.scenario._actions.control import MAX_REPEAT, RepeatArgs
from sockharness.scenario._actions.harness import PeerArgs, ProxyRefArgs, RemoveToxicArgs, UpdateToxicArgs
from sockharness.scenario._actions.netns import PacketFaultArgs
from sockharness.scenario._actions.sockets import (
    AcceptArgs,
    AddressArgs,
    GetsockoptArgs,
    ListenArgs,
    RecvArgs,
    RecvUntilArgs,
    SendArgs,
    SendtoArgs,
    SetblockingArgs,
    SetsockoptArgs,
    SettimeoutArgs,
    ShutdownArgs,
    SocketArgs,
    WaitArgs,
)
from sockharness.scenario._language.errors import describe_value, did_you_mean
from sockharness.scenario._language.model_types import StrictModel, VarName, fail
from sockharness.scenario._language.model_values import BytesExpectation, Elapsed, Matcher, Raises

__all__ = [
    "ACTIONS",
    "BYTES_ACTIONS",
    "EXPECTATION_KEYS",
    "MAX_REPEAT",
    "STEP_CLASSES",
    # argument models, re-exported where they used to live
    "AcceptArgs",
    "AddressArgs",
    "Args",
    "GetsockoptArgs",
    "ListenArgs",
    "PacketFaultArgs",
    "PeerArgs",
    "ProxyRefArgs",
    "RecvArgs",
    "RecvUntilArgs",
    "RemoveToxicArgs",
    "RepeatArgs",
    "SendArgs",
    "SendtoArgs",
    "SetblockingArgs",
    "SetsockoptArgs",
    "SettimeoutArgs",
    "ShutdownArgs",
    "SocketArgs",
    "SocketRefArgs",
    "Step",
    "StepBase",
    "UpdateToxicArgs",
    "WaitArgs",
]

ACTIONS: Final = tuple(REGISTRY)
#: Actions whose result is bytes (or holds bytes), where a ``bytes:`` expectation makes sense.
BYTES_ACTIONS: Final = tuple(name for name, action in REGISTRY.items() if action.yields_bytes)
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
    def entry(self) -> Action[Any, Any]:
        """The registry entry of this step's action."""
        return REGISTRY[self.action]

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
        problem = self.entry.problem(self.args)
        if problem is not None:
            raise fail(problem, subpath=[self.action])
        return self


def _step_class(action: str, args_type: object) -> type[StepBase]:
    class_name = "".join(part.title() for part in action.split("_")) + "Step"
    model: type[StepBase] = create_model(  # type: ignore[call-overload]
        class_name, __base__=StepBase, __module__=__name__, **{action: (args_type, ...)}
    )
    model.action = action
    return model


STEP_CLASSES: Final[dict[str, type[StepBase]]] = {
    name: _step_class(name, action.arguments) for name, action in REGISTRY.items()
}


def _step_tag(value: object) -> str | None:
    if isinstance(value, StepBase):
        return f"§{value.action}"
    if isinstance(value, dict):
        found = [key for key in value if key in REGISTRY]
        return f"§{found[0]}" if len(found) == 1 else None
    return None


def _step_shape(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    if isinstance(value, StepBase):
        return value
    if not isinstance(value, dict):
        hint = did_you_mean(value, ACTIONS) if isinstance(value, str) else ""
        raise fail(
            "expected a step mapping like {recv: {socket: c, bufsize: 1024}}, "
            f"got {describe_value(value)}{hint}"
        )
    actions = [key for key in value if key in REGISTRY]
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

RepeatArgs.model_rebuild(_types_namespace={"Step": Step})
for _entry in REGISTRY.values():  # every container's arguments hold steps (repeat's above, concurrently...)
    _arguments = _entry.arguments
    if isinstance(_entry, Container) and isinstance(_arguments, type) and issubclass(_arguments, Args):
        _arguments.model_rebuild(_types_namespace={"Step": Step})
for _cls in STEP_CLASSES.values():
    _cls.model_rebuild()
