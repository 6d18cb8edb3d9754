"""Pure checks of the Toxiproxy-compatible toxic specification: ``noop`` and stream letter case."""

from __future__ import annotations

import random

import pytest

from sockharness.faults._engine.chain import DATA, Chain, Chunk, RngFactory, Stage, make_stage
from sockharness.faults._engine.toxics import TOXIC_TYPES, ToxicSpec, canonical_stream
from sockharness.faults._errors import BadRequest, InvalidStream


@pytest.mark.parametrize(
    ("text", "direction"),
    [
        ("UPSTREAM", "upstream"),
        ("upStream", "upstream"),
        ("Downstream", "downstream"),
        ("downstream", "downstream"),
    ],
)
def test_any_letter_case_names_a_direction(text: str, direction: str) -> None:
    assert canonical_stream(text) == direction


@pytest.mark.parametrize("text", ["", " upstream", "upstream ", "up", "UPSTREAMS", "sideways"])
def test_anything_else_is_an_invalid_stream(text: str) -> None:
    with pytest.raises(InvalidStream):
        canonical_stream(text)
    with pytest.raises(InvalidStream):
        ToxicSpec.from_json({"type": "noop", "stream": text})


def test_the_spelling_shows_in_json_and_default_name_but_stream_is_canonical() -> None:
    spec = ToxicSpec.from_json({"type": "latency", "stream": "UPSTREAM", "attributes": {"latency": 5}})
    assert (spec.name, spec.stream, spec.stream_text) == ("latency_UPSTREAM", "upstream", "UPSTREAM")
    assert spec.to_json()["stream"] == "UPSTREAM"
    updated = spec.updated({"toxicity": 0.5, "attributes": {"jitter": 1}})
    assert (updated.stream, updated.stream_text, updated.attributes) == (
        "upstream",
        "UPSTREAM",
        {"latency": 5, "jitter": 1},
    )
    # the spelling is cosmetic: equal to the same toxic written in lower case
    assert spec == ToxicSpec("latency_UPSTREAM", "latency", "upstream", 1.0, {"latency": 5})


def test_lower_case_keeps_no_spelling() -> None:
    spec = ToxicSpec.from_json({"type": "noop", "stream": "upstream"})
    assert spec.stream_spelling is None and spec.stream_text == "upstream"


def test_direct_construction_accepts_a_spelled_stream() -> None:
    """What the Toxiproxy backend builds from a server's JSON."""
    spec = ToxicSpec(name="", type="slicer", stream="Downstream")
    assert (spec.name, spec.stream, spec.to_json()["stream"]) == (
        "slicer_Downstream",
        "downstream",
        "Downstream",
    )


def test_a_spelling_of_the_other_direction_is_refused() -> None:
    with pytest.raises(ValueError, match="stream_spelling 'UPSTREAM' does not name stream 'downstream'"):
        ToxicSpec("t", "noop", "downstream", stream_spelling="UPSTREAM")


def test_noop_has_no_attributes_and_ignores_unknown_ones() -> None:
    assert TOXIC_TYPES["noop"] == {}
    spec = ToxicSpec.from_json({"type": "noop", "attributes": {"latency": 5}, "toxicity": 0.25})
    assert (spec.name, spec.attributes, spec.toxicity) == ("noop_downstream", {}, 0.25)
    with pytest.raises(BadRequest, match=r"of type toxics\.NoopToxic$"):
        ToxicSpec.from_json({"type": "noop", "attributes": 5})


def test_noop_keeps_the_chain_transparent() -> None:
    """A noop toxic is a plain pass-through stage, so bulk data keeps the zero-copy path."""
    spec = ToxicSpec.from_json({"type": "noop"})
    assert type(make_stage(spec, random.Random(1), 0.0)) is Stage
    chain = Chain(RngFactory(1, "p", 1, "downstream"))
    chain.add(spec, 0.0)
    assert chain.transparent
    chain.feed(Chunk(DATA, b"abc", 0.0), 0.0)
    assert [chunk.data for chunk in chain.advance(0.0)] == [b"abc"]
