"""Fault-engine errors, worded and numbered exactly as Toxiproxy 2.12.0 answers them.

The HTTP API turns any :class:`FaultError` into ``{"error": message, "status": status}`` with that status,
so a client written against real Toxiproxy sees the same texts from the embedded engine.
"""

from __future__ import annotations


class FaultError(Exception):
    """Base class: carries the HTTP status and the exact message Toxiproxy would send."""

    status: int = 500
    default_message: str = "internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message: str = message if message is not None else self.default_message
        super().__init__(self.message)

    def to_json(self) -> dict[str, object]:
        """The JSON body Toxiproxy sends with this error."""
        return {"error": self.message, "status": self.status}


class ProxyExists(FaultError):
    status = 409
    default_message = "proxy already exists"


class ProxyNotFound(FaultError):
    status = 404
    default_message = "proxy not found"


class ToxicExists(FaultError):
    status = 409
    default_message = "toxic already exists"


class ToxicNotFound(FaultError):
    status = 404
    default_message = "toxic not found"


class InvalidToxic(FaultError):
    """Unknown toxic type."""

    status = 400
    default_message = "invalid toxic type"


class BadRequest(FaultError):
    """A malformed field or attribute; the message names it (Toxiproxy prefixes "bad request body: ")."""

    status = 400
    default_message = "bad request body"


class InvalidStream(BadRequest):
    default_message = "stream was invalid, can be either upstream or downstream"


class MissingField(BadRequest):
    """A required field is absent: message is ``"missing required field: <field>"`` like Toxiproxy."""

    def __init__(self, field: str) -> None:
        super().__init__(f"missing required field: {field}")
        self.field = field


class ListenError(FaultError):
    """The listen address could not be bound; the message is the OS error text."""

    status = 500
    default_message = "listen error"


class ProxyLoop(BadRequest):
    """The upstream leads back to the proxy itself (directly or through other proxies of the engine):
    every connection would open another one until the process runs out of descriptors."""

    default_message = "bad request body: proxy loop"


class NotLoopback(BadRequest):
    """A listen address off the loopback, refused unless the engine was told to allow it."""

    default_message = "bad request body: listen address is not a loopback address"


def bad_request(detail: str) -> BadRequest:
    """A :class:`BadRequest` worded like Toxiproxy's ``joinError(err, ErrBadRequestBody)``."""
    return BadRequest(f"bad request body: {detail}")


__all__ = [
    "BadRequest",
    "FaultError",
    "InvalidStream",
    "InvalidToxic",
    "ListenError",
    "MissingField",
    "NotLoopback",
    "ProxyExists",
    "ProxyLoop",
    "ProxyNotFound",
    "ToxicExists",
    "ToxicNotFound",
    "bad_request",
]
