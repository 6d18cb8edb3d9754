"""Each toxic observed from a real client socket through the embedded proxy (fault_proxy fixture).

Timing bounds: never early is asserted tightly (0.5 ms of clock slack); upper bounds are generous because
two noisy cores are shared with other test runs, and a descheduled thread only ever makes things later.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import statistics
import struct
import termios
import time
from collections.abc import Callable

import pytest

from sockharness.faults._interface import FaultProxy
from sockharness.fixtures._faults import FaultProxyFactory
from sockharness.fixtures._peers import TCPClientFactory
from sockharness.peers import EchoServer, ScriptedTCPServer
from sockharness.peers._steps import Close, RecvEOF, RecvSome, SendAll, Sleep
from tests.support.socket_io import recv_exactly, round_trip

CLOCK_SLACK = 0.0005
# Upper bounds only guard against gross errors: on 2 shared cores, load averages of 10+ were seen while
# developing, and a descheduled thread only ever makes things later. Early is never allowed.
LOADED_MACHINE_SLACK = 0.030


def recv_all(sock: socket.socket) -> bytes:
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    return bytes(data)


@pytest.fixture
def echo_proxy(fault_proxy: FaultProxyFactory, echo_server: EchoServer) -> FaultProxy:
    return fault_proxy(echo_server)


def client_of(tcp_client: TCPClientFactory, proxy: FaultProxy, timeout: float = 10.0) -> socket.socket:
    sock = tcp_client(proxy.address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def test_proxies_bytes_both_ways(echo_proxy: FaultProxy, tcp_client: TCPClientFactory) -> None:
    sock = client_of(tcp_client, echo_proxy)
    assert echo_proxy.address[0] == "127.0.0.1" and echo_proxy.address[1] > 0
    for size in (1, 1000, 100_000):
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload


def test_latency_adds_its_delay_and_never_less(echo_proxy: FaultProxy, tcp_client: TCPClientFactory) -> None:
    sock = client_of(tcp_client, echo_proxy)
    round_trip(sock)
    echo_proxy.add_toxic("latency", latency=50)
    rtts = [round_trip(sock) for _ in range(10)]
    assert min(rtts) >= 0.050 - CLOCK_SLACK, rtts
    assert statistics.median(rtts) <= 0.050 + LOADED_MACHINE_SLACK, rtts


def test_latency_in_both_streams_adds_up(echo_proxy: FaultProxy, tcp_client: TCPClientFactory) -> None:
    sock = client_of(tcp_client, echo_proxy)
    echo_proxy.add_toxic("latency", latency=30)
    echo_proxy.add_toxic("latency", stream="upstream", latency=30)
    rtts = [round_trip(sock) for _ in range(5)]
    assert min(rtts) >= 0.060 - CLOCK_SLACK
    assert statistics.median(rtts) <= 0.060 + LOADED_MACHINE_SLACK


def test_toxics_reach_a_live_connection_when_added_and_removed(
    echo_proxy: FaultProxy, tcp_client: TCPClientFactory
) -> None:
    sock = client_of(tcp_client, echo_proxy)
    assert min(round_trip(sock) for _ in range(3)) < 0.040
    name = echo_proxy.add_toxic("latency", latency=60)
    assert [toxic.name for toxic in echo_proxy.toxics()] == [name]
    assert round_trip(sock) >= 0.060 - CLOCK_SLACK
    echo_proxy.update_toxic(name, latency=100)
    assert round_trip(sock) >= 0.100 - CLOCK_SLACK
    echo_proxy.remove_toxic(name)
    assert min(round_trip(sock) for _ in range(3)) < 0.040
    assert echo_proxy.toxics() == []


def test_removing_latency_releases_held_data_at_once(
    echo_proxy: FaultProxy, tcp_client: TCPClientFactory
) -> None:
    sock = client_of(tcp_client, echo_proxy)
    echo_proxy.add_toxic("latency", latency=5000)
    started = time.perf_counter()
    sock.sendall(b"held")
    echo_proxy.remove_toxic("latency_downstream")
    assert recv_exactly(sock, 4) == b"held"
    assert time.perf_counter() - started < 2.0


def test_bandwidth_moves_200kb_in_2s(
    fault_proxy: FaultProxyFactory, tcp_server: Callable[..., ScriptedTCPServer], tcp_client: TCPClientFactory
) -> None:
    payload = bytes(200_000)
    server = tcp_server([RecvSome(16), SendAll(payload), Close()])
    proxy = fault_proxy(server)
    proxy.add_toxic("bandwidth", rate=100)  # KB/s, KB = 1000 bytes
    sock = client_of(tcp_client, proxy)
    started = time.perf_counter()
    sock.sendall(b"go")
    first = sock.recv(65536)
    first_byte = time.perf_counter() - started
    rest = recv_all(sock)
    elapsed = time.perf_counter() - started
    assert len(first) + len(rest) == len(payload)
    assert 1.8 <= elapsed <= 2.2, elapsed
    assert elapsed >= 2.0 - CLOCK_SLACK - 0.003  # one 2 ms slice may leave before the clock starts
    assert first_byte < 0.1, first_byte  # paced in 2 ms slices, not held a whole 32 KiB read


def test_timeout_drops_data_then_closes(echo_proxy: FaultProxy, tcp_client: TCPClientFactory) -> None:
    sock = client_of(tcp_client, echo_proxy)
    round_trip(sock)
    echo_proxy.add_toxic("timeout", timeout=200)
    started = time.perf_counter()
    sock.sendall(b"lost")
    assert sock.recv(100) == b""
    assert time.perf_counter() - started >= 0.2 - 0.05  # the timer started when the toxic was added


def test_timeout_zero_holds_until_removed_then_closes(
    echo_proxy: FaultProxy, tcp_client: TCPClientFactory
) -> None:
    sock = client_of(tcp_client, echo_proxy, timeout=0.3)
    echo_proxy.add_toxic("timeout", timeout=0)
    sock.sendall(b"lost")
    with pytest.raises(TimeoutError):
        sock.recv(100)
    echo_proxy.remove_toxic("timeout_downstream")
    sock.settimeout(5)
    assert sock.recv(100) == b""  # Toxiproxy's cleanup closes the connection: the data is gone


def test_reset_peer_resets_after_its_timeout(echo_proxy: FaultProxy, tcp_client: TCPClientFactory) -> None:
    sock = client_of(tcp_client, echo_proxy)
    echo_proxy.add_toxic("reset_peer", timeout=100)
    started = time.perf_counter()
    sock.sendall(b"hello")
    with pytest.raises(ConnectionResetError):
        sock.recv(100)
    assert time.perf_counter() - started >= 0.1 - CLOCK_SLACK


def test_limit_data_passes_exact_bytes_then_eof(
    fault_proxy: FaultProxyFactory, tcp_server: Callable[..., ScriptedTCPServer], tcp_client: TCPClientFactory
) -> None:
    server = tcp_server([SendAll(b"0123456789" * 10), RecvEOF(), Close()])
    proxy = fault_proxy(server)
    proxy.add_toxic("limit_data", bytes=25)
    sock = client_of(tcp_client, proxy)
    assert recv_all(sock) == b"0123456789" * 2 + b"01234"


def test_slicer_delivers_intact_bytes_in_many_reads(
    echo_proxy: FaultProxy, tcp_client: TCPClientFactory
) -> None:
    sock = client_of(tcp_client, echo_proxy)
    echo_proxy.add_toxic("slicer", average_size=100, size_variation=20, delay=3000)
    payload = bytes(i % 251 for i in range(2000))
    sock.sendall(payload)
    reads: list[bytes] = []
    while sum(map(len, reads)) < len(payload):
        reads.append(sock.recv(65536))
        assert reads[-1], "EOF before the whole payload"
    assert b"".join(reads) == payload
    assert len(reads) >= 5, [len(r) for r in reads]


def test_slow_close_delays_the_close_not_the_data(
    fault_proxy: FaultProxyFactory, tcp_server: Callable[..., ScriptedTCPServer], tcp_client: TCPClientFactory
) -> None:
    server = tcp_server([SendAll(b"bye"), Close()])
    proxy = fault_proxy(server)
    proxy.add_toxic("slow_close", delay=300)
    sock = client_of(tcp_client, proxy)
    started = time.perf_counter()
    assert recv_exactly(sock, 3) == b"bye"
    data_at = time.perf_counter() - started
    assert sock.recv(100) == b""
    closed_at = time.perf_counter() - started
    assert data_at < 0.2
    assert closed_at >= 0.3 - 0.05  # counted from the proxy's EOF, which follows our connect closely


def test_down_refuses_and_drops_then_comes_back_on_the_same_port(
    echo_proxy: FaultProxy, tcp_client: TCPClientFactory
) -> None:
    live = client_of(tcp_client, echo_proxy)
    round_trip(live)
    address = echo_proxy.address
    with echo_proxy.down():
        assert not echo_proxy.enabled
        assert live.recv(100) == b""
        with pytest.raises(ConnectionRefusedError):
            tcp_client(address)
    assert echo_proxy.enabled and echo_proxy.address == address
    assert round_trip(client_of(tcp_client, echo_proxy)) < 1.0


def test_toxicity_zero_never_applies_and_one_always(
    echo_proxy: FaultProxy, tcp_client: TCPClientFactory
) -> None:
    echo_proxy.add_toxic("latency", name="never", toxicity=0.0, latency=300)
    for _ in range(5):
        assert round_trip(client_of(tcp_client, echo_proxy)) < 0.2
    echo_proxy.remove_toxic("never")
    echo_proxy.add_toxic("latency", name="always", toxicity=1.0, latency=100)
    for _ in range(3):
        assert round_trip(client_of(tcp_client, echo_proxy)) >= 0.1 - CLOCK_SLACK


def test_half_close_is_passed_on_and_the_reply_arrives(
    fault_proxy: FaultProxyFactory, tcp_server: Callable[..., ScriptedTCPServer], tcp_client: TCPClientFactory
) -> None:
    # The server answers only after the request's EOF: Toxiproxy closes the upstream fully and loses it.
    server = tcp_server([RecvEOF(), SendAll(b"reply after EOF"), Close()])
    proxy = fault_proxy(server)
    proxy.add_toxic("latency", stream="upstream", latency=20)
    sock = client_of(tcp_client, proxy)
    sock.sendall(b"request")
    sock.shutdown(socket.SHUT_WR)
    assert recv_all(sock) == b"reply after EOF"
    server.wait_done(5)
    server.check()


def test_server_reset_reaches_the_client_as_reset(
    fault_proxy: FaultProxyFactory, tcp_client: TCPClientFactory
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        proxy = fault_proxy(listener.getsockname())
        sock = client_of(tcp_client, proxy)
        accepted, _ = listener.accept()
        accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        accepted.close()
        with pytest.raises(ConnectionResetError):
            sock.recv(100)
    finally:
        listener.close()


def test_client_reset_reaches_the_server_as_reset(
    fault_proxy: FaultProxyFactory, tcp_client: TCPClientFactory
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: socket.socket | None = None
    try:
        proxy = fault_proxy(listener.getsockname())
        sock = client_of(tcp_client, proxy)
        listener.settimeout(5)
        accepted, _ = listener.accept()
        accepted.settimeout(5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
        with pytest.raises(ConnectionResetError):
            accepted.recv(100)
    finally:
        if accepted is not None:
            accepted.close()
        listener.close()


def test_refused_upstream_closes_the_client_at_once(
    fault_proxy: FaultProxyFactory, closed_port: object, tcp_client: TCPClientFactory
) -> None:
    proxy = fault_proxy(closed_port)  # type: ignore[arg-type]
    sock = client_of(tcp_client, proxy, timeout=5)
    started = time.perf_counter()
    with contextlib.suppress(ConnectionResetError):
        assert sock.recv(100) == b""
    assert time.perf_counter() - started < 1.0


def test_sleeping_server_is_not_rushed(
    fault_proxy: FaultProxyFactory, tcp_server: Callable[..., ScriptedTCPServer], tcp_client: TCPClientFactory
) -> None:
    server = tcp_server([Sleep(0.05), SendAll(b"late"), Close()])  # sync-ok: the server's own pause
    proxy = fault_proxy(server)
    sock = client_of(tcp_client, proxy)
    assert recv_all(sock) == b"late"


def test_peer_reset_waits_for_every_byte_the_proxy_took(
    fault_proxy: FaultProxyFactory, tcp_client: TCPClientFactory
) -> None:
    # 1 MiB is more than the client's receive buffer: part of it waits in the proxy's send queue when
    # the server resets. The proxy acknowledged those bytes to the server, so they must still arrive.
    payload = bytes(range(256)) * 4096
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        proxy = fault_proxy(listener.getsockname())
        sock = client_of(tcp_client, proxy)
        listener.settimeout(10)
        server, _ = listener.accept()
        with server:
            server.sendall(payload)
            deadline = time.monotonic() + 10
            while unacknowledged(server) and time.monotonic() < deadline:
                time.sleep(0.005)  # sync-ok: no event reports the peer acknowledging; bounded
            assert unacknowledged(server) == 0
            server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        received = bytearray()
        with pytest.raises(ConnectionResetError):
            while chunk := sock.recv(1 << 20):
                received += chunk
        assert bytes(received) == payload
    finally:
        listener.close()


def unacknowledged(sock: socket.socket) -> int:
    """Bytes in ``sock``'s send queue that the other side's kernel has not acknowledged (SIOCOUTQ)."""
    raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
    count: int = struct.unpack("i", raw)[0]
    return count
