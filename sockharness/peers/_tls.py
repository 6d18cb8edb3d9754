"""TLS for the peers: certificates made in the test process, the TLS options of a peer, its SSLContexts.

One certificate authority per process (:func:`session_certificates`), made with ``trustme`` on first use
(~5 ms), issues a leaf per *certificate kind* on demand and caches it. A kind names what a client's
verification will make of the certificate (``valid``, ``expired``, ``wrong_host``...), so a test asks for the
failure it wants instead of building a certificate that might, by accident, verify (tls-facts 1, 8).

Clients get what they need to trust the authority: an ``ssl.SSLContext`` (:meth:`client_context`), a CA bundle
path (``ca_path``, for ``requests``' ``verify=``) and PEM bytes (``ca_pem``).
"""

from __future__ import annotations

import atexit
import datetime
import difflib
import ipaddress
import os
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from sockharness.peers._steps import Close, RecvSome, Reset, SendAll, Stall, Step, TlsHandshake

__all__ = [
    "CERT_KINDS",
    "CLIENT_AUTH_MODES",
    "HANDSHAKE_FAULTS",
    "TLS_VERSIONS",
    "IssuedCertificate",
    "TLSCertificates",
    "TLSOptions",
    "check_cert_kind",
    "session_certificates",
]

#: Every certificate kind, with what a verifying client sees (the docs table is built from this).
CERT_KINDS: Final[dict[str, str]] = {
    "valid": "signed by the session CA for 127.0.0.1, ::1 (IP SANs) and localhost: verifies",
    "expired": "valid names, not_after in the past: verify_code 10 X509_V_ERR_CERT_HAS_EXPIRED",
    "not_yet_valid": "valid names, not_before in the future: verify_code 9 X509_V_ERR_CERT_NOT_YET_VALID",
    "wrong_host": "for example.org only: verify_code 64 (IP address) or 62 (host name) mismatch",
    "self_signed": "a self-signed leaf: verify_code 18 X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT",
    "untrusted_ca": "from a CA nobody trusts: verify_code 20 X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
}
#: What a TLS server asks of its clients' certificates (``ssl.CERT_NONE``/``OPTIONAL``/``REQUIRED``).
CLIENT_AUTH_MODES: Final = ("none", "optional", "required")
#: ``minimum_version``/``maximum_version`` values (``ssl.TLSVersion`` member names).
TLS_VERSIONS: Final = ("TLSv1_2", "TLSv1_3")
#: The named handshake faults a TLS server can play instead of answering (docs/how-to/tls.md).
HANDSHAKE_FAULTS: Final[dict[str, str]] = {
    "stall": "accept, never answer the ClientHello: the client's handshake times out",
    "reset": "read the ClientHello, then RST: the client's handshake raises ConnectionResetError",
    "plain_reply": "answer the ClientHello with plain bytes (an HTTP 400): SSLError WRONG_VERSION_NUMBER",
}

_LOOPBACK_NAMES: Final = ("127.0.0.1", "::1", "localhost")
_DAY: Final = datetime.timedelta(days=1)


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_cert_kind(kind: object, argument: str = "cert") -> str:
    """Return ``kind`` if it names a certificate kind; otherwise a ValueError naming the known kinds."""
    if not isinstance(kind, str) or kind not in CERT_KINDS:
        hint = _did_you_mean(kind, list(CERT_KINDS)) if isinstance(kind, str) else ""
        raise ValueError(
            f"{argument}: unknown certificate kind {kind!r}{hint} (known kinds: {', '.join(CERT_KINDS)})"
        )
    return kind


def _check_choice(value: object, argument: str, choices: Sequence[str]) -> None:
    if not isinstance(value, str) or value not in choices:
        hint = _did_you_mean(value, choices) if isinstance(value, str) else ""
        raise ValueError(f"{argument}: expected one of {', '.join(choices)}, got {value!r}{hint}")


@dataclass(frozen=True)
class IssuedCertificate:
    """One leaf: its kind, PEM bytes, and files (for APIs that want paths, like ``load_cert_chain``)."""

    kind: str
    cert_pem: bytes
    key_pem: bytes
    #: The leaf followed by the certificate that issued it (what a server sends).
    chain_pem: bytes
    cert_path: str
    key_path: str

    def load_into(self, context: ssl.SSLContext) -> None:
        """Present this certificate from ``context`` (server certificate or mTLS client certificate)."""
        context.load_cert_chain(self.cert_path, self.key_path)


