"""The per-connection event log: what a proxy did to each connection it accepted.

"Which toxic applied to my connection?" is the first question when a retry test fails. Each proxy keeps one
:class:`ConnectionRecord` per accepted connection (the most recent ``LOG_SIZE``): its index, client address,
when it was accepted, which toxics acted on it, the bytes each way, the cut and corruption points, and how it
ended. The records are plain data; the engine fills them on its reactor thread and hands out copies.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Final

#: Records one proxy keeps (the oldest are dropped first); a test rarely makes more connections than this.
LOG_SIZE: Final = 1000
#: Events one record keeps: a corruption of every byte must not grow a record without bound.
EVENTS_PER_CONNECTION: Final = 200


@dataclass(slots=True)  # a proxy keeps up to LOG_SIZE of them: no per-record __dict__ for the GC to walk
class ConnectionRecord:
    """One accepted connection, as the proxy saw it."""

    proxy: str
    #: 1 for the first connection the proxy accepted (the count survives disable/enable, not deletion).
    index: int
    client: str
    #: Wall-clock time of the accept (``time.time()``), for lining it up with other logs.
    accepted_at: float
    #: Monotonic time of the accept: event times are counted from it.
    started: float = field(repr=False, default=0.0)
    #: Toxics that acted on it (targeted and rolled in), in the order they started.
    toxics: list[str] = field(default_factory=list)
    #: ``(seconds since the accept, what happened)``: cut and corruption points, peers' FINs and RSTs.
    #: Kept raw (the relay adds them on the reactor thread); :attr:`events` formats them when read.
    raw_events: list[tuple[float, str]] = field(default_factory=list, repr=False)
    #: Bytes delivered client -> upstream and upstream -> client (so far, while it is open).
    bytes_up: int = 0
    bytes_down: int = 0
    #: ``None`` while open; then ``"closed"`` (FIN), ``"reset"`` (RST) or why the upstream was not reached.
    ended: str | None = None
    duration: float | None = None

    @property
    def events(self) -> list[str]:
        """``"+1.2ms cut downstream at byte 10 ...: reset"``, one line per event, oldest first."""
        return [f"+{at * 1000:.1f}ms {text}" for at, text in self.raw_events]

    def note(self, text: str, now: float | None = None) -> None:
        """Add an event, stamped with the time since the accept (formatted only when read)."""
        events = self.raw_events
        if len(events) >= EVENTS_PER_CONNECTION:
            if len(events) == EVENTS_PER_CONNECTION:
                events.append((events[-1][0], "... (later events dropped)"))
            return
        events.append(((time.monotonic() if now is None else now) - self.started, text))

    def end(self, how: str, now: float | None = None) -> None:
        if self.ended is None:
            self.ended = how
            self.duration = (time.monotonic() if now is None else now) - self.started

    def snapshot(self) -> ConnectionRecord:
        return copy.deepcopy(self)  # a caller changing its copy never changes the log

    def to_json(self) -> dict[str, object]:
        return {
            "proxy": self.proxy,
            "index": self.index,
            "client": self.client,
            "accepted_at": round(self.accepted_at, 6),
            "toxics": list(self.toxics),
            "events": self.events,
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
            "ended": self.ended,
            "duration_ms": None if self.duration is None else round(self.duration * 1000, 3),
        }

    def render(self) -> str:
        """Two or more lines for a failure report: the summary, then one line per event."""
        state = "open" if self.ended is None else self.ended
        lasted = "" if self.duration is None else f" after {self.duration * 1000:.1f}ms"
        toxics = ", ".join(self.toxics) or "none"
        head = (
            f"#{self.index} from {self.client}: toxics {toxics}; up {self.bytes_up}B, down "
            f"{self.bytes_down}B; {state}{lasted}"
        )
        return "\n".join([head, *(f"    {event}" for event in self.events)])


def render_connection_log(proxy: str, records: list[ConnectionRecord], limit: int = 20) -> str:
    """The last ``limit`` connections of a proxy, for a scenario's failure report."""
    if not records:
        return f"--- proxy {proxy} connections: none accepted ---"
    shown = records[-limit:]
    skipped = f" (the last {len(shown)} of {len(records)})" if len(shown) < len(records) else ""
    lines = [f"--- proxy {proxy} connections{skipped} ---"]
    lines += [f"  {line}" for record in shown for line in record.render().splitlines()]
    return "\n".join(lines)


__all__ = ["EVENTS_PER_CONNECTION", "LOG_SIZE", "ConnectionRecord", "render_connection_log"]
