"""Toxic specifications: Toxiproxy's JSON shape, validated through the toxic registry (``_toxic_types``).

Pure: no sockets, no clocks. ``ToxicSpec(...)`` is what the Python API builds (its errors name the
attribute, suggest one and list the known ones); ``ToxicSpec.from_json`` is what the HTTP API builds, with
Toxiproxy's words where its clients expect them. The toxic maths lives in ``_toxic_maths`` and is
re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sockharness.faults._engine.targeting import (
    EVERY_CONNECTION,
    InvalidTarget,
    Target,
    check_target_backend,
    parse_target,
)
from sockharness.faults._engine.toxic_maths import (
    BANDWIDTH_SLICE_SECONDS,
    bandwidth_bytes_per_second,
    bandwidth_schedule,
    bandwidth_slice_size,
    latency_delay,
    slicer_cuts,
)
from sockharness.faults._engine.toxic_types import (
    TOXICS,
    AttributeValue,
    InvalidAttribute,
    ToxicType,
    go_kind,
    parse_toxicity,
    toxic_type,
)
from sockharness.faults._errors import BadRequest, InvalidStream, InvalidToxic, bad_request

UPSTREAM = "upstream"  # client -> server
DOWNSTREAM = "downstream"  # server -> client
STREAMS = (UPSTREAM, DOWNSTREAM)

#: type -> default attributes (exactly Toxiproxy's attribute names; every default is 0 there too).
TOXIC_TYPES: dict[str, dict[str, AttributeValue]] = {name: toxic.defaults() for name, toxic in TOXICS.items()}


def _toxicity(value: object, *, go_words: bool = True) -> float:
    """The toxicity; a JSON value of the wrong kind is worded by Go's decoder, as Toxiproxy's API does."""
    if go_words and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise bad_request(
            f"json: cannot unmarshal {go_kind(value)} into Go struct field "
            "ToxicWrapper.toxicity of type float32"
        )
    try:
        return parse_toxicity(value)
    except InvalidAttribute as error:
        raise (bad_request(error.message) if go_words else error) from None


def _string_field(data: Mapping[str, object], key: str, default: str) -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise bad_request(
            f"json: cannot unmarshal {go_kind(value)} into Go struct field ToxicWrapper.{key} of type string"
        )
    return value


def canonical_stream(text: str) -> str:
    """``"upstream"`` or ``"downstream"`` for any letter case of them (Toxiproxy compares case-blind)."""
    lowered = text.lower()
    if lowered not in STREAMS:
        raise InvalidStream()
    return lowered


@dataclass
class ToxicSpec:
    """One toxic as Toxiproxy's API shows it.

    ``stream`` is the direction the toxic acts on, always lower case, so code can compare it with
    ``UPSTREAM``/``DOWNSTREAM``. Toxiproxy accepts any letter case and stores and echoes the text as the
    client wrote it (``"UPSTREAM"`` gives the default name ``latency_UPSTREAM``); ``stream_spelling``
    keeps that text for the JSON and the default name. It is None when it equals ``stream``.
    """

    name: str
    type: str
    stream: str = DOWNSTREAM
    toxicity: float = 1.0
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    stream_spelling: str | None = field(default=None, compare=False)
    #: Which connections it acts on and from when in their life (embedded only); default: all, at once.
    target: Target = EVERY_CONNECTION

    def __post_init__(self) -> None:
        toxic = toxic_type(self.type)  # the type first: it says which attributes exist
        spelling = self.stream_spelling if self.stream_spelling is not None else self.stream
        self.stream = canonical_stream(self.stream)
        if canonical_stream(spelling) != self.stream:
            raise ValueError(f"stream_spelling {spelling!r} does not name stream {self.stream!r}")
        self.stream_spelling = spelling if spelling != self.stream else None
        self.toxicity = _toxicity(self.toxicity, go_words=False)
        if not isinstance(self.attributes, Mapping):
            raise BadRequest(f"attributes of a {self.type} toxic must be a mapping, got {self.attributes!r}")
        self.attributes = toxic.revalidate(self.attributes)
        self.target = parse_target(self.target)
        if not self.name:
            self.name = default_toxic_name(self.type, self.stream_text)

    @classmethod
    def build(
        cls,
        type: str,
        *,
        name: str | None = None,
        stream: str = DOWNSTREAM,
        toxicity: float = 1.0,
        target: Target | Mapping[str, object] | None = None,
        **attributes: int | float | str,
    ) -> ToxicSpec:
        """The Python API's toxic: attributes may be durations/sizes with a unit; everything is checked
        (type, attribute names, types and ranges, stream, toxicity, target) before anything uses it. The
        stream keeps its spelling, as Toxiproxy does (``"UPSTREAM"`` gives the name ``latency_UPSTREAM``)."""
        toxic = toxic_type(type)
        attributes_checked = toxic.validate(attributes)
        return cls(name or "", toxic.name, stream, toxicity, attributes_checked, stream, parse_target(target))

    def check_backend(self, backend: str) -> None:
        """Refuse at once what ``backend`` cannot carry: an embedded-only toxic or attribute, or a target."""
        self.toxic_type.check_backend(backend, self.attributes)
        check_target_backend(self.target, self.name, backend)

    @property
    def toxic_type(self) -> ToxicType:
        """The registry entry of this toxic's type."""
        return TOXICS[self.type]

    @property
    def stream_text(self) -> str:
        """The stream as the client wrote it: what Toxiproxy's JSON shows."""
        return self.stream_spelling if self.stream_spelling is not None else self.stream

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ToxicSpec:
        """Validate a toxic-create body; the default name is ``"<type>_<stream>"`` as in Toxiproxy."""
        if not isinstance(data, Mapping):
            raise bad_request(
                f"json: cannot unmarshal {go_kind(data)} into Go value of type toxics.ToxicWrapper"
            )
        name = _string_field(data, "name", "")
        stream = _string_field(data, "stream", DOWNSTREAM)
        toxic_type = _string_field(data, "type", "")
        toxicity = _toxicity(data["toxicity"]) if "toxicity" in data else 1.0
        # Toxiproxy checks the stream before the type, and the type before the attributes.
        direction = canonical_stream(stream)
        toxic = TOXICS.get(toxic_type)
        if toxic is None:
            raise InvalidToxic()  # Toxiproxy's exact body, which its clients match
        raw = data.get("attributes")
        attributes = toxic.validate_json(raw if raw is not None else {})
        return cls(
            name=name or default_toxic_name(toxic.name, stream),
            type=toxic.name,
            stream=direction,
            toxicity=toxicity,
            attributes=attributes,
            stream_spelling=stream,
            target=_json_target(data.get("target")),
        )

    def updated(self, data: Mapping[str, object]) -> ToxicSpec:
        """A copy with ``attributes`` merged and ``toxicity`` replaced; name, type and stream never change."""
        if not isinstance(data, Mapping):
            raise bad_request(f"json: cannot unmarshal {go_kind(data)} into Go value of type struct")
        raw = data.get("attributes")
        attributes = self.toxic_type.validate_json(raw if raw is not None else {}, base=self.attributes)
        toxicity = _toxicity(data["toxicity"]) if "toxicity" in data else self.toxicity
        target = _json_target(data["target"]) if "target" in data else self.target
        return ToxicSpec(
            self.name, self.type, self.stream, toxicity, attributes, self.stream_spelling, target
        )

    def to_json(self) -> dict[str, object]:
        """Toxiproxy's toxic JSON; ``target`` only when set, and embedded-only attributes only when set."""
        data: dict[str, object] = {
            "name": self.name,
            "type": self.type,
            "stream": self.stream_text,
            "toxicity": self.toxicity,
            "attributes": self.toxic_type.shown_attributes(self.attributes),
        }
        if not self.target.is_everything:
            data["target"] = self.target.to_json()
        return data


