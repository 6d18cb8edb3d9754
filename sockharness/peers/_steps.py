"""The steps a scripted peer performs on one connection: plain, validated, immutable data.

A script is a sequence of these; ``sockharness.peers._script`` executes them on a socket. Keeping them as data
(no behaviour, no I/O) lets the YAML layer build them, lets failure messages print them, and lets the same
script drive a server-side or a client-side connection.
"""

from __future__ import annotations

import dataclasses
import math
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "Close",
    "Drain",
    "Echo",
    "Expect",
    "Recv",
    "RecvEOF",
    "RecvSome",
    "RecvUntil",
    "Reset",
    "Send",
    "SendAll",
    "SetBuf",
    "Shutdown",
    "Sleep",
    "Stall",
    "Step",
    "TlsCloseNotify",
    "TlsHandshake",
    "show_bytes",
    "validate_script",
]

#: How many bytes of a payload a message shows: enough to recognise it, few enough that a 1 MiB ``Expect``
#: in a failure report stays one line instead of megabytes of text.
PREVIEW_BYTES = 80

_SHUT_NAMES = {"SHUT_RD": socket.SHUT_RD, "SHUT_WR": socket.SHUT_WR, "SHUT_RDWR": socket.SHUT_RDWR}


def _as_bytes(step: str, argument: str, value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        raise TypeError(
            f"{step}({argument}): expected bytes, got str {value[:40]!r}; "
            f"encode it, e.g. {value[:10]!r}.encode()"
        )
    raise TypeError(f"{step}({argument}): expected bytes, got {type(value).__name__}")


def show_bytes(data: bytes) -> str:
    """``repr(data)``, cut to ``PREVIEW_BYTES`` with the full size appended when longer."""
    text = repr(data[:PREVIEW_BYTES])
    return f"{text}... ({len(data)} bytes)" if len(data) > PREVIEW_BYTES else text


def _bounded_repr(step: object) -> str:
    """The dataclass repr, with every bytes field shown through ``show_bytes``."""
    shown = (
        f"{field.name}={show_bytes(value) if isinstance(value, bytes) else repr(value)}"
        for field in dataclasses.fields(step)  # type: ignore[arg-type]
        for value in (getattr(step, field.name),)
    )
    return f"{type(step).__name__}({', '.join(shown)})"


def _non_negative_int(step: str, argument: str, value: object, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{step}({argument}): expected an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{step}({argument}): must be >= {minimum}, got {value}")
    return value


def _duration(step: str, argument: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{step}({argument}): expected seconds as a number, got {value!r}")
    seconds = float(value)
    if math.isnan(seconds) or seconds < 0 or math.isinf(seconds):
        raise ValueError(f"{step}({argument}): must be a finite number of seconds >= 0, got {value!r}")
    return seconds


@dataclass(frozen=True)
class Recv:
    """Receive exactly ``n`` bytes (looping over recv); EOF before that fails the script."""

    n: int

    def __post_init__(self) -> None:
        _non_negative_int("Recv", "n", self.n)


@dataclass(frozen=True)
class RecvUntil:
    """Receive until ``delimiter`` has arrived (inclusive); bytes after it stay for the next step."""

    __repr__ = _bounded_repr

    delimiter: bytes
    max_bytes: int = 1 << 20
    """Fail instead of buffering forever when the delimiter never comes."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "delimiter", _as_bytes("RecvUntil", "delimiter", self.delimiter))
        if not self.delimiter:
            raise ValueError("RecvUntil(delimiter): must not be empty")
        _non_negative_int("RecvUntil", "max_bytes", self.max_bytes, minimum=1)


@dataclass(frozen=True)
class RecvSome:
    """One ``recv(bufsize)`` call, whatever it returns (the seed's servers read requests this way)."""

    bufsize: int = 1024

    def __post_init__(self) -> None:
        _non_negative_int("RecvSome", "bufsize", self.bufsize, minimum=1)


@dataclass(frozen=True)
class RecvEOF:
    """Receive (and record) until the other side's EOF."""


@dataclass(frozen=True)
class Expect:
    """Receive ``len(data)`` bytes and fail unless they equal ``data``."""

    __repr__ = _bounded_repr

    data: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _as_bytes("Expect", "data", self.data))


@dataclass(frozen=True)
class Send:
    """One ``send()`` call; the transcript records how many bytes the kernel took."""

    __repr__ = _bounded_repr

    data: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _as_bytes("Send", "data", self.data))


@dataclass(frozen=True)
class SendAll:
    """``sendall(data)``."""

    __repr__ = _bounded_repr

    data: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _as_bytes("SendAll", "data", self.data))


@dataclass(frozen=True)
class Sleep:
    """Do nothing for ``seconds`` (cut short when the peer is stopped)."""

    seconds: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "seconds", _duration("Sleep", "seconds", self.seconds))


