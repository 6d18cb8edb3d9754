"""The registry of peer-script steps: one class per step owns its YAML shape, summary and the step it builds.

A scripted peer's ``script:`` is a list of one-key mappings (``recv: 5``) or bare words (``close``). Each
entry below is a frozen model whose single field is the YAML key; its ``build`` turns the validated value
into the :mod:`sockharness.peers._steps` dataclass the peer runs. The pydantic union, the bare-word list, the
JSON Schema, the runner's conversion and the docs table all iterate :data:`SCRIPT_STEPS`, so a new step is
one class here (plus its dataclass in ``peers/_steps.py`` and a scenario using it).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal

from pydantic import BeforeValidator, Discriminator, Tag, WrapValidator

from sockharness import peers
from sockharness.scenario._language.errors import did_you_mean
from sockharness.scenario._language.model_types import Duration, Size, StrictModel, fail, socket_constant
from sockharness.scenario._language.model_values import Payload, keyed_union

__all__ = [
    "SCRIPT_BARE_WORDS",
    "SCRIPT_STEPS",
    "SCRIPT_STEP_NAMES",
    "PayloadResolver",
    "ScriptStep",
    "ScriptStepBase",
    "script_steps",
    "script_steps_table",
]

#: Turns a YAML payload (text, hex, size, faker...) into bytes; the run's resolver owns the seed.
PayloadResolver = Callable[[Any], bytes]


class ScriptStepBase(StrictModel):
    """One step of a peer script: a one-key mapping (``recv: 5``) or a bare word (``close``)."""

    what: ClassVar[str] = "a script step"
    #: One line for the docs table.
    summary: ClassVar[str] = ""
    #: May be written as a bare word (the step takes no argument or an optional one).
    bare_word: ClassVar[bool] = False
    #: The :mod:`sockharness.peers._steps` dataclass ``build`` returns (shown in the docs, checked by a test).
    builds: ClassVar[type]

    @classmethod
    def key(cls) -> str:
        """The YAML key of this step (its only field)."""
        return next(iter(cls.model_fields))

    @property
    def name(self) -> str:
        """The step's key (``"recv"``, ``"close"``...)."""
        return self.key()

    @property
    def argument(self) -> Any:
        """The step's value (a size, payload, duration, constant name, or None)."""
        return getattr(self, self.name)

    def build(self, payload: PayloadResolver) -> peers.Step:
        """The peer-layer step this YAML step means."""
        raise NotImplementedError


class RecvScript(ScriptStepBase):
    summary: ClassVar[str] = "receive exactly N bytes (EOF before that fails the script)"
    builds: ClassVar[type] = peers.Recv
    recv: Size

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.Recv(self.recv)


class RecvUntilScript(ScriptStepBase):
    summary: ClassVar[str] = "receive until the delimiter has arrived (inclusive)"
    builds: ClassVar[type] = peers.RecvUntil
    recv_until: Payload

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.RecvUntil(payload(self.recv_until))


class RecvEofScript(ScriptStepBase):
    summary: ClassVar[str] = "receive (and record) until the other side's EOF"
    builds: ClassVar[type] = peers.RecvEOF
    bare_word: ClassVar[bool] = True
    recv_eof: None = None

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.RecvEOF()


class ExpectScript(ScriptStepBase):
    summary: ClassVar[str] = "receive len(payload) bytes and fail unless they are the payload"
    builds: ClassVar[type] = peers.Expect
    expect: Payload

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.Expect(payload(self.expect))


class SendScript(ScriptStepBase):
    summary: ClassVar[str] = "one send() call; the transcript records what the kernel took"
    builds: ClassVar[type] = peers.Send
    send: Payload

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.Send(payload(self.send))


class SendallScript(ScriptStepBase):
    summary: ClassVar[str] = "sendall(payload)"
    builds: ClassVar[type] = peers.SendAll
    sendall: Payload

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.SendAll(payload(self.sendall))


class SleepScript(ScriptStepBase):
    summary: ClassVar[str] = "do nothing for a duration (cut short when the peer stops)"
    builds: ClassVar[type] = peers.Sleep
    sleep: Duration

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.Sleep(self.sleep)


class ShutdownScript(ScriptStepBase):
    summary: ClassVar[str] = "shutdown(SHUT_RD, SHUT_WR or SHUT_RDWR)"
    builds: ClassVar[type] = peers.Shutdown
    shutdown: socket_constant("SHUT_")  # type: ignore[valid-type]

    def build(self, payload: PayloadResolver) -> peers.Step:
        value = self.shutdown
        return peers.Shutdown(int(getattr(socket, value)) if isinstance(value, str) else int(value))


class CloseScript(ScriptStepBase):
    summary: ClassVar[str] = "close the connection (FIN; RST if unread bytes remain)"
    builds: ClassVar[type] = peers.Close
    bare_word: ClassVar[bool] = True
    close: None = None

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.Close()


class ResetScript(ScriptStepBase):
    summary: ClassVar[str] = "abort the connection with RST (SO_LINGER 0, then close)"
    builds: ClassVar[type] = peers.Reset
    bare_word: ClassVar[bool] = True
    reset: None = None

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.Reset()


class StallScript(ScriptStepBase):
    summary: ClassVar[str] = "neither read nor write, for a duration or (bare) until the peer stops"
    builds: ClassVar[type] = peers.Stall
    bare_word: ClassVar[bool] = True
    stall: Duration | None = None

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.Stall(self.stall)


