"""ToxiproxyBackend: the FaultBackend over toxiproxy-python, run against the embedded API and a real server.

What matters on a shared server: unique names, touching only its own proxies (reset, close), errors
turned into the engine's FaultError types, and toxiproxy-python's global host/port left as found.
"""

from __future__ import annotations

import socket

import pytest
from toxiproxy.api import APIConsumer

from sockharness.faults._api.http_api import ToxiproxyAPIServer
from sockharness.faults._backends.toxiproxy_backend import (
    ToxiproxyBackend,
    parse_toxiproxy_url,
    toxiproxy_unavailable_reason,
)
from sockharness.faults._engine.engine import FaultEngine
from sockharness.faults._errors import (
    BadRequest,
    FaultError,
    InvalidToxic,
    ListenError,
    ProxyNotFound,
    ToxicExists,
    ToxicNotFound,
)
from sockharness.faults._interface import FaultBackend, FaultProxy
from sockharness.peers._builtin import ClosedPort, HTTPHelloServer
from tests.support.toxiproxy_api import http_request, unique


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8474", ("127.0.0.1", 8474)),
        ("http://127.0.0.1:8474/", ("127.0.0.1", 8474)),
        ("http://localhost", ("localhost", 8474)),
        ("http://[::1]:9000", ("::1", 9000)),
    ],
)
def test_parse_url(url: str, expected: tuple[str, int]) -> None:
    assert parse_toxiproxy_url(url) == expected


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("https://127.0.0.1:8474", "http://"),
        ("127.0.0.1:8474", "http://"),
        ("http://:8474", "no host"),
        ("http://127.0.0.1:99999", "invalid port"),
        ("http://127.0.0.1:8474/api", "path"),
    ],
)
def test_parse_url_errors_name_the_url(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as info:
        parse_toxiproxy_url(url)
    assert repr(url) in str(info.value)


def test_unavailable_reasons_are_one_sentence() -> None:
    assert "TOXIPROXY_URL is not set" in (toxiproxy_unavailable_reason(None) or "")
    assert "TOXIPROXY_URL is not set" in (toxiproxy_unavailable_reason("") or "")
    assert "must start with http://" in (toxiproxy_unavailable_reason("ftp://x") or "")
    with ClosedPort() as closed:
        reason = toxiproxy_unavailable_reason(f"http://127.0.0.1:{closed.port}")
    assert reason is not None and "not reachable" in reason
    with HTTPHelloServer() as hello:
        reason = toxiproxy_unavailable_reason(f"http://127.0.0.1:{hello.port}")
    assert reason is not None and "not a Toxiproxy server" in reason


def test_embedded_api_counts_as_available(embedded_api: ToxiproxyAPIServer) -> None:
    assert toxiproxy_unavailable_reason(embedded_api.url) is None


def test_backend_satisfies_the_protocols(client_backend: ToxiproxyBackend) -> None:
    proxy = client_backend.create_proxy(("127.0.0.1", 9))
    assert isinstance(client_backend, FaultBackend)
    assert isinstance(proxy, FaultProxy)
    assert client_backend.name == "toxiproxy"
    assert proxy.upstream == ("127.0.0.1", 9)
    assert proxy.address[0] == "127.0.0.1" and proxy.address[1] > 0
    assert proxy.enabled is True


def test_names_are_unique_per_backend(client_backend: ToxiproxyBackend) -> None:
    other = ToxiproxyBackend(client_backend.url)
    try:
        first = client_backend.create_proxy(("127.0.0.1", 9), name="db")
        second = other.create_proxy(("127.0.0.1", 9), name="db")
        third = client_backend.create_proxy(("127.0.0.1", 9), name="db")
        assert len({first.name, second.name, third.name}) == 3
        assert all(proxy.name.startswith("db-") for proxy in (first, second, third))
    finally:
        other.close()


def test_global_client_address_is_left_as_found(client_backend: ToxiproxyBackend) -> None:
    saved = (APIConsumer.host, APIConsumer.port)
    APIConsumer.host, APIConsumer.port = "192.0.2.1", 1  # a sentinel nobody talks to
    try:
        proxy = client_backend.create_proxy(("127.0.0.1", 9))
        proxy.add_toxic("latency", latency=1)
        assert [toxic.name for toxic in proxy.toxics()] == ["latency_downstream"]
        assert (APIConsumer.host, APIConsumer.port) == ("192.0.2.1", 1)
    finally:
        APIConsumer.host, APIConsumer.port = saved


def test_reset_and_close_touch_only_own_proxies(client_backend: ToxiproxyBackend) -> None:
    foreign = unique("foreign")
    created = http_request(
        client_backend.url,
        "POST",
        "/proxies",
        {"name": foreign, "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"},
    )
    assert created.status == 201
    try:
        http_request(client_backend.url, "POST", f"/proxies/{foreign}/toxics", {"type": "latency"})
        own = client_backend.create_proxy(("127.0.0.1", 9))
        own.add_toxic("latency", latency=5)
        client_backend.reset()
        assert own.toxics() == []
        foreign_toxics = http_request(client_backend.url, "GET", f"/proxies/{foreign}/toxics").json()
        assert [toxic["name"] for toxic in foreign_toxics] == ["latency_downstream"]
        client_backend.close()
        assert client_backend.proxies() == []
        assert http_request(client_backend.url, "GET", f"/proxies/{own.name}").status == 404
        assert http_request(client_backend.url, "GET", f"/proxies/{foreign}").status == 200
    finally:
        http_request(client_backend.url, "DELETE", f"/proxies/{foreign}")


def test_errors_become_fault_errors(client_backend: ToxiproxyBackend) -> None:
    proxy = client_backend.create_proxy(("127.0.0.1", 9))
    proxy.add_toxic("latency", latency=5)
    with pytest.raises(ToxicExists, match="toxic already exists") as exists:
        proxy.add_toxic("latency", latency=5)
    assert exists.value.status == 409
    with pytest.raises(InvalidToxic, match=r"^unknown toxic type 'no_such_toxic'; known types: latency, "):
        proxy.add_toxic("no_such_toxic")  # refused before anything is sent
    with pytest.raises(BadRequest, match="stream was invalid"):
        proxy.add_toxic("latency", stream="sideways")
    with pytest.raises(ToxicNotFound):
        proxy.remove_toxic("absent")
    with pytest.raises(ToxicNotFound):
        proxy.update_toxic("absent", latency=1)


def test_listen_in_use_is_a_listen_error(client_backend: ToxiproxyBackend) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        with pytest.raises(ListenError, match="address already in use") as info:
            client_backend.create_proxy(("127.0.0.1", 9), listen=f"127.0.0.1:{port}")
    assert info.value.status == 500
    assert client_backend.proxies() == []


def test_proxy_deleted_behind_its_back(client_backend: ToxiproxyBackend) -> None:
    proxy = client_backend.create_proxy(("127.0.0.1", 9))
    assert http_request(client_backend.url, "DELETE", f"/proxies/{proxy.name}").status == 204
    with pytest.raises(ProxyNotFound):
        proxy.add_toxic("latency")
    with pytest.raises(ProxyNotFound):
        proxy.disable()
    proxy.close()  # already gone: not an error
    proxy.close()
    assert client_backend.proxies() == []


def test_toxicity_and_attributes_update(client_backend: ToxiproxyBackend) -> None:
    proxy = client_backend.create_proxy(("127.0.0.1", 9))
    proxy.add_toxic("latency", name="lag", stream="upstream", toxicity=0.5, latency=10, jitter=2)
    proxy.update_toxic("lag", toxicity=0.25, jitter=4)
    [spec] = proxy.toxics()
    assert (spec.name, spec.type, spec.stream, spec.toxicity) == ("lag", "latency", "upstream", 0.25)
    assert spec.attributes == {"latency": 10, "jitter": 4}


def test_server_gone_is_a_clear_fault_error() -> None:
    engine = FaultEngine(seed=2)
    server = ToxiproxyAPIServer(engine).start()
    backend = ToxiproxyBackend(server.url)
    proxy = backend.create_proxy(("127.0.0.1", 9))
    server.stop()
    try:
        with pytest.raises(FaultError, match="did not answer"):
            proxy.add_toxic("latency")
        with pytest.raises(FaultError, match="did not answer"):
            backend.close()  # tries every proxy, then reports
        assert backend.proxies() == [proxy]  # still listed: a later close() retries
    finally:
        engine.close()
