"""Every toxic, observed from a client socket, behaves the same through the embedded engine and a real
Toxiproxy 2.12.0: the bytes delivered, the kind of ending (EOF, reset, timeout), and delay buckets.

Both sides are driven the same way, through ``ToxiproxyBackend`` (toxiproxy-python underneath): once
pointed at ``ToxiproxyAPIServer`` on the embedded engine, once at the real server from TOXIPROXY_URL.
Delay buckets are wide (a shared 2-core machine) but each has a floor the toxic must never undercut.
The one intended difference, half-close propagation, is asserted per backend.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from sockharness.faults import ToxiproxyBackend
from sockharness.faults._backends.toxiproxy_backend import ToxiproxyProxy
from sockharness.peers._builtin import ClosedPort, EchoServer
from sockharness.peers._steps import Close, Drain, RecvSome, SendAll, Stall, Step
from sockharness.peers._tcp_server import ScriptedTCPServer
from tests.support.socket_io import recv_exactly, round_trip

SLACK = 1.5  # seconds of scheduling noise a delay bucket tolerates above its nominal value


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer(bufsize=65536) as server:
        yield server


@pytest.fixture
def scripted() -> Iterator[Callable[[list[Step]], ScriptedTCPServer]]:
    servers: list[ScriptedTCPServer] = []

    def make(script: list[Step]) -> ScriptedTCPServer:
        server = ScriptedTCPServer(script, name="diff_upstream")
        servers.append(server.start())
        return server

    yield make
    for server in servers:
        server.stop()


def connect(proxy: ToxiproxyProxy, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(proxy.address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_to_end(sock: socket.socket) -> tuple[bytes, str]:
    """Everything until the connection ends, and how it ended: ``eof``, ``reset`` or ``timeout``."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, "reset"
        except TimeoutError:
            return data, "timeout"
        if not chunk:
            return data, "eof"
        data += chunk


def test_no_toxic_passes_bytes_intact(client_backend: ToxiproxyBackend, echo: EchoServer) -> None:
    proxy = client_backend.create_proxy(echo.address[:2])
    payload = bytes(range(256)) * 400
    with connect(proxy) as sock:
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_delays_each_direction(
    client_backend: ToxiproxyBackend, echo: EchoServer, stream: str
) -> None:
    proxy = client_backend.create_proxy(echo.address[:2])
    with connect(proxy) as sock:
        assert round_trip(sock) < 0.1 + SLACK
        proxy.add_toxic("latency", stream=stream, latency=150)  # applies to the live connection
        delayed = round_trip(sock)
        assert 0.15 <= delayed < 0.15 + SLACK
        proxy.remove_toxic(f"latency_{stream}")
        assert round_trip(sock) < 0.1 + SLACK


def test_latency_in_both_directions_adds_up(client_backend: ToxiproxyBackend, echo: EchoServer) -> None:
    proxy = client_backend.create_proxy(echo.address[:2])
    proxy.add_toxic("latency", stream="upstream", latency=120)
    proxy.add_toxic("latency", stream="downstream", latency=120)
    with connect(proxy) as sock:
        assert 0.24 <= round_trip(sock) < 0.24 + SLACK


def test_latency_with_toxicity_zero_never_applies(client_backend: ToxiproxyBackend, echo: EchoServer) -> None:
    proxy = client_backend.create_proxy(echo.address[:2])
    proxy.add_toxic("latency", toxicity=0.0, latency=2000)
    with connect(proxy) as sock:
        assert max(round_trip(sock) for _ in range(5)) < 1.0


def test_update_toxic_changes_a_live_connection(client_backend: ToxiproxyBackend, echo: EchoServer) -> None:
    proxy = client_backend.create_proxy(echo.address[:2])
    proxy.add_toxic("latency", name="slow", latency=2000)
    proxy.update_toxic("slow", latency=100)
    assert [(t.name, t.attributes["latency"]) for t in proxy.toxics()] == [("slow", 100)]
    with connect(proxy) as sock:
        assert 0.1 <= round_trip(sock) < 0.1 + SLACK


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_bandwidth_paces_the_transfer(
    client_backend: ToxiproxyBackend, scripted: Callable[[list[Step]], ScriptedTCPServer], stream: str
) -> None:
    size, rate = 25_000, 50  # 50 KB/s: half a second for 25 kB
    if stream == "downstream":
        server = scripted([RecvSome(16), SendAll(b"d" * size), Close()])
    else:
        server = scripted([Drain(), SendAll(b"done"), Close()])
    proxy = client_backend.create_proxy(server.address[:2])
    proxy.add_toxic("bandwidth", stream=stream, rate=rate)
    with connect(proxy, timeout=10.0) as sock:
        start = time.monotonic()
        if stream == "downstream":
            sock.sendall(b"go")
            data, ending = read_to_end(sock)
            assert (len(data), ending) == (size, "eof")
        else:
            sock.sendall(b"u" * size)
            sock.shutdown(socket.SHUT_WR)
            read_to_end(sock)  # Toxiproxy drops the reply on half-close; the pacing is what is measured
        elapsed = time.monotonic() - start
    assert size / (rate * 1000) * 0.9 <= elapsed < size / (rate * 1000) + SLACK


