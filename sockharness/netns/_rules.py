"""Packet faults as data, and their translation into nftables scripts (pure: no I/O).

Every fault is scoped to one port and a direction relative to that port: ``out`` is packets sent *to*
the port (what a client sends to the peer listening there), ``in`` is packets sent *from* it (the
peer's answers), ``both`` is either. Rules sit in a base chain on the ``input`` hook of an ``inet``
table, i.e. where a packet arrives after crossing ``lo``: the sender has handed it to the network and
learns nothing, as with a real lossy path. (On the ``output`` hook a drop is reported to the sender:
a UDP ``send`` fails with EPERM.) Every packet passes that hook once; a GSO batch of up to 64 KiB
counts as one packet. ``reject`` answers the sender of the matched packet.

One fault is one base chain, so it is installed and removed atomically (one ``nft -f`` transaction)
and never interferes with another fault's rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar


class FaultKind(StrEnum):
    BLACKHOLE = "blackhole"  # drop silently: connect times out, data is retransmitted until it gives up
    LOSS = "loss"  # drop `percent` % of packets at random: TCP retransmits, throughput drops
    REJECT = "reject"  # drop and answer the sender (TCP RST or an ICMP unreachable)
    CUT = "cut"  # drop the TCP connections open on the port *now*; new connections pass


class Direction(StrEnum):
    OUT = "out"  # packets whose destination port is the fault's port
    IN = "in"  # packets whose source port is the fault's port
    BOTH = "both"


class RejectWith(StrEnum):
    TCP_RESET = "tcp-reset"
    HOST_UNREACHABLE = "host-unreachable"
    NET_UNREACHABLE = "net-unreachable"
    PORT_UNREACHABLE = "port-unreachable"
    ADMIN_PROHIBITED = "admin-prohibited"


# nft's `icmpx` types pick the right ICMP (IPv4) or ICMPv6 code for each packet's family.
_REJECT_STATEMENT: dict[RejectWith, str] = {
    RejectWith.TCP_RESET: "reject with tcp reset",
    RejectWith.HOST_UNREACHABLE: "reject with icmpx type host-unreachable",
    RejectWith.NET_UNREACHABLE: "reject with icmpx type no-route",
    RejectWith.PORT_UNREACHABLE: "reject with icmpx type port-unreachable",
    RejectWith.ADMIN_PROHIBITED: "reject with icmpx type admin-prohibited",
}

DEFAULT_REJECT_WITH = RejectWith.PORT_UNREACHABLE  # nft's own default for a bare `reject`
_E = TypeVar("_E", bound=StrEnum)
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_LOSS_SCALE = 100  # percent -> parts per 10000, so 0.01 % steps are representable


@dataclass(frozen=True)
class PacketFault:
    """One installed (or about-to-be-installed) fault."""

    name: str
    kind: FaultKind
    port: int
    direction: Direction = Direction.BOTH
    percent: float | None = None  # loss only
    reject_with: RejectWith | None = None  # reject only
    peer_ports: tuple[int, ...] = ()  # cut only: the other end of each connection being cut

    def describe(self) -> str:
        extra = ""
        if self.kind is FaultKind.LOSS:
            extra = f" {self.percent:g}%"
        elif self.kind is FaultKind.REJECT:
            extra = f" with {self.reject_with}"
        elif self.kind is FaultKind.CUT:
            extra = " flows from " + ",".join(str(p) for p in self.peer_ports)
        return f"{self.name}: {self.kind}{extra} on port {self.port} ({self.direction})"


def _choice(enum: type[_E], value: object, argument: str) -> _E:
    if isinstance(value, enum):
        return value
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ValueError(f"{argument}={value!r} is not one of: {allowed}") from None


def validate_port(port: object, argument: str = "port") -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"{argument}={port!r} must be an integer port 1-65535")
    return port


def make_fault(
    kind: str | FaultKind,
    port: int,
    *,
    name: str,
    direction: str | Direction = Direction.BOTH,
    percent: float | None = None,
    reject_with: str | RejectWith | None = None,
    peer_ports: Iterable[int] = (),
) -> PacketFault:
    """Validate arguments into a :class:`PacketFault`; errors name the offending argument."""
    fault_kind = _choice(FaultKind, kind, "kind")
    if not _NAME.match(name):
        raise ValueError(f"name={name!r} must be 1-64 characters of letters, digits, '_', '.', ':' or '-'")
    validate_port(port)
    fault_direction = _choice(Direction, direction, "direction")
    if fault_kind is FaultKind.LOSS:
        if percent is None or isinstance(percent, bool) or not isinstance(percent, int | float):
            raise ValueError(f"percent={percent!r}: kind 'loss' needs a percentage between 0 and 100")
        if not 0 < percent <= 100:
            raise ValueError(f"percent={percent!r} must be greater than 0 and at most 100")
    elif percent is not None:
        raise ValueError(f"percent={percent!r} only applies to kind 'loss' (kind is {fault_kind.value!r})")
    chosen_reject: RejectWith | None = None
    if fault_kind is FaultKind.REJECT:
        chosen_reject = (
            DEFAULT_REJECT_WITH if reject_with is None else _choice(RejectWith, reject_with, "reject_with")
        )
    elif reject_with is not None:
        raise ValueError(
            f"reject_with={reject_with!r} only applies to kind 'reject' (kind is {fault_kind.value!r})"
        )
    ports = tuple(sorted({validate_port(p, "peer_ports") for p in peer_ports}))
    if fault_kind is FaultKind.CUT and not ports:
        raise ValueError(
            f"kind 'cut' on port {port}: no open TCP connection uses that port, so none can be cut"
        )
    if fault_kind is not FaultKind.CUT and ports:
        raise ValueError("peer_ports only applies to kind 'cut'")
    return PacketFault(name, fault_kind, port, fault_direction, percent, chosen_reject, ports)


def _matches(fault: PacketFault) -> list[str]:
    """One nft match expression per direction the fault covers."""
    sides = {Direction.OUT: ["dport"], Direction.IN: ["sport"], Direction.BOTH: ["dport", "sport"]}
    result: list[str] = []
    for side in sides[fault.direction]:
        if fault.kind is FaultKind.CUT:
            other = "sport" if side == "dport" else "dport"
            peers = ", ".join(str(p) for p in fault.peer_ports)
            result.append(f"tcp {side} {fault.port} tcp {other} {{ {peers} }}")
        elif fault.kind is FaultKind.REJECT and fault.reject_with is RejectWith.TCP_RESET:
            # A reset is never answered with a reset: let the RSTs this rule sends (and any other) pass.
            result.append(f"tcp {side} {fault.port} tcp flags & rst == 0")
        else:
            result.append(f"meta l4proto {{ tcp, udp }} th {side} {fault.port}")
    return result


def _verdict(fault: PacketFault) -> str:
    if fault.kind is FaultKind.LOSS:
        assert fault.percent is not None
        threshold = round(fault.percent * _LOSS_SCALE)
        return f"numgen random mod {100 * _LOSS_SCALE} < {threshold} drop"
    if fault.kind is FaultKind.REJECT:
        assert fault.reject_with is not None
        return _REJECT_STATEMENT[fault.reject_with]
    return "drop"


def render_table(table: str) -> str:
    """Script creating the (empty) table that holds one chain per fault."""
    return f"add table inet {table}\n"


def render_add(table: str, chain: str, fault: PacketFault) -> str:
    """Script installing ``fault`` as base chain ``chain`` of ``table``, in one transaction."""
    lines = [
        f"add chain inet {table} {chain} {{ type filter hook input priority filter; policy accept; }}",
        *(f"add rule inet {table} {chain} {match} {_verdict(fault)}" for match in _matches(fault)),
    ]
    return "\n".join(lines) + "\n"


def render_remove(table: str, chain: str) -> str:
    """Script deleting one fault's chain and its rules."""
    return f"flush chain inet {table} {chain}\ndelete chain inet {table} {chain}\n"


def render_drop_table(table: str) -> str:
    return f"delete table inet {table}\n"