def default_toxic_name(toxic_type: str, stream: str) -> str:
    """A toxic's name when none is given, as Toxiproxy makes it: ``latency_downstream`` (the stream as
    written: ``latency_UPSTREAM``)."""
    return f"{toxic_type}_{stream}"


def _json_target(value: object) -> Target:
    """A JSON ``target``: the registry's words, as a 400 (the HTTP API's Toxiproxy-style error body)."""
    try:
        return parse_target(value)
    except InvalidTarget as error:
        raise bad_request(error.message) from None


def toxic_update(
    current: ToxicSpec,
    changes: Mapping[str, object],
    target: Target | Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The JSON update body for Python keyword changes (``toxicity=`` and attributes, and a new
    ``target`` when one is given) of ``current``, validated and converted to Toxiproxy's units first, so
    a typo raises before anything is sent."""
    given = dict(changes)
    body: dict[str, object] = {}
    if "toxicity" in given:
        body["toxicity"] = _toxicity(given.pop("toxicity"), go_words=False)
    validated = current.toxic_type.validate(given, base=current.attributes)
    body["attributes"] = {key: validated[key] for key in given}
    if target is not None:
        body["target"] = parse_target(target).to_json()  # {} widens it back to every connection
    return body


__all__ = [
    "BANDWIDTH_SLICE_SECONDS",
    "DOWNSTREAM",
    "EVERY_CONNECTION",
    "STREAMS",
    "TOXIC_TYPES",
    "UPSTREAM",
    "Target",
    "ToxicSpec",
    "bandwidth_bytes_per_second",
    "bandwidth_schedule",
    "bandwidth_slice_size",
    "canonical_stream",
    "default_toxic_name",
    "go_kind",
    "latency_delay",
    "slicer_cuts",
    "toxic_update",
]
