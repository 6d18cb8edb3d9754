"""Actions on TLS sockets: ``wrap_socket`` (with the context set up inline), ``do_handshake``, ``unwrap``,
``getpeercert``, ``version``, ``cipher``, ``selected_alpn_protocol``, ``pending``.

``wrap_socket`` replaces the named socket by its ``SSLSocket`` (the plain one is detached by the wrap, exactly
as in Python), so ``recv``/``send``/``sendall``/``settimeout``/``setblocking`` then work on TLS unchanged. The
context trusts the session CA of ``sockharness.peers.session_certificates()``, the one the TLS peers' leaves
come from. A TLS call on a plain socket is a ScenarioSetupError naming the socket, not an AttributeError.
"""

from __future__ import annotations

import select
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from sockharness.peers import session_certificates
from sockharness.scenario._actions.args import SocketRefArgs, with_shorthand
from sockharness.scenario._actions.base import (
    Action,
    Environment,
    ScenarioSetupError,
    Use,
    register,
    socket_use,
)
from sockharness.scenario._language.model_tls import CertKind, TlsVersion
from sockharness.scenario._language.model_types import Duration

if TYPE_CHECKING:
    from sockharness.scenario._run.context import ScenarioContext


def tls_socket(ctx: ScenarioContext, name: str, step: str) -> ssl.SSLSocket:
    """The named socket as an SSLSocket; a plain one is the scenario's mistake, said in words."""
    sock = ctx.socket(name)
    if not isinstance(sock, ssl.SSLSocket):
        raise ScenarioSetupError(
            f"{step}: socket {name!r} is a plain socket, not TLS; wrap it first with "
            f"`wrap_socket: {{socket: {name}}}`"
        )
    return sock


# --- wrap_socket -------------------------------------------------------------------------------------


class WrapSocketArgs(SocketRefArgs):
    server_side: bool = False
    server_hostname: Annotated[
        str | None,
        Field(description="client: SNI and the name verified (default: the connected peer's host)"),
    ] = None
    do_handshake_on_connect: bool = True
    suppress_ragged_eofs: bool = True
    cert: Annotated[CertKind, Field(description="server side: the certificate kind presented")] = "valid"
    client_auth: Literal["none", "optional", "required"] = "none"
    client_cert: Annotated[
        CertKind | None, Field(description="client side: the certificate kind presented")
    ] = None
    verify: Annotated[bool, Field(description="client side: check the chain and host name")] = True
    trust: Annotated[bool, Field(description="client side: trust the session CA")] = True
    minimum_version: TlsVersion | None = None
    maximum_version: TlsVersion | None = None
    ciphers: str | None = None
    alpn: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Wrap:
    socket: str
    server_side: bool
    server_hostname: str | None
    do_handshake_on_connect: bool
    suppress_ragged_eofs: bool
    cert: str
    client_auth: str
    client_cert: str | None
    verify: bool
    trust: bool
    minimum_version: str | None
    maximum_version: str | None
    ciphers: str | None
    alpn: tuple[str, ...] = field(default=())


_SERVER_ONLY = ("cert", "client_auth")
_CLIENT_ONLY = ("server_hostname", "client_cert", "verify", "trust")


