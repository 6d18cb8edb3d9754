"""Which connections a toxic acts on, and from when in their life: the ``target`` of any toxic.

Pure: no sockets, no clocks. A :class:`Target` is plain data on a toxic (``ToxicSpec.target``), validated
once here for every toxic type, so the Python API, YAML, the HTTP API and the real-Toxiproxy backend's
refusal all read the same words. The engine asks :meth:`Target.matches` when a toxic starts on a
connection, and wraps the toxic's stage in a window stage when ``after_bytes``/``after_ms`` say it starts
later in the connection's life.

Connection indexes count from 1 and from the moment the toxic was added: connection 1 is the first one the
proxy accepts after it, so "the first two connects fail" means the next two, whenever the toxic goes in.
Connections already open when it is added have no index for it, so an index rule never matches them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final

from sockharness.faults._errors import BadRequest

#: The keys of a target, in the order the docs and error texts list them.
TARGET_KEYS: Final = (
    "nth",
    "first",
    "every",
    "starting_at",
    "client_host",
    "client_port",
    "after_bytes",
    "after_ms",
)
_INDEX_KEYS: Final = ("nth", "first", "every", "starting_at")

TARGET_SUMMARIES: Final[Mapping[str, str]] = {
    "nth": "only the Nth connection accepted after the toxic was added (1 is the next one)",
    "first": "only the first N connections accepted after the toxic was added",
    "every": "every Nth connection (N, 2N, 3N, ...)",
    "starting_at": "the Nth connection and every one after it",
    "client_host": "only connections from this client IP address",
    "client_port": "only connections from this client port",
    "after_bytes": "the toxic starts acting once this many bytes passed in its stream, exactly",
    "after_ms": "the toxic starts acting this many milliseconds after the connection was accepted",
}


class InvalidTarget(BadRequest, ValueError):
    """A target key that does not exist or a value out of range; the message names it."""


@dataclass(frozen=True)
class Target:
    """Which connections a toxic applies to (every rule must hold) and when in their life it starts.

    The default targets every connection from its first byte, which is what a toxic without a target does.
    """

    nth: int | None = None
    first: int | None = None
    every: int | None = None
    starting_at: int | None = None
    client_host: str | None = None
    client_port: int | None = None
    after_bytes: int = 0
    after_ms: int = 0

    @property
    def is_everything(self) -> bool:
        return self == EVERY_CONNECTION

    @property
    def counts_connections(self) -> bool:
        """Whether a rule needs the connection's index (counted from when the toxic was added)."""
        return any(getattr(self, key) is not None for key in _INDEX_KEYS)

    @property
    def windowed(self) -> bool:
        return self.after_bytes > 0 or self.after_ms > 0

    def matches(self, index: int | None, client_host: str, client_port: int) -> bool:
        """Whether the toxic acts on a connection: its 1-based index since the toxic was added (None for one
        that was open before), and the client's address as the proxy accepted it."""
        if self.counts_connections:
            if index is None or index < 1:
                return False
            if self.nth is not None and index != self.nth:
                return False
            if self.first is not None and index > self.first:
                return False
            if self.every is not None and index % self.every != 0:
                return False
            if self.starting_at is not None and index < self.starting_at:
                return False
        if self.client_host is not None and not _same_ip(self.client_host, client_host):
            return False
        return self.client_port is None or self.client_port == client_port

    def to_json(self) -> dict[str, object]:
        """Only the keys that are set: an empty object is every connection."""
        return {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if getattr(self, item.name) != item.default
        }

    def describe(self) -> str:
        """``first=2, after_bytes=10`` (or ``every connection``), for event logs and reports."""
        shown = self.to_json()
        return ", ".join(f"{key}={value}" for key, value in shown.items()) or "every connection"


EVERY_CONNECTION: Final = Target()


def _same_ip(wanted: str, actual: str) -> bool:
    try:
        return ipaddress.ip_address(wanted) == ipaddress.ip_address(actual)
    except ValueError:
        return wanted == actual


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else repr(value)


def _whole(key: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
        raise InvalidTarget(f"target {key} must be a whole number >= {minimum}, got {_shown(value)}")
    number = int(value)
    if number < minimum:
        what = "a connection index counts from 1" if key in _INDEX_KEYS else f"it must be >= {minimum}"
        raise InvalidTarget(f"target {key} must be >= {minimum} ({what}), got {number}")
    if number > 2**63 - 1:
        raise InvalidTarget(f"target {key} must be at most {2**63 - 1}, got {number}")
    return number


def parse_target(given: object) -> Target:
    """A :class:`Target` from a mapping (Python, YAML or JSON); None or ``{}`` is every connection.

    Raises :class:`InvalidTarget` naming the key: an unknown key (with did-you-mean), an index below 1,
    a negative window, a client host that is not an IP address, a port out of range."""
    if given is None:
        return EVERY_CONNECTION
    if isinstance(given, Target):
        given = given.to_json()  # checked like a mapping: Target(first=0) is refused too
    if not isinstance(given, Mapping):
        raise InvalidTarget(f"target must be a mapping of {', '.join(TARGET_KEYS)}, got {_shown(given)}")
    values: dict[str, object] = {}
    for key, value in given.items():
        if key not in TARGET_KEYS:
            raise InvalidTarget(unknown_target_key(key))
        if value is None:
            continue
        if key == "client_host":
            values[key] = _client_host(value)
        elif key == "client_port":
            port = _whole(key, value, 1)
            if port > 65535:
                raise InvalidTarget(f"target client_port must be a port from 1 to 65535, got {port}")
            values[key] = port
        else:
            values[key] = _whole(key, value, 1 if key in _INDEX_KEYS else 0)
    return Target(**values)  # type: ignore[arg-type]


def unknown_target_key(key: object) -> str:
    import difflib

    close = difflib.get_close_matches(key, TARGET_KEYS, n=1) if isinstance(key, str) else []
    hint = f"; did you mean {close[0]!r}? " if close else "; "
    return f"unknown target key {key!r}{hint}known keys: {', '.join(TARGET_KEYS)}"


def _client_host(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidTarget(f"target client_host must be an IP address, got {_shown(value)}")
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        raise InvalidTarget(
            f"target client_host must be an IP address like '127.0.0.1' or '::1', got {value!r}"
        ) from None


def render_target_table() -> str:
    """The docs' table of target keys, in markdown, from ``TARGET_KEYS`` and their summaries."""
    lines = ["| key | value | what it selects |", "| --- | --- | --- |"]
    for key in TARGET_KEYS:
        if key == "client_host":
            value = "an IP address"
        elif key in _INDEX_KEYS:
            value = "a connection index, from 1"
        elif key == "client_port":
            value = "a port, 1 to 65535"
        else:
            value = "bytes" if key == "after_bytes" else "milliseconds"
        lines.append(f"| `{key}` | {value} | {TARGET_SUMMARIES[key]} |")
    return "\n".join(lines) + "\n"


def check_target_backend(target: Target, toxic: str, backend: str) -> None:
    """Refuse a target on a real Toxiproxy server, which would apply the toxic to every connection."""
    if backend != "embedded" and not target.is_everything:
        raise InvalidTarget(
            f"targeting ({target.describe()}) of the {toxic} toxic is embedded-only: a real Toxiproxy "
            "server would apply it to every connection; use the embedded backend "
            "(--sockharness-backend embedded)"
        )


__all__ = [
    "EVERY_CONNECTION",
    "TARGET_KEYS",
    "TARGET_SUMMARIES",
    "InvalidTarget",
    "Target",
    "check_target_backend",
    "parse_target",
    "render_target_table",
    "unknown_target_key",
]
