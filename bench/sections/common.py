"""Helpers shared by the sections: per-mode error capture and reference ratios."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.context import Context
from bench.results import Check, Row, unavailable
from bench.stats import Summary, paired_ratios


@dataclass
class ModeSamples:
    """Per-run values of one figure for each mode, and why a mode has none."""

    values: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def add(self, mode: str, value: float) -> None:
        self.values.setdefault(mode, []).append(value)

    def fail(self, mode: str, exc: BaseException) -> None:
        self.errors[mode] = f"failed: {type(exc).__name__}: {exc}".splitlines()[0]
        self.values.pop(mode, None)

    def ok(self, mode: str) -> bool:
        return mode not in self.errors


def reason(ctx: Context, samples: ModeSamples, mode: str) -> str:
    """Why a mode has no value; an absent proxy is explained once above the table, not on every row."""
    if mode in samples.errors:
        return samples.errors[mode]
    return f"{mode} absent" if mode in ctx.missing else "not measured"


def ratio_summary(values: Sequence[float], references: Sequence[float]) -> Summary | None:
    """Paired run-by-run ratios when both sides have the same runs, else the ratio of the medians."""
    if not values or not references:
        return None
    if len(values) == len(references):
        return Summary.of(paired_ratios(values, references))
    ref = Summary.of(references).median
    return Summary.of([Summary.of(values).median / ref]) if ref else None


def mode_rows(
    ctx: Context,
    section: str,
    figure: str,
    unit: str,
    samples: ModeSamples,
    modes: Sequence[str],
    reference: str | None,
    check: Callable[[Row], Check] | None = None,
    note: Callable[[str], str] | None = None,
) -> list[Row]:
    """One row per mode; the reference mode's values divide the others'; ``check`` gives the target of
    the embedded row (targets are about the embedded engine)."""
    rows: list[Row] = []
    ref_values = samples.values.get(reference, []) if reference else []
    for mode in modes:
        values = samples.values.get(mode)
        if values:
            row = Row(section, figure, mode, unit, value=Summary.of(values), samples=list(values))
            if reference and mode != reference:
                row.ratio = ratio_summary(values, ref_values)
                row.ratio_of = f"÷ {reference}"
            if note is not None:
                row.note = note(mode)
        else:
            row = unavailable(section, figure, mode, unit, reason(ctx, samples, mode))
        if check is not None and mode == "embedded":
            row.check = check(row)
        rows.append(row)
    return rows
