"""Toxiproxy toxics: a union keyed on ``type`` whose ``attributes`` are exactly Toxiproxy's JSON.

Built from the toxic registry (``faults._engine.toxic_types``): one attributes model and one toxic model
per registry entry, so a new toxic needs no edit here. Units are Toxiproxy's (latency/jitter/delay/timeout in
milliseconds, bandwidth ``rate`` in KB/s, slicer ``delay`` in microseconds, sizes in bytes); durations and
sizes may also be written with a unit (``latency: 100ms``, ``delay: 1s``, ``bytes: 64KiB``), and are
converted to those units. The main attribute of each type is required (a ``latency`` toxic without
``latency`` would silently do nothing); the secondary ones default to 0 as in Toxiproxy. Errors use the
registry's words, the same the Python API and the HTTP API give.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal, Union

from pydantic import (
    Discriminator,
    Field,
    Tag,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    create_model,
    model_validator,
)

from sockharness._units import DURATION_PATTERN, SIZE_PATTERN
from sockharness.faults._engine.targeting import (
    TARGET_KEYS,
    TARGET_SUMMARIES,
    InvalidTarget,
    parse_target,
    unknown_target_key,
)
from sockharness.faults._engine.toxic_types import (
    TOXICS,
    Attribute,
    AttributeValue,
    ToxicType,
    Unit,
    parse_toxicity,
)
from sockharness.scenario._language.errors import describe_value, did_you_mean
from sockharness.scenario._language.model_types import StrictModel, fail, parsed_by

__all__ = [
    "TOXIC_MODELS",
    "TOXIC_TYPES",
    "Toxic",
    "ToxicAttributes",
    "ToxicBase",
    "ToxicTarget",
    "Toxicity",
    "by_field",
    "field_tag",
]


# --- toxics ----------------------------------------------------------------------------------------

#: The share of connections a toxic acts on, 0 to 1 (the registry's words when out of range).
Toxicity = Annotated[
    float,
    parsed_by(parse_toxicity),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1, "description": "share of connections"}),
]


class ToxicAttributes(StrictModel):
    """The attributes of one toxic type; subclasses are built from its registry entry."""

    toxic: ClassVar[ToxicType]

    @model_validator(mode="before")
    @classmethod
    def _check_keys(cls, data: Any) -> Any:
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise fail(f"expected a mapping of {cls.toxic.name} attributes, got {describe_value(data)}")
        for key in data:
            if key not in cls.toxic.attribute_names:
                raise fail(cls.toxic.unknown_attribute_message(key), subpath=[key], at_key=True)
        return data


def _attribute_schema(attribute: Attribute) -> dict[str, Any]:
    unit = attribute.unit
    if unit is Unit.TEXT:
        if attribute.choices:
            return {"enum": list(attribute.choices), "description": attribute.summary}
        return {"type": "string", "minLength": 1, "description": attribute.summary}
    if unit is Unit.FRACTION:
        return {"type": "number", "minimum": 0, "maximum": 1, "description": attribute.summary}
    number: dict[str, Any] = {"type": "integer", "minimum": attribute.minimum}
    if attribute.maximum is not None:
        number["maximum"] = attribute.maximum
    if unit.seconds is not None:
        text = {"type": "string", "pattern": DURATION_PATTERN}
        return {"anyOf": [number, text], "description": f"{attribute.summary}: {unit.words}, or with a unit"}
    if unit is Unit.BYTES:
        text = {"type": "string", "pattern": SIZE_PATTERN}
        return {"anyOf": [number, text], "description": f"{attribute.summary}: bytes, or with a unit"}
    return {**number, "description": f"{attribute.summary}: {unit.words}"}


_PYTHON_TYPES: Final[dict[Unit, type]] = {Unit.TEXT: str, Unit.FRACTION: float}


def _attribute_field(toxic: ToxicType, attribute: Attribute) -> Any:
    def parse(value: Any) -> AttributeValue:
        return attribute.parse(value, toxic.name)

    python_type: Any = _PYTHON_TYPES.get(attribute.unit, int)
    annotated = Annotated[python_type, parsed_by(parse), WithJsonSchema(_attribute_schema(attribute))]
    return (annotated, ...) if attribute.required else (annotated, attribute.default)


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def _attributes_model(toxic: ToxicType) -> type[ToxicAttributes]:
    fields = {attribute.name: _attribute_field(toxic, attribute) for attribute in toxic.attributes}
    model: type[ToxicAttributes] = create_model(
        f"{_camel(toxic.name)}Attributes", __base__=ToxicAttributes, __doc__=toxic.summary, **fields
    )
    model.toxic = toxic
    return model


class ToxicTarget(StrictModel):
    """Which connections a toxic acts on and from when; its fields are built from ``targeting``."""

    @model_validator(mode="before")
    @classmethod
    def _check_keys(cls, data: Any) -> Any:
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise fail(f"expected a target mapping of {', '.join(TARGET_KEYS)}, got {describe_value(data)}")
        for key in data:
            if key not in TARGET_KEYS:
                raise fail(unknown_target_key(key), subpath=[key], at_key=True)
        return data

    def values(self) -> dict[str, object]:
        """The keys the file set, as ``parse_target`` (and the Python API's ``target=``) takes them."""
        return self.model_dump(exclude_none=True)

    @property
    def narrows(self) -> bool:
        """Whether it selects some connections only (``target: {}`` is every connection)."""
        return bool(self.values())


def _target_field(key: str) -> Any:
    def parse(value: Any) -> object:
        try:
            return getattr(parse_target({key: value}), key)
        except InvalidTarget as error:
            raise ValueError(error.message) from None

    if key == "client_host":
        schema: dict[str, Any] = {"type": "string", "description": TARGET_SUMMARIES[key]}
    else:
        low = 1 if key not in ("after_bytes", "after_ms") else 0
        schema = {"type": "integer", "minimum": low, "description": TARGET_SUMMARIES[key]}
    python_type: Any = str if key == "client_host" else int
    return (Annotated[python_type | None, parsed_by(parse), WithJsonSchema(schema)], None)


ToxicTarget = create_model(  # type: ignore[misc]  # one field per targeting key, from the registry
    "ToxicTarget",
    __base__=ToxicTarget,
    __doc__=ToxicTarget.__doc__,
    **{key: _target_field(key) for key in TARGET_KEYS},
)


class ToxicBase(StrictModel):
    """A toxic; ``proxy`` is required in phases and ``add_toxic`` steps, and absent in a proxy peer."""

    what: ClassVar[str] = "a toxic mapping {type, name, stream, toxicity, attributes, target}"
    proxy: Annotated[str, Field(min_length=1)] | None = None
    type: str
    name: Annotated[str, Field(min_length=1)] | None = None
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: Toxicity = 1.0
    attributes: StrictModel
    #: Limits the toxic to chosen connections and a window in their life (embedded backend only).
    target: ToxicTarget | None = None

    def attribute_values(self) -> dict[str, AttributeValue]:
        """The attributes as Toxiproxy's JSON expects them (defaults included)."""
        toxic = TOXICS[self.type]
        values = toxic.shown_attributes(self.attributes.model_dump())
        # An unset text (a cut without a pattern) stays unset: given, an empty text is refused.
        unset = {a.name for a in toxic.attributes if a.unit is Unit.TEXT and values.get(a.name) == a.default}
        return {key: value for key, value in values.items() if key not in unset}

    @property
    def targeted(self) -> bool:
        """Whether the toxic is aimed at chosen connections (an empty ``target: {}`` is every one)."""
        return self.target is not None and self.target.narrows

    def target_values(self) -> dict[str, object] | None:
        """The target as the Python API's ``add_toxic(target=...)`` takes it; None for every connection."""
        return self.target.values() if self.target is not None else None


def _toxic_model(toxic: ToxicType) -> type[ToxicBase]:
    attributes = _attributes_model(toxic)
    required = any(attribute.required for attribute in toxic.attributes)
    literal: Any = Literal[toxic.name]  # a Literal of a runtime value: one model per registry entry
    model: type[ToxicBase] = create_model(
        f"{_camel(toxic.name)}Toxic",
        __base__=ToxicBase,
        type=(literal, ...),
        attributes=(attributes, ...) if required else (attributes, attributes()),
    )
    return model


#: One model per registry entry, keyed by toxic type.
TOXIC_MODELS: Final[dict[str, type[ToxicBase]]] = {
    name: _toxic_model(toxic) for name, toxic in TOXICS.items()
}
TOXIC_TYPES: Final = tuple(TOXIC_MODELS)


def field_tag(field: str, known: tuple[str, ...]) -> Callable[[Any], str | None]:
    def tag(value: Any) -> str | None:
        found = value.get(field) if isinstance(value, dict) else getattr(value, field, None)
        return f"§{found}" if isinstance(found, str) and found in known else None

    return tag


def by_field(field: str, known: tuple[str, ...], what: str) -> Callable[..., Any]:
    """Explain a missing or unknown ``type``/``kind`` before the union tries to pick a member."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, dict):
            if field not in value:
                raise fail(f"a {what} needs {field}: one of {', '.join(known)}")
            found = value[field]
            if found not in known:
                hint = did_you_mean(found, known)
                raise fail(
                    f"unknown {what} {field} {describe_value(found)}{hint}; "
                    f"expected one of {', '.join(known)}",
                    subpath=[field],
                )
        elif not isinstance(value, StrictModel):
            raise fail(f"expected a {what} mapping, got {describe_value(value)}")
        return handler(value)

    return validate


if TYPE_CHECKING:
    Toxic = ToxicBase
else:
    Toxic = Annotated[
        Union[tuple(Annotated[model, Tag(f"§{name}")] for name, model in TOXIC_MODELS.items())],  # noqa: UP007
        Discriminator(field_tag("type", TOXIC_TYPES)),
        WrapValidator(by_field("type", TOXIC_TYPES, "toxic")),
    ]
