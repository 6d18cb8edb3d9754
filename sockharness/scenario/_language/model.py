"""The scenario file model: files, scenarios, marks and phases (steps and peers live in sibling modules).

``load_file`` / ``load_text`` in the ``loader`` module are the way in: they add file:line
locations to every error and run the cross-reference checks that need the whole scenario.
The models are frozen pydantic v2 models that reject unknown keys; this module re-exports the types the
runner uses so ``from sockharness.scenario._language.model import ...`` is the one import it needs.
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
    WithJsonSchema,
    WrapValidator,
    model_validator,
)

from sockharness.scenario._language.errors import describe_value, did_you_mean
from sockharness.scenario._language.model_peers import (
    PEER_KINDS,
    SCRIPT_STEP_NAMES,
    TOXIC_TYPES,
    Peer,
    PeerBase,
    ProxyPeer,
    ScriptStep,
    ScriptStepBase,
    Toxic,
    ToxicBase,
)
from sockharness.scenario._language.model_steps import (
    ACTIONS,
    BYTES_ACTIONS,
    EXPECTATION_KEYS,
    STEP_CLASSES,
    Step,
    StepBase,
)
from sockharness.scenario._language.model_types import (
    ALLOWED_EXCEPTIONS,
    AddressSpec,
    Duration,
    Name,
    StrictModel,
    fail,
    parse_variable,
    parsed_by,
)
from sockharness.scenario._language.model_values import (
    BytesMatch,
    Elapsed,
    FakerPayload,
    HexPayload,
    Matcher,
    MatcherOps,
    Payload,
    RaisesSpec,
    SizePayload,
    TextPayload,
    keyed_union,
)

__all__ = [
    "ACTIONS",
    "ALLOWED_EXCEPTIONS",
    "BYTES_ACTIONS",
    "EXPECTATION_KEYS",
    "PEER_KINDS",
    "SCENARIO_NAME_PATTERN",
    "SCRIPT_STEP_NAMES",
    "STEP_CLASSES",
    "TOXIC_TYPES",
    "AddressSpec",
    "BytesMatch",
    "Defaults",
    "Elapsed",
    "FakerPayload",
    "HexPayload",
    "Mark",
    "MarkBase",
    "Matcher",
    "MatcherOps",
    "Payload",
    "Peer",
    "PeerBase",
    "Phase",
    "ProxyPeer",
    "RaisesSpec",
    "Scenario",
    "ScenarioFile",
    "ScriptStep",
    "ScriptStepBase",
    "SizePayload",
    "Step",
    "StepBase",
    "TextPayload",
    "Toxic",
    "ToxicBase",
    "parse_variable",
]

#: Scenario names become pytest ids: no spaces, brackets or "::".
SCENARIO_NAME_PATTERN: Final = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$"
_SCENARIO_NAME_RE = re.compile(SCENARIO_NAME_PATTERN)


# --- marks -----------------------------------------------------------------------------------------


class MarkBase(StrictModel):
    """One entry of ``marks:``; ``name`` is the pytest mark it becomes."""

    what: ClassVar[str] = "a mark (netns, {skip: reason}, {skipif: {...}}, {xfail: {...}})"

    @property
    def name(self) -> str:
        return next(iter(type(self).model_fields))


NonEmptyText = Annotated[str, Field(min_length=1)]


class SkipifArgs(StrictModel):
    platform: NonEmptyText  # compared with sys.platform.startswith(...)
    reason: NonEmptyText


class XfailArgs(StrictModel):
    reason: NonEmptyText
    platform: NonEmptyText | None = None
    strict: bool = True


class NetnsMark(MarkBase):
    """Needs the private network namespace mode (packet faults)."""

    netns: None = None


class SkipMark(MarkBase):
    skip: NonEmptyText


class SkipifMark(MarkBase):
    skipif: SkipifArgs


class XfailMark(MarkBase):
    xfail: XfailArgs


_MARK_FORMS: Final = {"netns": "§netns", "skip": "§skip", "skipif": "§skipif", "xfail": "§xfail"}


def _mark_bare_word(value: Any) -> Any:
    if value == "netns":
        return {"netns": None}
    if isinstance(value, str):
        raise fail(f"unknown mark {value!r}{did_you_mean(value, _MARK_FORMS)}; bare marks: netns")
    return value


def _mark_tag(value: Any) -> str | None:
    if isinstance(value, MarkBase):
        return _MARK_FORMS[value.name]
    if isinstance(value, dict):
        return next((_MARK_FORMS[key] for key in value if key in _MARK_FORMS), None)
    return None


_MarkUnion = Annotated[
    Annotated[NetnsMark, Tag("§netns")]
    | Annotated[SkipMark, Tag("§skip")]
    | Annotated[SkipifMark, Tag("§skipif")]
    | Annotated[XfailMark, Tag("§xfail")],
    Discriminator(_mark_tag),
    WrapValidator(keyed_union(_MARK_FORMS, MarkBase.what)),
]
Mark = Annotated[
    _MarkUnion, BeforeValidator(_mark_bare_word, json_schema_input_type=Literal["netns"] | _MarkUnion)
]


# --- phases, scenarios, files ----------------------------------------------------------------------


class Phase(StrictModel):
    """A stretch of a fault scenario: its toxics and downs hold while its steps run."""

    what: ClassVar[str] = "a phase mapping {name, steps, toxics, down, duration}"
    name: NonEmptyText
    steps: list[Step] = Field(default_factory=list)
    toxics: list[Toxic] = Field(default_factory=list)
    down: list[Name] = Field(default_factory=list)
    duration: Duration | None = None

    @model_validator(mode="after")
    def _toxics_name_proxy(self) -> Self:
        for index, toxic in enumerate(self.toxics):
            if toxic.proxy is None:
                raise fail("a phase toxic needs proxy: the name of a proxy peer", subpath=["toxics", index])
        return self


def _check_one_line(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a one-line description, got {describe_value(value)}")
    if "\n" in value.strip():
        raise ValueError("expected a one-line description (it is the test's docstring), got several lines")
    return value.strip()


def _check_scenario_name(value: Any) -> str:
    if not isinstance(value, str) or not _SCENARIO_NAME_RE.match(value):
        raise ValueError(
            f"expected a scenario name of letters, digits, '_', '.', '+' or '-' (it is the pytest id), "
            f"got {describe_value(value)}"
        )
    return value


OneLine = Annotated[
    str,
    parsed_by(_check_one_line),
    WithJsonSchema(
        {"type": "string", "pattern": r"^[^\n]*\S[^\n]*\n?$", "description": "one line of text, not blank"}
    ),
]
ScenarioName = Annotated[
    str,
    parsed_by(_check_scenario_name),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": SCENARIO_NAME_PATTERN,
            "description": "a scenario name of letters, digits, '_', '.', '+' or '-' (it is the pytest id)",
        }
    ),
]


class Defaults(StrictModel):
    """``defaults:``: values every scenario of the file inherits (marks are prepended to its own)."""

    what: ClassVar[str] = "a defaults mapping {timeout, marks, method}"
    timeout: Duration | None = None
    marks: list[Mark] = Field(default_factory=list)
    method: str | None = None


class Scenario(StrictModel):
    """One scenario: one pytest item. Exactly one of ``steps`` and ``phases``."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["steps"]}, {"required": ["phases"]}]}
    )

    what: ClassVar[str] = "a scenario mapping {name, description, steps, ...}"
    name: ScenarioName
    description: OneLine
    method: str | None = None
    observe: str | None = None
    timeout: Duration | None = None
    marks: list[Mark] = Field(default_factory=list)
    peers: dict[Name, Peer] = Field(default_factory=dict)
    steps: Annotated[list[Step], Field(min_length=1)] | None = None
    phases: Annotated[list[Phase], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _steps_or_phases(self) -> Self:
        if self.steps is None and self.phases is None:
            raise fail("a scenario needs steps (a list of steps) or phases (a list of phases)")
        if self.steps is not None and self.phases is not None:
            raise fail("a scenario has either steps or phases, not both", subpath=["phases"], at_key=True)
        return self

    @property
    def needs_netns(self) -> bool:
        return any(mark.name == "netns" for mark in self.marks)

    def all_steps(self) -> list[StepBase]:
        """Top-level steps in run order (phase after phase); repeat bodies are not flattened."""
        if self.steps is not None:
            return list(self.steps)
        return [step for phase in self.phases or () for step in phase.steps]


class ScenarioFile(StrictModel):
    """A whole file. ``scenarios`` already include what they inherit from ``defaults``."""

    what: ClassVar[str] = "a scenario file mapping {defaults, scenarios}"
    defaults: Defaults = Field(default_factory=Defaults)
    scenarios: Annotated[list[Scenario], Field(min_length=1)]

    @model_validator(mode="after")
    def _inherit_defaults(self) -> Self:
        inherited = []
        for scenario in self.scenarios:
            update: dict[str, Any] = {}
            if scenario.timeout is None and self.defaults.timeout is not None:
                update["timeout"] = self.defaults.timeout
            if scenario.method is None and self.defaults.method is not None:
                update["method"] = self.defaults.method
            if self.defaults.marks:
                update["marks"] = [*self.defaults.marks, *scenario.marks]
            inherited.append(scenario.model_copy(update=update) if update else scenario)
        object.__setattr__(self, "scenarios", inherited)
        return self