def test_slow_close_delays_the_eof(
    client_backend: ToxiproxyBackend, scripted: Callable[[list[Step]], ScriptedTCPServer]
) -> None:
    server = scripted([RecvSome(16), SendAll(b"bye"), Close()])
    proxy = client_backend.create_proxy(server.address[:2])
    proxy.add_toxic("slow_close", delay=400)
    with connect(proxy) as sock:
        sock.sendall(b"hi")
        assert recv_exactly(sock, 3) == b"bye"
        start = time.monotonic()
        data, ending = read_to_end(sock)
        elapsed = time.monotonic() - start
    assert (data, ending) == (b"", "eof")
    assert 0.3 <= elapsed < 0.4 + SLACK


def test_timeout_swallows_data_then_closes(
    client_backend: ToxiproxyBackend, scripted: Callable[[list[Step]], ScriptedTCPServer]
) -> None:
    server = scripted([RecvSome(16), SendAll(b"never seen"), Stall()])
    proxy = client_backend.create_proxy(server.address[:2])
    proxy.add_toxic("timeout", timeout=300)
    with connect(proxy) as sock:
        start = time.monotonic()
        sock.sendall(b"hi")
        data, ending = read_to_end(sock)
        elapsed = time.monotonic() - start
    assert (data, ending) == (b"", "eof")
    assert 0.28 <= elapsed < 0.3 + SLACK


def test_timeout_zero_holds_forever_until_removed(
    client_backend: ToxiproxyBackend, scripted: Callable[[list[Step]], ScriptedTCPServer]
) -> None:
    server = scripted([RecvSome(16), SendAll(b"dropped"), Stall()])
    proxy = client_backend.create_proxy(server.address[:2])
    proxy.add_toxic("timeout", timeout=0)
    with connect(proxy, timeout=0.6) as sock:
        sock.sendall(b"hi")
        assert read_to_end(sock) == (b"", "timeout")  # nothing, and no close either
        sock.settimeout(5.0)
        proxy.remove_toxic("timeout_downstream")
        assert read_to_end(sock) == (b"", "eof")  # removing it closes the connection; the data is gone


def test_reset_peer_immediately(client_backend: ToxiproxyBackend, echo: EchoServer) -> None:
    proxy = client_backend.create_proxy(echo.address[:2])
    proxy.add_toxic("reset_peer", timeout=0)
    with connect(proxy) as sock:
        sock.sendall(b"hi")
        assert read_to_end(sock) == (b"", "reset")


def test_reset_peer_after_a_delay(client_backend: ToxiproxyBackend, echo: EchoServer) -> None:
    """Nothing arrives (the echoed data is held), then a reset; without any data it would never fire."""
    proxy = client_backend.create_proxy(echo.address[:2])
    proxy.add_toxic("reset_peer", timeout=300)  # the clock starts with the first data through the toxic
    with connect(proxy) as sock:
        start = time.monotonic()
        sock.sendall(b"hi")
        data, ending = read_to_end(sock)
        elapsed = time.monotonic() - start
    assert (data, ending) == (b"", "reset")
    assert 0.28 <= elapsed < 0.3 + SLACK


def test_slicer_delivers_everything_in_slices(
    client_backend: ToxiproxyBackend, scripted: Callable[[list[Step]], ScriptedTCPServer]
) -> None:
    payload = bytes(range(256)) * 8  # 2048 bytes in ~20 slices 10 ms apart
    server = scripted([RecvSome(16), SendAll(payload), Close()])
    proxy = client_backend.create_proxy(server.address[:2])
    proxy.add_toxic("slicer", average_size=100, size_variation=20, delay=10_000)
    with connect(proxy) as sock:
        start = time.monotonic()
        sock.sendall(b"go")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        elapsed = time.monotonic() - start
    assert b"".join(chunks) == payload
    assert len(chunks) >= 5  # it really arrived in pieces
    assert 0.1 <= elapsed < 0.2 + SLACK


def test_limit_data_passes_exactly_n_bytes(
    client_backend: ToxiproxyBackend, scripted: Callable[[list[Step]], ScriptedTCPServer]
) -> None:
    server = scripted([RecvSome(16), SendAll(b"0123456789abcdefghij" * 5), Stall()])
    proxy = client_backend.create_proxy(server.address[:2])
    proxy.add_toxic("limit_data", bytes=10)
    with connect(proxy) as sock:
        sock.sendall(b"go")
        assert read_to_end(sock) == (b"0123456789", "eof")


