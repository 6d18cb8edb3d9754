"""Pure: OpenSSL verify codes by name, and which ``SSLError.reason`` names mean the same failure.

Verify codes are OpenSSL ABI (``X509_V_ERR_*`` in ``x509_vfy.h``): the numbers never change between versions,
so a scenario may name them. Reasons are less stable: CPython reports the *last* error OpenSSL queued, and
OpenSSL 3.2-3.5 queue ``RECORD_LAYER_FAILURE`` after the record-layer error 3.0 and 4.0 report alone
(tls-facts 7). An expected reason therefore matches itself or a known alias of the same failure; the alias
sets are written out here, each with the versions it was seen in, instead of matching on message text.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "REASON_ALIASES",
    "VERIFY_CODES",
    "reason_matches",
    "verify_code_name",
    "verify_code_number",
]

#: ``X509_V_ERR_*`` name -> number (OpenSSL ``include/openssl/x509_vfy.h``; identical in 1.1.1, 3.x, 4.0).
VERIFY_CODES: Final[dict[str, int]] = {
    "X509_V_OK": 0,
    "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT": 2,
    "X509_V_ERR_CERT_SIGNATURE_FAILURE": 7,
    "X509_V_ERR_CERT_NOT_YET_VALID": 9,
    "X509_V_ERR_CERT_HAS_EXPIRED": 10,
    "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT": 18,
    "X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN": 19,
    "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY": 20,
    "X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE": 21,
    "X509_V_ERR_CERT_REVOKED": 23,
    "X509_V_ERR_INVALID_CA": 24,
    "X509_V_ERR_INVALID_PURPOSE": 26,
    "X509_V_ERR_CERT_UNTRUSTED": 27,
    "X509_V_ERR_CERT_REJECTED": 28,
    "X509_V_ERR_HOSTNAME_MISMATCH": 62,
    "X509_V_ERR_EMAIL_MISMATCH": 63,
    "X509_V_ERR_IP_ADDRESS_MISMATCH": 64,
    "X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER": 85,
}

_RECORD_LAYER: Final = "RECORD_LAYER_FAILURE"

#: Reason -> the other reasons the same failure is reported as by another OpenSSL (tls-facts 7).
REASON_ALIASES: Final[dict[str, frozenset[str]]] = {
    # A plain-text reply where a ServerHello belongs: 1.1.1, 3.0, 4.0 WRONG_VERSION_NUMBER; 3.2-3.5 queue
    # PACKET_LENGTH_TOO_LONG then RECORD_LAYER_FAILURE (the last one reaches Python).
    "WRONG_VERSION_NUMBER": frozenset({"PACKET_LENGTH_TOO_LONG", _RECORD_LAYER}),
    "PACKET_LENGTH_TOO_LONG": frozenset({"DATA_LENGTH_TOO_LONG", _RECORD_LAYER}),
    "DECRYPTION_FAILED_OR_BAD_RECORD_MAC": frozenset({_RECORD_LAYER}),
    # An unexpected EOF: OpenSSL 1.1.1 queues no reason at all (None), 3.0+ names it.
    "UNEXPECTED_EOF_WHILE_READING": frozenset({"None"}),
}


def reason_matches(expected: str, observed: str | None, *, portable: bool = True) -> bool:
    """Whether ``observed`` (``SSLError.reason``; None shown as "None") is the failure ``expected`` names."""
    seen = "None" if observed is None else observed
    if seen == expected:
        return True
    return portable and seen in REASON_ALIASES.get(expected, frozenset())


def verify_code_number(name_or_number: str | int) -> int:
    """The number of a verify code given by ``X509_V_ERR_*`` name (or the short name without the prefix)."""
    if isinstance(name_or_number, int) and not isinstance(name_or_number, bool):
        return name_or_number
    name = str(name_or_number)
    full = name if name.startswith("X509_V_") else f"X509_V_ERR_{name}"
    if full not in VERIFY_CODES:
        raise ValueError(
            f"unknown verify code {name!r} (known: {', '.join(VERIFY_CODES)}; or give the number)"
        )
    return VERIFY_CODES[full]


def verify_code_name(number: int | None) -> str:
    """``X509_V_ERR_CERT_HAS_EXPIRED (10)`` for 10; the bare number when unnamed here."""
    if number is None:
        return "None"
    names = [name for name, value in VERIFY_CODES.items() if value == number]
    return f"{names[0]} ({number})" if names else str(number)
