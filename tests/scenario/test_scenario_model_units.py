"""Durations and sizes: the forms people write, and the mistakes that must not pass silently."""

from __future__ import annotations

import contextlib
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sockharness._units import (
    MAX_DURATION_SECONDS,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("300ms", 0.3),
        ("0.3s", 0.3),
        ("2s", 2.0),
        (" 2 s ", 2.0),
        ("1min", 60.0),
        ("1e3ms", 1.0),
        (".5s", 0.5),
        (0, 0.0),
        (5, 5.0),
        (0.25, 0.25),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1s", "non-negative"),
        (-0.5, "non-negative"),
        ("5", 'a duration like 0.5, "250us", "300ms" or "2s"'),
        ("5sec", "got '5sec'"),
        ("5 ms ms", "got '5 ms ms'"),
        (True, "got true"),
        (None, "got null"),
        ([1], "got [1]"),
        (math.nan, "non-negative"),
        (math.inf, "at most one day"),
        ("2min", None),
        ("1441min", "at most one day"),
        ("1e999999999s", "at most one day"),
    ],
)
def test_duration_errors_say_what_was_expected(value: object, message: str | None) -> None:
    if message is None:
        assert parse_duration(value) == 120.0
        return
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_duration(value)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64KiB", 65536),
        ("1KB", 1000),
        ("1kb", 1000),
        ("1MiB", 1048576),
        ("1MB", 1_000_000),
        ("2GiB", 2 * 1024**3),
        ("1GB", 10**9),
        ("10B", 10),
        ("1.5KiB", 1536),
        (0, 0),
        (4096, 4096),
    ],
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-5, "non-negative size, got -5"),
        ("-5KiB", "non-negative size"),
        ("1024", 'a size like 1024 or "64KiB"'),
        ("3 parsecs", "unknown size unit 'parsecs'"),
        ("0.5B", "not a whole number of bytes"),
        (1.0, "an integer, not a float"),
        (1.5, "got 1.5"),
        (True, "got true"),
        (2**63, "below 2\\*\\*63"),
        ("1e30GiB", "below 2\\*\\*63"),
    ],
)
def test_size_errors_say_what_was_expected(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(value)


def test_formatting_round_trips() -> None:
    assert format_size(65536) == "64KiB"
    assert format_size(1000) == "1000B"
    assert format_duration(0.3) == "300ms"
    assert format_duration(0.00025) == "250us"
    assert format_duration(2) == "2s"


@settings(database=None)  # no .hypothesis/ directory in the work tree
@given(st.integers(min_value=0, max_value=2**40))
def test_size_formatting_is_parseable(size: int) -> None:
    assert parse_size(format_size(size)) == size


@settings(database=None)  # no .hypothesis/ directory in the work tree
@given(st.floats(min_value=0, max_value=MAX_DURATION_SECONDS, allow_nan=False))
def test_duration_formatting_is_parseable(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-5, abs=1e-9)


@settings(database=None)  # no .hypothesis/ directory in the work tree
@given(st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.none(), st.booleans()))
def test_parsers_only_raise_value_error(value: object) -> None:
    for parse in (parse_duration, parse_size):
        with contextlib.suppress(ValueError):
            parse(value)
