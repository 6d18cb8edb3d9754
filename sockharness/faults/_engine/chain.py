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
import math
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sockharness.faults._engine.toxic_maths import DelaySampler, bandwidth_schedule, slicer_cuts

if TYPE_CHECKING:
    from sockharness.faults._engine.targeting import Target
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

    def total_pending(self) -> int:
        """Bytes this stage holds (a wrapping stage adds the stage it wraps)."""
        return self.pending_bytes


class LatencyStage(Stage):
    def __init__(self, spec: ToxicSpec, rng: random.Random) -> None:
        super().__init__(spec)
        attributes = spec.attributes
        self.delay = DelaySampler(
            str(attributes.get("distribution", "uniform")),
            int(attributes["latency"]),
            int(attributes["jitter"]),
            rng,
            int(attributes.get("correlation", 0)),
        )

    def push(self, chunk: Chunk, now: float) -> None:
        if self.finished:
            return
        if chunk.kind == DATA:
            # Never reorders: _schedule keeps each due at or after the one before it.
            self._schedule(chunk.read_at + self.delay(), chunk)
        else:
            self._schedule(now, chunk)


class BandwidthStage(Stage):
    def __init__(self, spec: ToxicSpec) -> None:
        super().__init__(spec)
        self.rate = int(spec.attributes["rate"])

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
        self.delay = int(spec.attributes["delay"]) / 1000.0

    def push(self, chunk: Chunk, now: float) -> None:
        if not self.finished:
            self._schedule(now if chunk.kind == DATA else max(now, self.last_due) + self.delay, chunk)


class TimeoutStage(Stage):
    """Drops all data; closes the connection ``timeout`` ms after it started acting (0: never)."""

    def __init__(self, spec: ToxicSpec, now: float) -> None:
        super().__init__(spec)
        timeout = int(spec.attributes["timeout"])
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
        self.timeout = int(spec.attributes["timeout"]) / 1000.0
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
        self.delay = int(spec.attributes["delay"]) / 1_000_000.0

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


#: What a cut does at its cut point (the ``action`` attribute of a ``cut`` toxic).
CUT_ACTIONS = ("reset", "close", "half_close", "hang", "stall")


class CutState:
    """How far a cut toxic got on one connection direction; survives updates of the toxic (a cut that
    happened stays happened, and the byte count goes on), as limit_data's count does."""

    __slots__ = ("cut_done", "passed", "stall_until", "tail")

    def __init__(self) -> None:
        self.passed = 0  # bytes of the stream delivered before the cut
        self.tail = b""  # the last len(pattern) - 1 bytes seen, for a match across chunks
        self.cut_done = False
        self.stall_until = 0.0


class CutStage(Stage):
    """Delivers the stream exactly up to a cut point, then resets, closes, half-closes, hangs or stalls.

    The cut point is after ``bytes`` bytes of the stream, or just after the first match of ``pattern``
    (found across chunk boundaries). ``bytes`` 0 without a pattern cuts when the stream's first byte arrives,
    so nothing of it passes: what a reset connect looks like to a client that sends its request at once
    (cutting before any data would race the client's own ``connect()``).
    """

    def __init__(self, spec: ToxicSpec, state: CutState, note: Callable[[str], None]) -> None:
        super().__init__(spec)
        attributes = spec.attributes
        self.limit = int(attributes["bytes"])
        self.pattern = str(attributes["pattern"]).encode("utf-8")
        self.action = str(attributes["action"])
        self.stall = int(attributes["stall"]) / 1000.0
        self.note = note
        self.state = state

    def _cut_offset(self, data: bytes) -> int | None:
        """Where in ``data`` the cut falls (bytes of it still delivered), or None if not in it."""
        state = self.state
        if self.pattern:
            window = state.tail + data
            found = window.find(self.pattern)
            if found < 0:
                keep = len(self.pattern) - 1
                state.tail = window[-keep:] if keep else b""
                return None
            return max(0, found + len(self.pattern) - len(state.tail))
        remaining = max(0, self.limit - state.passed)
        return remaining if remaining <= len(data) else None

    def _cut(self, now: float) -> None:
        self.state.cut_done = True
        where = f"after {self.pattern!r}" if self.pattern else "after the byte count"
        stream = self.spec.stream if self.spec is not None else "?"
        self.note(f"cut {stream} at byte {self.state.passed} ({where}): {self.action}")
        if self.action == "reset":
            self._schedule(now, Chunk(PEER_RESET, b"", now))  # RST once the bytes before it are sent
        elif self.action == "close":
            self._schedule(now, Chunk(CLOSE, b"", now))
        elif self.action == "half_close":
            self._schedule(now, Chunk(EOF, b"", now))
        elif self.action == "stall":
            self.state.stall_until = now + self.stall

    def push(self, chunk: Chunk, now: float) -> None:
        if self.finished:
            return
        state = self.state
        if state.cut_done:
            if self.action == "stall":
                self._schedule(max(now, state.stall_until), chunk)
            return  # hang: nothing after the cut reaches the other side (the sockets stay open)
        if chunk.kind != DATA:
            self._schedule(now, chunk)
            return
        offset = self._cut_offset(chunk.data)
        if offset is None:
            state.passed += len(chunk.data)
            self._schedule(now, chunk)
            return
        head, rest = chunk.data[:offset], chunk.data[offset:]
        if head:
            self._schedule(now, Chunk(DATA, head, chunk.read_at))
        state.passed += len(head)
        self._cut(now)
        if rest:
            self.push(Chunk(DATA, rest, chunk.read_at), now)


