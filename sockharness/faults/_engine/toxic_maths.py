"""The toxic maths: delays, bandwidth pacing and slicer cuts, all pure.

Time is always passed in (seconds, ``time.monotonic`` scale) and randomness always comes from a
``random.Random`` the caller derives from the engine seed, so every schedule computed here can be replayed
and unit-tested without I/O. Units are Toxiproxy's (see ``_toxic_types``).
"""

from __future__ import annotations

import random

#: Bandwidth pacing granularity: a slice is released every ~2 ms of transmission time, so the first byte
#: arrives within a few ms (Toxiproxy holds a whole 32 KiB read chunk for its full transmission time).
BANDWIDTH_SLICE_SECONDS = 0.002


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
    "bandwidth_bytes_per_second",
    "bandwidth_schedule",
    "bandwidth_slice_size",
    "latency_delay",
    "slicer_cuts",
]
