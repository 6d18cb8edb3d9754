"""What a file may say about UDP proxies and DNS peers, checked at load time in the registries' own words."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from sockharness.faults._engine.toxic_types import (
    TOXICS,
    TOXIPROXY_HAS_NO_UDP,
    ToxicType,
    UnsupportedToxic,
    proxy_protocol,
)
from sockharness.scenario._language.errors import KeyPath


def datagram_problems(
    protocol: str, backend: str, toxics: Iterable[tuple[str, bool]]
) -> Iterator[tuple[KeyPath, str, bool]]:
    """A proxy peer's ``toxics`` as ``(type, targeted)``: one of the other protocol (``udp_*`` on TCP, a TCP
    toxic on UDP) or a connection target on UDP, and a UDP proxy on the Toxiproxy backend: (key path,
    sentence, point at the key), as ``kind_problems`` yields."""
    if protocol == "udp" and backend == "toxiproxy":
        yield ("protocol",), TOXIPROXY_HAS_NO_UDP, False
    for index, (name, targeted) in enumerate(toxics):
        problem = toxic_protocol_problem(protocol, name)
        if problem is not None:
            yield ("toxics", index, "type"), problem, False
        problem = toxic_target_problem(protocol, name, targeted)
        if problem is not None:
            yield ("toxics", index, "target"), problem, False


def toxic_protocol_problem(protocol: str, toxic_type: str) -> str | None:
    """Why a toxic of ``toxic_type`` cannot go on a proxy of ``protocol`` (an add_toxic step or a phase
    toxic aimed at a proxy peer), or None."""
    return _refusal(toxic_type, lambda toxic: toxic.check_protocol(proxy_protocol(protocol)))


def toxic_target_problem(protocol: str, toxic_type: str, targeted: bool) -> str | None:
    """Why a toxic of ``toxic_type`` cannot take a connection target on a proxy of ``protocol``, or None:
    the words the UDP proxy itself refuses it with."""
    return _refusal(toxic_type, lambda toxic: toxic.check_target(proxy_protocol(protocol), targeted))


def _refusal(toxic_type: str, check: Callable[[ToxicType], None]) -> str | None:
    """The registry's sentence when ``check`` refuses the toxic type; None for an unknown type (the toxic
    model already refused it) or one the check accepts."""
    toxic = TOXICS.get(toxic_type)
    if toxic is None:
        return None
    try:
        check(toxic)
    except UnsupportedToxic as error:
        return error.message
    return None


#: A DNS peer's modes (``peers._dns.DNS_MODES``, which a test keeps equal to this).
DnsModeName = Literal["answer", "nxdomain", "servfail", "refused", "empty", "truncate", "late", "drop"]

__all__ = ["DnsModeName", "datagram_problems", "toxic_protocol_problem", "toxic_target_problem"]
