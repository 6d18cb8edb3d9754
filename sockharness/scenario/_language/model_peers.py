"""The registry of peer kinds a scenario declares (``peers:``): one class per kind owns everything about it.

A kind's class holds its YAML model (its fields), the addresses it points at (``address_fields``: a
proxy's ``upstream``, a client's ``target`` — used for start ordering and by the reference checker), its
traits (transport, listens, scripted, waits, speaks HTTP, bare-word shorthand), its one-line summary for the
docs, and ``start`` (how it starts, given the run's :class:`~sockharness.scenario._run.peer_run.PeerRun`).
The pydantic union, ``PEER_KINDS``, the JSON Schema, the runner, the reference checker and the docs table
iterate :data:`PEER_KIND_CLASSES`: a new kind is one class here (plus its peer in ``sockharness.peers``).

Peers are a union keyed on ``kind``; a bare string is the shorthand for ``{kind: <string>}``. Script steps
live in the sibling ``script_steps`` module, toxics in ``model_toxics`` (both
re-exported here for the modules that import them from this one).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)

from sockharness import peers
from sockharness.peers._addresses import format_address, is_loopback
from sockharness.peers._dns import DnsTableError, dns_name, dns_table
from sockharness.scenario._language.errors import KeyPath, describe_value
from sockharness.scenario._language.model_tls import Tls, tls_role_problems
from sockharness.scenario._language.model_toxics import TOXIC_TYPES, Toxic, ToxicBase, by_field, field_tag
from sockharness.scenario._language.model_types import (
    Address,
    AddressSpec,
    Count,
    Duration,
    PositiveCount,
    Size,
    StrictModel,
    fail,
    parsed_by,
)
from sockharness.scenario._language.model_udp import DnsModeName, datagram_problems
from sockharness.scenario._language.model_values import Payload
from sockharness.scenario._language.script_steps import (
    SCRIPT_BARE_WORDS,
    SCRIPT_STEP_NAMES,
    SCRIPT_STEPS,
    ScriptStep,
    ScriptStepBase,
    script_steps,
    script_steps_table,
)

if TYPE_CHECKING:
    from sockharness.scenario._run.peer_run import PeerRun

__all__ = [
    "PEER_KINDS",
    "PEER_KIND_CLASSES",
    "SCRIPT_BARE_WORDS",
    "SCRIPT_STEPS",
    "SCRIPT_STEP_NAMES",
    "TOXIC_TYPES",
    "ExternalPeer",
    "KindProblem",
    "Peer",
    "PeerBase",
    "ProxyPeer",
    "ScriptStep",
    "ScriptStepBase",
    "TcpClientPeer",
    "TcpServerPeer",
    "Toxic",
    "ToxicBase",
    "peer_classes",
    "peer_kinds_table",
    "script_steps",
    "script_steps_table",
]

#: A kind's own problem in a declaration: (key path below the peer, sentence, point at the key).
KindProblem = tuple[KeyPath, str, bool]


# --- the base of every kind ------------------------------------------------------------------------------


_LOOPBACK_PATTERN: Final = r"^(localhost|127(\.[0-9]{1,3}){3}|::1)$"
_LOOPBACK_RE: Final = re.compile(_LOOPBACK_PATTERN)


def _check_loopback_host(value: Any) -> str:
    if not (isinstance(value, str) and _LOOPBACK_RE.match(value) is not None and is_loopback(value)):
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
    #: One line for the docs table.
    summary: ClassVar[str] = ""
    #: "tcp" or "udp": what a client speaks to it.
    transport: ClassVar[Literal["tcp", "udp"]] = "tcp"
    #: Something answers at its address (False: an address where nothing does, or a client).
    listens: ClassVar[bool] = True
    #: Runs a ``script:`` of steps.
    scripted: ClassVar[bool] = False
    #: ``peer: {name, action: wait}`` waits for its connections' scripts to finish (they end by themselves).
    waits: ClassVar[bool] = False
    #: Speaks HTTP (has a ``url``).
    speaks_http: ClassVar[bool] = False
    #: May be written as a bare word (``- echo``): every key has a default.
    bare_word: ClassVar[bool] = False
    #: Fields holding an address the peer points at: started first, checked by the reference checker.
    address_fields: ClassVar[tuple[str, ...]] = ()

    kind: str
    host: LoopbackHost = "127.0.0.1"

    @classmethod
    def kind_name(cls) -> str:
        """The ``kind:`` value of this class (from its ``Literal`` annotation)."""
        annotation = cls.model_fields["kind"].annotation
        name: str = annotation.__args__[0]  # type: ignore[union-attr]
        return name

    def references(self) -> Iterator[tuple[str, AddressSpec]]:
        """(field, address) for every address this peer points at."""
        for field_name in self.address_fields:
            yield field_name, getattr(self, field_name)

    def kind_problems(self) -> Iterator[KindProblem]:
        """Problems only this kind can see in a whole declaration (the reference checker reports them)."""
        tls = getattr(self, "tls", None)
        if tls is not None:
            yield from tls_role_problems(tls, client=not self.listens)

    @model_validator(mode="before")
    @classmethod
    def _tls_only_on_tcp_kinds(cls, data: object) -> object:
        """``tls:`` on a kind that cannot speak it says so, instead of a bare "unknown key"."""
        if isinstance(data, dict) and "tls" in data and "tls" not in cls.model_fields:
            speakers = ", ".join(k.kind_name() for k in PEER_KIND_CLASSES if "tls" in k.model_fields)
            raise fail(
                f"peer kind {cls.kind_name()!r} ({cls.transport}) cannot speak TLS; "
                f"the kinds with a tls: option are {speakers}",
                subpath=["tls"],
                at_key=True,
            )
        return data

    def _tls(self, run: PeerRun) -> dict[str, Any]:
        """``{"tls": TLSOptions}`` for a peer declared with ``tls:``, else nothing."""
        tls = getattr(self, "tls", None)
        return {} if tls is None else {"tls": tls.options(run.payload)}

    def start(self, run: PeerRun, name: str) -> Any:
        """Create and start this peer in ``run``; its cleanup is registered with the run's context."""
        raise NotImplementedError

    def _common(self, run: PeerRun, name: str) -> dict[str, Any]:
        return {"host": self.host, "name": name, "registry": run.ctx.registry}


