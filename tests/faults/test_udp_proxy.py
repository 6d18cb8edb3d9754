"""The UDP fault proxy with real loopback sockets: sessions per client, idle expiry, toxics end to end,
and the refusals (wrong protocol, bad probability, Toxiproxy) in the same words on every surface."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from sockharness.faults._api.api_routes import ToxiproxyAPI
from sockharness.faults._backends.embedded import EmbeddedBackend, EmbeddedProxy
from sockharness.faults._backends.toxiproxy_backend import ToxiproxyBackend
from sockharness.faults._engine.engine import FaultEngine
from sockharness.faults._engine.toxic_types import TOXIPROXY_HAS_NO_UDP, InvalidAttribute, UnsupportedToxic
from sockharness.faults._engine.udp_proxy import UdpEngineProxy
from sockharness.faults._errors import BadRequest
from sockharness.peers import UDPEcho
from sockharness.peers._addresses import format_address


def _socket(timeout: float = 2.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(timeout)
    return sock


@pytest.fixture
def sockets() -> Iterator[Callable[[], socket.socket]]:
    made: list[socket.socket] = []

    def make() -> socket.socket:
        made.append(_socket())
        return made[-1]

    yield make
    for sock in made:
        sock.close()


@pytest.fixture
def echo() -> Iterator[UDPEcho]:
    peer = UDPEcho()
    peer.start()
    yield peer
    peer.stop()


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.002)  # sync-ok: bounded poll of reactor-owned counters from another thread
    return False


def _engine_proxy(proxy: EmbeddedProxy) -> UdpEngineProxy:
    engine_proxy = proxy.engine_proxy
    assert isinstance(engine_proxy, UdpEngineProxy)
    return engine_proxy


def test_each_client_gets_its_own_upstream_socket_and_its_own_replies(
    udp_fault_proxy: Callable[..., EmbeddedProxy], echo: UDPEcho, sockets: Callable[[], socket.socket]
) -> None:
    proxy = udp_fault_proxy(echo)
    assert proxy.protocol == "udp" and proxy.engine_proxy.to_json()["protocol"] == "udp"
    clients = [sockets() for _ in range(3)]
    for round_ in range(3):
        for index, client in enumerate(clients):
            client.sendto(f"{index}:{round_}".encode(), proxy.address)
        for index, client in enumerate(clients):
            data, source = client.recvfrom(100)
            assert data == f"{index}:{round_}".encode() and source == proxy.address
    assert proxy.engine_proxy.connection_count() == 3


def test_datagram_boundaries_are_kept_through_toxics(
    udp_fault_proxy: Callable[..., EmbeddedProxy], echo: UDPEcho, sockets: Callable[[], socket.socket]
) -> None:
    proxy = udp_fault_proxy(echo)
    proxy.add_toxic("udp_latency", latency=5, jitter=4, stream="upstream")
    proxy.add_toxic("udp_duplicate", copies=1)
    client = sockets()
    for size in (0, 1, 1400, 9000, 60000):
        client.sendto(b"z" * size, proxy.address)
        assert [len(client.recv(65535)) for _ in range(2)] == [size, size]


def test_the_fixture_states_the_idle_timeout(
    udp_fault_proxy: Callable[..., EmbeddedProxy], echo: UDPEcho, sockets: Callable[[], socket.socket]
) -> None:
    proxy = udp_fault_proxy(echo, idle_timeout=0.05)
    client = sockets()
    client.sendto(b"x", proxy.address)
    assert client.recv(10) == b"x"
    assert _until(lambda: proxy.engine_proxy.connection_count() == 0)
    with pytest.raises(ValueError, match="idle_timeout must be a positive number of seconds, got 0"):
        udp_fault_proxy(echo, idle_timeout=0)


def test_idle_sessions_expire_and_a_new_datagram_opens_a_new_one(
    echo: UDPEcho, sockets: Callable[[], socket.socket]
) -> None:
    with FaultEngine(seed=1) as engine:
        proxy = engine.create_proxy("u", "127.0.0.1:0", format_address(echo.address), protocol="udp")
        assert isinstance(proxy, UdpEngineProxy)
        proxy.idle_timeout = 0.1
        client = sockets()
        address = ("127.0.0.1", int(proxy.listen.rsplit(":", 1)[1]))
        client.sendto(b"a", address)
        assert client.recv(10) == b"a"
        first = next(iter(proxy.sessions.values())).upstream.getsockname()
        started = time.monotonic()
        assert _until(lambda: proxy.connection_count() == 0)
        assert time.monotonic() - started >= 0.1 - 0.01 and proxy.expired_sessions == 1
        client.sendto(b"b", address)
        assert client.recv(10) == b"b"
        assert next(iter(proxy.sessions.values())).upstream.getsockname() != first


def _loss_run(seed: int, count: int = 1500) -> list[int]:
    """Send ``count`` numbered datagrams through a 30 % loss toxic; the numbers that arrived."""
    with (
        EmbeddedBackend(seed=seed) as backend,
        _socket(timeout=5) as receiver,
        _socket() as client,
    ):
        proxy = backend.create_proxy(receiver.getsockname(), protocol="udp")
        proxy.add_toxic("udp_loss", stream="upstream", toxicity=0.3)
        engine_proxy = _engine_proxy(proxy)
        got: list[int] = []
        for start in range(0, count, 100):  # in batches, so no socket buffer overflows
            for index in range(start, min(start + 100, count)):
                client.sendto(index.to_bytes(4, "big"), proxy.address)
            sent = min(start + 100, count)
            assert _until(lambda sent=sent: engine_proxy.datagram_counts()["upstream"][0] == sent)  # type: ignore[misc]
            passed = engine_proxy.datagram_counts()["upstream"][1]
            while len(got) < passed:
                got.append(int.from_bytes(receiver.recv(16), "big"))
        return got


def test_loss_through_the_proxy_is_binomial_and_replays_from_the_seed() -> None:
    first = _loss_run(seed=5)
    lost = 1500 - len(first)
    assert abs(lost - 450) <= 5 * (1500 * 0.3 * 0.7) ** 0.5, lost
    assert first == sorted(first)
    assert _loss_run(seed=5) == first


def test_latency_is_never_early_on_real_sockets(
    udp_fault_proxy: Callable[..., EmbeddedProxy], echo: UDPEcho, sockets: Callable[[], socket.socket]
) -> None:
    proxy = udp_fault_proxy(echo)
    proxy.add_toxic("udp_latency", latency=30, jitter=10)
    client = sockets()
    for _ in range(5):
        started = time.monotonic()
        client.sendto(b"t", proxy.address)
        assert client.recv(10) == b"t"
        assert time.monotonic() - started >= 0.020


def test_reorder_reaches_the_client_exactly_gap_places_late(
    udp_fault_proxy: Callable[..., EmbeddedProxy], sockets: Callable[[], socket.socket]
) -> None:
    receiver = sockets()
    proxy = udp_fault_proxy(receiver.getsockname())
    proxy.add_toxic("udp_reorder", stream="upstream", gap=2, nth=1)
    client = sockets()
    for index in range(4):
        client.sendto(bytes([index]), proxy.address)
    assert [receiver.recv(10)[0] for _ in range(4)] == [1, 2, 0, 3]


def test_toxics_change_live_sessions(
    udp_fault_proxy: Callable[..., EmbeddedProxy], echo: UDPEcho, sockets: Callable[[], socket.socket]
) -> None:
    proxy = udp_fault_proxy(echo)
    client = sockets()
    client.sendto(b"1", proxy.address)
    assert client.recv(10) == b"1"
    proxy.add_toxic("udp_truncate", name="cut", size=2)
    client.sendto(b"abcdef", proxy.address)
    assert client.recv(10) == b"ab"
    proxy.update_toxic("cut", size=4)
    client.sendto(b"abcdef", proxy.address)
    assert client.recv(10) == b"abcd"
    proxy.remove_toxic("cut")
    client.sendto(b"abcdef", proxy.address)
    assert client.recv(10) == b"abcdef"


# --- refusals, in the same words everywhere ------------------------------------------------------------


def test_a_datagram_toxic_on_a_tcp_proxy_and_the_reverse_are_refused_at_the_call(
    echo: UDPEcho,
) -> None:
    with EmbeddedBackend(seed=1) as backend:
        tcp = backend.create_proxy(("127.0.0.1", 9))
        with pytest.raises(
            UnsupportedToxic, match="the udp_loss toxic applies to UDP proxies only, not to a TCP"
        ):
            tcp.add_toxic("udp_loss", toxicity=0.5)
        udp = backend.create_proxy(echo, protocol="udp")
        with pytest.raises(
            UnsupportedToxic, match="the latency toxic applies to TCP proxies only, not to a UDP"
        ):
            udp.add_toxic("latency", latency=10)
        with pytest.raises(InvalidAttribute, match=r"toxicity must be a number between 0 and 1, got 1\.5"):
            udp.add_toxic("udp_loss", toxicity=1.5)
        with pytest.raises(
            BadRequest, match="protocol 'sctp' is not a proxy protocol; known protocols: tcp, udp"
        ):
            backend.create_proxy(echo, protocol="sctp")
        with pytest.raises(UnsupportedToxic, match="a target applies to toxics on TCP proxies only"):
            udp.add_toxic("udp_loss", toxicity=0.5, target={"first": 2})
        udp.add_toxic("udp_loss", name="loss", toxicity=0.5)
        with pytest.raises(UnsupportedToxic, match="is aimed with its nth and client_port attributes"):
            udp._proxy.update_toxic("loss", {"target": {"nth": 3}})  # the HTTP API's PATCH path
        assert tcp.toxics() == [] and [toxic.name for toxic in udp.toxics()] == ["loss"]


def test_a_real_toxiproxy_backend_refuses_udp_proxies_before_any_request() -> None:
    backend = ToxiproxyBackend("http://127.0.0.1:9")  # nothing listens: the refusal must come first
    with pytest.raises(UnsupportedToxic) as refused:
        backend.create_proxy(("127.0.0.1", 53), protocol="udp")
    assert refused.value.message == TOXIPROXY_HAS_NO_UDP


def _call(api: ToxiproxyAPI, method: str, path: str, body: object = None) -> tuple[int, object]:
    response = api.handle(method, path, b"" if body is None else json.dumps(body).encode())
    return response.status, json.loads(response.body) if response.body else None


def test_the_http_api_makes_udp_proxies_and_answers_400_in_the_same_words(echo: UDPEcho) -> None:
    with FaultEngine(seed=1) as engine:
        api = ToxiproxyAPI(engine)
        upstream = format_address(echo.address)
        status, body = _call(api, "POST", "/proxies", {"name": "u", "upstream": upstream, "protocol": "udp"})
        assert status == 201 and isinstance(body, dict) and body["protocol"] == "udp"
        status, body = _call(api, "POST", "/proxies", {"name": "t", "upstream": "127.0.0.1:9"})
        assert status == 201 and isinstance(body, dict) and "protocol" not in body  # Toxiproxy's JSON
        status, body = _call(api, "POST", "/proxies/t/toxics", {"type": "udp_loss", "toxicity": 0.5})
        assert status == 400 and body == {
            "error": "the udp_loss toxic applies to UDP proxies only, not to a TCP proxy",
            "status": 400,
        }
        status, body = _call(api, "POST", "/proxies/u/toxics", {"type": "latency"})
        assert status == 400 and "applies to TCP proxies only, not to a UDP proxy" in str(body)
        status, body = _call(api, "POST", "/proxies/u/toxics", {"type": "udp_loss", "toxicity": 2})
        assert status == 400 and "toxicity must be a number between 0 and 1, got 2" in str(body)
        status, body = _call(api, "POST", "/proxies", {"name": "x", "upstream": upstream, "protocol": "quic"})
        assert status == 400 and "protocol 'quic' is not a proxy protocol" in str(body)
        status, body = _call(api, "POST", "/proxies/u", {"protocol": "tcp"})
        assert status == 400 and "protocol cannot be changed" in str(body)
        status, body = _call(api, "POST", "/proxies/u/toxics", {"type": "udp_loss", "toxicity": 0.25})
        assert status == 200 and isinstance(body, dict) and body["toxicity"] == 0.25
        status, body = _call(api, "GET", "/proxies/u")
        assert status == 200 and isinstance(body, dict) and body["toxics"][0]["type"] == "udp_loss"
        new = {"name": "v", "listen": "bad", "upstream": upstream, "protocol": "udp"}
        status, body = _call(api, "POST", "/proxies", new)
        assert (status, body) == (
            500,
            {"error": "listen udp: address bad: missing port in address", "status": 500},
        )


def test_populate_keeps_the_protocol_and_replaces_a_proxy_whose_protocol_changed(echo: UDPEcho) -> None:
    with FaultEngine(seed=1) as engine:
        api = ToxiproxyAPI(engine)
        upstream = format_address(echo.address)
        entry = {"name": "p", "listen": "127.0.0.1:0", "upstream": upstream, "protocol": "udp"}
        status, body = _call(api, "POST", "/populate", [entry])
        assert status == 201 and isinstance(body, dict), body
        assert engine.get_proxy("p").protocol == "udp"
        status, body = _call(api, "POST", "/populate", [{**entry, "protocol": "tcp"}])
        assert status == 201, body
        assert engine.get_proxy("p").protocol == "tcp"


def test_a_udp_and_a_tcp_proxy_whose_port_numbers_meet_are_not_a_loop() -> None:
    """Port P over UDP and port P over TCP are different endpoints: only same-protocol chains can loop."""
    with FaultEngine(seed=1) as engine:
        tcp = engine.create_proxy("tcp", "127.0.0.1:0", "127.0.0.1:9")
        udp = engine.create_proxy("udp", "127.0.0.1:0", format_address(tcp.listen_endpoint()), protocol="udp")
        engine.update_proxy("tcp", upstream=format_address(udp.listen_endpoint()))  # TCP -> P -> (UDP) Q
        assert tcp.upstream == format_address(udp.listen_endpoint())
