"""Pure checks on what the fault engine is asked to create: names, upstream addresses, loopback hosts.

They run before anything changes, so a request that fails leaves no state behind, and their errors are
:class:`~sockharness.faults._errors.BadRequest` (400 in Toxiproxy's error shape) worded in this project's
own terms. No I/O here: resolution and binding stay in the engine.
"""

from __future__ import annotations

import ipaddress

from sockharness.faults._errors import BadRequest
from sockharness.peers._addresses import parse_host_port

#: Longest proxy or toxic name accepted: names travel in URLs, JSON and log lines.
MAX_NAME_LENGTH = 256


def split_host_port(text: str) -> tuple[str, int]:
    """``host:port`` as Toxiproxy reads it (Go's ``net.SplitHostPort``): the harness's one parser,
    :func:`~sockharness.peers._addresses.parse_host_port`, plus the empty host Go allows (``":8474"``: every
    interface). ValueError names the text."""
    if text.startswith(":"):
        return "", parse_host_port(f"0.0.0.0{text}")[1]
    return parse_host_port(text)


def check_name(name: str, what: str = "proxy") -> None:
    """Refuse names that could not be shown, logged or sent back as UTF-8 JSON.

    A lone surrogate (``"\\ud800"``) decodes from JSON but cannot be encoded again, so a proxy with one
    would make every later ``GET /proxies`` fail; control characters would break log lines and URLs.
    """
    if not isinstance(name, str) or not name:
        raise BadRequest(f"bad request body: a {what} name must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise BadRequest(
            f"bad request body: the {what} name is {len(name)} characters long; "
            f"the limit is {MAX_NAME_LENGTH}"
        )
    for position, char in enumerate(name):
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise BadRequest(
                f"bad request body: the {what} name holds a lone surrogate U+{ord(char):04X} "
                f"at position {position}; names must be valid Unicode text"
            )
        if not char.isprintable():
            raise BadRequest(
                f"bad request body: the {what} name holds the unprintable character U+{ord(char):04X} "
                f"at position {position}; names must be printable text"
            )


def check_upstream(upstream: str) -> None:
    """Refuse an upstream that is not ``host:port`` at once, instead of resetting every client later."""
    shown = ascii(upstream)[1:-1]
    if any(0xD800 <= ord(char) <= 0xDFFF or not char.isprintable() for char in upstream):
        raise BadRequest(f'bad request body: upstream "{shown}" holds unprintable characters')
    try:
        host, _port = split_host_port(upstream)
    except ValueError:
        raise BadRequest(
            f'bad request body: upstream "{shown}" is not an address; expected host:port, '
            'e.g. "127.0.0.1:6379" or "[::1]:6379"'
        ) from None
    if host.count(":") and not _is_ip(host):
        raise BadRequest(
            f'bad request body: upstream "{shown}" is not an address: "{host}" is neither a host name '
            "nor an IP address (write IPv6 as [addr]:port)"
        )
    if " " in host:
        raise BadRequest(f'bad request body: upstream "{shown}" is not an address: the host holds a space')


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback_ip(host: str) -> bool:
    """True for a loopback IP literal (``127.0.0.0/8``, ``::1``, ``::ffff:127.x``); names are not IPs."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_unspecified_ip(host: str) -> bool:
    """True for ``0.0.0.0`` and ``::``: a connect to them reaches this machine; a bind, every interface."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_unspecified
    except ValueError:
        return False


__all__ = [
    "MAX_NAME_LENGTH",
    "check_name",
    "check_upstream",
    "is_loopback_ip",
    "is_unspecified_ip",
    "split_host_port",
]
