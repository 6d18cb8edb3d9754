"""The toxic registry: one :class:`ToxicType` entry per toxic, and the one validation of its attributes.

Everything else derives from this table: ``ToxicSpec`` validation (Python API, fixtures, the HTTP API),
the engine's stage for each toxic, the YAML attribute models and their JSON Schema, the real-Toxiproxy
backend's checks and the docs table. Adding a toxic is one entry here plus its stage in ``chain``.

Pure: no sockets, no clocks. Units are Toxiproxy's: latency/jitter/slow_close/timeout/reset_peer in
milliseconds, bandwidth ``rate`` in KB/s with KB = 1000 bytes, slicer sizes in bytes and its ``delay`` in
microseconds, limit_data in bytes. Python and YAML may also write durations and sizes with a unit
(``"100ms"``, ``"64KiB"``); the HTTP API takes JSON numbers only, as Toxiproxy does.

Error words are shared: an unknown type or attribute and a negative value read the same from YAML, the
HTTP API and Python. Where the HTTP API must match Toxiproxy's own body (an unknown type is ``invalid toxic
type``; a value of the wrong JSON kind gets Go's decoder text), ``validate_json`` keeps those words.
"""

from __future__ import annotations

import difflib
import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final, Literal

from sockharness._units import DURATION_UNITS, parse_duration, parse_size
from sockharness.faults._engine import datagram_toxics as dg
from sockharness.faults._engine.chain import (
    CUT_ACTIONS,
    BandwidthStage,
    CorruptStage,
    CorruptState,
    CutStage,
    CutState,
    LatencyStage,
    LimitDataStage,
    LimitDataState,
    ResetPeerStage,
    SlicerStage,
    SlowCloseStage,
    Stage,
    StageStart,
    TimeoutStage,
    parse_offsets,
)
from sockharness.faults._engine.datagram_toxics import DatagramStageBuilder
from sockharness.faults._engine.toxic_maths import DISTRIBUTIONS, distribution_problem
from sockharness.faults._errors import BadRequest, InvalidToxic, bad_request

if TYPE_CHECKING:
    from sockharness.faults._engine.toxics import ToxicSpec

#: The largest number Go's ``int64`` (and ``int`` on 64-bit) holds: Toxiproxy's decoder refuses more.
GO_INT64_MAX: Final = 2**63 - 1

ProxyProtocol = Literal["tcp", "udp"]
#: An attribute's value in Toxiproxy's unit: a whole number for Toxiproxy's own toxics; text and fractions
#: only for the embedded engine's toxics (a cut pattern, a distribution name, a corruption fraction).
AttributeValue = int | float | str
StageFactory = Callable[["ToxicSpec", StageStart], Stage]


class UnknownToxicType(InvalidToxic, ValueError):
    """A toxic type the registry lacks; the message names it, suggests one and lists the known types."""


class InvalidAttribute(BadRequest, ValueError):
    """An unknown attribute name, or a value of the wrong type or out of range; the message names it."""


class UnsupportedToxic(BadRequest, ValueError):
    """A toxic the chosen backend or proxy cannot carry (embedded-only on Toxiproxy, wrong protocol)."""


class Unit(enum.Enum):
    """An attribute's unit as Toxiproxy counts it; durations and sizes also accept strings with a unit."""

    MILLISECONDS = "ms"
    MICROSECONDS = "µs"
    BYTES = "bytes"
    KB_PER_SECOND = "KB/s"
    TEXT = "text"
    PERCENT = "%"
    FRACTION = "fraction"
    MASK = "mask"
    DATAGRAMS = "datagrams"
    DATAGRAMS_PER_SECOND = "datagrams/s"
    BITS = "bits"
    PORT = "port"

    @property
    def words(self) -> str:
        return _UNIT_WORDS[self]

    @property
    def seconds(self) -> Decimal | None:
        """Seconds per unit (exactly) for a duration unit, None otherwise."""
        if self is Unit.MILLISECONDS:
            return DURATION_UNITS["ms"]
        if self is Unit.MICROSECONDS:
            return DURATION_UNITS["us"]
        return None

    @property
    def expected(self) -> str:
        """What a value in this unit may look like, for error texts."""
        if self.seconds is not None:
            return f"a whole number of {self.words} or a duration like '100ms'"
        if self is Unit.BYTES:
            return f"a whole number of {self.words} or a size like '64KiB'"
        if self is Unit.TEXT:
            return "a string"
        if self is Unit.FRACTION:
            return "a number between 0 and 1"
        return f"a whole number of {self.words}"


