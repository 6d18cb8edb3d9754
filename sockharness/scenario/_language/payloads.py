"""Turn payloads as written (``"text"``, ``{hex: ...}``, ``{size: 64KiB}``, ``{faker: ...}``) into bytes.

Random and Faker payloads are reproducible: each scenario gets its own seed derived from the run seed,
the file and the scenario name with SHA-256 (Python's ``hash()`` is salted per process, so it would
differ between runs and between xdist workers). Order of execution therefore never changes the bytes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from sockharness.scenario._language.errors import did_you_mean
from sockharness.scenario._language.model_values import (
    FakerPayload,
    HexPayload,
    Payload,
    SizePayload,
    TextPayload,
)

__all__ = ["PayloadError", "PayloadSource", "resolve_payload", "scenario_seed"]

_FAKER_LOCALE = "en_US"


class PayloadError(ValueError):
    """A payload that validated but cannot be produced (e.g. a Faker generator that does not exist)."""


def scenario_seed(run_seed: int, file: str | PurePath, scenario_name: str) -> int:
    """A 64-bit seed for one scenario, stable across processes, platforms and Python versions.

    Pass ``file`` relative to the rootdir so that the seed does not depend on where the checkout lives.
    """
    key = f"{run_seed}\x00{PurePath(file).as_posix()}\x00{scenario_name}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def _faker_text(payload: FakerPayload, faker: Any) -> bytes:
    generator = getattr(faker, payload.faker, None) if not payload.faker.startswith("_") else None
    if generator is None or not callable(generator):
        names = [name for name in dir(faker) if not name.startswith("_")]
        raise PayloadError(f"unknown Faker generator {payload.faker!r}{did_you_mean(payload.faker, names)}")
    try:
        value = generator(*payload.args, **payload.kwargs)
    except (TypeError, ValueError, AttributeError) as error:
        raise PayloadError(f"faker {payload.faker}(...) failed: {error}") from None
    if isinstance(value, bytes):
        return value
    if isinstance(value, list | tuple):
        return " ".join(str(item) for item in value).encode()
    return str(value).encode()


def resolve_payload(payload: Payload, *, rng: random.Random, faker: Any | Callable[[], Any]) -> bytes:
    """The bytes ``payload`` stands for.

    ``faker`` is a Faker instance or a zero-argument callable returning one (so scenarios that never use
    Faker never pay for building it). ``rng`` supplies ``{size: N, random: true}`` bytes.
    """
    if isinstance(payload, str):
        return payload.encode()
    if isinstance(payload, TextPayload):
        return payload.text.encode() * payload.repeat
    if isinstance(payload, HexPayload):
        return bytes.fromhex("".join(payload.hex.split()))
    if isinstance(payload, SizePayload):
        if payload.random:
            return rng.randbytes(payload.size)
        fill = payload.fill.encode()
        return (fill * (payload.size // len(fill) + 1))[: payload.size]
    if isinstance(payload, FakerPayload):
        instance = faker() if callable(faker) and not hasattr(faker, "seed_instance") else faker
        return _faker_text(payload, instance)
    raise TypeError(f"payload: expected a validated payload, got {type(payload).__name__}")


class PayloadSource:
    """One scenario's seeded generators; Faker is built on first use (it takes tens of milliseconds)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self._faker: Any = None

    @classmethod
    def for_scenario(cls, run_seed: int, file: str | PurePath, scenario_name: str) -> PayloadSource:
        return cls(scenario_seed(run_seed, file, scenario_name))

    @property
    def faker(self) -> Any:
        if self._faker is None:
            from faker import Faker

            instance = Faker(_FAKER_LOCALE)
            instance.seed_instance(self.seed)
            self._faker = instance
        return self._faker

    def resolve(self, payload: Payload) -> bytes:
        return resolve_payload(payload, rng=self.rng, faker=lambda: self.faker)