class CorruptState:
    """A corrupt toxic's position in the stream (offsets count from the connection's first byte) and how
    many changes it logged; survives updates of the toxic."""

    __slots__ = ("noted", "position")

    def __init__(self) -> None:
        self.position = 0
        self.noted = 0


class CorruptStage(Stage):
    """Flips one bit in chosen bytes of the stream: a seeded ``fraction`` of them, and/or the bytes at
    ``offsets`` (0-based positions in the stream). The length and order never change; each changed offset
    goes to the connection's event log (the first 100 of them, then a count)."""

    NOTED = 100

    def __init__(
        self, spec: ToxicSpec, rng: random.Random, state: CorruptState, note: Callable[[str], None]
    ) -> None:
        super().__init__(spec)
        self.rng = rng
        self.state = state
        self.fraction = float(spec.attributes["fraction"])
        self.offsets = parse_offsets(str(spec.attributes["offsets"]))
        self.mask = int(spec.attributes["mask"])
        self.note = note

    def push(self, chunk: Chunk, now: float) -> None:
        if self.finished:
            return
        if chunk.kind != DATA:
            self._schedule(now, chunk)
            return
        start, data = self.state.position, chunk.data
        self.state.position += len(data)
        changed = corrupt_positions(start, len(data), self.fraction, self.offsets, self.rng, self.mask)
        if not changed:
            self._schedule(now, chunk)
            return
        buffer = bytearray(data)
        for offset, flips in changed:
            buffer[offset - start] ^= flips
        self._log(changed)
        self._schedule(now, Chunk(DATA, bytes(buffer), chunk.read_at))

    def _log(self, changed: list[tuple[int, int]]) -> None:
        stream = self.spec.stream if self.spec is not None else "?"
        shown = changed[: max(0, self.NOTED - self.state.noted)]
        if shown:
            offsets = ", ".join(f"{offset} (xor 0x{flips:02x})" for offset, flips in shown)
            self.note(f"corrupted {stream} byte {offsets}")
        if len(shown) < len(changed):
            self.note(
                f"corrupted {stream}: {len(changed) - len(shown)} more bytes up to offset {changed[-1][0]}"
            )
        self.state.noted += len(changed)


def parse_offsets(text: str) -> tuple[int, ...]:
    """``"0, 17,4096"`` as sorted, distinct stream offsets; ValueError names the first bad item."""
    found: set[int] = set()
    for item in text.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isdigit():
            raise ValueError(f"offsets must be whole numbers >= 0 separated by commas, got {item!r}")
        found.add(int(item))
    return tuple(sorted(found))


