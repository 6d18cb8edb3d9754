"""Toxiproxy toxics: a union keyed on ``type`` whose ``attributes`` are exactly Toxiproxy's JSON.

Units are Toxiproxy's: latency/jitter/delay/timeout in milliseconds, bandwidth ``rate`` in KB/s (1000-byte
units), slicer ``delay`` in microseconds, sizes in bytes. The main attribute of each type is required (a
``latency`` toxic without ``latency`` would silently do nothing); the secondary ones default to 0 as in
Toxiproxy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import Discriminator, Field, Tag, ValidatorFunctionWrapHandler, WithJsonSchema, WrapValidator

from sockharness.scenario.errors import describe_value, did_you_mean
from sockharness.scenario.model_types import Count, StrictModel, fail, parsed_by

__all__ = ["TOXIC_TYPES", "Toxic", "ToxicBase", "by_field", "field_tag"]


# --- toxics ----------------------------------------------------------------------------------------


def _check_toxicity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"expected a toxicity between 0 and 1, got {describe_value(value)}")
    return float(value)


class LatencyAttributes(StrictModel):
    latency: Count  # ms added to each chunk
    jitter: Count = 0  # ms, +/- random


class BandwidthAttributes(StrictModel):
    rate: Count  # KB/s (1000 bytes per second units, as Toxiproxy)


class SlowCloseAttributes(StrictModel):
    delay: Count  # ms before the close is passed on


class TimeoutAttributes(StrictModel):
    timeout: Count  # ms before the connection is closed; 0 = hold data forever


class ResetPeerAttributes(StrictModel):
    timeout: Count  # ms before the RST; 0 = on the first data


class SlicerAttributes(StrictModel):
    average_size: Count  # bytes per slice
    size_variation: Count = 0  # bytes
    delay: Count = 0  # microseconds between slices


class LimitDataAttributes(StrictModel):
    bytes: Count  # bytes passed before the connection is closed


class NoopAttributes(StrictModel):
    """Toxiproxy's ``noop`` toxic takes no attributes: it passes data unchanged (a placeholder toxic)."""


class ToxicBase(StrictModel):
    """A toxic; ``proxy`` is required in phases and ``add_toxic`` steps, and absent in a proxy peer."""

    what: ClassVar[str] = "a toxic mapping {type, name, stream, toxicity, attributes}"
    proxy: Annotated[str, Field(min_length=1)] | None = None
    type: str
    name: Annotated[str, Field(min_length=1)] | None = None
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: Annotated[
        float,
        parsed_by(_check_toxicity),
        WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1, "description": "share of connections"}),
    ] = 1.0
    attributes: StrictModel

    def attribute_values(self) -> dict[str, int]:
        """The attributes as Toxiproxy's JSON expects them (defaults included)."""
        return {key: int(value) for key, value in self.attributes.model_dump().items()}


class LatencyToxic(ToxicBase):
    type: Literal["latency"]
    attributes: LatencyAttributes


class BandwidthToxic(ToxicBase):
    type: Literal["bandwidth"]
    attributes: BandwidthAttributes


class SlowCloseToxic(ToxicBase):
    type: Literal["slow_close"]
    attributes: SlowCloseAttributes


class TimeoutToxic(ToxicBase):
    type: Literal["timeout"]
    attributes: TimeoutAttributes


class ResetPeerToxic(ToxicBase):
    type: Literal["reset_peer"]
    attributes: ResetPeerAttributes


class SlicerToxic(ToxicBase):
    type: Literal["slicer"]
    attributes: SlicerAttributes


class LimitDataToxic(ToxicBase):
    type: Literal["limit_data"]
    attributes: LimitDataAttributes


class NoopToxic(ToxicBase):
    type: Literal["noop"]
    attributes: NoopAttributes = NoopAttributes()


TOXIC_TYPES: Final = (
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "noop",
)


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


Toxic = Annotated[
    Annotated[LatencyToxic, Tag("§latency")]
    | Annotated[BandwidthToxic, Tag("§bandwidth")]
    | Annotated[SlowCloseToxic, Tag("§slow_close")]
    | Annotated[TimeoutToxic, Tag("§timeout")]
    | Annotated[ResetPeerToxic, Tag("§reset_peer")]
    | Annotated[SlicerToxic, Tag("§slicer")]
    | Annotated[LimitDataToxic, Tag("§limit_data")]
    | Annotated[NoopToxic, Tag("§noop")],
    Discriminator(field_tag("type", TOXIC_TYPES)),
    WrapValidator(by_field("type", TOXIC_TYPES, "toxic")),
]