class TLSCertificates:
    """A certificate authority for one test session and the leaves it issued, by kind.

    Thread-safe: peers in several threads ask for leaves at once. Files live in a private temporary
    directory removed by :meth:`cleanup` (called at interpreter exit for the session's authority).
    """

    def __init__(self) -> None:
        import trustme  # imported here: loading cryptography costs ~50 ms, paid only by TLS users

        self._trustme = trustme
        self.authority = trustme.CA(organization_name="sockharness session CA")
        self._untrusted = trustme.CA(organization_name="sockharness untrusted CA")
        self._directory = tempfile.mkdtemp(prefix="sockharness-tls-")
        self._lock = threading.Lock()
        self._issued: dict[str, IssuedCertificate] = {}
        self.ca_pem: bytes = self.authority.cert_pem.bytes()
        """The session CA certificate, PEM."""
        self.ca_path: str = self._write("ca.pem", self.ca_pem)
        """A CA bundle file holding only the session CA (``requests.get(url, verify=ca_path)``)."""
        # Built now, with the same cryptography import as trustme's (~1 ms): pytest's in-process runs
        # (pytester) drop the modules imported inside them, while cryptography's Rust core keeps the classes
        # of its first import, so a fresh import later hands it "other" classes ("curve must be an
        # EllipticCurve instance").
        self._self_signed_pems = _self_signed(_LOOPBACK_NAMES, datetime.datetime.now(datetime.UTC))

    def _write(self, name: str, data: bytes) -> str:
        path = os.path.join(self._directory, name)
        with open(path, "wb") as handle:
            handle.write(data)
        return path

    def cert(self, kind: str = "valid") -> IssuedCertificate:
        """The leaf of ``kind`` (issued once, then cached); ValueError naming the known kinds otherwise."""
        check_cert_kind(kind)
        with self._lock:
            issued = self._issued.get(kind)
            if issued is None:
                issued = self._issue(kind)
                self._issued[kind] = issued
            return issued

    def _issue(self, kind: str) -> IssuedCertificate:
        now = datetime.datetime.now(datetime.UTC)
        if kind == "self_signed":
            cert_pem, key_pem = self._self_signed_pems
            chain_pem = cert_pem
        else:
            signer = self._untrusted if kind == "untrusted_ca" else self.authority
            names: Sequence[str] = ("example.org",) if kind == "wrong_host" else _LOOPBACK_NAMES
            not_before, not_after = now - _DAY, now + 365 * _DAY
            if kind == "expired":
                not_before, not_after = now - 30 * _DAY, now - _DAY
            elif kind == "not_yet_valid":
                not_before, not_after = now + 30 * _DAY, now + 60 * _DAY
            leaf = signer.issue_cert(*names, not_before=not_before, not_after=not_after)
            cert_pem = leaf.cert_chain_pems[0].bytes()
            key_pem = leaf.private_key_pem.bytes()
            # The untrusted leaf travels alone, so the client cannot find its issuer: verify_code 20. With the
            # CA attached it would be 19 (a self-signed certificate in the chain) -- measured.
            chain_pem = cert_pem if kind == "untrusted_ca" else cert_pem + signer.cert_pem.bytes()
        return IssuedCertificate(
            kind=kind,
            cert_pem=cert_pem,
            key_pem=key_pem,
            chain_pem=chain_pem,
            cert_path=self._write(f"{kind}.chain.pem", chain_pem),
            key_path=self._write(f"{kind}.key.pem", key_pem),
        )

    def client_context(
        self,
        *,
        client_cert: str | None = None,
        minimum_version: str | None = None,
        maximum_version: str | None = None,
        ciphers: str | None = None,
        alpn: Sequence[str] = (),
        verify: bool = True,
        trust: bool = True,
    ) -> ssl.SSLContext:
        """A client context trusting the session CA (and nothing else: no system store, ~0.5 ms).

        ``verify=False`` turns off both hostname and chain checks; ``trust=False`` leaves the session CA out
        (every server certificate then fails with verify_code 20).
        """
        if client_cert is not None and not trust:
            raise ValueError(
                "client_cert without trust: the session CA issued the client certificate and verifies the "
                "server's; keep trust=True (or verify=False to accept any server certificate)"
            )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if trust:
            context.load_verify_locations(cadata=self.ca_pem.decode("ascii"))
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if client_cert is not None:
            self.cert(check_cert_kind(client_cert, "client_cert")).load_into(context)
        _shape(context, minimum_version, maximum_version, ciphers, alpn)
        return context

    def server_context(
        self,
        cert: str = "valid",
        *,
        client_auth: str = "none",
        minimum_version: str | None = None,
        maximum_version: str | None = None,
        ciphers: str | None = None,
        alpn: Sequence[str] = (),
        session_tickets: int | None = None,
    ) -> ssl.SSLContext:
        """A server context presenting the ``cert`` leaf; ``client_auth`` optional/required trusts the CA."""
        _check_choice(client_auth, "client_auth", CLIENT_AUTH_MODES)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.cert(cert).load_into(context)
        if client_auth != "none":
            context.verify_mode = ssl.CERT_REQUIRED if client_auth == "required" else ssl.CERT_OPTIONAL
            context.load_verify_locations(cadata=self.ca_pem.decode("ascii"))
        if session_tickets is not None:
            context.num_tickets = session_tickets
        _shape(context, minimum_version, maximum_version, ciphers, alpn)
        return context

    def cleanup(self) -> None:
        """Remove the certificate files."""
        shutil.rmtree(self._directory, ignore_errors=True)


