"""What a file may say about UDP proxies and DNS peers, checked at load time in the registries' own words."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

from sockharness.faults._engine.toxic_types import TOXICS, TOXIPROXY_HAS_NO_UDP, UnsupportedToxic
from sockharness.scenario._language.errors import KeyPath


def datagram_problems(
    protocol: str, backend: str, toxic_types: Iterable[str]
) -> Iterator[tuple[KeyPath, str, bool]]:
    """A toxic of the other protocol on a proxy peer (``udp_*`` on TCP, a TCP toxic on UDP), and a UDP
    proxy on the Toxiproxy backend: (key path, sentence, point at the key), as ``kind_problems`` yields."""
    if protocol == "udp" and backend == "toxiproxy":
        yield ("protocol",), TOXIPROXY_HAS_NO_UDP, False
    for index, name in enumerate(toxic_types):
        toxic = TOXICS.get(name)
        if toxic is None:
            continue  # the toxic model already refused the unknown type
        try:
            toxic.check_protocol("udp" if protocol == "udp" else "tcp")
        except UnsupportedToxic as error:
            yield ("toxics", index, "type"), error.message, False


def toxic_protocol_problem(protocol: str, toxic_type: str) -> str | None:
    """Why a toxic of ``toxic_type`` cannot go on a proxy of ``protocol`` (an add_toxic step or a phase
    toxic aimed at a proxy peer), or None."""
    toxic = TOXICS.get(toxic_type)
    if toxic is None:
        return None
    try:
        toxic.check_protocol("udp" if protocol == "udp" else "tcp")
    except UnsupportedToxic as error:
        return error.message
    return None


def toxic_target_problem(protocol: str, toxic_type: str, targeted: bool) -> str | None:
    """Why a toxic of ``toxic_type`` cannot take a connection target on a proxy of ``protocol``, or None:
    the words the UDP proxy itself refuses it with."""
    toxic = TOXICS.get(toxic_type)
    if toxic is None:
        return None
    try:
        toxic.check_target("udp" if protocol == "udp" else "tcp", targeted)
    except UnsupportedToxic as error:
        return error.message
    return None


#: A DNS peer's modes (``peers._dns.DNS_MODES``, which a test keeps equal to this).
DnsModeName = Literal["answer", "nxdomain", "servfail", "refused", "empty", "truncate", "late", "drop"]

__all__ = ["DnsModeName", "datagram_problems", "toxic_protocol_problem", "toxic_target_problem"]