@register
class WrapSocketAction(Action[WrapSocketArgs, Wrap]):
    name = "wrap_socket"
    summary = (
        "`SSLContext.wrap_socket(sock, server_side, server_hostname, ...)` with the context set up inline "
        "(session CA, cert kind, versions, ciphers, ALPN); the name now means the SSLSocket"
    )
    arguments = WrapSocketArgs

    def uses(self, args: WrapSocketArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def problem(self, args: WrapSocketArgs) -> str | None:
        wrong = _CLIENT_ONLY if args.server_side else _SERVER_ONLY
        given = [key for key in wrong if key in args.model_fields_set]
        if given:
            side = "server" if args.server_side else "client"
            return f"{', '.join(given)} do not apply to a {side}-side wrap (server_side: {args.server_side})"
        if args.client_cert is not None and not args.trust:
            return "client_cert without trust: the session CA issued the client certificate; keep trust: true"
        return None

    def resolve(self, args: WrapSocketArgs, env: Environment) -> Wrap:
        return Wrap(
            args.socket,
            args.server_side,
            args.server_hostname,
            args.do_handshake_on_connect,
            args.suppress_ragged_eofs,
            args.cert,
            args.client_auth,
            args.client_cert,
            args.verify,
            args.trust,
            args.minimum_version,
            args.maximum_version,
            args.ciphers,
            tuple(args.alpn),
        )

    def call(self, ctx: ScenarioContext, resolved: Wrap) -> None:
        sock = ctx.socket(resolved.socket)
        if isinstance(sock, ssl.SSLSocket):
            raise ScenarioSetupError(f"wrap_socket: socket {resolved.socket!r} is already TLS")
        certificates = session_certificates()
        shape: dict[str, Any] = {
            "minimum_version": resolved.minimum_version,
            "maximum_version": resolved.maximum_version,
            "ciphers": resolved.ciphers,
            "alpn": resolved.alpn,
        }
        if resolved.server_side:
            context = certificates.server_context(resolved.cert, client_auth=resolved.client_auth, **shape)
            hostname = None
        else:
            context = certificates.client_context(
                client_cert=resolved.client_cert, verify=resolved.verify, trust=resolved.trust, **shape
            )
            hostname = resolved.server_hostname
            if hostname is None:
                try:
                    hostname = str(sock.getpeername()[0])
                except OSError:
                    hostname = "127.0.0.1"  # not connected yet: the loopback the peers listen on
        wrapped = context.wrap_socket(
            sock,
            server_side=resolved.server_side,
            server_hostname=hostname,
            do_handshake_on_connect=resolved.do_handshake_on_connect,
            suppress_ragged_eofs=resolved.suppress_ragged_eofs,
        )
        ctx.add_socket(resolved.socket, wrapped)


# --- the handshake -----------------------------------------------------------------------------------


class DoHandshakeArgs(SocketRefArgs):
    loop: Annotated[
        bool,
        Field(
            description="non-blocking: retry on SSLWantReadError/SSLWantWriteError after select() until "
            "done; returns how many times it had to wait"
        ),
    ] = False
    timeout: Annotated[Duration, Field(description="with loop: give up (TimeoutError) after this")] = 5.0


@dataclass(frozen=True)
class Handshake:
    socket: str
    loop: bool
    timeout: float


@register
class DoHandshakeAction(Action[DoHandshakeArgs, Handshake]):
    name = "do_handshake"
    summary = (
        "`sslsock.do_handshake()`; with `loop: true` the non-blocking loop (select on SSLWantRead/"
        "WriteError) returning the number of waits"
    )
    arguments = with_shorthand(DoHandshakeArgs, "socket")
    returns = "None, or with loop the number of SSLWant*Error rounds"

    def uses(self, args: DoHandshakeArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def problem(self, args: DoHandshakeArgs) -> str | None:
        if "timeout" in args.model_fields_set and not args.loop:
            return "timeout applies to loop: true; for a blocking handshake use settimeout first"
        return None

    def resolve(self, args: DoHandshakeArgs, env: Environment) -> Handshake:
        return Handshake(args.socket, args.loop, float(args.timeout))

    def call(self, ctx: ScenarioContext, resolved: Handshake) -> int | None:
        sock = tls_socket(ctx, resolved.socket, "do_handshake")
        if not resolved.loop:
            sock.do_handshake()
            return None
        deadline = time.monotonic() + resolved.timeout
        waits = 0
        while True:  # bounded by the deadline
            try:
                sock.do_handshake()
                return waits
            except ssl.SSLWantReadError:
                readers, writers = [sock], []
            except ssl.SSLWantWriteError:
                readers, writers = [], [sock]
            waits += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not any(select.select(readers, writers, [], remaining)[:2]):
                raise TimeoutError(f"do_handshake loop: not done within {resolved.timeout} s")


# --- calls that take only the TLS socket --------------------------------------------------------------


@dataclass(frozen=True)
class OnTls:
    socket: str


class _TlsOnly(Action[SocketRefArgs, OnTls]):
    arguments = with_shorthand(SocketRefArgs, "socket")

    def uses(self, args: SocketRefArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def resolve(self, args: SocketRefArgs, env: Environment) -> OnTls:
        return OnTls(args.socket)


@register
class UnwrapAction(_TlsOnly):
    name = "unwrap"
    summary = "`sslsock.unwrap()`: close_notify both ways; the name then means the plain socket it returns"

    def call(self, ctx: ScenarioContext, resolved: OnTls) -> None:
        plain = tls_socket(ctx, resolved.socket, "unwrap").unwrap()
        ctx.add_socket(resolved.socket, plain)


class GetpeercertArgs(SocketRefArgs):
    binary_form: bool = False
    field: Annotated[
        str | None,
        Field(description="one key of the dict (subjectAltName, notAfter, subject...) instead of the dict"),
    ] = None


@dataclass(frozen=True)
class PeerCert:
    socket: str
    binary_form: bool
    field: str | None


def _plain(value: object) -> object:
    """Tuples become lists, so a matcher can compare them with a YAML list."""
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


@register
class GetpeercertAction(Action[GetpeercertArgs, PeerCert]):
    name = "getpeercert"
    summary = (
        "`sslsock.getpeercert(binary_form)`: None without a (verified) certificate; `field:` picks one key"
    )
    arguments = with_shorthand(GetpeercertArgs, "socket")
    returns = "None, DER bytes (binary_form), the field's value, or the dict's sorted keys"

    def uses(self, args: GetpeercertArgs) -> Iterator[Use]:
        yield socket_use(args.socket)

    def problem(self, args: GetpeercertArgs) -> str | None:
        if args.binary_form and args.field is not None:
            return "field picks a key of the dict form; it cannot be combined with binary_form: true"
        return None

    def resolve(self, args: GetpeercertArgs, env: Environment) -> PeerCert:
        return PeerCert(args.socket, args.binary_form, args.field)

    def call(self, ctx: ScenarioContext, resolved: PeerCert) -> object:
        sock = tls_socket(ctx, resolved.socket, "getpeercert")
        if resolved.binary_form:
            return sock.getpeercert(binary_form=True)
        cert = sock.getpeercert()
        if cert is None:
            return None
        if resolved.field is None:  # an unvalidated certificate is {}: no keys
            return sorted(cert)
        if resolved.field not in cert:
            has = ", ".join(sorted(cert)) or "no fields (not validated: CERT_NONE)"
            raise ScenarioSetupError(f"getpeercert: the certificate has no {resolved.field!r}; it has {has}")
        return _plain(cert[resolved.field])


@register
class VersionAction(_TlsOnly):
    name = "version"
    summary = "`sslsock.version()`: the negotiated protocol (TLSv1.3), None before the handshake"
    returns = "str or None"

    def call(self, ctx: ScenarioContext, resolved: OnTls) -> str | None:
        return tls_socket(ctx, resolved.socket, "version").version()


@register
class CipherAction(_TlsOnly):
    name = "cipher"
    summary = "`sslsock.cipher()`: [name, protocol, secret bits], None before the handshake"
    returns = "list or None"

    def call(self, ctx: ScenarioContext, resolved: OnTls) -> object:
        cipher = tls_socket(ctx, resolved.socket, "cipher").cipher()
        return None if cipher is None else list(cipher)


@register
class SelectedAlpnProtocolAction(_TlsOnly):
    name = "selected_alpn_protocol"
    summary = "`sslsock.selected_alpn_protocol()`: the protocol ALPN chose, None if none"
    returns = "str or None"

    def call(self, ctx: ScenarioContext, resolved: OnTls) -> str | None:
        return tls_socket(ctx, resolved.socket, "selected_alpn_protocol").selected_alpn_protocol()


@register
class PendingAction(_TlsOnly):
    name = "pending"
    summary = "`sslsock.pending()`: decrypted bytes ready to read that select() does not see"
    returns = "int"

    def call(self, ctx: ScenarioContext, resolved: OnTls) -> int:
        return tls_socket(ctx, resolved.socket, "pending").pending()
