"""Toxics as composable stream transforms ("stages"), chained per connection direction.

Pure: a stage never touches a socket or a clock. The relay feeds it chunks stamped with their read time
and asks which chunks are due at ``now``; the stage answers from its own schedule. Markers travel through
the chain in order with the data: EOF (half-close the destination), CLOSE (close the whole connection,
what Toxiproxy's ``stub.Close()`` amounts to), RESET (a reset_peer toxic: abort both sides with RST at
once) and PEER_RESET (a peer's RST passed on: RST once every byte before it has been sent).

Toxiproxy semantics kept on purpose: latency counts from the time the chunk was *read* (so two latency
toxics in one stream overlap rather than add); toxics are appended to the end of the chain; removing a
toxic releases what it holds to the next stage at once; updating restarts it with its state (limit_data's
byte count) kept; toxicity is rolled per connection each time a toxic (re)starts.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sockharness.faults._engine.toxic_maths import bandwidth_schedule, latency_delay, slicer_cuts

if TYPE_CHECKING:
    from sockharness.faults._engine.toxics import ToxicSpec

DATA = 0
EOF = 1
CLOSE = 2
RESET = 3
PEER_RESET = 4
MARKER_NAMES = {DATA: "data", EOF: "eof", CLOSE: "close", RESET: "reset", PEER_RESET: "peer reset"}


class Chunk:
    """Bytes (or a marker) and the monotonic time the proxy read them."""

    __slots__ = ("data", "kind", "read_at")

    def __init__(self, kind: int, data: bytes, read_at: float) -> None:
        self.kind = kind
        self.data = data
        self.read_at = read_at

    def __repr__(self) -> str:
        return f"Chunk({MARKER_NAMES[self.kind]}, {len(self.data)}B, read_at={self.read_at:.6f})"


class Stage:
    """A pass-through stage holding an ordered schedule of ``(due, chunk)``; subclasses decide ``due``."""

    def __init__(self, spec: ToxicSpec | None) -> None:
        self.spec = spec
        self.queue: deque[tuple[float, Chunk]] = deque()
        self.last_due = 0.0
        self.finished = False  # a terminal marker went in: anything after it is dropped
        self.pending_bytes = 0

    def _schedule(self, due: float, chunk: Chunk) -> None:
        due = max(due, self.last_due)  # order is preserved: nothing overtakes an earlier chunk
        self.last_due = due
        self.queue.append((due, chunk))
        self.pending_bytes += len(chunk.data)
        if chunk.kind != DATA:
            self.finished = True

    def push(self, chunk: Chunk, now: float) -> None:
        if not self.finished:
            self._schedule(now, chunk)

    def next_due(self) -> float | None:
        return self.queue[0][0] if self.queue else None

    def pop_ready(self, now: float) -> list[Chunk]:
        ready: list[Chunk] = []
        queue = self.queue
        while queue and queue[0][0] <= now:
            chunk = queue.popleft()[1]
            self.pending_bytes -= len(chunk.data)
            ready.append(chunk)
        return ready

    def flush(self, now: float) -> list[Chunk]:
        """Everything held, released at once (the toxic is being removed or replaced)."""
        chunks = [chunk for _, chunk in self.queue]
        self.queue.clear()
        self.pending_bytes = 0
        return chunks

    def held(self) -> list[Chunk]:
        """Chunks not yet released, handed on when the toxic is updated (no closing side effects)."""
        return self.flush(0.0)


class LatencyStage(Stage):
    def __init__(self, spec: ToxicSpec, rng: random.Random) -> None:
        super().__init__(spec)
        self.rng = rng
        self.latency = spec.attributes["latency"]
        self.jitter = spec.attributes["jitter"]

    def push(self, chunk: Chunk, now: float) -> None:
        if self.finished:
            return
        if chunk.kind == DATA:
            self._schedule(chunk.read_at + latency_delay(self.latency, self.jitter, self.rng), chunk)
        else:
            self._schedule(now, chunk)


class BandwidthStage(Stage):
    def __init__(self, spec: ToxicSpec) -> None:
        super().__init__(spec)
        self.rate = spec.attributes["rate"]

    def push(self, chunk: Chunk, now: float) -> None:
        if self.finished:
            return
        if chunk.kind != DATA or self.rate <= 0:
            self._schedule(now, chunk)
            return
        start = max(now, self.last_due)
        data = chunk.data
        for begin, end, due in bandwidth_schedule(len(data), self.rate, start):
            piece = data if (begin == 0 and end == len(data)) else data[begin:end]
            self._schedule(due, Chunk(DATA, piece, chunk.read_at))


class SlowCloseStage(Stage):
    def __init__(self, spec: ToxicSpec) -> None:
        super().__init__(spec)
        self.delay = spec.attributes["delay"] / 1000.0

    def push(self, chunk: Chunk, now: float) -> None:
        if not self.finished:
            self._schedule(now if chunk.kind == DATA else max(now, self.last_due) + self.delay, chunk)


class TimeoutStage(Stage):
    """Drops all data; closes the connection ``timeout`` ms after it started acting (0: never)."""

    def __init__(self, spec: ToxicSpec, now: float) -> None:
        super().__init__(spec)
        timeout = spec.attributes["timeout"]
        self.deadline: float | None = now + timeout / 1000.0 if timeout > 0 else None

    def push(self, chunk: Chunk, now: float) -> None:
        if chunk.kind != DATA and not self.finished:
            self._schedule(now, chunk)

    def next_due(self) -> float | None:
        due = super().next_due()
        if self.deadline is not None and not self.finished:
            return self.deadline if due is None else min(due, self.deadline)
        return due

    def pop_ready(self, now: float) -> list[Chunk]:
        if self.deadline is not None and not self.finished and now >= self.deadline:
            self._schedule(now, Chunk(CLOSE, b"", now))
        return super().pop_ready(now)

    def flush(self, now: float) -> list[Chunk]:
        # Toxiproxy's cleanup closes the stream: the bytes it dropped cannot be given back.
        held = super().flush(now)
        return held if held else [Chunk(CLOSE, b"", now)]

    def held(self) -> list[Chunk]:
        return super().flush(0.0)


class ResetPeerStage(Stage):
    """The first chunk (data or EOF) arms a ``timeout`` ms timer; then both sides get an RST."""

    def __init__(self, spec: ToxicSpec) -> None:
        super().__init__(spec)
        self.timeout = spec.attributes["timeout"] / 1000.0
        self.deadline: float | None = None
        self.withheld: list[Chunk] = []

    def push(self, chunk: Chunk, now: float) -> None:
        if self.finished:
            return
        if self.deadline is None:
            self.deadline = now + self.timeout  # Toxiproxy consumes (loses) this first chunk
        else:
            self.withheld.append(chunk)
            self.pending_bytes += len(chunk.data)

    def next_due(self) -> float | None:
        return self.deadline if not self.finished else super().next_due()

    def pop_ready(self, now: float) -> list[Chunk]:
        if self.deadline is not None and not self.finished and now >= self.deadline:
            self.withheld.clear()
            self.pending_bytes = 0
            self._schedule(now, Chunk(RESET, b"", now))
        return super().pop_ready(now)

    def flush(self, now: float) -> list[Chunk]:
        chunks = super().flush(now) + self.withheld
        self.withheld = []
        self.pending_bytes = 0
        return chunks

    def held(self) -> list[Chunk]:
        return self.flush(0.0)


class SlicerStage(Stage):
    def __init__(self, spec: ToxicSpec, rng: random.Random) -> None:
        super().__init__(spec)
        self.rng = rng
        self.average = int(spec.attributes["average_size"])
        self.variation = int(spec.attributes["size_variation"])
        self.delay = spec.attributes["delay"] / 1_000_000.0

    def push(self, chunk: Chunk, now: float) -> None:
        if self.finished:
            return
        if chunk.kind != DATA:
            self._schedule(now, chunk)
            return
        data = chunk.data
        cuts = slicer_cuts(len(data), self.average, self.variation, self.rng)
        due = max(now, self.last_due)
        for begin, end in itertools.pairwise(cuts):
            due += self.delay  # Toxiproxy waits ``delay`` before each slice
            self._schedule(due, Chunk(DATA, data[begin:end], chunk.read_at))


class LimitDataState:
    """Bytes a limit_data toxic has let through on one connection; survives updates of the toxic."""

    __slots__ = ("transmitted",)

    def __init__(self) -> None:
        self.transmitted = 0


class LimitDataStage(Stage):
    def __init__(self, spec: ToxicSpec, state: LimitDataState) -> None:
        super().__init__(spec)
        self.limit = int(spec.attributes["bytes"])
        self.state = state

    def push(self, chunk: Chunk, now: float) -> None:
        if self.finished:
            return
        if chunk.kind != DATA:
            self._schedule(now, chunk)
            return
        remaining = max(0, self.limit - self.state.transmitted)
        data = chunk.data if len(chunk.data) <= remaining else chunk.data[:remaining]
        if data:
            self._schedule(now, Chunk(DATA, data, chunk.read_at))
            self.state.transmitted += len(data)
        if self.limit - self.state.transmitted <= 0:
            self._schedule(now, Chunk(CLOSE, b"", now))


@dataclass(frozen=True)
class StageStart:
    """What a stage factory (``ToxicType.stage``) may use when a toxic starts on one connection direction."""

    rng: random.Random
    now: float
    #: The toxic's per-connection state (``ToxicType.new_state``), kept across updates; None if it has none.
    state: object | None = None


def make_stage(spec: ToxicSpec, rng: random.Random, now: float, state: object | None = None) -> Stage:
    """The stage for one toxic on one connection direction; a toxicity miss gives a pass-through."""
    if not rng.random() < spec.toxicity:
        return Stage(spec)
    return spec.toxic_type.stage(spec, StageStart(rng, now, state))


class Chain:
    """The stages of one connection direction, in the order their toxics were added."""

    def __init__(self, rng_for: RngFactory) -> None:
        self.rng_for = rng_for
        self.stages: list[Stage] = []
        self.states: dict[str, object] = {}
        # how often each toxic (re)started here: each start gets a fresh RNG stream
        self.starts: dict[str, int] = {}
        self.output: list[Chunk] = []

    @property
    def transparent(self) -> bool:
        """True when no stage can change the stream (no toxics, or every toxicity roll missed)."""
        return all(type(stage) is Stage and not stage.queue for stage in self.stages)

    def _index(self, name: str) -> int:
        for index, stage in enumerate(self.stages):
            if stage.spec is not None and stage.spec.name == name:
                return index
        raise KeyError(name)

    def _new_stage(self, spec: ToxicSpec, now: float) -> Stage:
        new_state = spec.toxic_type.new_state
        state = self.states.setdefault(spec.name, new_state()) if new_state is not None else None
        starts = self.starts.get(spec.name, 0)
        self.starts[spec.name] = starts + 1
        return make_stage(spec, self.rng_for(f"{spec.name}#{starts}"), now, state)

    def add(self, spec: ToxicSpec, now: float) -> None:
        self.stages.append(self._new_stage(spec, now))

    def update(self, spec: ToxicSpec, now: float) -> None:
        # Like Toxiproxy's interrupt-and-restart: what the old instance already holds is released to the
        # next stage now (it has been through this toxic once); later chunks meet the new settings.
        index = self._index(spec.name)
        held = self.stages[index].held()
        self.stages[index] = self._new_stage(spec, now)
        self._push_from(index + 1, held, now)

    def remove(self, name: str, now: float) -> None:
        index = self._index(name)
        released = self.stages.pop(index).flush(now)
        self._push_from(index, released, now)

    def _push_from(self, index: int, chunks: list[Chunk], now: float) -> None:
        """Hand chunks to stage ``index`` (or to the output, past the end)."""
        if index < len(self.stages):
            stage = self.stages[index]
            for chunk in chunks:
                stage.push(chunk, now)
        else:
            self.output.extend(chunks)

    def feed(self, chunk: Chunk, now: float) -> None:
        if self.stages:
            self.stages[0].push(chunk, now)
        else:
            self.output.append(chunk)

    def advance(self, now: float) -> list[Chunk]:
        """Move every chunk that is due through the chain; returns (and forgets) what left its end."""
        for index, stage in enumerate(self.stages):
            if stage.queue or type(stage) is not Stage:
                ready = stage.pop_ready(now)
                if ready:
                    self._push_from(index + 1, ready, now)
        out = self.output
        self.output = []
        return out

    def next_due(self) -> float | None:
        due: float | None = None
        for stage in self.stages:
            stage_due = stage.next_due()
            if stage_due is not None and (due is None or stage_due < due):
                due = stage_due
        return due

    @property
    def pending_bytes(self) -> int:
        return sum(stage.pending_bytes for stage in self.stages)


class RngFactory:
    """Derives one RNG per (connection, stream, toxic) from the engine seed: replays are exact."""

    __slots__ = ("prefix",)

    def __init__(self, seed: int, proxy: str, connection: int, stream: str) -> None:
        self.prefix = f"{seed}/{proxy}/{connection}/{stream}/"

    def __call__(self, toxic_name: str) -> random.Random:
        return random.Random(self.prefix + toxic_name)


__all__ = [
    "CLOSE",
    "DATA",
    "EOF",
    "PEER_RESET",
    "RESET",
    "Chain",
    "Chunk",
    "LimitDataState",
    "RngFactory",
    "Stage",
    "StageStart",
    "make_stage",
]
