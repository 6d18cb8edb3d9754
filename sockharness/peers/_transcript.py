"""What a peer saw and did on one connection, in order, with monotonic timestamps.

Transcripts exist so that a failure message can show the conversation instead of just "expected X": when a
test fails, the bytes the peer actually received are usually the answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, overload

Direction = Literal["in", "out", "event"]

#: How many payload bytes one transcript keeps; beyond that only sizes are recorded so that a peer echoing
#: gigabytes in a benchmark does not hold them all in memory.
DEFAULT_MAX_STORED_BYTES = 1 << 20

_RENDER_PREVIEW = 64


@dataclass(frozen=True)
class TranscriptEvent:
    """One thing that happened: bytes in, bytes out, or a described event (accepted, closed, failed)."""

    t: float
    """``time.monotonic()`` when it happened."""
    direction: Direction
    data: bytes | str
    """The bytes moved (possibly a prefix, see ``size``) or the event text."""
    size: int
    """Bytes moved for "in"/"out" (``len(data)`` unless storage was capped); 0 for events."""

    @property
    def truncated(self) -> bool:
        return isinstance(self.data, bytes) and len(self.data) < self.size


def _preview(data: bytes, size: int) -> str:
    shown = repr(data[:_RENDER_PREVIEW])
    if size > _RENDER_PREVIEW:
        return f"{shown}... ({size} bytes)"
    return f"{shown} ({size} bytes)"


class Transcript:
    """The ordered events of one connection (server side) or of a client.

    Written by one peer thread, read by the test: appends are guarded so a reader always sees a consistent
    prefix.
    """

    def __init__(self, label: str, *, max_stored_bytes: int = DEFAULT_MAX_STORED_BYTES) -> None:
        self.label = label
        self.started = time.monotonic()
        self._max_stored = max_stored_bytes
        self._stored = 0
        self._events: list[TranscriptEvent] = []
        self._lock = threading.Lock()

    # -- recording (peer thread) --------------------------------------------------------------------------
    def _add_bytes(self, direction: Direction, data: bytes) -> None:
        with self._lock:
            room = max(0, self._max_stored - self._stored)
            kept = data if len(data) <= room else data[:room]
            self._stored += len(kept)
            self._events.append(TranscriptEvent(time.monotonic(), direction, bytes(kept), len(data)))

    def record_in(self, data: bytes) -> None:
        self._add_bytes("in", data)

    def record_out(self, data: bytes) -> None:
        self._add_bytes("out", data)

    def record_event(self, text: str) -> None:
        with self._lock:
            self._events.append(TranscriptEvent(time.monotonic(), "event", text, 0))

    # -- reading (test thread) ----------------------------------------------------------------------------
    @property
    def events(self) -> list[TranscriptEvent]:
        """A snapshot copy; safe to read while the peer is still running."""
        with self._lock:
            return list(self._events)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def __iter__(self) -> Iterator[TranscriptEvent]:
        return iter(self.events)

    @overload
    def __getitem__(self, index: int) -> TranscriptEvent: ...
    @overload
    def __getitem__(self, index: slice) -> list[TranscriptEvent]: ...
    def __getitem__(self, index: int | slice) -> TranscriptEvent | list[TranscriptEvent]:
        return self.events[index]

    def received(self) -> bytes:
        """Every stored byte that came in, concatenated (see ``complete`` when storage was capped)."""
        return b"".join(e.data for e in self.events if e.direction == "in" and isinstance(e.data, bytes))

    def sent(self) -> bytes:
        """Every stored byte that went out, concatenated."""
        return b"".join(e.data for e in self.events if e.direction == "out" and isinstance(e.data, bytes))

    def bytes_received(self) -> int:
        return sum(e.size for e in self.events if e.direction == "in")

    def bytes_sent(self) -> int:
        return sum(e.size for e in self.events if e.direction == "out")

    @property
    def complete(self) -> bool:
        """False when payloads were cut to the storage cap (sizes are still exact)."""
        return not any(e.truncated for e in self.events)

    def texts(self) -> list[str]:
        """The event texts only, e.g. ``["accepted from 127.0.0.1:40000", "closed"]``."""
        return [e.data for e in self.events if e.direction == "event" and isinstance(e.data, str)]

    def render(self) -> str:
        events = self.events
        lines = [f"transcript {self.label} ({len(events)} events):"]
        for event in events:
            offset_ms = (event.t - self.started) * 1000.0
            body = _preview(event.data, event.size) if isinstance(event.data, bytes) else event.data
            lines.append(f"  +{offset_ms:9.3f} ms  {event.direction:<5}  {body}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"<Transcript {self.label!r} events={len(self)}>"