# --- built-in servers ------------------------------------------------------------------------------------


class EchoPeer(PeerBase):
    summary: ClassVar[str] = "the HOWTO's echo server: recv(1024)/sendall until EOF, any number of clients"
    waits: ClassVar[bool] = True
    bare_word: ClassVar[bool] = True
    kind: Literal["echo"]
    tls: Tls | None = None

    def start(self, run: PeerRun, name: str) -> Any:
        return run.start(name, peers.EchoServer(**self._common(run, name), **self._tls(run)))


class DiscardPeer(PeerBase):
    summary: ClassVar[str] = "reads and discards until EOF"
    waits: ClassVar[bool] = True
    bare_word: ClassVar[bool] = True
    kind: Literal["discard"]
    tls: Tls | None = None

    def start(self, run: PeerRun, name: str) -> Any:
        return run.start(name, peers.DiscardServer(**self._common(run, name), **self._tls(run)))


class SilentPeer(PeerBase):
    summary: ClassVar[str] = "accepts, never reads or writes (optional small buffers to fill them fast)"
    bare_word: ClassVar[bool] = True
    kind: Literal["silent"]
    rcvbuf: Size | None = None
    sndbuf: Size | None = None
    tls: Tls | None = None

    def start(self, run: PeerRun, name: str) -> Any:
        server = peers.SilentServer(
            rcvbuf=self.rcvbuf, sndbuf=self.sndbuf, **self._common(run, name), **self._tls(run)
        )
        return run.start(name, server)


class ReplyPeer(PeerBase):
    summary: ClassVar[str] = "one recv(read), sends the reply, closes"
    waits: ClassVar[bool] = True
    kind: Literal["reply"]
    reply: Payload
    read: Size = 1024
    tls: Tls | None = None

    def start(self, run: PeerRun, name: str) -> Any:
        server = peers.ReplyServer(
            run.payload(self.reply), self.read, **self._common(run, name), **self._tls(run)
        )
        return run.start(name, server)


class HttpHelloPeer(PeerBase):
    summary: ClassVar[str] = 'the seed\'s HTTP server: one recv(1024), "200 OK" and "Hello, World", close'
    waits: ClassVar[bool] = True
    bare_word: ClassVar[bool] = True
    speaks_http: ClassVar[bool] = True
    kind: Literal["http_hello"]
    tls: Tls | None = None

    def start(self, run: PeerRun, name: str) -> Any:
        return run.start(name, peers.HTTPHelloServer(**self._common(run, name), **self._tls(run)))


