"""Real socket peers in background threads: scripted TCP servers and clients, built-in kinds, cleanup.

Everything binds the loopback (127.0.0.1 port 0 unless told otherwise), registers its sockets and threads in a
:class:`Registry`, and reports failures from its threads as :class:`PeerError` in the test.
"""

from sockharness.peers._addresses import (
    coerce_address,
    format_address,
    ipv6_available,
    ipv6_unavailable_reason,
    is_loopback,
    parse_host_port,
)
from sockharness.peers._base import Peer, PeerBase
from sockharness.peers._builtin import (
    HTTP_HELLO_RESPONSE,
    ClosedPort,
    DiscardServer,
    EchoServer,
    FullBacklog,
    HTTPHelloServer,
    ReplyServer,
    SilentServer,
)
from sockharness.peers._dns import DnsQuery, DNSServer, DnsTableError
from sockharness.peers._errors import PeerError
from sockharness.peers._registry import Registry, SocketRecord, ThreadRecord, default_registry
from sockharness.peers._script import reset_socket
from sockharness.peers._steps import (
    Close,
    Drain,
    Echo,
    Expect,
    Recv,
    RecvEOF,
    RecvSome,
    RecvUntil,
    Reset,
    Send,
    SendAll,
    SetBuf,
    Shutdown,
    Sleep,
    Stall,
    Step,
    TlsCloseNotify,
    TlsHandshake,
    validate_script,
)
from sockharness.peers._tcp_client import ScriptedTCPClient
from sockharness.peers._tcp_server import ScriptedTCPServer
from sockharness.peers._tls import (
    CERT_KINDS,
    HANDSHAKE_FAULTS,
    IssuedCertificate,
    TLSCertificates,
    TLSOptions,
    session_certificates,
)
from sockharness.peers._transcript import Transcript, TranscriptEvent
from sockharness.peers._udp import UDPClosedPort, UDPEcho

__all__ = [
    "CERT_KINDS",
    "HANDSHAKE_FAULTS",
    "HTTP_HELLO_RESPONSE",
    "Close",
    "ClosedPort",
    "DNSServer",
    "DiscardServer",
    "DnsQuery",
    "DnsTableError",
    "Drain",
    "Echo",
    "EchoServer",
    "Expect",
    "FullBacklog",
    "HTTPHelloServer",
    "IssuedCertificate",
    "Peer",
    "PeerBase",
    "PeerError",
    "Recv",
    "RecvEOF",
    "RecvSome",
    "RecvUntil",
    "Registry",
    "ReplyServer",
    "Reset",
    "ScriptedTCPClient",
    "ScriptedTCPServer",
    "Send",
    "SendAll",
    "SetBuf",
    "Shutdown",
    "SilentServer",
    "Sleep",
    "SocketRecord",
    "Stall",
    "Step",
    "TLSCertificates",
    "TLSOptions",
    "ThreadRecord",
    "TlsCloseNotify",
    "TlsHandshake",
    "Transcript",
    "TranscriptEvent",
    "UDPClosedPort",
    "UDPEcho",
    "coerce_address",
    "default_registry",
    "format_address",
    "ipv6_available",
    "ipv6_unavailable_reason",
    "is_loopback",
    "parse_host_port",
    "reset_socket",
    "session_certificates",
    "validate_script",
]