@dataclass(frozen=True)
class Shutdown:
    """``shutdown(how)``; ``how`` is ``socket.SHUT_*`` or its name ("SHUT_WR")."""

    how: int

    def __post_init__(self) -> None:
        how: object = self.how
        if isinstance(how, str):
            if how not in _SHUT_NAMES:
                raise ValueError(f"Shutdown(how): expected one of {sorted(_SHUT_NAMES)}, got {how!r}")
            object.__setattr__(self, "how", _SHUT_NAMES[how])
        elif isinstance(how, bool) or not isinstance(how, int) or how not in _SHUT_NAMES.values():
            raise ValueError(f"Shutdown(how): expected socket.SHUT_RD, SHUT_WR or SHUT_RDWR, got {how!r}")

    @property
    def how_name(self) -> str:
        return next(name for name, value in _SHUT_NAMES.items() if value == self.how)


@dataclass(frozen=True)
class Close:
    """Close the connection (FIN, or RST if unread bytes remain: that is the kernel's rule)."""


@dataclass(frozen=True)
class Reset:
    """Abort the connection with RST: SO_LINGER on with a zero timeout, then close."""


@dataclass(frozen=True)
class Stall:
    """Neither read nor write but keep the connection open, for ``seconds`` or (None) until the peer stops."""

    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.seconds is not None:
            object.__setattr__(self, "seconds", _duration("Stall", "seconds", self.seconds))


@dataclass(frozen=True)
class SetBuf:
    """Set SO_RCVBUF / SO_SNDBUF on the connection (Linux doubles the value and clamps to a minimum)."""

    rcvbuf: int | None = None
    sndbuf: int | None = None

    def __post_init__(self) -> None:
        if self.rcvbuf is None and self.sndbuf is None:
            raise ValueError("SetBuf: give rcvbuf, sndbuf or both")
        for argument in ("rcvbuf", "sndbuf"):
            value = getattr(self, argument)
            if value is not None:
                _non_negative_int("SetBuf", argument, value, minimum=1)


@dataclass(frozen=True)
class Echo:
    """Send back everything received until EOF."""

    bufsize: int = 65536

    def __post_init__(self) -> None:
        _non_negative_int("Echo", "bufsize", self.bufsize, minimum=1)


@dataclass(frozen=True)
class Drain:
    """Read and discard until EOF (sizes are still recorded)."""

    bufsize: int = 65536

    def __post_init__(self) -> None:
        _non_negative_int("Drain", "bufsize", self.bufsize, minimum=1)


@dataclass(frozen=True)
class TlsHandshake:
    """Wrap the connection in TLS with the peer's ``tls`` options and complete the handshake.

    A TLS peer whose script has no TlsHandshake does it first, by itself; putting it later in the script
    runs the steps before it in plain text (a STARTTLS-style upgrade).
    """


@dataclass(frozen=True)
class TlsCloseNotify:
    """Send TLS close_notify, then close (without waiting for the other side's close_notify).

    The clean TLS close; a plain ``Close`` on a TLS connection is the ragged one (Python's ``close()``
    never sends close_notify), which a client with ``suppress_ragged_eofs=False`` sees as SSLEOFError.
    """


Step: TypeAlias = (
    Recv
    | RecvUntil
    | RecvSome
    | RecvEOF
    | Expect
    | Send
    | SendAll
    | Sleep
    | Shutdown
    | Close
    | Reset
    | Stall
    | SetBuf
    | Echo
    | Drain
    | TlsHandshake
    | TlsCloseNotify
)
_STEP_TYPES: tuple[type, ...] = (
    Recv, RecvUntil, RecvSome, RecvEOF, Expect, Send, SendAll, Sleep, Shutdown, Close, Reset, Stall, SetBuf,
    Echo, Drain, TlsHandshake, TlsCloseNotify,
)  # fmt: skip


def validate_script(script: Sequence[Step], *, argument: str = "script") -> tuple[Step, ...]:
    """Check that ``script`` is a sequence of steps with nothing after a Close/Reset; return it as a tuple."""
    if isinstance(script, str | bytes) or not isinstance(script, Sequence):
        raise TypeError(f"{argument}: expected a sequence of steps, got {type(script).__name__}")
    steps = tuple(script)
    for index, step in enumerate(steps):
        if not isinstance(step, _STEP_TYPES):
            raise TypeError(
                f"{argument}[{index}]: expected a step such as Recv(5) or SendAll(b'...'), got {step!r}"
                + (" (a step class; call it: Close())" if isinstance(step, type) else "")
            )
        if isinstance(step, Close | Reset | TlsCloseNotify) and index != len(steps) - 1:
            raise ValueError(
                f"{argument}[{index + 1}]: {steps[index + 1]!r} can never run, {step!r} ends the connection"
            )
    return steps
