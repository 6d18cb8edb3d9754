"""Real HTTP clients against the TLS peers and faults: the exception each one raises, pinned.

The docs table docs/reference/tls-clients.md is this file in words; a change in a client library shows up here
first. Every fault is checked to have happened (the server's transcript or connection count), so a client that
"fails" for another reason cannot pass.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable, Iterator

import pytest

from sockharness.peers import Close, EchoServer, HTTPHelloServer, RecvUntil, SendAll

requests = pytest.importorskip("requests")
urllib3 = pytest.importorskip("urllib3")
httpx = pytest.importorskip("httpx")

TIMEOUT = 0.5
#: 50 of the 100 promised body bytes, then a close without close_notify.
SHORT_BODY = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n" + b"x" * 50


def chain(exc: BaseException) -> list[str]:
    """Outermost to root, following __cause__ then __context__: class names with their module."""
    names: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(names) < 10:
        names.append(f"{type(seen).__module__}.{type(seen).__qualname__}")
        seen = seen.__cause__ or seen.__context__
    return names


def root(exc: BaseException) -> BaseException:
    while (exc.__cause__ or exc.__context__) is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


@pytest.fixture
def fault_server(tls_peer) -> Callable[[str], object]:
    """Start the TLS server for a fault name from the docs table."""

    def make(fault: str) -> object:
        if fault in ("expired", "wrong_host"):
            return tls_peer(HTTPHelloServer, cert=fault)
        if fault in ("stall", "reset", "plain_reply"):
            return tls_peer(EchoServer, handshake_fault=fault)
        if fault == "short_body":
            from sockharness.peers import ScriptedTCPServer

            return tls_peer(
                ScriptedTCPServer,
                [RecvUntil(b"\r\n\r\n"), SendAll(SHORT_BODY), Close()],
                tolerate_disconnects=True,
            )
        raise AssertionError(fault)

    return make


def url_of(server) -> str:
    return f"https://127.0.0.1:{server.port}/"


@pytest.fixture
def clients(tls_certificates) -> Iterator[dict[str, Callable[[str], object]]]:
    ca = tls_certificates.ca_path
    context = tls_certificates.client_context()
    pools: list[object] = []

    def with_requests(url: str) -> object:
        return requests.get(url, verify=ca, timeout=TIMEOUT)

    def with_urllib3(url: str) -> object:
        pool = urllib3.PoolManager(ca_certs=ca)
        pools.append(pool)
        return pool.request("GET", url, timeout=TIMEOUT, retries=False)

    def with_http_client(url: str) -> object:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=TIMEOUT)
        try:
            connection.request("GET", "/")
            return connection.getresponse().read()
        finally:
            connection.close()

    def with_httpx(url: str) -> object:
        return httpx.get(url, verify=context, timeout=TIMEOUT)

    yield {
        "requests": with_requests,
        "urllib3": with_urllib3,
        "http.client": with_http_client,
        "httpx": with_httpx,
    }
    for pool in pools:
        pool.clear()  # type: ignore[attr-defined]


#: (fault, client) -> the exception chain, outermost first (measured here; tls-facts 6).
EXPECTED: dict[tuple[str, str], list[str]] = {
    ("expired", "requests"): [
        "requests.exceptions.SSLError",
        "urllib3.exceptions.MaxRetryError",
        "urllib3.exceptions.SSLError",
        "ssl.SSLCertVerificationError",
    ],
    ("expired", "urllib3"): ["urllib3.exceptions.SSLError", "ssl.SSLCertVerificationError"],
    ("expired", "http.client"): ["ssl.SSLCertVerificationError"],
    ("expired", "httpx"): ["httpx.ConnectError", "httpcore.ConnectError", "ssl.SSLCertVerificationError"],
    ("stall", "requests"): [
        "requests.exceptions.ReadTimeout",
        "urllib3.exceptions.ReadTimeoutError",
        "builtins.TimeoutError",
    ],
    ("stall", "urllib3"): ["urllib3.exceptions.ReadTimeoutError", "builtins.TimeoutError"],
    ("stall", "http.client"): ["builtins.TimeoutError"],
    ("stall", "httpx"): ["httpx.ConnectTimeout", "httpcore.ConnectTimeout", "builtins.TimeoutError"],
    ("reset", "requests"): [
        "requests.exceptions.ConnectionError",
        "urllib3.exceptions.ProtocolError",
        "builtins.ConnectionResetError",
    ],
    ("reset", "urllib3"): ["urllib3.exceptions.ProtocolError", "builtins.ConnectionResetError"],
    ("reset", "http.client"): ["builtins.ConnectionResetError"],
    ("reset", "httpx"): ["httpx.ConnectError", "httpcore.ConnectError", "builtins.ConnectionResetError"],
    ("plain_reply", "requests"): [
        "requests.exceptions.SSLError",
        "urllib3.exceptions.MaxRetryError",
        "urllib3.exceptions.SSLError",
        "ssl.SSLError",
    ],
    ("plain_reply", "urllib3"): ["urllib3.exceptions.SSLError", "ssl.SSLError"],
    ("plain_reply", "http.client"): ["ssl.SSLError"],
    ("plain_reply", "httpx"): ["httpx.ConnectError", "httpcore.ConnectError", "ssl.SSLError"],
    ("short_body", "requests"): [
        "requests.exceptions.ChunkedEncodingError",
        "urllib3.exceptions.ProtocolError",
        "urllib3.exceptions.IncompleteRead",
    ],
    ("short_body", "urllib3"): ["urllib3.exceptions.ProtocolError", "http.client.IncompleteRead"],
    ("short_body", "http.client"): ["http.client.IncompleteRead"],
    ("short_body", "httpx"): [
        "httpx.RemoteProtocolError",
        "httpcore.RemoteProtocolError",
        "h11._util.RemoteProtocolError",
    ],
}


@pytest.mark.parametrize(("fault", "client"), sorted(EXPECTED), ids=lambda value: str(value))
def test_client_raises_the_pinned_exception(fault, client, fault_server, clients):
    server = fault_server(fault)
    with pytest.raises(Exception) as caught:
        clients[client](url_of(server))
    got = chain(caught.value)
    assert got == EXPECTED[fault, client]
    assert server.connection_count >= 1  # the fault server was reached: the fault happened
    failure = root(caught.value)
    if fault == "expired":
        assert isinstance(failure, ssl.SSLCertVerificationError) and failure.verify_code == 10
    if fault == "plain_reply":
        assert isinstance(failure, ssl.SSLError) and failure.reason == "WRONG_VERSION_NUMBER"
    if fault == "stall":
        assert "handshake operation timed out" in str(failure)


def test_wrong_host_is_code_64_for_every_client(fault_server, clients):
    server = fault_server("wrong_host")
    for name, call in clients.items():
        with pytest.raises(Exception) as caught:
            call(url_of(server))
        failure = root(caught.value)
        assert isinstance(failure, ssl.SSLCertVerificationError), (name, chain(caught.value))
        assert failure.verify_code == 64, name


def test_urllib3_default_retries_connect_four_times(fault_server, tls_certificates):
    server = fault_server("expired")
    pool = urllib3.PoolManager(ca_certs=tls_certificates.ca_path)
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        pool.request("GET", url_of(server), timeout=TIMEOUT)
    server.wait_connections(4)
    assert server.connection_count == 4


def test_every_client_succeeds_against_the_valid_server(tls_http_server, clients):
    url = tls_http_server.url
    assert clients["requests"](url).text == "Hello, World"
    assert clients["urllib3"](url).data == b"Hello, World"
    assert clients["http.client"](url) == b"Hello, World"
    assert clients["httpx"](url).text == "Hello, World"