class ClosedPortPeer(PeerBase):
    summary: ClassVar[str] = "a TCP address where nothing listens (a bound socket holds it): refused"
    bare_word: ClassVar[bool] = True
    listens: ClassVar[bool] = False
    kind: Literal["closed_port"]

    def start(self, run: PeerRun, name: str) -> Any:
        return run.start(name, peers.ClosedPort(**self._common(run, name)))


class FullBacklogPeer(PeerBase):
    summary: ClassVar[str] = "a listener that never accepts, its queue verified full: the next connect stalls"
    bare_word: ClassVar[bool] = True
    kind: Literal["full_backlog"]
    backlog: Count = 1

    def start(self, run: PeerRun, name: str) -> Any:
        return run.start(name, peers.FullBacklog(self.backlog, **self._common(run, name)))


class UdpEchoPeer(PeerBase):
    summary: ClassVar[str] = "a UDP echo server"
    bare_word: ClassVar[bool] = True
    transport: ClassVar[Literal["tcp", "udp"]] = "udp"
    kind: Literal["udp_echo"]

    def start(self, run: PeerRun, name: str) -> Any:
        return run.start(name, peers.UDPEcho(**self._common(run, name)))


class UdpClosedPortPeer(PeerBase):
    summary: ClassVar[str] = "a UDP address where nothing receives (datagrams draw ICMP port unreachable)"
    bare_word: ClassVar[bool] = True
    transport: ClassVar[Literal["tcp", "udp"]] = "udp"
    listens: ClassVar[bool] = False
    kind: Literal["udp_closed_port"]

    def start(self, run: PeerRun, name: str) -> Any:
        return run.start(name, peers.UDPClosedPort(**self._common(run, name)))


class DnsPeer(PeerBase):
    summary: ClassVar[str] = (
        "a DNS server (UDP and TCP) answering A/AAAA from `table`, or failing on purpose: `mode`/`modes` "
        "nxdomain, servfail, refused, empty, truncate, late, drop; `system_resolver: true` makes "
        "getaddrinfo ask it (netns mode)"
    )
    transport: ClassVar[Literal["tcp", "udp"]] = "udp"
    kind: Literal["dns"]
    table: dict[str, str | list[str]] = Field(default_factory=dict)
    mode: DnsModeName = "answer"
    modes: dict[str, DnsModeName] = Field(default_factory=dict)
    delay: Duration = 2.0
    #: netns mode: listen on port 53 and point /etc/resolv.conf (in the private mount namespace) at it.
    system_resolver: bool = False

    @model_validator(mode="after")
    def _valid_table(self) -> DnsPeer:
        try:
            dns_table(self.table)
        except DnsTableError as error:
            raise fail(str(error), subpath=["table"]) from None
        for name in self.modes:
            try:
                dns_name(name, "modes")
            except DnsTableError as error:
                raise fail(str(error), subpath=["modes"]) from None
        return self

    def start(self, run: PeerRun, name: str) -> Any:
        common = self._common(run, name)
        if self.system_resolver:
            from sockharness.netns import NetnsUnavailable, resolver_problem, system_resolver

            problem = resolver_problem()
            if problem is not None:
                raise NetnsUnavailable(f"dns peer {name!r}: {problem}")
        peer = peers.DNSServer(
            self.table,
            mode=self.mode,
            modes=self.modes,
            delay=self.delay,
            port=53 if self.system_resolver else 0,
            **common,
        )
        started = run.start(name, peer)
        if self.system_resolver:
            stack = contextlib.ExitStack()
            stack.enter_context(system_resolver(self.host))
            run.ctx.on_close(f"system resolver of {name!r}", stack.close)
        return started


# --- scripted peers --------------------------------------------------------------------------------------

_TOLERATE_DOC: Final = (
    "a reset, broken pipe or early EOF ends a connection's script quietly instead of failing the peer; "
    "not needed behind a proxy peer of this scenario, whose faults (reset_peer, timeout, limit_data, "
    "down) make the peers at its ends tolerate them by themselves"
)


