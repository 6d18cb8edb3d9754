"""The datagram toxics' maths, pure: rates within binomial bounds, burst lengths, reorder depth, timing."""

from __future__ import annotations

import math
import random

import pytest

from sockharness.faults._engine.datagram_toxics import (
    Datagram,
    DatagramChain,
    GilbertElliott,
    flip_bits,
)
from sockharness.faults._engine.toxic_maths import DelaySampler
from sockharness.faults._engine.toxic_types import TOXICS, InvalidAttribute
from sockharness.faults._engine.toxics import ToxicSpec

N = 5000


def _chain(*specs: ToxicSpec, seed: int = 7, client_port: int = 40000) -> DatagramChain:
    chain = DatagramChain(lambda name, start: random.Random(f"{seed}/{name}/{start}"), client_port)
    for spec in specs:
        chain.add(spec)
    return chain


def _feed(chain: DatagramChain, count: int = N, *, step: float = 0.001) -> list[tuple[float, Datagram]]:
    """Push ``count`` numbered datagrams ``step`` seconds apart; (read time, output) for everything out."""
    out: list[tuple[float, Datagram]] = []
    for index in range(count):
        now = index * step
        out += [(now, datagram) for datagram in chain.push(Datagram(index.to_bytes(4, "big"), now), now)]
        out += [(now, datagram) for datagram in chain.release(now)]
    return out


def _numbers(out: list[tuple[float, Datagram]]) -> list[int]:
    return [int.from_bytes(datagram.payload, "big") for _, datagram in out]


