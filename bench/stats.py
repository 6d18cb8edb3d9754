"""Pure statistics over timing samples: percentiles and the median/range summary the table prints."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in [0, 1]); nearest-rank never invents a value that was not
    measured, which matters for tails such as p99 of a few hundred samples."""
    if not samples:
        raise ValueError("percentile: samples is empty")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"percentile: fraction must be within [0, 1], got {fraction!r}")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Summary:
    """Median and range of one figure over several runs; ``runs`` says how many values it summarises."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("Summary.of: values is empty")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def scaled(self, factor: float) -> Summary:
        """The same summary in another unit (e.g. seconds -> microseconds)."""
        return Summary(self.median * factor, self.low * factor, self.high * factor, self.runs)


def paired_differences(values: Sequence[float], references: Sequence[float]) -> list[float]:
    """Run-by-run differences: runs are interleaved, so pairing them cancels slow drifts of the machine."""
    if len(values) != len(references):
        raise ValueError(f"paired_differences: {len(values)} values vs {len(references)} references")
    return [v - r for v, r in zip(values, references, strict=True)]


def paired_ratios(values: Sequence[float], references: Sequence[float]) -> list[float]:
    """Run-by-run ratios value/reference (see :func:`paired_differences` for why runs are paired)."""
    if len(values) != len(references):
        raise ValueError(f"paired_ratios: {len(values)} values vs {len(references)} references")
    return [v / r if r else math.inf for v, r in zip(values, references, strict=True)]
