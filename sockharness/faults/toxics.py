"""Toxic specifications: Toxiproxy's JSON shape, validation, defaults and the toxic maths.

Pure: no sockets, no clocks. Time is always passed in (seconds, ``time.monotonic`` scale) and randomness
always comes from a ``random.Random`` the caller derives from the engine seed, so every schedule computed
here can be replayed and unit-tested without I/O.

Units are Toxiproxy's: latency/jitter/slow_close/timeout/reset_peer in milliseconds, bandwidth ``rate`` in
KB/s with KB = 1000 bytes, slicer sizes in bytes and its ``delay`` in microseconds, limit_data in bytes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from sockharness.faults.errors import InvalidStream, InvalidToxic, bad_request

UPSTREAM = "upstream"  # client -> server
DOWNSTREAM = "downstream"  # server -> client
STREAMS = (UPSTREAM, DOWNSTREAM)

#: type -> default attributes (exactly Toxiproxy's attribute names; every default is 0 there too).
TOXIC_TYPES: dict[str, dict[str, int | float]] = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
    "noop": {},  # passes data unchanged; Toxiproxy has it too (toxics/noop.go), handy as a placeholder
}

# Go struct names and field types, only so that type errors read exactly like Toxiproxy's.
_GO_STRUCT = {
    "latency": "LatencyToxic",
    "bandwidth": "BandwidthToxic",
    "slow_close": "SlowCloseToxic",
    "timeout": "TimeoutToxic",
    "reset_peer": "ResetToxic",
    "slicer": "SlicerToxic",
    "limit_data": "LimitDataToxic",
    "noop": "NoopToxic",
}
_GO_INT = {"slicer": "int"}  # the slicer's fields are Go ``int``; every other attribute is ``int64``

#: Bandwidth pacing granularity: a slice is released every ~2 ms of transmission time, so the first byte
#: arrives within a few ms (Toxiproxy holds a whole 32 KiB read chunk for its full transmission time).
BANDWIDTH_SLICE_SECONDS = 0.002


def go_kind(value: object) -> str:
    """The JSON kind Go's decoder names in its type errors, so our error texts read like Toxiproxy's."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if value is None:
        return "null"
    return "object"


def _int_attribute(toxic_type: str, key: str, value: object) -> int:
    go_type = _GO_INT.get(toxic_type, "int64")
    where = f"Go struct field {_GO_STRUCT[toxic_type]}.attributes.{key} of type {go_type}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"json: cannot unmarshal {go_kind(value)} into {where}")
    if isinstance(value, float):
        if not value.is_integer():
            raise bad_request(f"json: cannot unmarshal number {value!r} into {where}")
        value = int(value)
    if value < 0:
        # Toxiproxy accepts negative numbers and behaves as if they were 0 (or panics, for the slicer);
        # rejecting them names the mistake instead.
        raise bad_request(f"attribute {key} of a {toxic_type} toxic must be >= 0, got {value}")
    return value


def validate_attributes(
    toxic_type: str, attributes: object, base: Mapping[str, int | float] | None = None
) -> dict[str, int | float]:
    """Defaults (or ``base``) overlaid with ``attributes``; unknown keys are ignored as Go's decoder does."""
    if toxic_type not in TOXIC_TYPES:
        raise InvalidToxic()
    if not isinstance(attributes, Mapping):
        raise bad_request(
            f"json: cannot unmarshal {go_kind(attributes)} into Go struct field "
            f"ToxicWrapper.attributes of type toxics.{_GO_STRUCT[toxic_type]}"
        )
    result: dict[str, int | float] = dict(base if base is not None else TOXIC_TYPES[toxic_type])
    for key in TOXIC_TYPES[toxic_type]:
        if key in attributes:
            result[key] = _int_attribute(toxic_type, key, attributes[key])
    return result