def corrupt_positions(
    start: int,
    length: int,
    fraction: float,
    offsets: tuple[int, ...],
    rng: random.Random,
    mask: int = 0,
) -> list[tuple[int, int]]:
    """``(stream offset, xor mask)`` pairs for the bytes ``[start, start + length)``: each byte with
    probability ``fraction`` (geometric gaps, so a small fraction costs little on big chunks) plus the chosen
    ``offsets`` that fall in the range. The mask is ``mask``, or one seeded random bit when it is 0. Sorted
    by offset, each offset once."""

    def flips() -> int:
        return mask if mask else 1 << rng.randrange(8)

    chosen: dict[int, int] = {}
    end = start + length
    for offset in offsets:
        if start <= offset < end:
            chosen[offset] = flips()
    if fraction >= 1.0:
        for offset in range(start, end):
            chosen.setdefault(offset, flips())
    elif fraction > 0.0:
        log_miss = math.log1p(-fraction)
        position = start
        while True:
            gap = int(math.log(1.0 - rng.random()) / log_miss)
            position += gap
            if position >= end:
                break
            chosen.setdefault(position, flips())
            position += 1
    return sorted(chosen.items())


def _ignore_note(text: str) -> None:
    """The event log of a chain that has none (unit tests of the pure stages)."""


@dataclass(frozen=True)
class StageStart:
    """What a stage factory (``ToxicType.stage``) may use when a toxic starts on one connection direction."""

    rng: random.Random
    now: float
    #: The toxic's per-connection state (``ToxicType.new_state``), kept across updates; None if it has none.
    state: object | None = None
    #: Writes one line to the connection's event log (a cut point, the offsets a corruption changed).
    note: Callable[[str], None] = _ignore_note


@dataclass(frozen=True, slots=True)
class ConnectionFacts:
    """What targeting needs to know about the connection a chain belongs to (see ``targeting``)."""

    serial: int
    client_host: str
    client_port: int
    #: Per toxic name, the serial of the last connection accepted before the toxic was added: connection
    #: ``serial - base`` is the toxic's 1-based index (a connection open before it has none).
    bases: Mapping[str, int] = field(default_factory=dict)
    note: Callable[[str], None] = _ignore_note
    #: Monotonic time of the accept: ``after_ms`` counts from it, whenever the toxic started.
    accepted_at: float | None = None
    #: Toxic names that acted on this connection, in the order they started (for its event log).
    applied: list[str] = field(default_factory=list)

    def index_for(self, toxic: str) -> int | None:
        base = self.bases.get(toxic)
        if base is None or self.serial <= base:
            return None
        return self.serial - base


class WindowState:
    """The bytes a toxic's window still waits for on one connection direction; kept across updates of the
    toxic (a window that opened stays open) unless the update changes the target."""

    __slots__ = ("remaining", "target")

    def __init__(self, target: Target) -> None:
        self.target = target
        self.remaining = target.after_bytes


class WindowStage(Stage):
    """Passes the stream through unchanged until the toxic's window opens (``after_bytes`` passed in the
    stream, exactly, and ``after_ms`` since the connection was accepted), then hands everything to the
    toxic's own stage, built at that moment (so a timeout counts from the opening, not the accept)."""

    def __init__(
        self, spec: ToxicSpec, build: Callable[[float], Stage], state: WindowState, opens_at: float | None
    ) -> None:
        super().__init__(spec)
        self.build = build
        self.state = state
        self.opens_at = opens_at
        self.inner: Stage | None = None

    @property
    def remaining(self) -> int:
        return self.state.remaining

    @remaining.setter
    def remaining(self, value: int) -> None:
        self.state.remaining = value

    def _may_open(self, now: float) -> bool:
        return self.remaining <= 0 and (self.opens_at is None or now >= self.opens_at)

    def _open(self, now: float) -> Stage:
        inner = self.build(now)
        self.inner = inner
        return inner

    def push(self, chunk: Chunk, now: float) -> None:
        if self.inner is not None:
            self.inner.push(chunk, now)
            return
        if self.finished:
            return
        if chunk.kind == DATA and self.remaining > 0:
            data = chunk.data
            if len(data) <= self.remaining:
                self.remaining -= len(data)
                self._schedule(now, chunk)
                if self._may_open(now):
                    self._open(now)
                return
            head, tail = data[: self.remaining], data[self.remaining :]
            self.remaining = 0
            self._schedule(now, Chunk(DATA, head, chunk.read_at))
            chunk = Chunk(DATA, tail, chunk.read_at)
        if self._may_open(now):
            self._open(now).push(chunk, now)
        else:
            self._schedule(now, chunk)

    def next_due(self) -> float | None:
        own = super().next_due()
        if self.inner is not None:
            inner = self.inner.next_due()
            return inner if own is None else own if inner is None else min(own, inner)
        if self.remaining <= 0 and self.opens_at is not None and not self.finished:
            return self.opens_at if own is None else min(own, self.opens_at)
        return own

    def pop_ready(self, now: float) -> list[Chunk]:
        ready = super().pop_ready(now)
        if self.inner is None and not self.finished and self._may_open(now):
            self._open(now)
        if self.inner is not None:
            ready += self.inner.pop_ready(now)
        return ready

    def flush(self, now: float) -> list[Chunk]:
        return super().flush(now) + (self.inner.flush(now) if self.inner is not None else [])

    def held(self) -> list[Chunk]:
        return super().flush(0.0) + (self.inner.held() if self.inner is not None else [])

    def total_pending(self) -> int:
        return self.pending_bytes + (self.inner.total_pending() if self.inner is not None else 0)


