"""The DNS peer outside the namespace mode: resolver libraries (dnspython) pointed at it see each fault."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest

from sockharness.peers._dns import DNSServer, DnsTableError

TABLE = {"db.internal": ["127.0.0.10", "::1"], "cache.internal": "127.0.0.11"}


@pytest.fixture
def dns_peer(request: pytest.FixtureRequest) -> Iterator[DNSServer]:
    options = getattr(request, "param", {})
    peer = DNSServer(TABLE, **options).start()
    yield peer
    peer.stop()
    peer.check()


def _resolver(peer: DNSServer, lifetime: float = 2.0) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [peer.host]
    resolver.port = peer.port
    resolver.timeout = resolver.lifetime = lifetime
    return resolver


def test_answers_a_and_aaaa_from_the_table(dns_peer: DNSServer) -> None:
    resolver = _resolver(dns_peer)
    assert [r.address for r in resolver.resolve("db.internal", "A")] == ["127.0.0.10"]
    assert [r.address for r in resolver.resolve("db.internal", "AAAA")] == ["::1"]
    assert [r.address for r in resolver.resolve("Cache.Internal.", "A")] == ["127.0.0.11"]
    assert [(q.transport, q.qtype) for q in dns_peer.queries_for("db.internal")] == [
        ("udp", "A"),
        ("udp", "AAAA"),
    ]


def test_a_name_not_in_the_table_is_nxdomain(dns_peer: DNSServer) -> None:
    with pytest.raises(dns.resolver.NXDOMAIN):
        _resolver(dns_peer).resolve("nope.internal", "A")


@pytest.mark.parametrize(
    ("dns_peer", "rcode"),
    [
        ({"mode": "nxdomain"}, dns.rcode.NXDOMAIN),
        ({"mode": "servfail"}, dns.rcode.SERVFAIL),
        ({"mode": "refused"}, dns.rcode.REFUSED),
    ],
    indirect=["dns_peer"],
)
def test_error_modes_answer_their_rcode(dns_peer: DNSServer, rcode: int) -> None:
    query = dns.message.make_query("db.internal", "A")
    answer = dns.query.udp(query, dns_peer.host, port=dns_peer.port, timeout=2)
    assert answer.rcode() == rcode and answer.answer == []


@pytest.mark.parametrize("dns_peer", [{"mode": "empty"}], indirect=True)
def test_empty_mode_is_noerror_without_answers(dns_peer: DNSServer) -> None:
    with pytest.raises(dns.resolver.NoAnswer):
        _resolver(dns_peer).resolve("db.internal", "A")


@pytest.mark.parametrize("dns_peer", [{"mode": "truncate"}], indirect=True)
def test_truncate_sets_tc_over_udp_keeps_the_question_and_answers_over_tcp(dns_peer: DNSServer) -> None:
    query = dns.message.make_query("db.internal", "A")
    over_udp = dns.query.udp(query, dns_peer.host, port=dns_peer.port, timeout=2, ignore_trailing=True)
    assert over_udp.flags & dns.flags.TC and over_udp.question and not over_udp.answer
    # the resolver retries over TCP by itself and gets the answer there
    assert [r.address for r in _resolver(dns_peer).resolve("db.internal", "A")] == ["127.0.0.10"]
    assert [q.transport for q in dns_peer.queries_for("db.internal")][-2:] == ["udp", "tcp"]


def test_tcp_serves_several_messages_on_one_connection(dns_peer: DNSServer) -> None:
    with socket.create_connection(dns_peer.address[:2], timeout=2) as connection:
        for qtype in ("A", "AAAA"):
            answer, _ = dns.query.receive_tcp(
                _send_tcp(connection, dns.message.make_query("db.internal", qtype)), time.time() + 2
            )
            assert len(answer.answer) == 1


def _send_tcp(connection: socket.socket, query: dns.message.Message) -> socket.socket:
    dns.query.send_tcp(connection, query)
    return connection


@pytest.mark.parametrize("dns_peer", [{"mode": "late", "delay": 0.3}], indirect=True)
def test_late_answers_after_the_delay_never_before(dns_peer: DNSServer) -> None:
    started = time.monotonic()
    assert [r.address for r in _resolver(dns_peer).resolve("db.internal", "A")] == ["127.0.0.10"]
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("dns_peer", [{"mode": "drop"}], indirect=True)
def test_drop_answers_nothing_so_the_resolver_times_out(dns_peer: DNSServer) -> None:
    with pytest.raises(dns.resolver.LifetimeTimeout):
        _resolver(dns_peer, lifetime=0.3).resolve("db.internal", "A")
    assert dns_peer.queries_for("db.internal")


@pytest.mark.parametrize("dns_peer", [{"modes": {"cache.internal": "servfail"}}], indirect=True)
def test_a_mode_per_name(dns_peer: DNSServer) -> None:
    resolver = _resolver(dns_peer)
    assert [r.address for r in resolver.resolve("db.internal", "A")] == ["127.0.0.10"]
    with pytest.raises(dns.resolver.NoNameservers, match="SERVFAIL"):
        resolver.resolve("cache.internal", "A")


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"db..internal": "127.0.0.1"}, "'db..internal' is not a DNS name: label '' is not 1-63"),
        ({"-db.internal": "127.0.0.1"}, "label '-db' is not 1-63"),
        ({"x" * 64: "127.0.0.1"}, "is not a DNS name"),
        (
            {"db.internal": "127.0.0.300"},
            "DNS table entry 'db.internal': '127.0.0.300' is not an IPv4 or IPv6",
        ),
        ({"db.internal": []}, "expected an address or a list of them"),
        ({"": "127.0.0.1"}, "'' is not a DNS name"),
    ],
)
def test_bad_table_entries_are_refused_with_the_entry_named(table: dict[str, object], words: str) -> None:
    with pytest.raises(DnsTableError) as refused:
        DNSServer(table)
    assert words in str(refused.value)


def test_an_unknown_mode_lists_the_modes() -> None:
    with pytest.raises(ValueError, match="unknown DNS mode 'nxdomian'; known modes: answer, nxdomain"):
        DNSServer(TABLE, mode="nxdomian")


def test_the_yaml_mode_names_are_the_peer_modes() -> None:
    from typing import get_args

    from sockharness.peers._dns import DNS_MODES
    from sockharness.scenario._language.model_udp import DnsModeName

    assert get_args(DnsModeName) == DNS_MODES


def test_behind_the_udp_fault_proxy_dnspython_sees_the_delay_and_the_loss(udp_fault_proxy: Any) -> None:
    with DNSServer(TABLE) as server:
        proxy = udp_fault_proxy(server)
        proxy.add_toxic("udp_latency", stream="upstream", latency=100)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = [proxy.host], proxy.port
        resolver.timeout = resolver.lifetime = 2.0
        started = time.monotonic()
        assert [r.address for r in resolver.resolve("db.internal", "A")] == ["127.0.0.10"]
        assert time.monotonic() - started >= 0.1
        proxy.add_toxic("udp_blackhole", stream="upstream")
        resolver.timeout = resolver.lifetime = 0.3
        with pytest.raises(dns.resolver.LifetimeTimeout):
            resolver.resolve("db.internal", "A")
