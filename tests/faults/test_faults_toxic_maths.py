"""Toxic specs and toxic maths without sockets: validation, JSON, schedules and the chain's stages."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sockharness.faults._engine.chain import CLOSE, DATA, EOF, RESET, Chain, Chunk, RngFactory
from sockharness.faults._engine.toxic_types import TOXICS
from sockharness.faults._engine.toxics import (
    TOXIC_TYPES,
    ToxicSpec,
    bandwidth_schedule,
    bandwidth_slice_size,
    latency_delay,
    slicer_cuts,
)
from sockharness.faults._errors import BadRequest, InvalidStream, InvalidToxic


def spec(toxic_type: str, stream: str = "downstream", toxicity: float = 1.0, **attributes: int) -> ToxicSpec:
    return ToxicSpec.from_json(
        {"type": toxic_type, "stream": stream, "toxicity": toxicity, "attributes": attributes}
    )


def chain_with(*specs: ToxicSpec, seed: int = 7, now: float = 0.0) -> Chain:
    chain = Chain(RngFactory(seed, "proxy", 1, "downstream"))
    for toxic in specs:
        chain.add(toxic, now)
    return chain


def run(chain: Chain, until: float, step: float = 0.0005) -> list[tuple[float, Chunk]]:
    """Advance a chain in small steps; returns (time released, chunk)."""
    released: list[tuple[float, Chunk]] = []
    now = 0.0
    while now <= until:
        released.extend((now, chunk) for chunk in chain.advance(now))
        now += step
    return released


# --- ToxicSpec ------------------------------------------------------------------------------------------
def test_defaults_name_stream_and_toxicity_follow_toxiproxy() -> None:
    toxic = ToxicSpec.from_json({"type": "latency", "attributes": {"latency": 50}})
    assert toxic.to_json() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 50, "jitter": 0},
    }
    assert ToxicSpec.from_json({"type": "bandwidth", "stream": "upstream"}).name == "bandwidth_upstream"


@pytest.mark.parametrize("toxic_type", sorted(name for name in TOXIC_TYPES if not TOXICS[name].embedded_only))
def test_every_type_has_zero_defaults(toxic_type: str) -> None:
    toxic = ToxicSpec.from_json({"type": toxic_type})
    assert toxic.attributes == TOXIC_TYPES[toxic_type]
    assert all(value == 0 for value in toxic.attributes.values())


def test_errors_carry_toxiproxy_texts_and_statuses() -> None:
    with pytest.raises(InvalidToxic) as unknown:
        ToxicSpec.from_json({"type": "nope"})
    assert (unknown.value.status, unknown.value.message) == (400, "invalid toxic type")
    with pytest.raises(InvalidStream) as stream:
        ToxicSpec.from_json({"type": "latency", "stream": "sideways"})
    assert stream.value.message == "stream was invalid, can be either upstream or downstream"
    with pytest.raises(BadRequest) as wrong_type:
        ToxicSpec.from_json({"type": "latency", "attributes": {"latency": "50"}})
    assert wrong_type.value.message == (
        "bad request body: json: cannot unmarshal string into Go struct field "
        "LatencyToxic.attributes.latency of type int64"
    )
    assert wrong_type.value.to_json() == {"error": wrong_type.value.message, "status": 400}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"type": "latency", "attributes": {"latency": -1}}, "latency"),
        ({"type": "latency", "toxicity": 1.5}, "toxicity"),
        ({"type": "slicer", "attributes": {"delay": 1.5}}, "SlicerToxic.attributes.delay of type int"),
        ({"type": "latency", "name": 5}, "ToxicWrapper.name"),
        ({"type": "latency", "attributes": [1]}, "attributes"),
    ],
)
def test_bad_fields_name_the_field(body: dict[str, object], words: str) -> None:
    with pytest.raises(BadRequest) as error:
        ToxicSpec.from_json(body)
    assert words in error.value.message
    assert error.value.status == 400


def test_update_merges_attributes_and_keeps_identity() -> None:
    toxic = spec("latency", latency=50, jitter=5)
    updated = toxic.updated({"attributes": {"latency": 80}, "toxicity": 0.5, "stream": "upstream"})
    assert updated.attributes == {"latency": 80, "jitter": 5}
    assert (updated.name, updated.stream, updated.toxicity) == (toxic.name, "downstream", 0.5)


# --- maths ----------------------------------------------------------------------------------------------
def test_latency_delay_stays_within_jitter_and_never_negative() -> None:
    rng = random.Random(3)
    delays = [latency_delay(50, 10, rng) for _ in range(2000)]
    assert min(delays) >= 0.040 and max(delays) < 0.060
    assert latency_delay(5, 50, rng) >= 0.0
    assert latency_delay(50, 0, rng) == 0.050


def test_bandwidth_schedule_is_exact_in_the_long_run_and_never_early() -> None:
    start = 10.0
    slices = bandwidth_schedule(200_000, 100, start)  # 100 KB/s = 100,000 B/s
    assert slices[-1][2] == pytest.approx(start + 2.0)
    assert slices[0][1] - slices[0][0] == bandwidth_slice_size(100) == 200  # 2 ms of data
    sent = 0
    for begin, end, due in slices:
        sent += end - begin
        assert sent <= (due - start) * 100_000 + 1e-6  # never ahead of the rate


@given(
    length=st.integers(min_value=0, max_value=50_000),
    average=st.integers(min_value=0, max_value=5_000),
    variation=st.integers(min_value=0, max_value=2_000),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_slicer_cuts_cover_the_chunk_in_order(length: int, average: int, variation: int, seed: int) -> None:
    cuts = slicer_cuts(length, average, variation, random.Random(seed))
    assert cuts[0] == 0 and cuts[-1] == length
    assert all(a < b for a, b in itertools.pairwise(cuts)) or length == 0
    if average > 0 and length > average + variation:
        assert len(cuts) > 2
        assert all(b - a <= average + variation for a, b in itertools.pairwise(cuts))


# --- stages through a chain -----------------------------------------------------------------------------
def test_latency_releases_at_read_time_plus_delay_in_order() -> None:
    chain = chain_with(spec("latency", latency=50))
    chain.feed(Chunk(DATA, b"a", 0.0), 0.0)
    chain.feed(Chunk(DATA, b"b", 0.010), 0.010)
    released = run(chain, 0.1)
    assert [chunk.data for _, chunk in released] == [b"a", b"b"]
    assert released[0][0] >= 0.050 and released[1][0] >= 0.060
    assert released[0][0] < 0.051 and released[1][0] < 0.061


def test_two_latency_toxics_overlap_like_toxiproxy() -> None:
    # Both count from the read time, so 50 + 50 in one stream holds a chunk 50 ms, not 100.
    chain = chain_with(
        spec("latency", latency=50),
        ToxicSpec.from_json({"type": "latency", "name": "second", "attributes": {"latency": 50}}),
    )
    chain.feed(Chunk(DATA, b"a", 0.0), 0.0)
    released = run(chain, 0.2)
    assert 0.050 <= released[0][0] < 0.052


def test_removing_a_toxic_releases_what_it_holds_at_once() -> None:
    chain = chain_with(spec("latency", latency=1000))
    chain.feed(Chunk(DATA, b"held", 0.0), 0.0)
    assert chain.advance(0.5) == []
    chain.remove("latency_downstream", 0.5)
    assert [chunk.data for chunk in chain.advance(0.5)] == [b"held"]
    assert chain.transparent


def test_limit_data_passes_exactly_the_limit_then_closes() -> None:
    chain = chain_with(spec("limit_data", bytes=10))
    chain.feed(Chunk(DATA, b"0123456", 0.0), 0.0)
    chain.feed(Chunk(DATA, b"789abc", 0.0), 0.0)
    chain.feed(Chunk(DATA, b"more", 0.0), 0.0)
    out = chain.advance(0.0)
    assert b"".join(chunk.data for chunk in out) == b"0123456789"
    assert out[-1].kind == CLOSE


def test_limit_data_count_survives_an_update() -> None:
    chain = chain_with(spec("limit_data", bytes=10))
    chain.feed(Chunk(DATA, b"0123456", 0.0), 0.0)
    chain.update(spec("limit_data", bytes=12), 0.0)
    chain.feed(Chunk(DATA, b"789abcdef", 0.0), 0.0)
    assert b"".join(chunk.data for chunk in chain.advance(0.0)) == b"0123456789ab"


def test_timeout_drops_data_then_closes_and_zero_holds_forever() -> None:
    chain = chain_with(spec("timeout", timeout=100))
    chain.feed(Chunk(DATA, b"lost", 0.0), 0.0)
    assert chain.next_due() == pytest.approx(0.1)
    released = run(chain, 0.2)
    assert [chunk.kind for _, chunk in released] == [CLOSE] and released[0][0] >= 0.1
    forever = chain_with(spec("timeout", timeout=0))
    forever.feed(Chunk(DATA, b"lost", 0.0), 0.0)
    assert run(forever, 1.0) == [] and forever.next_due() is None
    forever.remove("timeout_downstream", 1.0)  # Toxiproxy's cleanup closes the connection
    assert [chunk.kind for chunk in forever.advance(1.0)] == [CLOSE]


def test_reset_peer_arms_on_first_chunk_then_resets() -> None:
    chain = chain_with(spec("reset_peer", timeout=100))
    assert chain.next_due() is None
    chain.feed(Chunk(DATA, b"x", 0.05), 0.05)
    released = run(chain, 0.3)
    assert [chunk.kind for _, chunk in released] == [RESET]
    assert released[0][0] >= 0.15


def test_slow_close_delays_only_the_end() -> None:
    chain = chain_with(spec("slow_close", delay=200))
    chain.feed(Chunk(DATA, b"bye", 0.0), 0.0)
    chain.feed(Chunk(EOF, b"", 0.0), 0.0)
    released = run(chain, 0.3)
    assert released[0][1].data == b"bye" and released[0][0] == 0.0
    assert released[1][1].kind == EOF and released[1][0] >= 0.2


def test_slicer_cuts_and_spaces_slices_by_delay() -> None:
    chain = chain_with(spec("slicer", average_size=10, size_variation=2, delay=1000))
    chain.feed(Chunk(DATA, bytes(range(100)), 0.0), 0.0)
    released = run(chain, 0.1, step=0.0001)
    assert b"".join(chunk.data for _, chunk in released) == bytes(range(100))
    assert len(released) >= 8
    times = [when for when, _ in released]
    assert all(b - a >= 0.0009 for a, b in itertools.pairwise(times))


def test_bandwidth_stage_first_slice_is_quick_and_total_time_exact() -> None:
    chain = chain_with(spec("bandwidth", rate=100))
    chain.feed(Chunk(DATA, bytes(200_000), 0.0), 0.0)
    first_due = chain.next_due()
    assert first_due is not None and first_due <= 0.005
    released = run(chain, 2.1, step=0.01)
    assert sum(len(chunk.data) for _, chunk in released) == 200_000
    assert released[-1][0] >= 2.0


def test_toxicity_zero_never_applies_and_one_always_applies() -> None:
    for connection in range(50):
        never = Chain(RngFactory(1, "p", connection, "downstream"))
        never.add(spec("latency", toxicity=0.0, latency=100), 0.0)
        always = Chain(RngFactory(1, "p", connection, "downstream"))
        always.add(spec("latency", toxicity=1.0, latency=100), 0.0)
        assert never.transparent and not always.transparent


def test_toxicity_is_rolled_per_connection() -> None:
    applied = 0
    for connection in range(400):
        chain = Chain(RngFactory(1, "p", connection, "downstream"))
        chain.add(spec("latency", toxicity=0.5, latency=100), 0.0)
        applied += not chain.transparent
    assert 140 < applied < 260


def slicer_output(seed: int) -> list[int]:
    chain = Chain(RngFactory(seed, "p", 3, "downstream"))
    chain.add(spec("slicer", average_size=100, size_variation=50), 0.0)
    chain.add(spec("latency", latency=10, jitter=5), 0.0)
    for _ in range(5):
        chain.feed(Chunk(DATA, bytes(5000), 0.0), 0.0)
    return [len(chunk.data) for chunk in chain.advance(1.0)]


def test_seeded_rng_replays_identical_slicer_cuts() -> None:
    assert slicer_output(42) == slicer_output(42)
    assert slicer_output(42) != slicer_output(43)


_PRESERVING = st.sampled_from(
    [
        ("latency", {"latency": 5, "jitter": 4}),
        ("bandwidth", {"rate": 50}),
        ("slicer", {"average_size": 40, "size_variation": 30, "delay": 200}),
        ("slow_close", {"delay": 3}),
        ("latency", {"latency": 0, "jitter": 0}),
    ]
)


@given(
    toxics=st.lists(_PRESERVING, min_size=1, max_size=4),
    sizes=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=12),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_data_preserving_chains_keep_bytes_order_and_never_release_early(
    toxics: list[tuple[str, dict[str, int]]], sizes: list[int], seed: int
) -> None:
    chain = Chain(RngFactory(seed, "p", 1, "downstream"))
    for index, (toxic_type, attributes) in enumerate(toxics):
        chain.add(
            ToxicSpec.from_json({"type": toxic_type, "name": f"t{index}", "attributes": attributes}), 0.0
        )
    rng = random.Random(seed)
    sent = b""
    read_at = 0.0
    for size in sizes:
        data = rng.randbytes(size)
        sent += data
        chain.feed(Chunk(DATA, data, read_at), read_at)
        read_at += 0.001
    chain.feed(Chunk(EOF, b"", read_at), read_at)
    min_latency = min(
        (a.get("latency", 0) - a.get("jitter", 0) for t, a in toxics if t == "latency"), default=0
    )
    received = b""
    now = 0.0
    ended = False
    while now < 30 and not ended:
        for chunk in chain.advance(now):
            if chunk.kind == EOF:
                ended = True
            else:
                assert now >= chunk.read_at + max(0, min_latency) / 1000 - 1e-9
                received += chunk.data
        due = chain.next_due()
        now = max(now + 1e-4, due if due is not None else now + 1e-4)
    assert ended and received == sent
