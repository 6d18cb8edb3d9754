"""Datagram toxics: what each UDP toxic does to the datagrams of one session direction, all pure.

A UDP proxy keeps one :class:`DatagramChain` per client session and direction. The chain is fed datagrams
stamped with the time the proxy read them and answers with :class:`Datagram`s that carry the time they may
leave (``due``, never before). Stages never touch a socket or a clock: ``now`` is passed in and every random
choice comes from a ``random.Random`` derived from the engine seed, so a schedule replays exactly and the
maths is unit-tested without I/O.

Per-datagram semantics, different from TCP on purpose: on a UDP proxy a toxic's ``toxicity`` is the share of
*datagrams* it acts on (rolled for each datagram), not of connections. A datagram is never split or merged:
boundaries are kept by every stage. Datagrams leave a stage in the order they entered it, except through
``udp_reorder``, whose whole point is the opposite, and ``udp_duplicate``, whose copies follow the original.

Targeting: every datagram toxic has ``nth`` (act only on the Nth datagram of each session direction,
counted from 1; 0 acts on every one) and ``client_port`` (act only on that client port's session; 0: all).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sockharness.faults._engine.toxic_maths import DelaySampler

if TYPE_CHECKING:
    from sockharness.faults._engine.toxics import ToxicSpec


@dataclass(frozen=True)
class Datagram:
    """One datagram's bytes, and the monotonic time before which it must not leave the proxy."""

    payload: bytes
    due: float


