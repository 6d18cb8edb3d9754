"""Peers a scenario declares (``peers:``) and the scripts of scripted peers.

Peers are a union keyed on ``kind``; a bare string is the shorthand for ``{kind: <string>}``. Toxics live
in :mod:`sockharness.scenario.model_toxics` (re-exported here for convenience).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    WrapValidator,
)

from sockharness.scenario.errors import describe_value, did_you_mean
from sockharness.scenario.model_toxics import TOXIC_TYPES, Toxic, ToxicBase, by_field, field_tag
from sockharness.scenario.model_types import (
    Address,
    Count,
    Duration,
    PositiveCount,
    Size,
    StrictModel,
    fail,
    parsed_by,
    socket_constant,
)
from sockharness.scenario.model_values import Payload, keyed_union

__all__ = [
    "PEER_KINDS",
    "SCRIPT_STEP_NAMES",
    "TOXIC_TYPES",
    "Peer",
    "PeerBase",
    "ProxyPeer",
    "ScriptStep",
    "Toxic",
    "ToxicBase",
]


# --- scripts of tcp_server / tcp_client ---------------------------------------------------------------


class ScriptStepBase(StrictModel):
    """One step of a peer script: a one-key mapping (``recv: 5``) or a bare word (``close``)."""

    what: ClassVar[str] = "a script step"

    @property
    def name(self) -> str:
        """The step's key (``"recv"``, ``"close"``...)."""
        return next(iter(type(self).model_fields))

    @property
    def argument(self) -> Any:
        """The step's value (a size, payload, duration, constant name, or None)."""
        return getattr(self, self.name)


class RecvScript(ScriptStepBase):
    recv: Size


class RecvUntilScript(ScriptStepBase):
    recv_until: Payload


class RecvEofScript(ScriptStepBase):
    recv_eof: None = None


class ExpectScript(ScriptStepBase):
    expect: Payload


class SendScript(ScriptStepBase):
    send: Payload


class SendallScript(ScriptStepBase):
    sendall: Payload


class SleepScript(ScriptStepBase):
    sleep: Duration


class ShutdownScript(ScriptStepBase):
    shutdown: socket_constant("SHUT_")  # type: ignore[valid-type]


class CloseScript(ScriptStepBase):
    close: None = None


class ResetScript(ScriptStepBase):
    reset: None = None


class StallScript(ScriptStepBase):
    stall: Duration | None = None


class SetRcvbufScript(ScriptStepBase):
    set_rcvbuf: Size


class SetSndbufScript(ScriptStepBase):
    set_sndbuf: Size


class EchoScript(ScriptStepBase):
    echo: None = None


class DrainScript(ScriptStepBase):
    drain: None = None


_SCRIPT_CLASSES: Final[tuple[type[ScriptStepBase], ...]] = (
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
)
SCRIPT_STEP_NAMES: Final = tuple(next(iter(cls.model_fields)) for cls in _SCRIPT_CLASSES)
#: Script steps that may be written as a bare word (they take no argument or an optional one).
SCRIPT_BARE_WORDS: Final = ("recv_eof", "close", "reset", "stall", "echo", "drain")
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


_ScriptUnion = Annotated[
    Annotated[RecvScript, Tag("§recv")]
    | Annotated[RecvUntilScript, Tag("§recv_until")]
    | Annotated[RecvEofScript, Tag("§recv_eof")]
    | Annotated[ExpectScript, Tag("§expect")]
    | Annotated[SendScript, Tag("§send")]
    | Annotated[SendallScript, Tag("§sendall")]
    | Annotated[SleepScript, Tag("§sleep")]
    | Annotated[ShutdownScript, Tag("§shutdown")]
    | Annotated[CloseScript, Tag("§close")]
    | Annotated[ResetScript, Tag("§reset")]
    | Annotated[StallScript, Tag("§stall")]
    | Annotated[SetRcvbufScript, Tag("§set_rcvbuf")]
    | Annotated[SetSndbufScript, Tag("§set_sndbuf")]
    | Annotated[EchoScript, Tag("§echo")]
    | Annotated[DrainScript, Tag("§drain")],
    Discriminator(_script_tag),
    WrapValidator(keyed_union(_SCRIPT_FORMS, _SCRIPT_WHAT)),
]
ScriptStep = Annotated[
    _ScriptUnion,
    BeforeValidator(
        _script_bare_word,
        json_schema_input_type=Literal["recv_eof", "close", "reset", "stall", "echo", "drain"] | _ScriptUnion,
    ),
]


# --- peers -----------------------------------------------------------------------------------------


_LOOPBACK_PATTERN: Final = r"^(localhost|127(\.[0-9]{1,3}){3}|::1)$"
_LOOPBACK_RE: Final = re.compile(_LOOPBACK_PATTERN)


def _check_loopback_host(value: Any) -> str:
    loopback = isinstance(value, str) and _LOOPBACK_RE.match(value) is not None
    if loopback and value != "localhost":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            loopback = False
    if not loopback:
        raise ValueError(
            f'peers listen on loopback only: expected "127.0.0.1" or "::1", got {describe_value(value)}'
        )
    return str(value)


