"""Payloads become the bytes they describe, reproducibly per scenario and independent of run order."""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

import pytest
from pydantic import TypeAdapter

from sockharness.scenario._language.model_values import Payload
from sockharness.scenario._language.payloads import (
    PayloadError,
    PayloadSource,
    resolve_payload,
    scenario_seed,
)

_PAYLOAD: TypeAdapter[Any] = TypeAdapter(Payload)


def resolve(written: Any, seed: int = 7) -> bytes:
    return PayloadSource(seed).resolve(_PAYLOAD.validate_python(written))


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.0\r\n\r\n"),
        ("caf\u00e9", "caf\u00e9".encode()),
        ({"text": "ab", "repeat": 3}, b"ababab"),
        ({"hex": "48 65 6c\n6c 6f"}, b"Hello"),
        ({"hex": ""}, b""),
        ({"size": "1KiB"}, b"x" * 1024),
        ({"size": 5, "fill": "ab"}, b"ababa"),
        ({"size": 0}, b""),
    ],
)
def test_static_payloads(written: Any, expected: bytes) -> None:
    assert resolve(written) == expected


def test_random_bytes_are_seeded_per_scenario() -> None:
    first = resolve({"size": 64, "random": True}, seed=1)
    assert len(first) == 64
    assert first == resolve({"size": 64, "random": True}, seed=1)
    assert first != resolve({"size": 64, "random": True}, seed=2)


def test_faker_payloads_are_seeded_and_text() -> None:
    written = {"faker": "sentence", "kwargs": {"nb_words": 5}}
    assert resolve(written, seed=3) == resolve(written, seed=3)
    assert resolve({"faker": "words", "args": [3]}).count(b" ") == 2
    assert resolve({"faker": "ipv4"}).count(b".") == 3


def test_faker_mistakes_are_payload_errors() -> None:
    with pytest.raises(PayloadError, match="did you mean 'sentence'"):
        resolve({"faker": "sentance"})
    with pytest.raises(PayloadError, match="failed"):
        resolve({"faker": "words", "kwargs": {"no_such_argument": 1}})


def test_resolve_payload_accepts_a_faker_factory_lazily() -> None:
    calls: list[int] = []

    def factory() -> Any:
        calls.append(1)
        raise AssertionError("Faker must not be built for non-faker payloads")

    assert resolve_payload("hi", rng=random.Random(0), faker=factory) == b"hi"
    assert calls == []


def test_scenario_seed_is_stable_across_processes() -> None:
    here = scenario_seed(42, "scenarios/recv/recv.yaml", "recv-basic")
    code = (
        "from sockharness.scenario._language.payloads import scenario_seed;"
        "print(scenario_seed(42, 'scenarios/recv/recv.yaml', 'recv-basic'))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert int(other) == here
    assert scenario_seed(42, "scenarios\\recv\\recv.yaml".replace("\\", "/"), "recv-basic") == here
    assert scenario_seed(43, "scenarios/recv/recv.yaml", "recv-basic") != here
    assert scenario_seed(42, "scenarios/recv/recv.yaml", "recv-other") != here
    assert 0 <= here < 2**64


def test_scenario_sources_do_not_share_state() -> None:
    one = PayloadSource.for_scenario(1, "f.yaml", "a")
    two = PayloadSource.for_scenario(1, "f.yaml", "b")
    random_payload = _PAYLOAD.validate_python({"size": 16, "random": True})
    first = one.resolve(random_payload)
    two.resolve(random_payload)
    assert PayloadSource.for_scenario(1, "f.yaml", "a").resolve(random_payload) == first