def _within_binomial(observed: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    spread = sigmas * math.sqrt(n * p * (1 - p))
    return abs(observed - n * p) <= spread


def test_every_udp_toxic_in_the_registry_has_a_datagram_stage_and_only_those() -> None:
    udp = {name for name, toxic in TOXICS.items() if "udp" in toxic.protocols}
    with_stage = {name for name, toxic in TOXICS.items() if toxic.datagram_stage is not None}
    assert udp == with_stage
    assert all(TOXICS[name].protocols == frozenset({"udp"}) and TOXICS[name].embedded_only for name in udp)


@pytest.mark.parametrize("probability", [0.01, 0.3, 0.5, 0.9])
def test_independent_loss_rate_is_within_binomial_bounds(probability: float) -> None:
    out = _feed(_chain(ToxicSpec.build("udp_loss", toxicity=probability)))
    lost = N - len(out)
    assert _within_binomial(lost, N, probability), (lost, N * probability)
    assert _numbers(out) == sorted(_numbers(out))  # order kept


def test_duplication_rate_is_within_binomial_bounds_and_copies_follow_the_original() -> None:
    out = _feed(_chain(ToxicSpec.build("udp_duplicate", toxicity=0.2, copies=2)))
    numbers = _numbers(out)
    duplicated = sum(1 for index in set(numbers) if numbers.count(index) == 3)
    assert len(set(numbers)) == N and len(numbers) == N + 2 * duplicated
    assert _within_binomial(duplicated, N, 0.2)
    assert numbers == sorted(numbers)


def test_burst_loss_follows_the_gilbert_elliott_means() -> None:
    burst, gap, n = 4, 36, 40000
    model = GilbertElliott(burst, gap, 1.0)
    rng = random.Random(3)
    lost = [model.lose(rng) for _ in range(n)]
    runs: list[int] = []
    length = 0
    for is_lost in [*lost, False]:
        if is_lost:
            length += 1
        elif length:
            runs.append(length)
            length = 0
    mean_burst = sum(runs) / len(runs)
    assert abs(mean_burst - burst) < 0.1 * burst, mean_burst  # geometric mean `burst`, ~1000 bursts
    assert abs(sum(lost) / n - model.loss_rate) < 0.02, (sum(lost) / n, model.loss_rate)


def test_burst_loss_through_the_chain_loses_in_runs() -> None:
    out = _feed(_chain(ToxicSpec.build("udp_burst_loss", burst=5, gap=45)), 20000)
    kept = set(_numbers(out))
    lost = sorted(set(range(20000)) - kept)
    assert 0.06 < len(lost) / 20000 < 0.14  # mean 0.1
    runs = sum(1 for index in lost if index - 1 not in lost)
    assert 3.5 < len(lost) / runs < 6.5  # mean run length 5; independent loss at 10 % would give ~1.1


def test_good_loss_adds_independent_loss_between_the_bursts() -> None:
    """Elliott's extension: a good spell loses too, each datagram with probability ``good_loss``."""
    burst, gap, n = 5, 45, 40000
    model = GilbertElliott(burst, gap, 1.0, good_loss=0.1)
    assert model.loss_rate == pytest.approx((5 * 1.0 + 45 * 0.1) / 50)
    rng = random.Random(11)
    lost = sum(model.lose(rng) for _ in range(n))
    assert abs(lost / n - model.loss_rate) < 0.02, (lost / n, model.loss_rate)
    with pytest.raises(ValueError, match="good_loss must be between 0 and 1"):
        GilbertElliott(1, 1, 1.0, good_loss=-0.5)


def test_good_loss_through_the_registry_and_the_chain() -> None:
    plain = _feed(_chain(ToxicSpec.build("udp_burst_loss", burst=5, gap=45)), 20000)
    lossy = _feed(_chain(ToxicSpec.build("udp_burst_loss", burst=5, gap=45, good_loss=0.2)), 20000)
    plain_rate = 1 - len(_numbers(plain)) / 20000
    lossy_rate = 1 - len(_numbers(lossy)) / 20000
    assert abs(plain_rate - 0.1) < 0.04 and abs(lossy_rate - (5 + 45 * 0.2) / 50) < 0.04, (
        plain_rate,
        lossy_rate,
    )
    # the same seed, the same bad spells: every datagram the plain run lost, the lossy run lost too
    assert set(_numbers(lossy)) <= set(_numbers(plain))


def test_burst_loss_inside_a_bad_spell_uses_the_toxicity() -> None:
    model = GilbertElliott(10, 10, 0.5)
    assert model.loss_rate == 0.25
    with pytest.raises(ValueError, match="between 0 and 1"):
        GilbertElliott(1, 1, 1.5)


@pytest.mark.parametrize("gap", [1, 3, 7])
def test_reorder_depth_is_exact(gap: int) -> None:
    out = _feed(_chain(ToxicSpec.build("udp_reorder", gap=gap, nth=5)), 20)
    numbers = _numbers(out)
    assert sorted(numbers) == list(range(20))
    # the 5th datagram (index 4) arrives exactly `gap` places late
    assert numbers.index(4) == 4 + gap


def test_reorder_by_time_releases_after_the_delay_never_before() -> None:
    chain = _chain(ToxicSpec.build("udp_reorder", gap=0, delay=50, nth=1))
    assert chain.push(Datagram(b"a", 0.0), 0.0) == []
    assert chain.deadline() == pytest.approx(0.05)
    assert chain.release(0.049) == []
    assert [d.payload for d in chain.push(Datagram(b"b", 0.01), 0.01)] == [b"b"]
    released = chain.release(0.05)
    assert [d.payload for d in released] == [b"a"] and released[0].due >= 0.05


def test_reorder_gap_or_delay_whichever_first() -> None:
    chain = _chain(ToxicSpec.build("udp_reorder", gap=3, delay=20, nth=1))
    chain.push(Datagram(b"a", 0.0), 0.0)
    assert [d.payload for d in chain.push(Datagram(b"b", 0.001), 0.001)] == [b"b"]
    assert [d.payload for d in chain.release(0.02)] == [b"a"]  # time ran out before 3 others passed


def test_removing_a_reorder_toxic_lets_go_of_what_it_holds() -> None:
    chain = _chain(ToxicSpec.build("udp_reorder", name="r", gap=5))
    chain.push(Datagram(b"a", 0.0), 0.0)
    assert [d.payload for d in chain.remove("r", 0.1)] == [b"a"]


def test_latency_with_jitter_is_never_early_and_keeps_order() -> None:
    latency, jitter = 40, 30
    out = _feed(_chain(ToxicSpec.build("udp_latency", latency=latency, jitter=jitter)), 3000)
    delays = [datagram.due - read for read, datagram in out]
    numbers = _numbers(out)
    assert numbers == list(range(3000))
    dues = [datagram.due for _, datagram in out]
    assert dues == sorted(dues)
    # never earlier than latency - jitter; the datagrams' own draws spread over the whole window
    assert min(delays) >= (latency - jitter) / 1000 - 1e-12
    assert max(delays) <= (latency + jitter) / 1000 + 0.002  # FIFO adds at most the send spacing


def test_rate_limit_paces_datagrams_and_bytes_never_early() -> None:
    chain = _chain(ToxicSpec.build("udp_rate", datagrams=100))
    dues = [chain.push(Datagram(b"x", 0.0), 0.0)[0].due for _ in range(10)]
    assert dues == pytest.approx([index / 100 for index in range(10)])
    chain = _chain(ToxicSpec.build("udp_rate", rate=1))  # 1000 bytes/s
    dues = [chain.push(Datagram(b"y" * 100, 0.0), 0.0)[0].due for _ in range(5)]
    assert dues == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_corruption_flips_exactly_the_bits_asked_and_keeps_the_length() -> None:
    rng = random.Random(1)
    payload = bytes(range(64))
    for bits in (1, 3, 8):
        corrupted = flip_bits(payload, bits, rng)
        assert len(corrupted) == len(payload)
        assert sum(bin(a ^ b).count("1") for a, b in zip(payload, corrupted, strict=True)) == bits
    assert flip_bits(b"", 3, rng) == b""
    out = _feed(_chain(ToxicSpec.build("udp_corrupt", bits=2, toxicity=0.5)), 2000)
    changed = sum(1 for index, (_, d) in enumerate(out) if d.payload != index.to_bytes(4, "big"))
    assert _within_binomial(changed, 2000, 0.5)


def test_truncation_keeps_the_first_bytes_and_the_boundaries() -> None:
    chain = _chain(ToxicSpec.build("udp_truncate", size=3))
    assert [d.payload for d in chain.push(Datagram(b"abcdef", 0.0), 0.0)] == [b"abc"]
    assert [d.payload for d in chain.push(Datagram(b"ab", 0.0), 0.0)] == [b"ab"]


def test_blackhole_drops_everything() -> None:
    assert _feed(_chain(ToxicSpec.build("udp_blackhole")), 100) == []


def test_nth_and_client_port_aim_a_toxic() -> None:
    out = _feed(_chain(ToxicSpec.build("udp_loss", nth=3)), 10)
    assert _numbers(out) == [0, 1, 3, 4, 5, 6, 7, 8, 9]
    assert len(_feed(_chain(ToxicSpec.build("udp_loss", client_port=1234), client_port=40000), 10)) == 10
    assert _feed(_chain(ToxicSpec.build("udp_loss", client_port=1234), client_port=1234), 10) == []


def test_a_seed_replays_the_same_schedule_and_another_seed_does_not() -> None:
    spec = ToxicSpec.build("udp_loss", toxicity=0.5)
    first = _numbers(_feed(_chain(spec, seed=11), 500))
    assert first == _numbers(_feed(_chain(spec, seed=11), 500))
    assert first != _numbers(_feed(_chain(spec, seed=12), 500))


@pytest.mark.parametrize("toxicity", [-0.1, 1.5, float("nan")])
def test_a_loss_probability_outside_0_to_1_is_refused(toxicity: float) -> None:
    with pytest.raises(InvalidAttribute, match="toxicity must be a number between 0 and 1"):
        ToxicSpec.build("udp_loss", toxicity=toxicity)


@pytest.mark.parametrize("distribution", ["uniform", "normal", "pareto", "paretonormal", "lognormal"])
def test_udp_latency_draws_the_tcp_latency_distributions(distribution: str) -> None:
    """Each datagram alone in the stage (far apart in time) is held exactly one DelaySampler draw."""
    spec = ToxicSpec.build("udp_latency", latency=30, jitter=10, distribution=distribution, correlation=40)
    chain = _chain(spec, seed=3)
    sampler = DelaySampler(distribution, 30, 10, random.Random(f"3/{spec.name}/0"), 40)
    for index in range(200):
        sent = index * 10.0  # seconds apart: FIFO order never moves a datagram later than its own draw
        [held] = chain.push(Datagram(b"d", sent), sent)
        assert held.due - sent == pytest.approx(sampler(), abs=1e-9)


def test_udp_latency_refuses_a_bad_distribution_in_the_tcp_latency_words() -> None:
    with pytest.raises(InvalidAttribute) as udp:
        ToxicSpec.build("udp_latency", latency=0, jitter=5, distribution="lognormal")
    with pytest.raises(InvalidAttribute) as tcp:
        ToxicSpec.build("latency", latency=0, jitter=5, distribution="lognormal")
    assert str(udp.value) == str(tcp.value).replace("a latency toxic", "a udp_latency toxic")
    assert "a lognormal distribution needs latency > 0" in str(udp.value)