LoopbackHost = Annotated[
    str,
    parsed_by(_check_loopback_host),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _LOOPBACK_PATTERN,
            "description": 'a loopback host: "127.0.0.1", "::1" or "localhost"',
        }
    ),
]


class PeerBase(StrictModel):
    """Fields every peer has: ``kind`` and the loopback ``host`` it binds (port is always 0)."""

    what: ClassVar[str] = "a peer mapping {kind: ...} or a peer kind"
    kind: str
    host: LoopbackHost = "127.0.0.1"


class EchoPeer(PeerBase):
    kind: Literal["echo"]


class DiscardPeer(PeerBase):
    kind: Literal["discard"]


class SilentPeer(PeerBase):
    kind: Literal["silent"]
    rcvbuf: Size | None = None
    sndbuf: Size | None = None


class ReplyPeer(PeerBase):
    kind: Literal["reply"]
    reply: Payload
    read: Size = 1024


class HttpHelloPeer(PeerBase):
    kind: Literal["http_hello"]


class ClosedPortPeer(PeerBase):
    kind: Literal["closed_port"]


class FullBacklogPeer(PeerBase):
    kind: Literal["full_backlog"]
    backlog: Count = 1


class UdpEchoPeer(PeerBase):
    kind: Literal["udp_echo"]


class UdpClosedPortPeer(PeerBase):
    kind: Literal["udp_closed_port"]


class TcpServerPeer(PeerBase):
    kind: Literal["tcp_server"]
    backlog: Count = 5
    rcvbuf: Size | None = None
    sndbuf: Size | None = None
    max_connections: PositiveCount | None = None
    script: list[ScriptStep] = Field(default_factory=list)


class TcpClientPeer(PeerBase):
    kind: Literal["tcp_client"]
    target: Address
    connect_timeout: Duration = 5.0
    rcvbuf: Size | None = None
    sndbuf: Size | None = None
    script: list[ScriptStep] = Field(default_factory=list)


class ProxyPeer(PeerBase):
    kind: Literal["proxy"]
    upstream: Address
    backend: Literal["embedded", "toxiproxy"] = "embedded"
    toxics: list[Toxic] = Field(default_factory=list)


class ExternalPeer(PeerBase):
    kind: Literal["external"]
    address: Address
    argv: Annotated[list[str], Field(min_length=1)]
    ready_timeout: Duration = 10.0
    env: dict[str, str] = Field(default_factory=dict)


_PEER_CLASSES: Final[tuple[type[PeerBase], ...]] = (
    EchoPeer,
    DiscardPeer,
    SilentPeer,
    ReplyPeer,
    HttpHelloPeer,
    ClosedPortPeer,
    FullBacklogPeer,
    UdpEchoPeer,
    UdpClosedPortPeer,
    TcpServerPeer,
    TcpClientPeer,
    ProxyPeer,
    ExternalPeer,
)
PEER_KINDS: Final = (
    "echo",
    "discard",
    "silent",
    "reply",
    "http_hello",
    "closed_port",
    "full_backlog",
    "udp_echo",
    "udp_closed_port",
    "tcp_server",
    "tcp_client",
    "proxy",
    "external",
)


def _peer_shorthand(value: Any) -> Any:
    return {"kind": value} if isinstance(value, str) else value


_PeerUnion = Annotated[
    Annotated[EchoPeer, Tag("§echo")]
    | Annotated[DiscardPeer, Tag("§discard")]
    | Annotated[SilentPeer, Tag("§silent")]
    | Annotated[ReplyPeer, Tag("§reply")]
    | Annotated[HttpHelloPeer, Tag("§http_hello")]
    | Annotated[ClosedPortPeer, Tag("§closed_port")]
    | Annotated[FullBacklogPeer, Tag("§full_backlog")]
    | Annotated[UdpEchoPeer, Tag("§udp_echo")]
    | Annotated[UdpClosedPortPeer, Tag("§udp_closed_port")]
    | Annotated[TcpServerPeer, Tag("§tcp_server")]
    | Annotated[TcpClientPeer, Tag("§tcp_client")]
    | Annotated[ProxyPeer, Tag("§proxy")]
    | Annotated[ExternalPeer, Tag("§external")],
    Discriminator(field_tag("kind", PEER_KINDS)),
    WrapValidator(by_field("kind", PEER_KINDS, "peer")),
]
#: A declared peer: ``echo`` or ``{kind: echo, host: "::1"}``.
Peer = Annotated[
    _PeerUnion,
    BeforeValidator(
        _peer_shorthand,
        json_schema_input_type=Literal[
            "echo",
            "discard",
            "silent",
            "http_hello",
            "closed_port",
            "full_backlog",
            "udp_echo",
            "udp_closed_port",
        ]
        | _PeerUnion,
    ),
]


def peer_classes() -> Mapping[str, type[PeerBase]]:
    """Kind name -> model class (for tools that list what a kind accepts)."""
    return dict(zip(PEER_KINDS, _PEER_CLASSES, strict=True))
