"""What a benchmark run produces: rows of figures with their reference ratio and target (pure data)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.stats import Summary


@dataclass(frozen=True)
class Check:
    """A target printed next to a figure; ``passed`` is None when it could not be evaluated."""

    text: str
    passed: bool | None

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


@dataclass
class Row:
    """One line of the table: one figure, for one mode (direct / toxiproxy / embedded / harness)."""

    section: str
    figure: str
    mode: str
    unit: str
    value: Summary | None = None
    ratio: Summary | None = None
    ratio_of: str = ""  # what the ratio divides by, e.g. "÷ direct"
    check: Check | None = None
    note: str = ""  # why there is no value, or a side figure (CPU per GiB, runs in parallel...)
    samples: list[float] = field(default_factory=list)  # the per-run values behind ``value``

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.check is not None:
            data["check"]["verdict"] = self.check.verdict
        return data


def unavailable(section: str, figure: str, mode: str, unit: str, reason: str, target: str = "") -> Row:
    """A row for a mode that could not be measured (e.g. Toxiproxy absent): says why, never invents."""
    check = Check(target, None) if target else None
    return Row(section, figure, mode, unit, check=check, note=reason)


def at_least(value: Summary | None, bound: float, text: str) -> Check:
    return Check(text, None if value is None else value.median >= bound)


def at_most(value: Summary | None, bound: float, text: str) -> Check:
    return Check(text, None if value is None else value.median <= bound)


def within(value: Summary | None, low: float, high: float, text: str) -> Check:
    return Check(text, None if value is None else low <= value.median <= high)


def summarise(values: Sequence[float]) -> Summary | None:
    return Summary.of(values) if values else None


def transform(values: Sequence[float], function: Callable[[float], float]) -> list[float]:
    return [function(value) for value in values]
