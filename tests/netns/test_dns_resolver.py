"""getaddrinfo through a DNS peer inside the namespace mode: the real gaierror codes and timings.

Marked ``netns``: a plain run skips them; test_dns_resolver_mode.py runs this file with --sockharness-netns.
Each lookup runs in a fresh thread: glibc keeps a sticky per-thread mode after a lost answer.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sockharness.netns import NetnsUnavailable, system_resolver
from sockharness.peers import DNSServer

pytestmark = pytest.mark.netns

TABLE = {"db.internal": "127.0.0.10"}


def _in_thread(call: Callable[[], Any]) -> Any:
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as error:
            result.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(15)
    assert result, "the lookup did not finish"
    return result[0]


@pytest.fixture
def dns(request: pytest.FixtureRequest) -> Iterator[DNSServer]:
    peer = DNSServer(TABLE, port=53, **getattr(request, "param", {})).start()
    try:
        with system_resolver(hosts={"db.hosts": "127.0.0.20"}):
            yield peer
    finally:
        peer.stop()


def _lookup(name: str = "db.internal") -> Any:
    return _in_thread(lambda: socket.getaddrinfo(name, 5432, type=socket.SOCK_STREAM))


def test_getaddrinfo_resolves_through_the_peer(dns: DNSServer) -> None:
    assert _lookup() == [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.10", 5432))]
    assert {q.qtype for q in dns.queries_for("db.internal")} == {"A", "AAAA"}
    assert _lookup("db.hosts")[0][4] == ("127.0.0.20", 5432) and not dns.queries_for("db.hosts")
    assert _lookup("localhost")[0][4][0] in ("127.0.0.1", "::1")


@pytest.mark.parametrize(
    ("dns", "code"),
    [
        ({"mode": "nxdomain"}, socket.EAI_NONAME),
        ({"mode": "servfail"}, socket.EAI_AGAIN),
        ({"mode": "refused"}, socket.EAI_AGAIN),
        ({"mode": "empty"}, socket.EAI_NODATA),
    ],
    indirect=["dns"],
)
def test_rcodes_become_their_gaierror(dns: DNSServer, code: int) -> None:
    error = _lookup()
    assert isinstance(error, socket.gaierror) and error.errno == code, error


@pytest.mark.parametrize("dns", [{"mode": "drop"}], indirect=True)
def test_no_answer_is_eai_again_after_the_resolver_timeout(dns: DNSServer) -> None:
    started = time.monotonic()
    error = _lookup()
    took = time.monotonic() - started
    assert isinstance(error, socket.gaierror) and error.errno == socket.EAI_AGAIN
    assert 0.9 <= took < 3.0, took


@pytest.mark.parametrize("dns", [{"mode": "truncate"}], indirect=True)
def test_a_truncated_answer_makes_glibc_retry_over_tcp(dns: DNSServer) -> None:
    assert _lookup()[0][4] == ("127.0.0.10", 5432)
    assert "tcp" in {q.transport for q in dns.queries_for("db.internal")}


def test_create_connection_by_name_reaches_a_server_in_the_namespace(dns: DNSServer) -> None:
    with socket.create_server(("127.0.0.10", 0)) as server:
        port = server.getsockname()[1]
        connection = _in_thread(lambda: socket.create_connection(("db.internal", port), timeout=3))
        assert isinstance(connection, socket.socket), connection
        connection.close()


def test_the_files_are_restored_after_the_block() -> None:
    before = hashlib.sha256(open("/etc/resolv.conf", "rb").read()).hexdigest()  # noqa: SIM115
    with system_resolver():
        assert "nameserver 127.0.0.1" in open("/etc/resolv.conf").read()  # noqa: SIM115
    assert hashlib.sha256(open("/etc/resolv.conf", "rb").read()).hexdigest() == before  # noqa: SIM115


def test_outside_the_mode_it_refuses_with_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOCKHARNESS_NETNS")
    with pytest.raises(NetnsUnavailable, match="needs the private network namespace mode"), system_resolver():
        pass
