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
from sockharness.faults._engine.toxic_types import TOXICS, Attribute, ToxicType, Unit, parse_toxicity
from sockharness.scenario._language.errors import describe_value, did_you_mean
from sockharness.scenario._language.model_types import StrictModel, fail, parsed_by

__all__ = ["TOXIC_MODELS", "TOXIC_TYPES", "Toxic", "ToxicAttributes", "ToxicBase", "by_field", "field_tag"]


# --- toxics ----------------------------------------------------------------------------------------


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
    number = {"type": "integer", "minimum": attribute.minimum}
    unit = attribute.unit
    if unit.seconds is not None:
        text = {"type": "string", "pattern": DURATION_PATTERN}
        return {"anyOf": [number, text], "description": f"{attribute.summary}: {unit.words}, or with a unit"}
    if unit is Unit.BYTES:
        text = {"type": "string", "pattern": SIZE_PATTERN}
        return {"anyOf": [number, text], "description": f"{attribute.summary}: bytes, or with a unit"}
    return {**number, "description": f"{attribute.summary}: {unit.words}"}


def _attribute_field(toxic: ToxicType, attribute: Attribute) -> Any:
    def parse(value: Any) -> int:
        return attribute.parse(value, toxic.name)

    annotated = Annotated[int, parsed_by(parse), WithJsonSchema(_attribute_schema(attribute))]
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


class ToxicBase(StrictModel):
    """A toxic; ``proxy`` is required in phases and ``add_toxic`` steps, and absent in a proxy peer."""

    what: ClassVar[str] = "a toxic mapping {type, name, stream, toxicity, attributes}"
    proxy: Annotated[str, Field(min_length=1)] | None = None
    type: str
    name: Annotated[str, Field(min_length=1)] | None = None
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: Annotated[
        float,
        parsed_by(parse_toxicity),
        WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1, "description": "share of connections"}),
    ] = 1.0
    attributes: StrictModel

    def attribute_values(self) -> dict[str, int]:
        """The attributes as Toxiproxy's JSON expects them (defaults included)."""
        return {key: int(value) for key, value in self.attributes.model_dump().items()}


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