@dataclass
class GilbertElliott:
    """The two-state burst-loss model: a good state that loses each datagram with probability
    ``good_loss`` (0 by default: Gilbert's model) and a bad state that loses each with probability
    ``bad_loss``. After each datagram the state changes with probability ``1 / gap`` (good -> bad) or
    ``1 / burst`` (bad -> good), so a stay in the bad state lasts ``burst`` datagrams on average and one in
    the good state ``gap``: with ``bad_loss`` 1 and ``good_loss`` 0, the mean loss burst is ``burst`` and
    the long-run loss rate ``burst / (burst + gap)``."""

    burst: int
    gap: int
    bad_loss: float
    good_loss: float = 0.0
    bad: bool = False

    def __post_init__(self) -> None:
        if self.burst < 1 or self.gap < 1:
            raise ValueError(
                f"burst ({self.burst}) and gap ({self.gap}) are mean lengths of at least 1 datagram"
            )
        for name, value in (("bad_loss", self.bad_loss), ("good_loss", self.good_loss)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")

    def lose(self, rng: random.Random) -> bool:
        """Whether the next datagram is lost; then the state moves on. Two draws per datagram, always, so
        a replay with the same seed takes the same path whatever the parameters."""
        loss_draw, move_draw = rng.random(), rng.random()
        lost = loss_draw < (self.bad_loss if self.bad else self.good_loss)
        leave = 1.0 / (self.burst if self.bad else self.gap)
        if move_draw < leave:
            self.bad = not self.bad
        return lost

    @property
    def loss_rate(self) -> float:
        """The long-run share of datagrams lost."""
        return (self.bad_loss * self.burst + self.good_loss * self.gap) / (self.burst + self.gap)


class DatagramStage:
    """One toxic on one session direction. The base class passes every datagram on unchanged; subclasses
    override :meth:`act` (what happens to a datagram the toxic acts on) and, if they hold datagrams back,
    :meth:`passed`, :meth:`release` and :meth:`deadline`."""

    def __init__(self, spec: ToxicSpec, rng: random.Random, client_port: int) -> None:
        self.spec = spec
        self.rng = rng
        self.client_port = client_port
        self.seen = 0  # datagrams that entered this stage

    def attribute(self, name: str) -> int:
        """A whole-number attribute (the registry gives datagram toxics no text attributes)."""
        return int(self._number(name))

    def fraction(self, name: str) -> float:
        """A fractional attribute (a probability from 0 to 1, checked by the registry)."""
        return float(self._number(name))

    def _number(self, name: str) -> int | float:
        value = self.spec.attributes.get(name, 0)
        if isinstance(value, str):
            raise TypeError(f"the {self.spec.type} toxic's {name} is text, not a number")
        return value

    def targets(self) -> bool:
        """Whether the toxic acts on the datagram that just entered: its targeting, then its toxicity
        (one draw per datagram when the toxicity is below 1, so replays stay exact)."""
        nth, port = self.attribute("nth"), self.attribute("client_port")
        if nth and self.seen != nth:
            return False
        if port and port != self.client_port:
            return False
        return self.spec.toxicity >= 1.0 or self.rng.random() < self.spec.toxicity

    def push(self, datagram: Datagram, now: float) -> list[Datagram]:
        self.seen += 1
        out = self.act(datagram, now) if self.targets() else self.untouched(datagram, now)
        return self.passed(out)

    def act(self, datagram: Datagram, now: float) -> list[Datagram]:
        return [datagram]

    def untouched(self, datagram: Datagram, now: float) -> list[Datagram]:
        return [datagram]

    def passed(self, out: list[Datagram]) -> list[Datagram]:
        """Hook for stages that hold datagrams: ``out`` just went through."""
        return out

    def release(self, now: float) -> list[Datagram]:
        """Held datagrams whose time has come (a stage that holds none has none)."""
        return []

    def deadline(self) -> float | None:
        """When :meth:`release` next has something, or None."""
        return None

    def drain(self) -> list[Datagram]:
        """Everything still held, in order: the toxic is being removed, so it lets go at once."""
        return []


class FifoStage(DatagramStage):
    """A stage that delays: datagrams keep their order (a later one never leaves before an earlier one)."""

    def __init__(self, spec: ToxicSpec, rng: random.Random, client_port: int) -> None:
        super().__init__(spec, rng, client_port)
        self.last_due = 0.0

    def in_order(self, datagram: Datagram, due: float) -> list[Datagram]:
        self.last_due = max(due, datagram.due, self.last_due)
        return [replace(datagram, due=self.last_due)]

    def untouched(self, datagram: Datagram, now: float) -> list[Datagram]:
        return self.in_order(datagram, datagram.due)


class LatencyStage(FifoStage):
    """The TCP latency's delays (``DelaySampler``: uniform, normal, pareto, ..., correlated), per datagram."""

    def __init__(self, spec: ToxicSpec, rng: random.Random, client_port: int) -> None:
        super().__init__(spec, rng, client_port)
        self.delay = DelaySampler(
            str(spec.attributes.get("distribution", "uniform")),
            self.attribute("latency"),
            self.attribute("jitter"),
            rng,
            self.attribute("correlation"),
        )

    def act(self, datagram: Datagram, now: float) -> list[Datagram]:
        return self.in_order(datagram, datagram.due + self.delay())


class LossStage(DatagramStage):
    def act(self, datagram: Datagram, now: float) -> list[Datagram]:
        return []


class BurstLossStage(DatagramStage):
    """Gilbert-Elliott burst loss (see :class:`GilbertElliott`); the toxicity is the loss in the bad state,
    so the model runs on every datagram the targeting selects."""

    def __init__(self, spec: ToxicSpec, rng: random.Random, client_port: int) -> None:
        super().__init__(spec, rng, client_port)
        self.model = GilbertElliott(
            self.attribute("burst"), self.attribute("gap"), spec.toxicity, self.fraction("good_loss")
        )

    def targets(self) -> bool:
        nth, port = self.attribute("nth"), self.attribute("client_port")
        return not (nth and self.seen != nth) and not (port and port != self.client_port)

    def act(self, datagram: Datagram, now: float) -> list[Datagram]:
        return [] if self.model.lose(self.rng) else [datagram]


class DuplicateStage(DatagramStage):
    def act(self, datagram: Datagram, now: float) -> list[Datagram]:
        return [datagram] * (1 + self.attribute("copies"))


def flip_bits(payload: bytes, bits: int, rng: random.Random) -> bytes:
    """``payload`` with ``bits`` distinct bits flipped (all of them if it has fewer); empty stays empty."""
    if not payload or bits <= 0:
        return payload
    data = bytearray(payload)
    for position in rng.sample(range(len(data) * 8), min(bits, len(data) * 8)):
        data[position // 8] ^= 1 << (position % 8)
    return bytes(data)


class CorruptStage(DatagramStage):
    def act(self, datagram: Datagram, now: float) -> list[Datagram]:
        return [replace(datagram, payload=flip_bits(datagram.payload, self.attribute("bits"), self.rng))]


class TruncateStage(DatagramStage):
    def act(self, datagram: Datagram, now: float) -> list[Datagram]:
        return [replace(datagram, payload=datagram.payload[: self.attribute("size")])]


class RateStage(FifoStage):
    """Paces datagrams to at most ``datagrams`` per second and ``rate`` KB/s (each 0: no limit): a datagram
    leaves when the one before it has been "transmitted", never early; nothing is dropped."""

    def __init__(self, spec: ToxicSpec, rng: random.Random, client_port: int) -> None:
        super().__init__(spec, rng, client_port)
        self.next_free = 0.0

    def act(self, datagram: Datagram, now: float) -> list[Datagram]:
        start = max(datagram.due, self.next_free, self.last_due)
        per_datagram, rate = self.attribute("datagrams"), self.attribute("rate")
        interval = (1.0 / per_datagram if per_datagram else 0.0) + (
            len(datagram.payload) / (rate * 1000.0) if rate else 0.0
        )
        self.next_free = start + interval
        return self.in_order(datagram, start)


@dataclass
class _Held:
    datagram: Datagram
    others_left: int | None  # later datagrams still to go past it; None: held for a time only
    until: float | None


class ReorderStage(DatagramStage):
    """Holds a datagram back until ``gap`` later datagrams have gone past it, or ``delay`` ms have passed
    (whichever comes first; ``delay`` 0 sets no time limit): it then leaves right after the datagram that
    completed its gap, so it arrives exactly ``gap`` places late."""

    def __init__(self, spec: ToxicSpec, rng: random.Random, client_port: int) -> None:
        super().__init__(spec, rng, client_port)
        self.held: list[_Held] = []

    def act(self, datagram: Datagram, now: float) -> list[Datagram]:
        gap, delay = self.attribute("gap"), self.attribute("delay")
        if gap == 0 and delay == 0:
            return [datagram]
        until = datagram.due + delay / 1000.0 if delay else None
        self.held.append(_Held(datagram, gap if gap else None, until))
        return []

    def passed(self, out: list[Datagram]) -> list[Datagram]:
        if not out or not self.held:
            return out
        result = list(out)
        last_due = max(datagram.due for datagram in out)
        still: list[_Held] = []
        for held in self.held:
            if held.others_left is not None:
                held.others_left -= len(out)
            if held.others_left is not None and held.others_left <= 0:
                result.append(replace(held.datagram, due=max(held.datagram.due, last_due)))
            else:
                still.append(held)
        self.held = still
        return result

    def release(self, now: float) -> list[Datagram]:
        due = [held for held in self.held if held.until is not None and held.until <= now]
        if not due:
            return []
        self.held = [held for held in self.held if held not in due]
        return [replace(held.datagram, due=max(held.datagram.due, now)) for held in due]

    def deadline(self) -> float | None:
        times = [held.until for held in self.held if held.until is not None]
        return min(times) if times else None

    def drain(self) -> list[Datagram]:
        out, self.held = [held.datagram for held in self.held], []
        return out


#: How a registry entry makes its stage for one session direction: (spec, seeded RNG, client port).
DatagramStageBuilder = Callable[["ToxicSpec", random.Random, int], DatagramStage]


@dataclass
class DatagramChain:
    """The stages of one session direction, in the order their toxics were added.

    ``rng_for(toxic_name, start)`` gives the RNG of one toxic's ``start``-th (re)start here; the proxy
    derives it from the engine seed, the proxy name, the session's serial number and the direction."""

    rng_for: Callable[[str, int], random.Random]
    client_port: int
    stages: list[DatagramStage] = field(default_factory=list)
    starts: dict[str, int] = field(default_factory=dict)

    def _new_stage(self, spec: ToxicSpec) -> DatagramStage:
        start = self.starts.get(spec.name, 0)
        self.starts[spec.name] = start + 1
        build = spec.toxic_type.datagram_stage
        if build is None:  # every way onto a UDP proxy checks the protocol first
            raise ValueError(f"the {spec.type} toxic has no datagram stage")
        return build(spec, self.rng_for(spec.name, start), self.client_port)

    def add(self, spec: ToxicSpec) -> None:
        self.stages.append(self._new_stage(spec))

    def update(self, spec: ToxicSpec) -> None:
        """Restart the toxic with its new attributes; it keeps its place (what it holds moves on)."""
        for index, stage in enumerate(self.stages):
            if stage.spec.name == spec.name:
                new = self._new_stage(spec)
                new.seen = stage.seen
                if isinstance(stage, ReorderStage) and isinstance(new, ReorderStage):
                    new.held = stage.held
                self.stages[index] = new
                return

    def remove(self, name: str, now: float) -> list[Datagram]:
        """Remove a toxic; what it held goes through the stages after it at once."""
        for index, stage in enumerate(self.stages):
            if stage.spec.name == name:
                del self.stages[index]
                return self._through(stage.drain(), index, now)
        return []

    def push(self, datagram: Datagram, now: float) -> list[Datagram]:
        return self._through([datagram], 0, now)

    def release(self, now: float) -> list[Datagram]:
        """Datagrams held past their time, through the stages after the one that held them."""
        out: list[Datagram] = []
        for index, stage in enumerate(self.stages):
            released = stage.release(now)
            if released:
                out += self._through(released, index + 1, now)
        return out

    def deadline(self) -> float | None:
        times = [when for when in (stage.deadline() for stage in self.stages) if when is not None]
        return min(times) if times else None

    def _through(self, datagrams: Iterable[Datagram], first: int, now: float) -> list[Datagram]:
        current = list(datagrams)
        for stage in self.stages[first:]:
            current = [out for datagram in current for out in stage.push(datagram, now)]
        return current


__all__ = [
    "Datagram",
    "DatagramChain",
    "DatagramStage",
    "DatagramStageBuilder",
    "GilbertElliott",
    "flip_bits",
]