def _toxicity(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(
            f"json: cannot unmarshal {go_kind(value)} into Go struct field "
            "ToxicWrapper.toxicity of type float32"
        )
    if not (0.0 <= float(value) <= 1.0) or math.isnan(float(value)):
        raise bad_request(f"toxicity must be between 0 and 1, got {value}")
    return float(value)


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
    attributes: dict[str, int | float] = field(default_factory=dict)
    stream_spelling: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.type not in TOXIC_TYPES:
            raise InvalidToxic()
        spelling = self.stream_spelling if self.stream_spelling is not None else self.stream
        self.stream = canonical_stream(self.stream)
        if canonical_stream(spelling) != self.stream:
            raise ValueError(f"stream_spelling {spelling!r} does not name stream {self.stream!r}")
        self.stream_spelling = spelling if spelling != self.stream else None
        self.toxicity = _toxicity(self.toxicity)
        self.attributes = validate_attributes(self.type, self.attributes)
        if not self.name:
            self.name = f"{self.type}_{self.stream_text}"

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
        if toxic_type not in TOXIC_TYPES:
            raise InvalidToxic()
        raw = data.get("attributes")
        attributes = validate_attributes(toxic_type, raw if raw is not None else {})
        return cls(
            name=name or f"{toxic_type}_{stream}",
            type=toxic_type,
            stream=direction,
            toxicity=toxicity,
            attributes=attributes,
            stream_spelling=stream,
        )

    def updated(self, data: Mapping[str, object]) -> ToxicSpec:
        """A copy with ``attributes`` merged and ``toxicity`` replaced; name, type and stream never change."""
        if not isinstance(data, Mapping):
            raise bad_request(f"json: cannot unmarshal {go_kind(data)} into Go value of type struct")
        raw = data.get("attributes")
        attributes = validate_attributes(self.type, raw if raw is not None else {}, base=self.attributes)
        toxicity = _toxicity(data["toxicity"]) if "toxicity" in data else self.toxicity
        return ToxicSpec(self.name, self.type, self.stream, toxicity, attributes, self.stream_spelling)

    def to_json(self) -> dict[str, object]:
        """Toxiproxy's toxic JSON."""
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream_text,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


# --- toxic maths ---------------------------------------------------------------------------------------


def latency_delay(latency_ms: float, jitter_ms: float, rng: random.Random) -> float:
    """Seconds one chunk is held: uniform in [latency - jitter, latency + jitter), never below 0."""
    delay = float(latency_ms)
    if jitter_ms > 0:
        delay += rng.random() * 2.0 * jitter_ms - jitter_ms
    return max(0.0, delay) / 1000.0


def bandwidth_bytes_per_second(rate_kb: float) -> float:
    """Toxiproxy's ``rate`` is KB/s with KB = 1000 bytes (it sleeps ``len * 1ms / rate``)."""
    return float(rate_kb) * 1000.0


def bandwidth_slice_size(rate_kb: float) -> int:
    """Bytes per paced slice: ~2 ms of transmission, at least one byte."""
    return max(1, int(bandwidth_bytes_per_second(rate_kb) * BANDWIDTH_SLICE_SECONDS))


def bandwidth_schedule(length: int, rate_kb: float, start: float) -> list[tuple[int, int, float]]:
    """``(begin, end, release_time)`` slices for ``length`` bytes starting to transmit at ``start``.

    Each slice is released when its last byte has been "transmitted" at the rate, so the delivered byte
    count never runs ahead of ``rate * elapsed`` (never early) and the long-run rate is exact.
    """
    bps = bandwidth_bytes_per_second(rate_kb)
    size = bandwidth_slice_size(rate_kb)
    slices = []
    begin = 0
    while begin < length:
        end = min(length, begin + size)
        slices.append((begin, end, start + end / bps))
        begin = end
    return slices


def slicer_cuts(length: int, average_size: int, size_variation: int, rng: random.Random) -> list[int]:
    """Boundaries ``[0, ..., length]`` cutting a chunk into pieces of about ``average_size`` bytes.

    Toxiproxy's recursive halving: a span longer than ``average_size + size_variation`` is split near its
    middle, moved by a random offset in ``[-size_variation, size_variation)``. Unlike Toxiproxy this never
    panics (size_variation 0) or recurses forever (average_size 0: the chunk is left whole).
    """
    if length <= 0:
        return [0, max(0, length)]
    if average_size <= 0:
        return [0, length]
    cuts = [0]
    stack = [(0, length)]
    while stack:
        start, end = stack.pop()
        if (end - start) - average_size <= size_variation:
            cuts.append(end)
            continue
        offset = rng.randrange(-size_variation, size_variation) if size_variation > 0 else 0
        mid = min(end - 1, max(start + 1, start + (end - start) // 2 + offset))
        stack.append((mid, end))  # popped after the left half: cuts stay in ascending order
        stack.append((start, mid))
    return cuts


__all__ = [
    "BANDWIDTH_SLICE_SECONDS",
    "DOWNSTREAM",
    "STREAMS",
    "TOXIC_TYPES",
    "UPSTREAM",
    "ToxicSpec",
    "bandwidth_bytes_per_second",
    "bandwidth_schedule",
    "bandwidth_slice_size",
    "canonical_stream",
    "latency_delay",
    "slicer_cuts",
    "validate_attributes",
]
