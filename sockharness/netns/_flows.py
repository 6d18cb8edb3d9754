"""Which TCP connections use a port right now, from ``/proc/net/tcp`` and ``tcp6``.

A ``cut`` fault must hit the connections open when it is added and spare later ones, so it names them
by their other end's port. ``/proc/thread-self/net`` shows the calling thread's network namespace
(``/proc/self/net`` would show the main thread's). Parsing is pure; :func:`open_flow_peer_ports` reads.
"""

from __future__ import annotations

from dataclasses import dataclass

# Kernel TCP states (include/net/tcp_states.h) that still carry packets of a connection. LISTEN (0A),
# TIME_WAIT (06) and CLOSE (07) do not: nothing to cut there.
_LIVE_STATES = frozenset({0x01, 0x02, 0x03, 0x04, 0x05, 0x08, 0x09, 0x0B})
PROC_TCP_FILES = ("/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6")


@dataclass(frozen=True)
class TcpSocketEntry:
    local_port: int
    remote_port: int
    state: int

    @property
    def live(self) -> bool:
        return self.state in _LIVE_STATES


def parse_proc_net_tcp(text: str) -> list[TcpSocketEntry]:
    """Parse the table format of /proc/net/tcp{,6}: ``sl local_address rem_address st ...``."""
    entries: list[TcpSocketEntry] = []
    for number, line in enumerate(text.splitlines()[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        try:
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            state = int(fields[3], 16)
        except (IndexError, ValueError):
            raise ValueError(f"/proc/net/tcp line {number} is not in the kernel's format: {line!r}") from None
        entries.append(TcpSocketEntry(local_port, remote_port, state))
    return entries


def peer_ports_of(entries: list[TcpSocketEntry], port: int) -> set[int]:
    """Ports at the other end of every live connection that has ``port`` at one end."""
    peers: set[int] = set()
    for entry in entries:
        if not entry.live or entry.local_port == entry.remote_port:
            continue
        if entry.local_port == port:
            peers.add(entry.remote_port)
        elif entry.remote_port == port:
            peers.add(entry.local_port)
    return peers


def open_flow_peer_ports(port: int) -> set[int]:
    """The other-end ports of the TCP connections on ``port`` in this thread's network namespace."""
    entries: list[TcpSocketEntry] = []
    for path in PROC_TCP_FILES:
        try:
            with open(path, encoding="ascii") as handle:
                entries.extend(parse_proc_net_tcp(handle.read()))
        except FileNotFoundError:  # tcp6 is absent when IPv6 is disabled
            continue
    return peer_ports_of(entries, port)