class TcpServerPeer(PeerBase):
    summary: ClassVar[str] = "runs its script on every accepted connection"
    scripted: ClassVar[bool] = True
    waits: ClassVar[bool] = True
    kind: Literal["tcp_server"]
    backlog: Count = 5
    rcvbuf: Size | None = None
    sndbuf: Size | None = None
    max_connections: PositiveCount | None = None
    tolerate_disconnects: Annotated[bool, Field(description=_TOLERATE_DOC)] = False
    script: list[ScriptStep] = Field(default_factory=list)
    tls: Tls | None = None

    def start(self, run: PeerRun, name: str) -> Any:
        server = peers.ScriptedTCPServer(
            script_steps(self.script, run.payload),
            backlog=self.backlog,
            rcvbuf=self.rcvbuf,
            sndbuf=self.sndbuf,
            max_connections=self.max_connections,
            tolerate_disconnects=self.tolerate_disconnects,
            **self._common(run, name),
            **self._tls(run),
        )
        return run.start(name, server)


class TcpClientPeer(PeerBase):
    summary: ClassVar[str] = "connects to target and runs its script"
    listens: ClassVar[bool] = False
    scripted: ClassVar[bool] = True
    waits: ClassVar[bool] = True
    address_fields: ClassVar[tuple[str, ...]] = ("target",)
    kind: Literal["tcp_client"]
    target: Address
    connect_timeout: Duration = 5.0
    rcvbuf: Size | None = None
    sndbuf: Size | None = None
    tolerate_disconnects: Annotated[bool, Field(description=_TOLERATE_DOC)] = False
    script: list[ScriptStep] = Field(default_factory=list)
    tls: Tls | None = None

    def start(self, run: PeerRun, name: str) -> Any:
        client = peers.ScriptedTCPClient(
            run.address(self.target, name),
            script_steps(self.script, run.payload),
            connect_timeout=self.connect_timeout,
            rcvbuf=self.rcvbuf,
            sndbuf=self.sndbuf,
            tolerate_disconnects=self.tolerate_disconnects,
            name=name,
            registry=run.ctx.registry,
            **self._tls(run),
        )
        run.ctx.injected.follow(client)  # aimed at a proxy already faulted: it tolerates that fault too
        return run.start(name, client)


# --- proxies and external programs -----------------------------------------------------------------------


class ProxyPeer(PeerBase):
    summary: ClassVar[str] = "a fault proxy in front of upstream, with toxics from the start"
    address_fields: ClassVar[tuple[str, ...]] = ("upstream",)
    kind: Literal["proxy"]
    upstream: Address
    backend: Literal["embedded", "toxiproxy"] = "embedded"
    toxics: list[Toxic] = Field(default_factory=list)
    #: "udp": a UDP proxy (embedded backend) that carries the udp_* datagram toxics.
    protocol: Literal["tcp", "udp"] = "tcp"

    def kind_problems(self) -> Iterator[KindProblem]:
        for index, toxic in enumerate(self.toxics):
            if toxic.proxy is not None:
                yield ("toxics", index, "proxy"), "a proxy peer's toxics apply to it: drop proxy", True
        toxics = [(toxic.type, toxic.targeted) for toxic in self.toxics]
        yield from datagram_problems(self.protocol, self.backend, toxics)

    def start(self, run: PeerRun, name: str) -> Any:
        chosen = self.backend if "backend" in self.model_fields_set else run.ctx.options.backend
        upstream = run.address(self.upstream, name)
        listen = format_address((self.host, 0))
        proxy = run.backend(chosen).create_proxy(
            (str(upstream[0]), int(upstream[1])), name=name, listen=listen, protocol=self.protocol
        )
        run.ctx.on_close(f"proxy {name!r}", proxy.close)
        for toxic in self.toxics:
            run.ctx.before_fault(proxy, toxic.type)
            proxy.add_toxic(
                toxic.type,
                name=toxic.name,
                stream=toxic.stream,
                toxicity=toxic.toxicity,
                target=toxic.target_values(),
                **toxic.attribute_values(),
            )
        run.ctx.proxies[name] = proxy
        return proxy


_EXTERNAL_LOOPBACK: Final = (
    "the address an external program listens on must be loopback (127.0.0.1, ::1, localhost) unless "
    "allow_non_loopback: true says on purpose that it may listen beyond this machine"
)


