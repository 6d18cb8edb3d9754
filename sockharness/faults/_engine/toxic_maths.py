"""The toxic maths: delays, bandwidth pacing and slicer cuts, all pure.

Time is always passed in (seconds, ``time.monotonic`` scale) and randomness always comes from a
``random.Random`` the caller derives from the engine seed, so every schedule computed here can be replayed
and unit-tested without I/O. Units are Toxiproxy's (see ``_toxic_types``).
"""

from __future__ import annotations

import math
import random
from statistics import NormalDist

#: Bandwidth pacing granularity: a slice is released every ~2 ms of transmission time, so the first byte
#: arrives within a few ms (Toxiproxy holds a whole 32 KiB read chunk for its full transmission time).
BANDWIDTH_SLICE_SECONDS = 0.002


def latency_delay(latency_ms: float, jitter_ms: float, rng: random.Random) -> float:
    """Seconds one chunk is held: uniform in [latency - jitter, latency + jitter), never below 0."""
    delay = float(latency_ms)
    if jitter_ms > 0:
        delay += rng.random() * 2.0 * jitter_ms - jitter_ms
    return max(0.0, delay) / 1000.0


#: Latency distributions: ``latency`` is the centre (mean; the median for lognormal), ``jitter`` the spread.
DISTRIBUTIONS = ("uniform", "normal", "pareto", "paretonormal", "lognormal")
#: The Pareto shape: finite mean and variance (netem's table uses a heavy tail of this kind too).
PARETO_ALPHA = 3.0
_PARETO_MEAN = PARETO_ALPHA / (PARETO_ALPHA - 1.0)
_PARETO_SD = math.sqrt(PARETO_ALPHA / ((PARETO_ALPHA - 1.0) ** 2 * (PARETO_ALPHA - 2.0)))
_STANDARD = NormalDist()


def distribution_problem(distribution: str, latency_ms: int, jitter_ms: int, correlation: int) -> str | None:
    """Why these parameters cannot make a delay, or None: the one check every surface words the same."""
    if distribution not in DISTRIBUTIONS:
        return f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}"
    if not 0 <= correlation <= 100:
        return f"correlation is a percentage from 0 to 100, got {correlation}"
    if distribution == "lognormal" and jitter_ms > 0 and latency_ms <= 0:
        return "a lognormal distribution needs latency > 0 (its median) when jitter > 0"
    return None


class DelaySampler:
    """Seconds each chunk is held, drawn from a distribution, optionally correlated with the previous draw.

    ``uniform`` without correlation is Toxiproxy's jitter, drawn exactly as before (one ``rng.random()`` per
    chunk), so existing seeds replay. Every other case draws a standard normal ``z`` (an AR(1) process when
    correlated: ``z = c * z_prev + sqrt(1 - c**2) * e``, which keeps the marginal distribution) and maps it:
    uniform through the normal CDF; normal as ``latency + jitter * z``; pareto and paretonormal as a Pareto
    (shape 3) draw standardised to mean 0 and deviation 1 (paretonormal mixes 1/4 normal, 3/4 pareto, as
    netem does); lognormal with median ``latency`` and standard deviation ``jitter``. Never below 0.
    """

    def __init__(
        self, distribution: str, latency_ms: int, jitter_ms: int, rng: random.Random, correlation: int = 0
    ) -> None:
        problem = distribution_problem(distribution, latency_ms, jitter_ms, correlation)
        if problem is not None:
            raise ValueError(problem)
        self.distribution = distribution
        self.latency = float(latency_ms)
        self.jitter = float(jitter_ms)
        self.rng = rng
        self.correlation = correlation / 100.0
        self.previous: float | None = None
        self.sigma = _lognormal_sigma(self.latency, self.jitter) if distribution == "lognormal" else 0.0

    def _z(self) -> float:
        fresh = self.rng.gauss(0.0, 1.0)
        if self.previous is not None and self.correlation > 0:
            c = self.correlation
            fresh = c * self.previous + math.sqrt(1.0 - c * c) * fresh
        self.previous = fresh
        return fresh

    def __call__(self) -> float:
        if self.jitter <= 0:
            return self.latency / 1000.0
        if self.distribution == "uniform" and self.correlation == 0:
            return latency_delay(self.latency, self.jitter, self.rng)
        z = self._z()
        if self.distribution == "uniform":
            delay = self.latency + self.jitter * (2.0 * _STANDARD.cdf(z) - 1.0)
        elif self.distribution == "normal":
            delay = self.latency + self.jitter * z
        elif self.distribution == "pareto":
            delay = self.latency + self.jitter * _pareto_standard(z)
        elif self.distribution == "paretonormal":
            delay = self.latency + self.jitter * (0.25 * z + 0.75 * _pareto_standard(z))
        else:
            delay = self.latency * math.exp(self.sigma * z)
        return max(0.0, delay) / 1000.0


def _pareto_standard(z: float) -> float:
    """A Pareto(shape 3) draw from a standard normal one (through its CDF), scaled to mean 0, sd 1."""
    u = min(_STANDARD.cdf(z), 1.0 - 1e-12)
    draw: float = (1.0 - u) ** (-1.0 / PARETO_ALPHA)
    return (draw - _PARETO_MEAN) / _PARETO_SD


def _lognormal_sigma(median: float, deviation: float) -> float:
    """The log-space sigma of a lognormal with this median whose standard deviation is ``deviation``."""
    if median <= 0 or deviation <= 0:
        return 0.0
    ratio = deviation / median
    u = (1.0 + math.sqrt(1.0 + 4.0 * ratio * ratio)) / 2.0  # u = exp(sigma**2): u**2 - u = ratio**2
    return math.sqrt(math.log(u))


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
    "DISTRIBUTIONS",
    "PARETO_ALPHA",
    "DelaySampler",
    "bandwidth_bytes_per_second",
    "bandwidth_schedule",
    "bandwidth_slice_size",
    "distribution_problem",
    "latency_delay",
    "slicer_cuts",
]