_UNIT_WORDS = {
    Unit.MILLISECONDS: "milliseconds",
    Unit.MICROSECONDS: "microseconds",
    Unit.BYTES: "bytes",
    Unit.KB_PER_SECOND: "KB/s (1000 bytes per second)",
    Unit.TEXT: "text",
    Unit.PERCENT: "percent",
    Unit.FRACTION: "fraction",
    Unit.MASK: "bit mask",
    Unit.DATAGRAMS: "datagrams",
    Unit.DATAGRAMS_PER_SECOND: "datagrams per second",
    Unit.BITS: "bits",
    Unit.PORT: "a port number",
}


@dataclass(frozen=True)
class Attribute:
    """One attribute of a toxic, exactly as Toxiproxy's JSON names it."""

    name: str
    unit: Unit
    summary: str
    #: Required in YAML: a toxic without it would do nothing (the HTTP API defaults it, as Toxiproxy).
    required: bool = False
    default: AttributeValue = 0
    minimum: int = 0
    #: The Go field type, only so that the HTTP API's type errors read exactly like Toxiproxy's.
    go_type: str = "int64"
    maximum: int | None = None
    #: The values a text attribute may take (empty: any non-empty text).
    choices: tuple[str, ...] = ()
    #: Only the embedded engine knows it: left out of the JSON while at its default (so a toxic's JSON
    #: stays Toxiproxy's), refused by the real-Toxiproxy backend when set.
    embedded_only: bool = False

    def parse(self, value: object, toxic: str) -> AttributeValue:
        """The value in Toxiproxy's unit, from an integer (or integral float) in that unit or, for durations
        and sizes, a string with a unit. Raises :class:`InvalidAttribute` naming the attribute."""
        if self.unit is Unit.TEXT:
            return self._parse_text(value, toxic)
        if self.unit is Unit.FRACTION:
            return self._parse_fraction(value, toxic)
        if isinstance(value, str) and self.unit.seconds is not None:
            number = self._parse_duration(value, toxic)
        elif isinstance(value, str) and self.unit is Unit.BYTES:
            number = self._parse_size(value, toxic)
        elif isinstance(value, bool) or not isinstance(value, int | float) or not _is_whole(value):
            raise self._wrong(value, toxic)
        else:
            number = int(value)
        return self._check_range(number, value, toxic)

    def parse_json(self, value: object, toxic: ToxicType) -> AttributeValue:
        """The value from a JSON body: numbers only, wrong kinds worded by Go's decoder as Toxiproxy does."""
        where = f"Go struct field {toxic.go_struct}.attributes.{self.name} of type {self.go_type}"
        if self.unit is Unit.TEXT:
            if not isinstance(value, str):
                raise bad_request(f"json: cannot unmarshal {go_kind(value)} into {where}")
            try:
                return self._parse_text(value, toxic.name)
            except InvalidAttribute as error:
                raise bad_request(error.message) from None
        if self.unit is Unit.FRACTION:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad_request(f"json: cannot unmarshal {go_kind(value)} into {where}")
            try:
                return self._parse_fraction(value, toxic.name)
            except InvalidAttribute as error:
                raise bad_request(error.message) from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_request(f"json: cannot unmarshal {go_kind(value)} into {where}")
        if abs(value) > GO_INT64_MAX:
            raise bad_request(f"json: cannot unmarshal number {value:g} into {where}")
        if isinstance(value, float) and not value.is_integer():
            raise bad_request(f"json: cannot unmarshal number {value!r} into {where}")
        number = int(value)
        if number < self.minimum:
            raise bad_request(self._below_minimum(number, toxic.name))
        if self.maximum is not None and number > self.maximum:
            raise bad_request(self._above_maximum(number, toxic.name))
        return number

    def _parse_text(self, value: object, toxic: str) -> str:
        if not isinstance(value, str):
            raise self._wrong(value, toxic)
        if not value:
            raise InvalidAttribute(f"attribute {self.name} of a {toxic} toxic must not be empty")
        if self.choices and value not in self.choices:
            close = difflib.get_close_matches(value, self.choices, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InvalidAttribute(
                f"attribute {self.name} of a {toxic} toxic must be one of {', '.join(self.choices)}, "
                f"got {value!r}{hint}"
            )
        return value

    def _parse_fraction(self, value: object, toxic: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise self._wrong(value, toxic)
        return float(value)

    def _parse_duration(self, text: str, toxic: str) -> int:
        seconds_per_unit = self.unit.seconds
        assert seconds_per_unit is not None
        if text.strip().startswith("-"):
            raise InvalidAttribute(self._below_minimum(text, toxic))
        try:
            parse_duration(text)  # the language's checks: a known unit, at most a day
        except ValueError:
            raise self._wrong(text, toxic) from None
        # Exact arithmetic, so "100ms" is 100 and "1.0000001ms" is refused rather than rounded.
        stripped = text.strip()
        number = stripped.rstrip("µusmin").rstrip()
        count = Decimal(number) * DURATION_UNITS[stripped[len(number) :].strip()] / seconds_per_unit
        if count != count.to_integral_value():
            raise InvalidAttribute(
                f"attribute {self.name} of a {toxic} toxic counts whole {self.unit.words}, "
                f"got {text!r} ({count.normalize():f} {self.unit.value})"
            )
        return int(count)

    def _parse_size(self, text: str, toxic: str) -> int:
        if text.strip().startswith("-"):
            raise InvalidAttribute(self._below_minimum(text, toxic))
        try:
            return parse_size(text)
        except ValueError as error:
            raise InvalidAttribute(f"attribute {self.name} of a {toxic} toxic: {error}") from None

    def _check_range(self, number: int, given: object, toxic: str) -> int:
        if number < self.minimum:
            raise InvalidAttribute(self._below_minimum(given, toxic))
        if number > GO_INT64_MAX:
            raise InvalidAttribute(
                f"attribute {self.name} of a {toxic} toxic must be at most {GO_INT64_MAX}, got {given!r}"
            )
        if self.maximum is not None and number > self.maximum:
            raise InvalidAttribute(self._above_maximum(given, toxic))
        return number

    def _below_minimum(self, given: object, toxic: str) -> str:
        return f"attribute {self.name} of a {toxic} toxic must be >= {self.minimum}, got {given}"

    def _above_maximum(self, given: object, toxic: str) -> str:
        return f"attribute {self.name} of a {toxic} toxic must be <= {self.maximum}, got {given}"

    def _wrong(self, value: object, toxic: str) -> InvalidAttribute:
        return InvalidAttribute(
            f"attribute {self.name} of a {toxic} toxic must be {self.unit.expected}, got {_shown(value)}"
        )


@dataclass(frozen=True)
class ToxicType:
    """One toxic: its attributes, its Go struct name, its engine stage and what the docs say about it."""

    name: str
    go_struct: str
    summary: str
    attributes: tuple[Attribute, ...]
    #: Builds the engine stage that acts for one toxic on one connection direction.
    stage: StageFactory
    #: Per-connection state kept when the toxic is updated (limit_data's byte count), or None.
    new_state: Callable[[], object] | None = None
    #: The proxy protocols the toxic applies to.
    protocols: frozenset[ProxyProtocol] = frozenset({"tcp"})
    #: Only the embedded engine has it: a real-Toxiproxy backend refuses it at once.
    embedded_only: bool = False
    #: It cuts connections (a reset, or a close the peers did not ask for): a scripted peer behind a proxy
    #: it is injected into tolerates the disconnects instead of failing. ``slow_close`` is not one: it only
    #: delays a close one side already made, which the peers see with or without the toxic.
    disconnects: bool = False
    #: Why a combination of attributes cannot work (each one alone is valid), or None: checked after every
    #: validation, so every surface refuses it in the same words.
    check: Callable[[Mapping[str, AttributeValue]], str | None] | None = None
    #: What the toxic does to datagrams on a UDP proxy (``datagram_toxics``); None for stream-only toxics.
    datagram_stage: DatagramStageBuilder | None = None

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return tuple(attribute.name for attribute in self.attributes)

    def defaults(self) -> dict[str, AttributeValue]:
        """Every attribute Toxiproxy's JSON shows, at its default (embedded-only ones appear once set)."""
        return {a.name: a.default for a in self.attributes if not a.embedded_only}

    def value(self, values: Mapping[str, AttributeValue], name: str) -> AttributeValue:
        """An attribute's value in ``values``, or its default (an embedded-only one may be absent)."""
        return values[name] if name in values else self.attribute(name).default

    def attribute(self, key: object) -> Attribute:
        """The attribute named ``key``; :class:`InvalidAttribute` (with did-you-mean) for an unknown one."""
        for attribute in self.attributes:
            if attribute.name == key:
                return attribute
        raise InvalidAttribute(self.unknown_attribute_message(key))

    def unknown_attribute_message(self, key: object) -> str:
        known = ", ".join(self.attribute_names) or "none"
        hint = _hint(key, self.attribute_names)
        return f"unknown attribute {key!r} for a {self.name} toxic{hint}known attributes: {known}"

    def validate(
        self, given: Mapping[str, object], base: Mapping[str, AttributeValue] | None = None
    ) -> dict[str, AttributeValue]:
        """``base`` (default: the defaults) overlaid with ``given``, from Python or YAML values."""
        result = dict(base) if base is not None else self.defaults()
        for key, value in given.items():
            result[key] = self.attribute(key).parse(value, self.name)
        self._check_combination(result)
        return self.shown_attributes(result)

    def revalidate(self, values: Mapping[str, object]) -> dict[str, AttributeValue]:
        """Check attributes already in Toxiproxy's units (a ``ToxicSpec`` built directly): a value equal to
        its default is taken as it is (an unset pattern is ``""``, which a caller may not *give*)."""
        given: dict[str, object] = {}
        base = self.defaults()
        for key, value in values.items():
            known = key in self.attribute_names
            if known and value == self.attribute(key).default and isinstance(value, int | float | str):
                base[key] = value
            else:
                given[key] = value
        return self.validate(given, base=base)

    def _check_combination(self, values: Mapping[str, AttributeValue]) -> None:
        complete = {a.name: self.value(values, a.name) for a in self.attributes}
        problem = self.check(complete) if self.check is not None else None
        if problem is not None:
            raise InvalidAttribute(f"a {self.name} toxic: {problem}")

    def validate_json(
        self, given: object, base: Mapping[str, AttributeValue] | None = None
    ) -> dict[str, AttributeValue]:
        """Like :meth:`validate` for a JSON body: numbers only, Toxiproxy's words for the wrong JSON kind.

        Unknown names are skipped, as Go's decoder does; the HTTP API refuses them first through
        :meth:`check_json_names`, so this reading stays the one Toxiproxy's own JSON (e.g. a toxic listed by a
        real server) gets."""
        if not isinstance(given, Mapping):
            raise bad_request(
                f"json: cannot unmarshal {go_kind(given)} into Go struct field "
                f"ToxicWrapper.attributes of type toxics.{self.go_struct}"
            )
        result = dict(base) if base is not None else self.defaults()
        for attribute in self.attributes:
            if attribute.name in given:
                result[attribute.name] = attribute.parse_json(given[attribute.name], self)
        try:
            self._check_combination(result)
        except InvalidAttribute as error:
            raise bad_request(error.message) from None
        return self.shown_attributes(result)

    def check_json_names(self, given: Mapping[object, object]) -> None:
        """Unknown names (typos Toxiproxy would silently ignore) and numbers beyond Go's int64, refused
        before anything else in the body is looked at."""
        for key in given:
            if key not in self.attribute_names:
                raise bad_request(self.unknown_attribute_message(key))
        for attribute in self.attributes:
            value = given.get(attribute.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > GO_INT64_MAX:
                attribute.parse_json(value, self)

    def check_backend(self, backend: str, values: Mapping[str, AttributeValue] | None = None) -> None:
        """Refuse an embedded-only toxic on a real Toxiproxy server, which would not know it, and an
        embedded-only attribute set away from its default (the server would silently ignore it)."""
        if backend == "embedded":
            return
        if self.embedded_only:
            raise UnsupportedToxic(
                f"the {self.name} toxic is embedded-only: a real Toxiproxy server has no such toxic; "
                "use the embedded backend (--sockharness-backend embedded)"
            )
        for attribute in self.attributes:
            if (
                values is not None
                and attribute.embedded_only
                and values.get(attribute.name, attribute.default) != attribute.default
            ):
                raise UnsupportedToxic(
                    f"attribute {attribute.name} of the {self.name} toxic is embedded-only: a real "
                    "Toxiproxy server would silently ignore it; use the embedded backend "
                    "(--sockharness-backend embedded)"
                )

    def shown_attributes(self, values: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
        """The attributes as the JSON shows them: embedded-only ones only when set (Toxiproxy's JSON
        of a plain latency toxic stays exactly Toxiproxy's)."""
        hidden = {a.name for a in self.attributes if a.embedded_only and values.get(a.name) == a.default}
        return {key: value for key, value in values.items() if key not in hidden}

    def check_protocol(self, protocol: ProxyProtocol) -> None:
        """Refuse a toxic on a proxy of a protocol it does not apply to."""
        if protocol not in self.protocols:
            applies = " and ".join(sorted(self.protocols)).upper()
            raise UnsupportedToxic(
                f"the {self.name} toxic applies to {applies} proxies only, not to a {protocol.upper()} proxy"
            )

    def check_target(self, protocol: ProxyProtocol, targeted: bool) -> None:
        """Refuse a connection target on a UDP proxy's toxic: datagrams have no connections, and applying
        the toxic to every datagram instead would be a fault other than the one asked for."""
        if targeted and protocol == "udp":
            raise UnsupportedToxic(
                f"a target applies to toxics on TCP proxies only; on a UDP proxy the {self.name} toxic "
                "is aimed with its nth and client_port attributes"
            )


def _shown(value: object) -> str:
    """A value as both YAML and JSON readers recognise it (``true``, ``null``, ``'text'``, ``1.5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else repr(value)


def parse_toxicity(value: object) -> float:
    """A toxicity (the share of connections a toxic acts on): a number from 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise InvalidAttribute(f"toxicity must be a number between 0 and 1, got {_shown(value)}")
    return float(value)  # NaN fails the range test above


def _hint(word: object, candidates: tuple[str, ...]) -> str:
    """``"; did you mean 'x'? "`` for the closest candidate, else ``"; "``: what goes before the list."""
    if not isinstance(word, str):
        return "; "
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not close:
        close = [candidate for candidate in candidates if candidate.lower() == word.lower()][:1]
    return f"; did you mean {close[0]!r}? " if close else "; "


def _is_whole(value: float) -> bool:
    return isinstance(value, int) or (math.isfinite(value) and value.is_integer())


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


def _limit_data_stage(spec: ToxicSpec, start: StageStart) -> Stage:
    state = start.state if isinstance(start.state, LimitDataState) else LimitDataState()
    return LimitDataStage(spec, state)


def _cut_stage(spec: ToxicSpec, start: StageStart) -> Stage:
    state = start.state if isinstance(start.state, CutState) else CutState()
    return CutStage(spec, state, start.note)


def _corrupt_stage(spec: ToxicSpec, start: StageStart) -> Stage:
    state = start.state if isinstance(start.state, CorruptState) else CorruptState()
    return CorruptStage(spec, start.rng, state, start.note)


def _latency_problem(values: Mapping[str, AttributeValue]) -> str | None:
    return distribution_problem(
        str(values["distribution"]), int(values["latency"]), int(values["jitter"]), int(values["correlation"])
    )


#: How a latency toxic's delays spread (TCP chunks and UDP datagrams alike).
_DELAY_SHAPE: Final = (
    Attribute(
        "distribution",
        Unit.TEXT,
        "how jitter spreads: " + ", ".join(DISTRIBUTIONS) + " (embedded only unless uniform)",
        default="uniform",
        go_type="string",
        choices=DISTRIBUTIONS,
        embedded_only=True,
    ),
    Attribute(
        "correlation",
        Unit.PERCENT,
        "how much each delay follows the previous one (embedded only)",
        maximum=100,
        embedded_only=True,
    ),
)


def _cut_problem(values: Mapping[str, AttributeValue]) -> str | None:
    if values["pattern"] and int(values["bytes"]):
        return "set bytes or pattern, not both (the cut is after N bytes or at the first match)"
    if values["action"] == "stall" and int(values["stall"]) <= 0:
        return "action stall needs stall > 0 (milliseconds to hold the rest of the stream)"
    if values["action"] != "stall" and int(values["stall"]):
        return f"stall is the duration of action stall; action {values['action']} does not use it"
    return None


def _corrupt_problem(values: Mapping[str, AttributeValue]) -> str | None:
    try:
        parse_offsets(str(values["offsets"]))
    except ValueError as error:
        return str(error)
    return None


_MS = Unit.MILLISECONDS


def _datagram_only(spec: ToxicSpec, start: StageStart) -> Stage:
    """The TCP stage of a datagram toxic: a pass-through never built, since every way onto a TCP proxy
    (``EngineProxy.add_toxic``, the backends, the YAML checker) refuses it by ``check_protocol`` first."""
    return Stage(spec)


def _datagram_toxic(
    name: str,
    summary: str,
    datagram_stage: DatagramStageBuilder,
    *attributes: Attribute,
    check: Callable[[Mapping[str, AttributeValue]], str | None] | None = None,
) -> ToxicType:
    """A UDP toxic (its maths: ``datagram_toxics``): toxicity is the share of datagrams it acts on, and
    ``nth`` and ``client_port`` aim it at one datagram or one client."""
    targeting = (
        Attribute("nth", Unit.DATAGRAMS, "act only on the Nth datagram of each client and direction; 0: all"),
        Attribute("client_port", Unit.PORT, "act only on the client with this source port; 0: every client"),
    )
    struct = "".join(part.title() for part in name.split("_")) + "Toxic"
    return ToxicType(
        name,
        struct.replace("Udp", "UDP"),
        summary,
        (*attributes, *targeting),
        stage=_datagram_only,
        datagram_stage=datagram_stage,
        protocols=frozenset({"udp"}),
        embedded_only=True,
        check=check,
    )


_DG = Unit.DATAGRAMS

#: The datagram toxics of UDP proxies (embedded engine only: Toxiproxy has no UDP proxies).
_DATAGRAM_TOXICS: Final = (
    _datagram_toxic(
        "udp_latency",
        "UDP: delays each datagram by latency ± jitter (the TCP latency's distributions); order kept, "
        "never early.",
        dg.LatencyStage,
        Attribute("latency", _MS, "delay added to each datagram", required=True),
        Attribute("jitter", _MS, "random spread (its shape: distribution)"),
        *_DELAY_SHAPE,
        check=_latency_problem,
    ),
    _datagram_toxic(
        "udp_loss", "UDP: drops each datagram independently with probability toxicity.", dg.LossStage
    ),
    _datagram_toxic(
        "udp_burst_loss",
        "UDP: bursty loss (Gilbert-Elliott): bad spells of mean `burst` datagrams every mean `gap`; "
        "toxicity is the loss inside a bad spell, `good_loss` the loss between them.",
        dg.BurstLossStage,
        Attribute("burst", _DG, "mean length of a bad spell (0: the toxic does nothing)", required=True),
        Attribute("gap", _DG, "mean length of a good spell between two bad ones", required=True),
        Attribute(
            "good_loss",
            Unit.FRACTION,
            "loss probability in a good spell, from 0 to 1 (0: Gilbert's model)",
            default=0.0,
            go_type="float64",
        ),
    ),
    _datagram_toxic(
        "udp_duplicate",
        "UDP: sends extra copies of a datagram right after it.",
        dg.DuplicateStage,
        Attribute("copies", _DG, "extra copies of each datagram acted on", required=True),
    ),
    _datagram_toxic(
        "udp_reorder",
        "UDP: holds a datagram back until `gap` later ones went past it, or for `delay` (first wins).",
        dg.ReorderStage,
        Attribute("gap", _DG, "later datagrams that overtake it; 0: by time only", required=True),
        Attribute("delay", _MS, "longest hold; 0: no time limit"),
    ),
    _datagram_toxic(
        "udp_corrupt",
        "UDP: flips random bits of a datagram (its length is kept).",
        dg.CorruptStage,
        Attribute("bits", Unit.BITS, "distinct bits flipped per datagram", required=True),
    ),
    _datagram_toxic(
        "udp_truncate",
        "UDP: cuts a datagram to its first `size` bytes.",
        dg.TruncateStage,
        Attribute("size", Unit.BYTES, "bytes kept of each datagram", required=True),
    ),
    _datagram_toxic(
        "udp_rate",
        "UDP: paces datagrams to a rate in datagrams/s and KB/s (queued, never dropped, never early).",
        dg.RateStage,
        Attribute("datagrams", Unit.DATAGRAMS_PER_SECOND, "datagrams per second; 0: no limit"),
        Attribute("rate", Unit.KB_PER_SECOND, "bytes per second, in 1000s; 0: no limit"),
    ),
    _datagram_toxic(
        "udp_blackhole", "UDP: drops every datagram (as udp_loss with toxicity 1).", dg.LossStage
    ),
)

#: Every toxic, in the order Toxiproxy's docs list them. Every default is 0, as in Toxiproxy.
TOXICS: Final[Mapping[str, ToxicType]] = {
    toxic.name: toxic
    for toxic in (
        ToxicType(
            "latency",
            "LatencyToxic",
            "Delays each chunk by latency ± jitter, counted from when the proxy read it.",
            (
                Attribute("latency", _MS, "delay added to each chunk", required=True),
                Attribute("jitter", _MS, "random spread, uniform in ± jitter"),
                *_DELAY_SHAPE,
            ),
            stage=lambda spec, start: LatencyStage(spec, start.rng),
            check=_latency_problem,
        ),
        ToxicType(
            "bandwidth",
            "BandwidthToxic",
            "Paces the stream to a rate, in ~2 ms slices; never early.",
            (Attribute("rate", Unit.KB_PER_SECOND, "bytes per second, in 1000s", required=True),),
            stage=lambda spec, start: BandwidthStage(spec),
        ),
        ToxicType(
            "slow_close",
            "SlowCloseToxic",
            "Holds the close (FIN) back for a delay after the data before it.",
            (Attribute("delay", _MS, "time before the close is passed on", required=True),),
            stage=lambda spec, start: SlowCloseStage(spec),
        ),
        ToxicType(
            "timeout",
            "TimeoutToxic",
            "Drops all data; closes the connection after the timeout (0: never).",
            (Attribute("timeout", _MS, "time before the close; 0 holds the data forever", required=True),),
            stage=lambda spec, start: TimeoutStage(spec, start.now),
            disconnects=True,
        ),
        ToxicType(
            "reset_peer",
            "ResetToxic",
            "Resets both sides (RST) a timeout after the first data.",
            (Attribute("timeout", _MS, "time before the RST; 0 resets on the first data", required=True),),
            stage=lambda spec, start: ResetPeerStage(spec),
            disconnects=True,
        ),
        ToxicType(
            "slicer",
            "SlicerToxic",
            "Cuts each chunk into small pieces, with a delay before each.",
            (
                Attribute("average_size", Unit.BYTES, "size of a piece", required=True, go_type="int"),
                Attribute("size_variation", Unit.BYTES, "random spread of the size", go_type="int"),
                Attribute("delay", Unit.MICROSECONDS, "pause before each piece", go_type="int"),
            ),
            stage=lambda spec, start: SlicerStage(spec, start.rng),
        ),
        ToxicType(
            "limit_data",
            "LimitDataToxic",
            "Closes the connection once a number of bytes has passed.",
            (Attribute("bytes", Unit.BYTES, "bytes passed before the close", required=True),),
            stage=_limit_data_stage,
            new_state=LimitDataState,
            disconnects=True,
        ),
        ToxicType(
            "cut",
            "CutToxic",
            "Delivers the stream exactly up to a cut point (after N bytes, or after the first match of a "
            "pattern), then resets, closes, half-closes, hangs or stalls.",
            (
                Attribute("bytes", Unit.BYTES, "bytes delivered before the cut (0: cut at the first byte)"),
                Attribute(
                    "pattern",
                    Unit.TEXT,
                    "cut just after the first match of this text (UTF-8), e.g. the end of HTTP headers",
                    default="",
                    go_type="string",
                ),
                Attribute(
                    "action",
                    Unit.TEXT,
                    "what happens at the cut: " + ", ".join(CUT_ACTIONS),
                    default="reset",
                    go_type="string",
                    choices=CUT_ACTIONS,
                ),
                Attribute("stall", _MS, "for action stall: how long the rest of the stream is held"),
            ),
            stage=_cut_stage,
            new_state=CutState,
            embedded_only=True,
            disconnects=True,
            check=_cut_problem,
        ),
        ToxicType(
            "corrupt",
            "CorruptToxic",
            "Flips bits in a seeded fraction of the bytes and/or at chosen stream offsets; the "
            "connection log names each offset changed.",
            (
                Attribute(
                    "fraction",
                    Unit.FRACTION,
                    "share of the bytes changed, from 0 to 1",
                    default=0.0,
                    go_type="float64",
                ),
                Attribute(
                    "offsets",
                    Unit.TEXT,
                    "stream offsets (from 0) to change, separated by commas, e.g. '0,17,4096'",
                    default="",
                    go_type="string",
                ),
                Attribute(
                    "mask",
                    Unit.MASK,
                    "bits to flip in each chosen byte (XOR); 0 flips one seeded random bit",
                    maximum=255,
                ),
            ),
            stage=_corrupt_stage,
            new_state=CorruptState,
            embedded_only=True,
            check=_corrupt_problem,
        ),
        ToxicType(
            "noop",
            "NoopToxic",
            "Passes data unchanged: a placeholder (Toxiproxy has it too).",
            (),
            # The plain pass-through stage: the chain stays transparent (bulk data keeps the zero-copy path).
            stage=lambda spec, start: Stage(spec),
        ),
        *_DATAGRAM_TOXICS,
    )
}


#: Said when a real Toxiproxy server is asked for a UDP proxy: at the call, at load time and by the API.
TOXIPROXY_HAS_NO_UDP: Final = (
    "a real Toxiproxy server proxies TCP only, so it cannot make a UDP proxy; "
    "use the embedded backend (--sockharness-backend embedded) for UDP"
)


def proxy_protocol(value: object) -> ProxyProtocol:
    """A proxy's protocol, ``"tcp"`` or ``"udp"``; one sentence for every surface otherwise."""
    if value == "tcp" or value == "udp":
        return value
    raise BadRequest(
        f"bad request body: protocol {_shown(value)} is not a proxy protocol; known protocols: tcp, udp"
    )


def cuts_connections(toxic: str) -> bool:
    """Whether a toxic of this type cuts connections (see :attr:`ToxicType.disconnects`); raises
    :class:`UnknownToxicType` for an unknown type, as every other surface does."""
    return toxic_type(toxic).disconnects


def toxic_type(name: object) -> ToxicType:
    """The entry for ``name``; :class:`UnknownToxicType` names it, suggests one and lists the types."""
    found = TOXICS.get(name) if isinstance(name, str) else None
    if found is None:
        raise UnknownToxicType(
            f"unknown toxic type {name!r}{_hint(name, tuple(TOXICS))}known types: {', '.join(TOXICS)}"
        )
    return found


def _attribute_cell(attribute: Attribute) -> str:
    required = ", required in YAML" if attribute.required else f", default {attribute.default!r}"
    return f"`{attribute.name}` ({attribute.unit.value}{required}): {attribute.summary}"


def render_toxic_table(toxics: Mapping[str, ToxicType] = TOXICS) -> str:
    """The docs' reference table of toxics, in markdown, from the registry."""
    lines = [
        "| toxic | attributes | what it does | cuts connections | backends |",
        "| --- | --- | --- | --- | --- |",
    ]
    for toxic in toxics.values():
        attributes = "<br>".join(_attribute_cell(attribute) for attribute in toxic.attributes) or "none"
        cuts = "yes: scripted peers behind the proxy tolerate it" if toxic.disconnects else "no"
        backends = "embedded only" if toxic.embedded_only else "embedded, Toxiproxy"
        lines.append(f"| `{toxic.name}` | {attributes} | {toxic.summary} | {cuts} | {backends} |")
    return "\n".join(lines) + "\n"


__all__ = [
    "GO_INT64_MAX",
    "TOXICS",
    "TOXIPROXY_HAS_NO_UDP",
    "Attribute",
    "AttributeValue",
    "InvalidAttribute",
    "ProxyProtocol",
    "ToxicType",
    "Unit",
    "UnknownToxicType",
    "UnsupportedToxic",
    "cuts_connections",
    "go_kind",
    "parse_toxicity",
    "proxy_protocol",
    "render_toxic_table",
    "toxic_type",
]