class SetRcvbufScript(ScriptStepBase):
    summary: ClassVar[str] = "set SO_RCVBUF on the connection"
    builds: ClassVar[type] = peers.SetBuf
    set_rcvbuf: Size

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.SetBuf(rcvbuf=self.set_rcvbuf)


class SetSndbufScript(ScriptStepBase):
    summary: ClassVar[str] = "set SO_SNDBUF on the connection"
    builds: ClassVar[type] = peers.SetBuf
    set_sndbuf: Size

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.SetBuf(sndbuf=self.set_sndbuf)


class EchoScript(ScriptStepBase):
    summary: ClassVar[str] = "send back everything received until EOF"
    builds: ClassVar[type] = peers.Echo
    bare_word: ClassVar[bool] = True
    echo: None = None

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.Echo()


class DrainScript(ScriptStepBase):
    summary: ClassVar[str] = "read and discard until EOF"
    builds: ClassVar[type] = peers.Drain
    bare_word: ClassVar[bool] = True
    drain: None = None

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.Drain()


class TlsHandshakeScript(ScriptStepBase):
    summary: ClassVar[str] = (
        "wrap the connection in TLS (the peer's `tls:`) and handshake; a TLS peer does it first by itself "
        "unless the script places it (steps before it run in plain text: STARTTLS)"
    )
    builds: ClassVar[type] = peers.TlsHandshake
    bare_word: ClassVar[bool] = True
    tls_handshake: None = None

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.TlsHandshake()


class TlsCloseNotifyScript(ScriptStepBase):
    summary: ClassVar[str] = (
        "send TLS close_notify, then close (the clean TLS close; `close` on TLS is the ragged one)"
    )
    builds: ClassVar[type] = peers.TlsCloseNotify
    bare_word: ClassVar[bool] = True
    tls_close_notify: None = None

    def build(self, payload: PayloadResolver) -> peers.Step:
        return peers.TlsCloseNotify()


#: The registry, in documentation order.
SCRIPT_STEPS: Final[tuple[type[ScriptStepBase], ...]] = (
    RecvScript,
    RecvUntilScript,
    RecvEofScript,
    ExpectScript,
    SendScript,
    SendallScript,
    SleepScript,
    ShutdownScript,
    CloseScript,
    ResetScript,
    StallScript,
    SetRcvbufScript,
    SetSndbufScript,
    EchoScript,
    DrainScript,
    TlsHandshakeScript,
    TlsCloseNotifyScript,
)
SCRIPT_STEP_NAMES: Final = tuple(cls.key() for cls in SCRIPT_STEPS)
#: Script steps that may be written as a bare word (they take no argument or an optional one).
SCRIPT_BARE_WORDS: Final = tuple(cls.key() for cls in SCRIPT_STEPS if cls.bare_word)
_SCRIPT_FORMS: Final = {name: f"§{name}" for name in SCRIPT_STEP_NAMES}
_SCRIPT_WHAT: Final = f"a script step ({', '.join(SCRIPT_STEP_NAMES)})"


def _script_bare_word(value: Any) -> Any:
    if isinstance(value, str):
        if value in SCRIPT_BARE_WORDS:
            return {value: None}
        if value in SCRIPT_STEP_NAMES:
            raise fail(f"script step {value!r} needs a value ({value}: ...)")
        raise fail(f"unknown script step {value!r}{did_you_mean(value, SCRIPT_STEP_NAMES)}")
    return value


def _script_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((_SCRIPT_FORMS[key] for key in value if key in _SCRIPT_FORMS), None)
    if isinstance(value, ScriptStepBase):
        return _SCRIPT_FORMS[value.name]
    return None


if TYPE_CHECKING:
    ScriptStep = ScriptStepBase
else:
    _ScriptUnion = Annotated[
        reduce(or_, (Annotated[cls, Tag(_SCRIPT_FORMS[cls.key()])] for cls in SCRIPT_STEPS)),
        Discriminator(_script_tag),
        WrapValidator(keyed_union(_SCRIPT_FORMS, _SCRIPT_WHAT)),
    ]
    #: One step of a ``script:`` list, built from :data:`SCRIPT_STEPS`.
    ScriptStep = Annotated[
        _ScriptUnion,
        BeforeValidator(_script_bare_word, json_schema_input_type=Literal[SCRIPT_BARE_WORDS] | _ScriptUnion),
    ]


def script_steps(script: Sequence[ScriptStepBase], payload: PayloadResolver) -> list[peers.Step]:
    """The peer-layer steps for a scripted peer's ``script:`` list."""
    return [step.build(payload) for step in script]


def _yaml_form(cls: type[ScriptStepBase]) -> str:
    key = cls.key()
    field = cls.model_fields[key]
    if field.is_required():
        return f"`{key}: ...`"
    return (
        f"`{key}`" if field.default is None and field.annotation is type(None) else f"`{key}` or `{key}: ...`"
    )


def script_steps_table() -> str:
    """The reference table of script steps (markdown), generated from the registry."""
    rows = ["| step | YAML | builds | what it does |", "|---|---|---|---|"]
    for cls in SCRIPT_STEPS:
        summary = cls.summary.replace("|", "\\|")
        rows.append(f"| `{cls.key()}` | {_yaml_form(cls)} | `{cls.builds.__name__}` | {summary} |")
    return "\n".join(rows) + "\n"