def _shape(
    context: ssl.SSLContext,
    minimum_version: str | None,
    maximum_version: str | None,
    ciphers: str | None,
    alpn: Sequence[str],
) -> None:
    for argument, value in (("minimum_version", minimum_version), ("maximum_version", maximum_version)):
        if value is not None:
            _check_choice(value, argument, TLS_VERSIONS)
            setattr(context, argument, ssl.TLSVersion[value])
    if ciphers is not None:
        try:
            context.set_ciphers(ciphers)
        except ssl.SSLError as exc:
            raise ValueError(f"ciphers: OpenSSL accepts no cipher in {ciphers!r} ({exc})") from exc
    if alpn:
        context.set_alpn_protocols(list(alpn))


def _self_signed(names: Sequence[str], now: datetime.datetime) -> tuple[bytes, bytes]:
    """A self-signed leaf with SANs and AKI/SKI (3.13's strict default wants them; tls-facts 8)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sockharness self-signed")])
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _DAY)
        .not_valid_after(now + 365 * _DAY)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


_session_lock = threading.Lock()
_session: TLSCertificates | None = None


def session_certificates() -> TLSCertificates:
    """The process's certificate authority (made on first use, files removed at exit)."""
    global _session
    with _session_lock:
        if _session is None:
            _session = TLSCertificates()
            atexit.register(_session.cleanup)
        return _session


