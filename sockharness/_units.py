"""Durations and sizes as people write them in scenarios: ``"300ms"``, ``"64KiB"``, or plain numbers.

Pure functions, no I/O. Both parsers refuse what would silently mean something else: negative
values, booleans (YAML's ``yes``/``true`` are ints to Python), NaN, infinities and strings without a
unit (``"5"`` is ambiguous between seconds and milliseconds, so a string must say which).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, DecimalException

__all__ = [
    "DURATION_PATTERN",
    "DURATION_UNITS",
    "MAX_DURATION_SECONDS",
    "MAX_SIZE_BYTES",
    "SIZE_PATTERN",
    "SIZE_UNITS",
    "format_duration",
    "format_size",
    "parse_duration",
    "parse_size",
]

#: Seconds per unit. ``us`` and ``µs`` are the same unit; ``min`` exists for long ready timeouts.
DURATION_UNITS: dict[str, Decimal] = {
    "us": Decimal("0.000001"),
    "µs": Decimal("0.000001"),
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "min": Decimal(60),
}

#: Bytes per unit: KB/MB/GB are decimal (as Toxiproxy's ``rate`` and disk vendors), KiB/MiB/GiB binary.
SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "KB": 1000,
    "KiB": 1024,
    "MB": 1000**2,
    "MiB": 1024**2,
    "GB": 1000**3,
    "GiB": 1024**3,
}

#: A day: anything longer in a socket test is a typo, and huge values overflow C time_t conversions.
MAX_DURATION_SECONDS = 86_400.0
#: The largest value a C ``ssize_t`` holds on 64-bit platforms (what recv()/send() counts are).
MAX_SIZE_BYTES = 2**63 - 1

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
#: Regular expressions the JSON Schema publishes for the string forms (kept in step with the parsers).
DURATION_PATTERN = rf"^\s*{_NUMBER}\s*(?:us|µs|ms|s|min)\s*$"
SIZE_PATTERN = rf"^\s*{_NUMBER}\s*(?:[Bb]|[KkMmGg][Bb]|[KkMmGg][Ii][Bb])\s*$"

_DURATION_RE = re.compile(rf"^\s*(?P<number>{_NUMBER})\s*(?P<unit>us|µs|ms|s|min)\s*$")
_SIZE_RE = re.compile(rf"^\s*(?P<number>{_NUMBER})\s*(?P<unit>[A-Za-z]+)\s*$")
_SIZE_UNITS_FOLDED = {unit.lower(): factor for unit, factor in SIZE_UNITS.items()}

_DURATION_EXPECTED = 'a duration like 0.5, "250us", "300ms" or "2s"'
_SIZE_EXPECTED = 'a size like 1024 or "64KiB"'


def _describe(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def parse_duration(value: object) -> float:
    """Return seconds for ``value``: a non-negative number (seconds) or a string with a unit.

    Units: ``us``/``µs``, ``ms``, ``s``, ``min``. Raises ValueError naming what was expected.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected {_DURATION_EXPECTED}, got {_describe(value)}")
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match is None:
            if _DURATION_RE.match(value.strip().removeprefix("-")):
                raise ValueError(f"expected a non-negative duration, got {_describe(value)}")
            raise ValueError(f"expected {_DURATION_EXPECTED}, got {_describe(value)}")
        try:
            seconds = float(Decimal(match["number"]) * DURATION_UNITS[match["unit"]])
        except DecimalException:  # exponent beyond Decimal's range: certainly too long
            seconds = math.inf
    elif value > MAX_DURATION_SECONDS:  # before float(): huge ints overflow it
        raise ValueError(f"expected a duration of at most one day (86400s), got {_describe(value)}")
    else:
        seconds = float(value)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"expected a non-negative duration, got {_describe(value)}")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"expected a duration of at most one day (86400s), got {_describe(value)}")
    return seconds


def parse_size(value: object) -> int:
    """Return bytes for ``value``: a non-negative integer or a string with a unit (B, KB, KiB, ... GiB).

    Fractions are allowed only when they come out as whole bytes (``"1.5KiB"`` is 1536).
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        if isinstance(value, float) and value.is_integer() and value >= 0:
            raise ValueError(f"expected {_SIZE_EXPECTED} (an integer, not a float), got {value!r}")
        raise ValueError(f"expected {_SIZE_EXPECTED}, got {_describe(value)}")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE_RE.match(value)
        if match is None:
            if _SIZE_RE.match(value.strip().removeprefix("-")):
                raise ValueError(f"expected a non-negative size, got {_describe(value)}")
            raise ValueError(f"expected {_SIZE_EXPECTED}, got {_describe(value)}")
        factor = _SIZE_UNITS_FOLDED.get(match["unit"].lower())
        if factor is None:
            units = ", ".join(SIZE_UNITS)
            raise ValueError(f"unknown size unit {match['unit']!r} in {value!r}: use one of {units}")
        try:
            exact = Decimal(match["number"]) * factor
            if exact > MAX_SIZE_BYTES:
                raise ValueError(f"expected a size below 2**63 bytes, got {_describe(value)}")
            if exact != exact.to_integral_value():
                raise ValueError(f"{value!r} is not a whole number of bytes ({exact} B)")
        except DecimalException:  # exponent beyond Decimal's range
            raise ValueError(f"expected a size below 2**63 bytes, got {_describe(value)}") from None
        size = int(exact)
    if size < 0:
        raise ValueError(f"expected a non-negative size, got {_describe(value)}")
    if size > MAX_SIZE_BYTES:
        raise ValueError(f"expected a size below 2**63 bytes, got {_describe(value)}")
    return size


def format_duration(seconds: float) -> str:
    """Render seconds the way a person would write them back (``0.3`` -> ``"300ms"``)."""
    if seconds != 0 and abs(seconds) < 0.001:
        return f"{seconds * 1e6:g}us"
    if abs(seconds) < 1:
        return f"{seconds * 1e3:g}ms"
    return f"{seconds:g}s"


def format_size(size: int) -> str:
    """Render bytes with the largest binary unit that divides them exactly (``65536`` -> ``"64KiB"``)."""
    for unit in ("GiB", "MiB", "KiB"):
        factor = SIZE_UNITS[unit]
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"
