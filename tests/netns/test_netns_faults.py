"""Packet faults observed from real client sockets, inside the private network namespace.

Every test here is marked ``netns``: a plain ``pytest`` run skips them, and test_netns_mode.py runs
this file in a subprocess with ``--sockharness-netns`` so the normal suite still exercises them.
Measured on Linux 6.18 (see the README's netns section): IPv4 rejects fail connect at once; IPv6 ICMP rejects
arrive while connect() holds the socket lock, become a soft error and fail the connect at the first SYN
retransmission, about 1 s later.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sockharness.netns import NetnsUnavailable, PacketFaultError, PacketFaults, netns_active
from sockharness.netns._namespace import DEFAULT_SYSCTLS, enter_private_netns, sysctl_path

pytestmark = pytest.mark.netns

FAMILIES = {"ipv4": (socket.AF_INET, "127.0.0.1"), "ipv6": (socket.AF_INET6, "::1")}
REJECT_ERRNOS = {
    # reject_with: (IPv4 errno, IPv6 errno)
    "tcp-reset": (errno.ECONNREFUSED, errno.ECONNREFUSED),
    "host-unreachable": (errno.EHOSTUNREACH, errno.EHOSTUNREACH),
    "net-unreachable": (errno.ENETUNREACH, errno.ENETUNREACH),
    "port-unreachable": (errno.ECONNREFUSED, errno.ECONNREFUSED),
    "admin-prohibited": (errno.EHOSTUNREACH, errno.EACCES),  # ICMPv6 "administratively prohibited"
}
TCP_INFO_TOTAL_RETRANS = 100  # offset of tcpi_total_retrans in struct tcp_info (linux/tcp.h)


@pytest.fixture(params=sorted(FAMILIES))
def listener(request: pytest.FixtureRequest) -> Iterator[socket.socket]:
    family, host = FAMILIES[request.param]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        sock.listen(8)
        yield sock


@pytest.fixture
def listener4() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock


def _client_for(listener: socket.socket) -> socket.socket:
    return socket.socket(listener.family, socket.SOCK_STREAM)


def _address(listener: socket.socket) -> tuple[str, int]:
    host, port = listener.getsockname()[:2]
    return host, port


def _connected_pair(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = _client_for(listener)
    client.settimeout(5)
    client.connect(_address(listener))
    listener.settimeout(5)
    server, _ = listener.accept()
    return client, server


def test_namespace_is_private_with_loopback_up_and_sysctls() -> None:
    assert netns_active()
    for name, value in DEFAULT_SYSCTLS.items():
        with open(sysctl_path(name), encoding="ascii") as handle:
            assert handle.read().strip() == value
    for family, host in FAMILIES.values():
        with socket.socket(family) as server, socket.socket(family) as client:
            server.bind((host, 0))
            server.listen(1)
            client.settimeout(2)
            client.connect(server.getsockname())
    nft = shutil.which("nft")
    assert nft is not None
    names = subprocess.run([nft, "list", "tables"], capture_output=True, text=True, check=True, timeout=10)
    assert "sockharness" not in names.stdout  # nothing left over from another test of this process


def test_entering_again_is_a_no_op() -> None:
    before = os.stat("/proc/thread-self/ns/net").st_ino
    enter_private_netns()
    assert os.stat("/proc/thread-self/ns/net").st_ino == before


def test_blackhole_connect_with_python_timeout_raises_timeouterror(
    packet_faults: PacketFaults, listener: socket.socket
) -> None:
    packet_faults.add("blackhole", _address(listener)[1])
    with _client_for(listener) as client:
        client.settimeout(0.5)
        started = time.monotonic()
        with pytest.raises(TimeoutError) as raised:
            client.connect(_address(listener))
        elapsed = time.monotonic() - started
    assert raised.value.errno is None  # Python's own timeout, not the kernel's
    assert 0.498 <= elapsed <= 0.5 + 0.25


@pytest.mark.parametrize("use_connect_ex", [False, True], ids=["connect", "connect_ex"])
def test_blackhole_blocking_connect_ends_in_kernel_etimedout(
    packet_faults: PacketFaults, listener4: socket.socket, use_connect_ex: bool
) -> None:
    packet_faults.add("blackhole", _address(listener4)[1], direction="out")
    with _client_for(listener4) as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)  # one SYN retransmit: ~3 s
        started = time.monotonic()
        if use_connect_ex:
            assert client.connect_ex(_address(listener4)) == errno.ETIMEDOUT
        else:
            with pytest.raises(TimeoutError) as raised:
                client.connect(_address(listener4))
            assert raised.value.errno == errno.ETIMEDOUT
        elapsed = time.monotonic() - started
    assert 2.0 <= elapsed <= 10.0


def test_lowered_syn_retries_sysctl_bounds_a_blocking_connect(
    packet_faults: PacketFaults, listener4: socket.socket
) -> None:
    # No TCP_SYNCNT: the namespace's net.ipv4.tcp_syn_retries=2 alone ends it (host default 6: minutes).
    packet_faults.add("blackhole", _address(listener4)[1])
    with _client_for(listener4) as client:
        started = time.monotonic()
        with pytest.raises(TimeoutError) as raised:
            client.connect(_address(listener4))
        elapsed = time.monotonic() - started
    assert raised.value.errno == errno.ETIMEDOUT
    assert 5.0 <= elapsed <= 15.0


@pytest.mark.parametrize("reject_with", sorted(REJECT_ERRNOS))
def test_reject_fails_connect_and_connect_ex_with_the_documented_errno(
    packet_faults: PacketFaults, listener: socket.socket, reject_with: str
) -> None:
    expected = REJECT_ERRNOS[reject_with][0 if listener.family == socket.AF_INET else 1]
    packet_faults.add("reject", _address(listener)[1], reject_with=reject_with)
    with _client_for(listener) as client:
        client.settimeout(5)
        started = time.monotonic()
        with pytest.raises(OSError) as raised:
            client.connect(_address(listener))
        elapsed = time.monotonic() - started
    assert raised.value.errno == expected, errno.errorcode.get(raised.value.errno or 0)
    # IPv4: at once; IPv6 ICMP errors only land at the first SYN retransmit (~1 s), see module doc.
    assert elapsed < (0.5 if listener.family == socket.AF_INET or reject_with == "tcp-reset" else 3.0)
    with _client_for(listener) as client:
        client.settimeout(5)
        assert client.connect_ex(_address(listener)) == expected


def test_reject_tcp_reset_raises_connectionrefusederror(
    packet_faults: PacketFaults, listener4: socket.socket
) -> None:
    packet_faults.add("reject", _address(listener4)[1], reject_with="tcp-reset", direction="out")
    with _client_for(listener4) as client, pytest.raises(ConnectionRefusedError):
        client.settimeout(5)
        client.connect(_address(listener4))


@pytest.mark.parametrize(
    ("reject_with", "expected"),
    [
        ("port-unreachable", errno.ECONNREFUSED),
        ("admin-prohibited", errno.EHOSTUNREACH),
        ("host-unreachable", None),  # not a "hard" ICMP error for UDP: ignored without IP_RECVERR
    ],
)
def test_udp_connected_socket_sees_hard_icmp_errors_on_recv(
    packet_faults: PacketFaults, reject_with: str, expected: int | None
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        packet_faults.add("reject", port, reject_with=reject_with, direction="out")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(0.5)
            client.connect(("127.0.0.1", port))
            assert client.send(b"ping") == 4  # the sender is not told at send time
            with pytest.raises(OSError) as raised:
                client.recv(16)
            assert raised.value.errno == expected


def test_removing_a_fault_lets_packets_through_again(
    packet_faults: PacketFaults, listener4: socket.socket
) -> None:
    port = _address(listener4)[1]
    name = packet_faults.add("blackhole", port, name="wall")
    assert name == "wall"
    with _client_for(listener4) as client:
        client.settimeout(0.3)
        with pytest.raises(TimeoutError):
            client.connect(_address(listener4))
    packet_faults.remove("wall")
    assert packet_faults.faults() == []
    with _client_for(listener4) as client:
        client.settimeout(5)
        client.connect(_address(listener4))


def test_fault_is_scoped_to_its_port(packet_faults: PacketFaults, listener4: socket.socket) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        packet_faults.add("blackhole", other.getsockname()[1])
        with _client_for(listener4) as client:
            client.settimeout(5)
            client.connect(_address(listener4))


def test_direction_in_drops_only_the_answers(packet_faults: PacketFaults, listener4: socket.socket) -> None:
    packet_faults.add("blackhole", _address(listener4)[1], direction="in")
    with _client_for(listener4) as client:
        client.settimeout(0.5)
        with pytest.raises(TimeoutError):
            client.connect(_address(listener4))
    # The SYN itself went through: the server side holds the half-open connection (SYN_RECV).
    with open("/proc/thread-self/net/tcp", encoding="ascii") as handle:
        states = [line.split()[3] for line in handle.read().splitlines()[1:]]
    assert "03" in states


def test_cut_with_tcp_user_timeout_fails_recv_then_send(
    packet_faults: PacketFaults, listener: socket.socket
) -> None:
    client, server = _connected_pair(listener)
    with client, server:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 1000)
        client.sendall(b"before")
        assert server.recv(16) == b"before"
        packet_faults.add("cut", _address(listener)[1])
        client.sendall(b"after the cut")  # queued; never acknowledged
        client.settimeout(10)
        started = time.monotonic()
        with pytest.raises(TimeoutError) as raised:
            client.recv(16)
        elapsed = time.monotonic() - started
        assert raised.value.errno == errno.ETIMEDOUT
        assert 0.8 <= elapsed <= 5.0
        with pytest.raises(BrokenPipeError):  # the error was reported once; the socket is now dead
            client.send(b"x")
        server.settimeout(0.2)
        with pytest.raises(TimeoutError):  # the peer never hears about it: a silent cut
            server.recv(16)


def test_cut_spares_connections_opened_afterwards(
    packet_faults: PacketFaults, listener4: socket.socket
) -> None:
    client, server = _connected_pair(listener4)
    with client, server:
        packet_faults.add("cut", _address(listener4)[1])
        fresh, fresh_server = _connected_pair(listener4)
        with fresh, fresh_server:
            fresh.sendall(b"still fine")
            fresh_server.settimeout(5)
            assert fresh_server.recv(16) == b"still fine"


def test_cut_with_keepalive_fails_an_idle_recv(packet_faults: PacketFaults, listener4: socket.socket) -> None:
    client, server = _connected_pair(listener4)
    with client, server:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 1)
        packet_faults.add("cut", _address(listener4)[1])
        client.settimeout(15)
        started = time.monotonic()
        with pytest.raises(TimeoutError) as raised:
            client.recv(16)
        assert raised.value.errno == errno.ETIMEDOUT
        assert 1.0 <= time.monotonic() - started <= 10.0


def _transfer(
    listener: socket.socket, payload: bytes, loss_percent: float | None, faults: PacketFaults
) -> tuple[bytes, float, int]:
    """Send ``payload`` on a new connection, loss added after the handshake: (data, seconds, retransmits)."""
    client, server = _connected_pair(listener)
    received = bytearray()
    server.settimeout(60)

    def drain() -> None:
        while len(received) < len(payload):
            chunk = server.recv(65536)
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=drain, name="netns-loss-reader")
    with client, server:
        # Data packets only ("out"): with ACKs dropped too the slow tail (RTO backoff) gets much longer.
        name = (
            faults.add("loss", _address(listener)[1], percent=loss_percent, direction="out")
            if loss_percent
            else None
        )
        started = time.monotonic()
        reader.start()
        try:
            client.sendall(payload)
        finally:
            reader.join(60)
        elapsed = time.monotonic() - started
        info = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_TOTAL_RETRANS + 4)
        retransmits = struct.unpack_from("I", info, TCP_INFO_TOTAL_RETRANS)[0]
        if name is not None:
            faults.remove(name)
    assert not reader.is_alive()
    return bytes(received), elapsed, retransmits


def test_loss_keeps_a_bulk_transfer_byte_identical_but_slower(
    packet_faults: PacketFaults, listener4: socket.socket, record_property: pytest.RecordProperty
) -> None:
    payload = os.urandom(4 << 20)  # ~64 GSO packets: the chance that none of them is dropped is 0.8**64
    clean, clean_seconds, clean_retransmits = _transfer(listener4, payload, None, packet_faults)
    lossy, lossy_seconds, lossy_retransmits = _transfer(listener4, payload, 20, packet_faults)
    assert clean == payload
    assert lossy == payload  # TCP retransmitted every dropped segment
    assert lossy_retransmits > 0  # (a clean run may show a few too: tail-loss probes on a loaded machine)
    record_property("clean_seconds", round(clean_seconds, 4))
    record_property("loss20_seconds", round(lossy_seconds, 4))
    record_property("clean_retransmits", clean_retransmits)
    record_property("loss20_retransmits", lossy_retransmits)
    print(
        f"4 MiB: clean {clean_seconds:.4f} s, 20 % loss {lossy_seconds:.4f} s "
        f"({lossy_seconds / max(clean_seconds, 1e-6):.0f}x), {lossy_retransmits} retransmits"
    )


def test_close_removes_every_fault(listener4: socket.socket) -> None:
    faults = PacketFaults()
    faults.add("blackhole", _address(listener4)[1])
    faults.add("loss", 9, percent=50, direction="in")
    faults.add("reject", 10, reject_with="net-unreachable", direction="out")
    assert faults.table in faults.ruleset()
    faults.close()
    faults.close()  # idempotent
    with _client_for(listener4) as client:
        client.settimeout(5)
        client.connect(_address(listener4))
    nft = shutil.which("nft")
    assert nft is not None
    tables = subprocess.run([nft, "list", "tables"], capture_output=True, text=True, check=True, timeout=10)
    assert faults.table not in tables.stdout
    with pytest.raises(PacketFaultError, match="closed"):
        faults.add("blackhole", 9)


def test_clear_removes_faults_and_the_object_stays_usable(packet_faults: PacketFaults) -> None:
    packet_faults.add("blackhole", 9)
    packet_faults.clear()
    assert packet_faults.faults() == []
    assert packet_faults.ruleset() == ""
    packet_faults.add("blackhole", 9)
    assert [f.port for f in packet_faults.faults()] == [9]


def test_errors_name_the_problem(packet_faults: PacketFaults, listener4: socket.socket) -> None:
    packet_faults.add("blackhole", 9, name="one")
    with pytest.raises(PacketFaultError, match="already exists"):
        packet_faults.add("blackhole", 10, name="one")
    with pytest.raises(PacketFaultError, match=r"no packet fault named 'two' \(installed: one\)"):
        packet_faults.remove("two")
    with pytest.raises(ValueError, match="no open TCP connection"):
        packet_faults.add("cut", _address(listener4)[1])
    with pytest.raises(ValueError, match="kind='teleport'"):
        packet_faults.add("teleport", 9)
    with pytest.raises(ValueError, match="percent"):
        packet_faults.add("loss", 9)


def test_threads_started_later_inherit_the_namespace() -> None:
    # A thread started after entering inherits the namespace, so it may add faults too.
    outcome: list[object] = []

    def worker() -> None:
        try:
            with PacketFaults() as faults:
                outcome.append(faults.add("blackhole", 9))
        except NetnsUnavailable as exc:
            outcome.append(exc)

    thread = threading.Thread(target=worker, name="netns-inherit")
    thread.start()
    thread.join(10)
    assert outcome == ["blackhole-9-1"]


def test_readme_example_with_the_echo_server_fixture(packet_faults: PacketFaults, echo_server: Any) -> None:
    packet_faults.add("reject", echo_server.port, reject_with="host-unreachable", direction="out")
    with socket.socket() as client, pytest.raises(OSError) as raised:
        client.settimeout(5)
        client.connect(echo_server.address)
    assert raised.value.errno == errno.EHOSTUNREACH