@dataclass(frozen=True)
class TLSOptions:
    """How a peer speaks TLS. Server fields and client fields are checked against the peer's role.

    Server: ``cert`` (the kind it presents), ``client_auth``, ``handshake_fault``, ``session_tickets``.
    Client: ``client_cert`` (a kind to present, or None), ``verify``, ``server_hostname`` (default: the
    target's host). Both: versions, ``ciphers`` (TLS 1.2 suites; OpenSSL syntax), ``alpn``,
    ``suppress_ragged_eofs``.
    """

    cert: str = "valid"
    client_auth: Literal["none", "optional", "required"] = "none"
    client_cert: str | None = None
    verify: bool = True
    server_hostname: str | None = None
    minimum_version: str | None = None
    maximum_version: str | None = None
    ciphers: str | None = None
    alpn: tuple[str, ...] = field(default=())
    handshake_fault: str | None = None
    plain_reply: bytes = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    session_tickets: int | None = None
    suppress_ragged_eofs: bool = True

    def __post_init__(self) -> None:
        check_cert_kind(self.cert, "tls.cert")
        if self.client_cert is not None:
            check_cert_kind(self.client_cert, "tls.client_cert")
        _check_choice(self.client_auth, "tls.client_auth", CLIENT_AUTH_MODES)
        for argument in ("minimum_version", "maximum_version"):
            value = getattr(self, argument)
            if value is not None:
                _check_choice(value, f"tls.{argument}", TLS_VERSIONS)
        if self.handshake_fault is not None:
            _check_choice(self.handshake_fault, "tls.handshake_fault", list(HANDSHAKE_FAULTS))
        if isinstance(self.alpn, str) or not all(isinstance(p, str) and p for p in self.alpn):
            raise TypeError(f"tls.alpn: expected a sequence of protocol names, got {self.alpn!r}")
        object.__setattr__(self, "alpn", tuple(self.alpn))
        if self.session_tickets is not None and (
            isinstance(self.session_tickets, bool) or self.session_tickets < 0
        ):
            raise ValueError(f"tls.session_tickets: expected an int >= 0, got {self.session_tickets!r}")

    def check_role(self, role: Literal["server", "client"], peer: str) -> None:
        """Reject the fields the other role owns: a silent no-op option would hide a missing fault."""
        defaults = TLSOptions()
        own: tuple[str, ...] = (
            ("client_cert", "verify", "server_hostname")
            if role == "server"
            else ("cert", "client_auth", "handshake_fault", "plain_reply", "session_tickets")
        )
        wrong = [name for name in own if getattr(self, name) != getattr(defaults, name)]
        if wrong:
            raise ValueError(
                f"{peer}: tls option(s) {', '.join(wrong)} apply only to a TLS "
                f"{'client' if role == 'server' else 'server'}, not to this {role}"
            )

    def server_context(self, certificates: TLSCertificates) -> ssl.SSLContext:
        return certificates.server_context(
            self.cert,
            client_auth=self.client_auth,
            minimum_version=self.minimum_version,
            maximum_version=self.maximum_version,
            ciphers=self.ciphers,
            alpn=self.alpn,
            session_tickets=self.session_tickets,
        )

    def client_context(self, certificates: TLSCertificates) -> ssl.SSLContext:
        return certificates.client_context(
            client_cert=self.client_cert,
            minimum_version=self.minimum_version,
            maximum_version=self.maximum_version,
            ciphers=self.ciphers,
            alpn=self.alpn,
            verify=self.verify,
        )


@dataclass(frozen=True)
class TLSRole:
    """What a scripted connection needs to wrap its socket: the context and how (made once per peer)."""

    context: ssl.SSLContext
    server_side: bool
    server_hostname: str | None
    suppress_ragged_eofs: bool

    def wrap(self, sock: socket.socket) -> ssl.SSLSocket:
        """The connection as an SSLSocket (it takes over the fd; ``sock`` is detached), not yet handshaken."""
        return self.context.wrap_socket(
            sock,
            server_side=self.server_side,
            server_hostname=None if self.server_side else self.server_hostname,
            do_handshake_on_connect=False,
            suppress_ragged_eofs=self.suppress_ragged_eofs,
        )


def tls_script(script: tuple[Step, ...], tls: TLSOptions) -> tuple[Step, ...]:
    """A TLS peer's script: a handshake fault replaces it, else the handshake goes first (unless placed)."""
    if tls.handshake_fault == "stall":
        return (Stall(),)
    if tls.handshake_fault == "reset":
        return (RecvSome(16384), Reset())
    if tls.handshake_fault == "plain_reply":
        return (RecvSome(16384), SendAll(tls.plain_reply), Close())
    if any(isinstance(step, TlsHandshake) for step in script):
        return script
    return (TlsHandshake(), *script)


def describe_tls_error(exc: BaseException) -> str:
    """An SSLError by class, reason and text: its ``errno`` is an SSL_ERROR_* code, never an OS errno."""
    if isinstance(exc, ssl.SSLError):
        code = getattr(exc, "verify_code", None)
        verify = f" verify_code {code}" if code is not None else ""
        return f"{type(exc).__name__} reason {exc.reason}{verify}: {exc}"
    from sockharness._errnos import describe_exception

    return describe_exception(exc)


def unwrap_and_close(sock: ssl.SSLSocket) -> str:
    """Send close_notify and close without waiting for the peer's (tls-facts 4.2: a blocking unwrap waits).

    CPython's unwrap() calls SSL_shutdown a second time at once to read the peer's close_notify. A *read*
    failure there (SSLEOFError: the peer closed its socket after reading ours, as Python clients do) means
    the close_notify was already written; any other error (the write failed) propagates. Returns what the
    peer did, for the transcript.
    """
    sock.setblocking(False)
    try:
        sock.unwrap()
        answer = "the peer answered with its close_notify"
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        answer = "not waiting for the peer's close_notify"
    except ssl.SSLEOFError:
        answer = "the peer closed without answering"
    sock.close()
    return answer
