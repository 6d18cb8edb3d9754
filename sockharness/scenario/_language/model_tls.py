"""The ``tls:`` option of the TCP peer kinds: one model, validated, turned into ``peers.TLSOptions``.

``tls: true`` (or ``tls: {}``) is a TLS peer with the ``valid`` certificate; ``tls: expired`` is the shorthand
for ``tls: {cert: expired}``. Which fields fit which role (a server's ``cert``, a client's ``client_cert``) is
checked by :func:`tls_role_problems`, so a server option on a client is a load-time error with file:line,
never an option that silently does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from sockharness import peers
from sockharness.peers._tls import CERT_KINDS, HANDSHAKE_FAULTS, check_cert_kind
from sockharness.scenario._language.errors import KeyPath
from sockharness.scenario._language.model_types import Count, StrictModel, parsed_by
from sockharness.scenario._language.model_values import Payload

__all__ = ["CertKind", "Tls", "TlsSpec", "tls_role_problems"]

#: A certificate kind (``valid``, ``expired``...): unknown ones get a did-you-mean and the list.
CertKind = Annotated[
    str,
    parsed_by(check_cert_kind),
    WithJsonSchema({"enum": list(CERT_KINDS), "description": "a certificate kind of the session CA"}),
]
TlsVersion = Literal["TLSv1_2", "TLSv1_3"]
HandshakeFault = Literal["stall", "reset", "plain_reply"]
assert set(HANDSHAKE_FAULTS) == {"stall", "reset", "plain_reply"}

_SERVER_ONLY: Final = ("cert", "client_auth", "handshake_fault", "plain_reply", "session_tickets")
_CLIENT_ONLY: Final = ("client_cert", "verify", "server_hostname")


class TlsSpec(StrictModel):
    """``tls: {cert, client_auth, client_cert, verify, minimum_version, ciphers, alpn, ...}``."""

    what: ClassVar[str] = "true, a certificate kind, or a TLS mapping {cert, alpn, ...}"
    cert: Annotated[CertKind, Field(description="server: the certificate kind it presents")] = "valid"
    client_auth: Annotated[
        Literal["none", "optional", "required"],
        Field(description="server: CERT_NONE / CERT_OPTIONAL / CERT_REQUIRED for client certificates"),
    ] = "none"
    client_cert: Annotated[
        CertKind | None, Field(description="client: the certificate kind it presents (mutual TLS)")
    ] = None
    verify: Annotated[bool, Field(description="client: verify the server's chain and host name")] = True
    server_hostname: Annotated[
        str | None, Field(description="client: SNI and the name checked (default: the target's host)")
    ] = None
    minimum_version: TlsVersion | None = None
    maximum_version: TlsVersion | None = None
    ciphers: Annotated[str | None, Field(description="OpenSSL cipher list (TLS 1.2 suites)")] = None
    alpn: list[str] = Field(default_factory=list)
    handshake_fault: Annotated[
        HandshakeFault | None,
        Field(description="server: " + "; ".join(f"{k}: {v}" for k, v in HANDSHAKE_FAULTS.items())),
    ] = None
    plain_reply: Annotated[
        Payload | None, Field(description="server: the plain bytes of handshake_fault: plain_reply")
    ] = None
    session_tickets: Annotated[
        Count | None, Field(description="server: TLS 1.3 session tickets sent (ssl default 2)")
    ] = None
    suppress_ragged_eofs: bool = True

    def options(self, payload: Any) -> peers.TLSOptions:
        """The peer-layer options (``payload`` resolves ``plain_reply``)."""
        extra: dict[str, Any] = {}
        if self.plain_reply is not None:
            extra["plain_reply"] = payload(self.plain_reply)
        return peers.TLSOptions(
            cert=self.cert,
            client_auth=self.client_auth,
            client_cert=self.client_cert,
            verify=self.verify,
            server_hostname=self.server_hostname,
            minimum_version=self.minimum_version,
            maximum_version=self.maximum_version,
            ciphers=self.ciphers,
            alpn=tuple(self.alpn),
            handshake_fault=self.handshake_fault,
            session_tickets=self.session_tickets,
            suppress_ragged_eofs=self.suppress_ragged_eofs,
            **extra,
        )


def _tls_shorthand(value: Any) -> Any:
    if value is True:
        return {}
    if isinstance(value, str):
        return {"cert": value}
    return value


#: A peer's ``tls:`` value: ``true``, a certificate kind, or the mapping.
Tls = Annotated[
    TlsSpec,
    BeforeValidator(_tls_shorthand, json_schema_input_type=Literal[True] | CertKind | TlsSpec),
]


def tls_role_problems(spec: TlsSpec, *, client: bool) -> Iterator[tuple[KeyPath, str, bool]]:
    """The fields written that the peer's role does not use (a server's on a client and vice versa)."""
    wrong_fields = _SERVER_ONLY if client else _CLIENT_ONLY
    role, other = ("client", "server") if client else ("server", "client")
    for name in wrong_fields:
        if name in spec.model_fields_set:
            yield ("tls", name), f"tls.{name} applies to a TLS {other}; this peer is a {role}", True
    if not client and spec.plain_reply is not None and spec.handshake_fault != "plain_reply":
        yield ("tls", "plain_reply"), "tls.plain_reply needs handshake_fault: plain_reply", True
