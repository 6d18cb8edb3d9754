"""Latency distributions and corruption (issue 15): statistics of the pure samplers, seeded and replayable.

Each distribution is drawn a few thousand times from :class:`DelaySampler` (no sockets, no clocks) and its
quantiles are held to bounds worked out from its definition, several standard errors wide, so the tests
are exact about the shape and never flaky on a loaded machine. The latency stage is checked never to
release a chunk before its drawn delay and never to reorder chunks.
"""

from __future__ import annotations

import random
import statistics

import pytest

from sockharness.faults._engine.chain import DATA, Chunk, LatencyStage, corrupt_positions, parse_offsets
from sockharness.faults._engine.toxic_maths import DISTRIBUTIONS, DelaySampler, latency_delay
from sockharness.faults._engine.toxics import ToxicSpec

SAMPLES = 4000
LATENCY, JITTER = 100, 20


def _draw(distribution: str, seed: int = 1, correlation: int = 0, count: int = SAMPLES) -> list[float]:
    sampler = DelaySampler(distribution, LATENCY, JITTER, random.Random(seed), correlation)
    return [sampler() * 1000.0 for _ in range(count)]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_uniform_without_correlation_is_toxiproxys_jitter_draw_for_draw() -> None:
    rng = random.Random(9)
    expected = [latency_delay(LATENCY, JITTER, rng) for _ in range(100)]
    sampler = DelaySampler("uniform", LATENCY, JITTER, random.Random(9))
    assert [sampler() for _ in range(100)] == expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_uniform(seed: int) -> None:
    values = _draw("uniform", seed)
    assert min(values) >= LATENCY - JITTER and max(values) <= LATENCY + JITTER
    assert abs(_quantile(values, 0.25) - 90) < 2 and abs(_quantile(values, 0.75) - 110) < 2
    assert abs(statistics.median(values) - LATENCY) < 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_normal(seed: int) -> None:
    values = _draw("normal", seed)
    assert abs(statistics.median(values) - LATENCY) < 2.5  # standard error ~0.4 ms
    spread = (_quantile(values, 0.75) - _quantile(values, 0.25)) / 1.349  # the IQR of a normal is 1.349 sd
    assert abs(spread - JITTER) < 1.5
    assert min(values) >= 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lognormal_has_the_median_latency_and_the_deviation_jitter(seed: int) -> None:
    values = _draw("lognormal", seed)
    assert min(values) > 0
    assert abs(statistics.median(values) - LATENCY) < 2.5
    assert abs(statistics.stdev(values) - JITTER) < 2
    assert statistics.mean(values) > statistics.median(values)  # skewed right


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pareto_has_the_mean_latency_and_a_heavy_right_tail(seed: int) -> None:
    values = _draw("pareto", seed)
    assert abs(statistics.mean(values) - LATENCY) < 3
    # Pareto(shape 3) standardised: its minimum is latency - 0.577 jitter, its p99 latency + 3.63 jitter.
    assert min(values) >= LATENCY - 0.578 * JITTER
    assert abs(_quantile(values, 0.99) - (LATENCY + 3.63 * JITTER)) < 15
    assert _quantile(values, 0.5) < LATENCY  # most chunks are a little early of the mean, a few very late


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_paretonormal_mixes_the_two(seed: int) -> None:
    values = _draw("paretonormal", seed)
    assert abs(statistics.mean(values) - LATENCY) < 3
    normal_p99 = _quantile(_draw("normal", seed), 0.99)
    pareto_p99 = _quantile(_draw("pareto", seed), 0.99)
    assert normal_p99 < _quantile(values, 0.99) < pareto_p99


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_correlation_makes_successive_delays_follow_each_other(distribution: str) -> None:
    def lag_one(values: list[float]) -> float:
        return statistics.correlation(values[:-1], values[1:])

    assert abs(lag_one(_draw(distribution, 4, correlation=0))) < 0.06
    correlated = _draw(distribution, 4, correlation=90)
    assert lag_one(correlated) > 0.75
    # the marginal distribution stays the same: the median is still about the latency (mean for pareto)
    centre = statistics.mean if distribution.startswith("pareto") else statistics.median
    assert abs(centre(correlated) - LATENCY) < 8


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_a_latency_stage_never_releases_early_and_never_reorders(distribution: str) -> None:
    spec = ToxicSpec.build("latency", latency=LATENCY, jitter=JITTER, distribution=distribution)
    stage = LatencyStage(spec, random.Random(7))
    twin = DelaySampler(distribution, LATENCY, JITTER, random.Random(7))
    dues = []
    for index in range(2000):
        read_at = index * 0.001
        stage.push(Chunk(DATA, index.to_bytes(2, "big"), read_at), read_at)
        due = stage.queue[-1][0]
        assert due >= read_at + twin() - 1e-12  # never before its own drawn delay
        dues.append(due)
    assert dues == sorted(dues)
    released = stage.pop_ready(10.0)
    assert [int.from_bytes(chunk.data, "big") for chunk in released] == list(range(2000))


def test_the_same_seed_replays_the_same_delays() -> None:
    assert _draw("paretonormal", 11, correlation=30) == _draw("paretonormal", 11, correlation=30)
    assert _draw("paretonormal", 11) != _draw("paretonormal", 12)


# --- corruption ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.001, 0.01, 0.2])
def test_corruption_changes_a_seeded_fraction_of_the_bytes(fraction: float) -> None:
    rng = random.Random(3)
    changed = []
    for start in range(0, 200_000, 10_000):  # as the chunks of one stream
        changed += corrupt_positions(start, 10_000, fraction, (), rng)
    expected = 200_000 * fraction
    assert abs(len(changed) - expected) < 5 * (expected * (1 - fraction)) ** 0.5
    offsets = [offset for offset, _ in changed]
    assert offsets == sorted(set(offsets))
    assert all(bin(flips).count("1") == 1 for _, flips in changed)  # one bit each


def test_corruption_at_chosen_offsets_with_a_mask() -> None:
    offsets = parse_offsets("4096, 0,17")
    assert offsets == (0, 17, 4096)
    rng = random.Random(1)
    assert corrupt_positions(0, 100, 0.0, offsets, rng, mask=0x80) == [(0, 0x80), (17, 0x80)]
    assert corrupt_positions(4000, 100, 0.0, offsets, rng, mask=0x80) == [(4096, 0x80)]
    with pytest.raises(ValueError, match="offsets must be whole numbers >= 0 separated by commas, got '-1'"):
        parse_offsets("1,-1")
