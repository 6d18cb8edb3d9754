"""A DNS server peer on UDP and TCP (one port for both) that answers from a table, or fails on purpose.

dnslib is used only for the wire format: its stock server answers one message per TCP connection (glibc
sends A and AAAA on one connection) and its truncation drops the question (glibc then ignores the reply),
so the peer owns its sockets (../shared/dns-facts.md, P9): TCP loops over length-prefixed messages, a TC
reply keeps the question, and "no answer" simply sends nothing.

Modes, per name or for every name: ``answer`` (from the table; a name not in it is NXDOMAIN), ``nxdomain``,
``servfail``, ``refused``, ``empty`` (NOERROR without answers: glibc's EAI_NODATA), ``truncate`` (UDP replies
carry the TC bit and no answers; TCP answers in full, so resolvers retry over TCP), ``late`` (the answer
after ``delay`` seconds) and ``drop`` (nothing). Every query is recorded (transport, name, type).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord  # type: ignore[import-untyped]  # no stubs

from sockharness.peers._addresses import family_for_host, format_address
from sockharness.peers._base import PeerBase
from sockharness.peers._registry import Registry
from sockharness.peers._transcript import Transcript
from sockharness.peers._udp import wake_datagram_socket

DnsMode = Literal["answer", "nxdomain", "servfail", "refused", "empty", "truncate", "late", "drop"]
DNS_MODES: Final[tuple[str, ...]] = (
    "answer",
    "nxdomain",
    "servfail",
    "refused",
    "empty",
    "truncate",
    "late",
    "drop",
)
_RCODES: Final = {"nxdomain": RCODE.NXDOMAIN, "servfail": RCODE.SERVFAIL, "refused": RCODE.REFUSED}
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_MAX_DATAGRAM = 65535
TTL = 5


class DnsTableError(ValueError):
    """A DNS table entry that is not a valid name or address; the message names the entry."""


@dataclass(frozen=True)
class DnsQuery:
    """One query the peer received."""

    transport: Literal["udp", "tcp"]
    name: str
    qtype: str
    at: float


def dns_name(name: object, where: str = "DNS table") -> str:
    """``name`` as a lower-case DNS name without the trailing dot, or :class:`DnsTableError`."""
    if not isinstance(name, str) or not name.strip(". "):
        raise DnsTableError(f"{where}: {name!r} is not a DNS name (expected e.g. 'db.internal')")
    text = name.strip().rstrip(".").lower()
    bad = [label for label in text.split(".") if not _LABEL.match(label)]
    if bad or len(text) > 253:
        why = (
            f"label {bad[0]!r} is not 1-63 letters, digits, '-' or '_'"
            if bad
            else "it is over 253 characters"
        )
        raise DnsTableError(f"{where}: {name!r} is not a DNS name: {why}")
    return text


def dns_table(
    table: Mapping[str, object],
) -> dict[str, tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]]:
    """Validate a table ``{name: address or [addresses]}``: names are DNS names, addresses IPv4/IPv6."""
    if not isinstance(table, Mapping):
        raise DnsTableError(f"a DNS table is a mapping of names to addresses, got {table!r}")
    result: dict[str, tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]] = {}
    for name, value in table.items():
        key = dns_name(name)
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list | tuple) or not values:
            raise DnsTableError(
                f"DNS table entry {name!r}: expected an address or a list of them, got {value!r}"
            )
        addresses = []
        for item in values:
            try:
                addresses.append(ipaddress.ip_address(item))
            except ValueError:
                raise DnsTableError(
                    f"DNS table entry {name!r}: {item!r} is not an IPv4 or IPv6 address"
                ) from None
        result[key] = tuple(addresses)
    return result


def check_mode(mode: object, where: str = "mode") -> DnsMode:
    if mode not in DNS_MODES:
        raise ValueError(f"{where}: unknown DNS mode {mode!r}; known modes: {', '.join(DNS_MODES)}")
    return mode  # type: ignore[return-value]


class DNSServer(PeerBase):
    """Answers DNS queries on ``host:port`` over UDP and TCP (see the module doc for the modes)."""

    def __init__(
        self,
        table: Mapping[str, object] | None = None,
        *,
        mode: str = "answer",
        modes: Mapping[str, str] | None = None,
        delay: float = 2.0,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "dns",
        registry: Registry | None = None,
    ) -> None:
        super().__init__(name=name, registry=registry)
        self.table = dns_table(table or {})
        self.mode: DnsMode = check_mode(mode)
        self.modes: dict[str, DnsMode] = {
            dns_name(key, "modes"): check_mode(value, f"modes[{key!r}]")
            for key, value in (modes or {}).items()
        }
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        self.delay = delay
        self.requested_host = host
        self.requested_port = port
        self.queries: list[DnsQuery] = []
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._transcript = Transcript(name)

    # --- answering (pure) -------------------------------------------------------------------------------
    def mode_for(self, name: str) -> DnsMode:
        return self.modes.get(name.rstrip(".").lower(), self.mode)

    def reply(self, request: DNSRecord, transport: Literal["udp", "tcp"]) -> DNSRecord | None:
        """The reply to ``request`` (None: send nothing). A TC reply keeps the question (P9)."""
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        mode = self.mode_for(name)
        reply = request.reply()
        if mode == "drop":
            return None
        if mode in _RCODES:
            reply.header.rcode = _RCODES[mode]
            return reply
        if mode == "empty":
            return reply
        if mode == "truncate" and transport == "udp":
            reply.header.tc = 1
            return reply
        addresses = self.table.get(name)
        if addresses is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for address in addresses:
            if question.qtype == QTYPE.A and address.version == 4:
                reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(str(address)), ttl=TTL))
            elif question.qtype == QTYPE.AAAA and address.version == 6:
                reply.add_answer(RR(question.qname, QTYPE.AAAA, rdata=AAAA(str(address)), ttl=TTL))
        return reply

    def _answer(self, data: bytes, transport: Literal["udp", "tcp"]) -> tuple[bytes | None, float]:
        """(reply bytes or None, seconds to wait before sending) for one message."""
        try:
            request = DNSRecord.parse(data)
        except Exception as exc:  # dnslib raises its own DNSError and others on garbage
            self._transcript.record_event(f"{transport}: unparsable query ({exc})")
            return None, 0.0
        name = str(request.q.qname).rstrip(".")
        qtype = QTYPE.get(request.q.qtype, str(request.q.qtype))
        self.queries.append(DnsQuery(transport, name, str(qtype), time.monotonic()))
        reply = self.reply(request, transport)
        mode = self.mode_for(name)
        self._transcript.record_event(f"{transport} {qtype} {name}: {mode}")
        if reply is None:
            return None, 0.0
        return reply.pack(), (self.delay if mode == "late" else 0.0)

    # --- sockets ----------------------------------------------------------------------------------------
    def _start(self) -> None:
        udp, tcp = self._bind_pair()
        self._udp, self._tcp = udp, tcp
        self.address = udp.getsockname()
        self._transcript = Transcript(f"{self.name} {format_address(self.address)}")
        self.transcripts.append(self._transcript)
        self._spawn(lambda: self._guard(self._udp_loop, "DNS UDP loop", self._transcript), "udp")
        self._spawn(lambda: self._guard(self._tcp_loop, "DNS TCP accept loop", self._transcript), "tcp")

    def _bind_pair(self) -> tuple[socket.socket, socket.socket]:
        """A UDP socket and a TCP listener on one port (resolvers retry a TC answer there over TCP); with
        port 0, a port whose TCP side is taken is given back and another tried."""
        family = family_for_host(self.requested_host)
        for _attempt in range(20):
            udp = self._track_socket(socket.socket(family, socket.SOCK_DGRAM), "udp socket")
            udp.bind((self.requested_host, self.requested_port))
            port = udp.getsockname()[1]
            tcp = self._track_socket(socket.socket(family, socket.SOCK_STREAM), "tcp listener")
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.requested_host, port))
            except OSError:
                tcp.close()
                udp.close()
                if self.requested_port:
                    raise
                continue
            tcp.listen(16)
            return udp, tcp
        raise OSError(f"no port on {self.requested_host} was free for both UDP and TCP after 20 tries")

    def _udp_loop(self) -> None:
        udp = self._udp
        assert udp is not None
        while not self._stopping():
            try:
                data, sender = udp.recvfrom(_MAX_DATAGRAM)
            except ConnectionError:
                continue  # an ICMP error for an earlier reply (a resolver that gave up)
            if self._stopping():
                return
            reply, wait = self._answer(data, "udp")
            if reply is None:
                continue
            if wait:
                timer = threading.Timer(wait, self._send_late, (udp, reply, sender))
                timer.daemon = True
                self._track_timer(timer)
            else:
                udp.sendto(reply, sender)

    def _track_timer(self, timer: threading.Timer) -> None:
        self.registry.track_thread(timer, self._stop_event, f"DNSServer {self.name!r} late answer")
        with self._lock:
            self._threads.append(timer)
        timer.start()

    def _send_late(self, udp: socket.socket, reply: bytes, sender: tuple[object, ...]) -> None:
        if self._stopping():
            return
        with contextlib.suppress(OSError):
            udp.sendto(reply, sender)

    def _tcp_loop(self) -> None:
        tcp = self._tcp
        assert tcp is not None
        while not self._stopping():
            connection, _ = tcp.accept()
            if self._stopping():
                connection.close()
                return
            self._track_socket(connection, "tcp connection")
            self._spawn(self._tcp_body(connection), "tcp-conn")

    def _tcp_body(self, connection: socket.socket) -> Callable[[], None]:
        return lambda: self._guard(
            lambda: self._serve_tcp(connection), "DNS TCP connection", self._transcript
        )

    def _serve_tcp(self, connection: socket.socket) -> None:
        """Length-prefixed messages until the client closes: glibc sends A and AAAA on one connection."""
        with connection:
            while not self._stopping():
                header = _recv_exactly(connection, 2)
                if header is None:
                    return
                message = _recv_exactly(connection, struct.unpack("!H", header)[0])
                if message is None:
                    return
                reply, wait = self._answer(message, "tcp")
                if reply is None:
                    continue
                if wait and self._stop_event.wait(wait):
                    return
                connection.sendall(struct.pack("!H", len(reply)) + reply)

    def _wake(self, sockets: list[socket.socket]) -> None:
        super()._wake(sockets)
        if self.address:
            wake_datagram_socket(self.address)
            with (
                contextlib.suppress(OSError),
                socket.create_connection(self.address[:2], timeout=0.5),
            ):
                pass

    def queries_for(self, name: str) -> list[DnsQuery]:
        """The queries for ``name`` (count queries by name: resolvers may add search-suffix queries)."""
        wanted = name.rstrip(".").lower()
        return [query for query in list(self.queries) if query.name.lower() == wanted]


def _recv_exactly(connection: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


__all__ = [
    "DNS_MODES",
    "DNSServer",
    "DnsMode",
    "DnsQuery",
    "DnsTableError",
    "check_mode",
    "dns_name",
    "dns_table",
]