def test_disable_refuses_and_enable_restores_the_same_port(
    client_backend: ToxiproxyBackend, echo: EchoServer
) -> None:
    proxy = client_backend.create_proxy(echo.address[:2])
    address = proxy.address
    with connect(proxy) as live:
        # The round trip proves the proxy has accepted and linked the connection. Without it, disable()
        # can close the listener while the connection still waits in its accept queue, and the kernel
        # resets queued connections (the flake hunt caught real Toxiproxy there once: 'reset').
        round_trip(live)
        proxy.disable()
        assert read_to_end(live) == (b"", "eof")  # live connections are dropped
    with socket.socket() as probe:
        assert probe.connect_ex(address) != 0
    proxy.enable()
    assert proxy.address == address
    with connect(proxy) as sock:
        round_trip(sock)
    with proxy.down():
        assert not proxy.enabled
        with socket.socket() as probe:
            assert probe.connect_ex(address) != 0
    assert proxy.enabled
    with connect(proxy) as sock:
        round_trip(sock)


def test_refused_upstream_closes_the_client(client_backend: ToxiproxyBackend) -> None:
    with ClosedPort() as closed:
        proxy = client_backend.create_proxy(closed.address[:2])
        with connect(proxy) as sock:
            assert read_to_end(sock) == (b"", "eof")


def test_deleting_a_proxy_closes_its_connections(client_backend: ToxiproxyBackend, echo: EchoServer) -> None:
    proxy = client_backend.create_proxy(echo.address[:2])
    with connect(proxy) as sock:
        round_trip(sock)
        proxy.close()
        assert read_to_end(sock) == (b"", "eof")
    assert proxy not in client_backend.proxies()


def test_reset_clears_toxics_and_enables(client_backend: ToxiproxyBackend, echo: EchoServer) -> None:
    proxy = client_backend.create_proxy(echo.address[:2])
    proxy.add_toxic("latency", latency=2000)
    proxy.add_toxic("timeout", stream="upstream", timeout=0)
    proxy.disable()
    client_backend.reset()
    assert proxy.toxics() == [] and proxy.enabled
    with connect(proxy) as sock:
        assert round_trip(sock) < 1.0


def test_half_close_is_the_documented_difference(
    client_backend: ToxiproxyBackend,
    scripted: Callable[[list[Step]], ScriptedTCPServer],
    request: pytest.FixtureRequest,
) -> None:
    server = scripted([Drain(), SendAll(b"reply after EOF"), Close()])
    proxy = client_backend.create_proxy(server.address[:2])
    with connect(proxy) as sock:
        sock.sendall(b"request")
        sock.shutdown(socket.SHUT_WR)
        outcome = read_to_end(sock)
    if request.node.callspec.params["client_backend"] == "toxiproxy":
        assert outcome == (b"", "eof")  # Toxiproxy closes both ways on the client's FIN: the reply is lost
    else:
        assert outcome == (b"reply after EOF", "eof")  # the embedded engine forwards the half-close


def test_reset_peer_waits_for_data(client_backend: ToxiproxyBackend, echo: EchoServer) -> None:
    proxy = client_backend.create_proxy(echo.address[:2])
    proxy.add_toxic("reset_peer", timeout=100)
    with connect(proxy, timeout=0.8) as sock:
        assert read_to_end(sock) == (b"", "timeout")  # an idle connection is never reset


def test_toxicity_is_rolled_once_per_connection(client_backend: ToxiproxyBackend) -> None:
    """toxicity 0.5: each connection is either left alone or gets the full delay, about half of each."""
    count = 40
    # 40 upstream dials at once: a backlog of 5 would overflow and cost a 1 s SYN retransmit.
    with EchoServer(backlog=128) as echo:
        proxy = client_backend.create_proxy(echo.address[:2])
        proxy.add_toxic("latency", toxicity=0.5, latency=1000)
        socks = [connect(proxy) for _ in range(count)]
        try:
            arrival = _first_echo_times(socks, deadline=10.0)
        finally:
            for sock in socks:
                sock.close()
    assert len(arrival) == count
    fast = sum(1 for elapsed in arrival.values() if elapsed < 0.8)
    slow = sum(1 for elapsed in arrival.values() if elapsed >= 1.0)
    assert fast + slow == count, sorted(arrival.values())  # all or nothing, never early
    assert 6 <= slow <= count - 6  # binomial(40, 0.5) leaves this range with p < 1e-5


def _first_echo_times(socks: list[socket.socket], deadline: float) -> dict[int, float]:
    """Send one byte on every socket at once; seconds until each one's echo came back."""
    arrival: dict[int, float] = {}
    with selectors.DefaultSelector() as selector:
        start = time.monotonic()
        for index, sock in enumerate(socks):
            sock.sendall(b"x")
            selector.register(sock, selectors.EVENT_READ, index)
        end = start + deadline
        while len(arrival) < len(socks) and time.monotonic() < end:
            for key, _ in selector.select(max(0.0, end - time.monotonic())):
                sock = socks[key.data]
                assert sock.recv(16) == b"x"
                arrival[key.data] = time.monotonic() - start
                selector.unregister(sock)
    return arrival