class ExternalPeer(PeerBase):
    summary: ClassVar[str] = (
        "a program started from argv ({host}, {port}, {python}) and ready once it accepts"
    )
    kind: Literal["external"]
    address: Address
    argv: Annotated[list[str], Field(min_length=1)]
    ready_timeout: Duration = 10.0
    env: dict[str, str] = Field(default_factory=dict)
    allow_non_loopback: Annotated[bool, Field(description=_EXTERNAL_LOOPBACK)] = False

    @model_validator(mode="after")
    def _loopback_only(self) -> ExternalPeer:
        literal = self.address.literal
        if literal is not None and not self.allow_non_loopback and not is_loopback(str(literal[0])):
            raise fail(f"{_EXTERNAL_LOOPBACK}; got {self.address.text}", subpath=["address"])
        return self

    def kind_problems(self) -> Iterator[KindProblem]:
        if self.address.literal is None:
            yield ("address",), 'an external peer needs a literal address like "127.0.0.1:0"', False

    def start(self, run: PeerRun, name: str) -> Any:
        from sockharness.scenario._run.context import ScenarioSetupError
        from sockharness.scenario._run.external import ExternalTarget

        if self.address.literal is None:
            raise ScenarioSetupError(
                f'external peer {name!r}: address must be a literal such as "127.0.0.1:0"'
            )
        target = ExternalTarget(
            self.argv,
            host=str(self.address.literal[0]),
            port=int(self.address.literal[1]),
            env=self.env,
            ready_timeout=self.ready_timeout,
            name=name,
            cwd=run.ctx.options.cwd,
            allow_non_loopback=self.allow_non_loopback,
        )
        run.ctx.on_close(f"external peer {name!r}", target.close)
        return target.start()


# --- the registry ----------------------------------------------------------------------------------------

#: Every peer kind, in documentation order.
PEER_KIND_CLASSES: Final[tuple[type[PeerBase], ...]] = (
    EchoPeer,
    DiscardPeer,
    SilentPeer,
    ReplyPeer,
    HttpHelloPeer,
    ClosedPortPeer,
    FullBacklogPeer,
    UdpEchoPeer,
    UdpClosedPortPeer,
    DnsPeer,
    TcpServerPeer,
    TcpClientPeer,
    ProxyPeer,
    ExternalPeer,
)
PEER_KINDS: Final = tuple(cls.kind_name() for cls in PEER_KIND_CLASSES)
_PEER_BARE_WORDS: Final = tuple(cls.kind_name() for cls in PEER_KIND_CLASSES if cls.bare_word)


def _peer_shorthand(value: Any) -> Any:
    return {"kind": value} if isinstance(value, str) else value


if TYPE_CHECKING:
    Peer = PeerBase
else:
    _PeerUnion = Annotated[
        reduce(or_, (Annotated[cls, Tag(f"§{cls.kind_name()}")] for cls in PEER_KIND_CLASSES)),
        Discriminator(field_tag("kind", PEER_KINDS)),
        WrapValidator(by_field("kind", PEER_KINDS, "peer")),
    ]
    #: A declared peer: ``echo`` or ``{kind: echo, host: "::1"}``.
    Peer = Annotated[
        _PeerUnion,
        BeforeValidator(_peer_shorthand, json_schema_input_type=Literal[_PEER_BARE_WORDS] | _PeerUnion),
    ]


def peer_classes() -> Mapping[str, type[PeerBase]]:
    """Kind name -> model class (for tools that list what a kind accepts)."""
    return {cls.kind_name(): cls for cls in PEER_KIND_CLASSES}


def _traits(cls: type[PeerBase]) -> str:
    traits: list[str] = [cls.transport]
    traits += [
        label
        for label, present in (
            ("listens", cls.listens),
            ("scripted", cls.scripted),
            ("waits", cls.waits),
            ("http", cls.speaks_http),
            ("bare word", cls.bare_word),
        )
        if present
    ]
    return ", ".join(traits)


def peer_kinds_table() -> str:
    """The reference table of peer kinds (markdown), generated from the registry."""
    rows = ["| kind | keys | traits | what it is |", "|---|---|---|---|"]
    for cls in PEER_KIND_CLASSES:
        keys = ", ".join(f"`{key}`" for key in cls.yaml_keys() if key not in ("kind", "host"))
        summary = cls.summary.replace("|", "\\|")
        rows.append(f"| `{cls.kind_name()}` | {keys or '-'} | {_traits(cls)} | {summary} |")
    return "\n".join(rows) + "\n"