def start_stage(
    spec: ToxicSpec,
    rng: random.Random,
    now: float,
    state: object | None = None,
    facts: ConnectionFacts | None = None,
    window: WindowState | None = None,
) -> tuple[Stage, bool]:
    """The stage for one toxic on one connection direction, and whether the toxic acts there: a connection
    its target does not select, or a toxicity miss, gets a pass-through. The target is asked first and
    draws nothing from ``rng``, so an untargeted toxic replays exactly as before targeting existed."""
    target = spec.target
    if (
        facts is not None
        and not target.is_everything
        and not target.matches(facts.index_for(spec.name), facts.client_host, facts.client_port)
    ):
        return Stage(spec), False
    if not rng.random() < spec.toxicity:
        return Stage(spec), False
    note = facts.note if facts is not None else _ignore_note
    factory = spec.toxic_type.stage

    def build(at: float) -> Stage:
        return factory(spec, StageStart(rng, at, state, note))

    if not target.windowed:
        return build(now), True
    window = window if window is not None else WindowState(target)
    started = facts.accepted_at if facts is not None and facts.accepted_at is not None else now
    opens_at = started + target.after_ms / 1000.0 if target.after_ms > 0 else None
    if window.remaining <= 0 and (opens_at is None or now >= opens_at):
        return build(now), True  # the window is already open (the toxic was updated, or added late)
    return WindowStage(spec, build, window, opens_at), True


def make_stage(spec: ToxicSpec, rng: random.Random, now: float, state: object | None = None) -> Stage:
    """The stage for one toxic on one connection direction; a toxicity miss gives a pass-through."""
    return start_stage(spec, rng, now, state)[0]


class Chain:
    """The stages of one connection direction, in the order their toxics were added."""

    def __init__(self, rng_for: RngFactory, facts: ConnectionFacts | None = None) -> None:
        self.rng_for = rng_for
        self.facts = facts
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
        window: WindowState | None = None
        if spec.target.windowed:
            key = f"{spec.name}\x00window"
            kept = self.states.get(key)
            window = kept if isinstance(kept, WindowState) and kept.target == spec.target else None
            if window is None:
                window = WindowState(spec.target)
                self.states[key] = window
        rng = self.rng_for(f"{spec.name}#{starts}")
        stage, acts = start_stage(spec, rng, now, state, self.facts, window)
        if acts and self.facts is not None and spec.name not in self.facts.applied:
            self.facts.applied.append(spec.name)
        return stage

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
        return sum(stage.total_pending() for stage in self.stages)


class RngFactory:
    """Derives one RNG per (connection, stream, toxic) from the engine seed: replays are exact."""

    __slots__ = ("prefix",)

    def __init__(self, seed: int, proxy: str, connection: int, stream: str) -> None:
        self.prefix = f"{seed}/{proxy}/{connection}/{stream}/"

    def __call__(self, toxic_name: str) -> random.Random:
        return random.Random(self.prefix + toxic_name)


__all__ = [
    "CLOSE",
    "CUT_ACTIONS",
    "DATA",
    "EOF",
    "PEER_RESET",
    "RESET",
    "Chain",
    "Chunk",
    "ConnectionFacts",
    "CorruptStage",
    "CorruptState",
    "CutStage",
    "CutState",
    "LimitDataState",
    "RngFactory",
    "Stage",
    "StageStart",
    "WindowStage",
    "WindowState",
    "corrupt_positions",
    "make_stage",
    "parse_offsets",
    "start_stage",
]
