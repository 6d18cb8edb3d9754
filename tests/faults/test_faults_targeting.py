"""Faults at the right moment (issue 15): targeting any toxic, the cut toxic, and the connection log.

The pure parts (which connection a target selects, where a cut falls, when a window opens) are tested with
plain chunks and clock values; the engine parts with real loopback sockets through an embedded proxy, where
a plain listening socket stands in for the upstream so the test sees exactly the bytes that got through.
"""

from __future__ import annotations

import json
import random
import re
import socket
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing

import pytest

from sockharness.faults._api.http_api import ToxiproxyAPIServer
from sockharness.faults._backends.embedded import EmbeddedBackend, EmbeddedProxy
from sockharness.faults._backends.toxiproxy_backend import ToxiproxyBackend
from sockharness.faults._engine.chain import (
    CLOSE,
    DATA,
    EOF,
    PEER_RESET,
    Chain,
    Chunk,
    ConnectionFacts,
    RngFactory,
)
from sockharness.faults._engine.targeting import InvalidTarget, Target, parse_target
from sockharness.faults._engine.toxic_types import InvalidAttribute, UnsupportedToxic
from sockharness.faults._engine.toxics import ToxicSpec
from sockharness.faults._errors import BadRequest
from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_text
from tests.support.socket_io import recv_exactly

EMPTY_PATTERN = "attribute pattern of a cut toxic must not be empty"
INDEX_ZERO = "target first must be >= 1 (a connection index counts from 1), got 0"
CORRELATION = "attribute correlation of a latency toxic must be <= 100, got 101"


# --- which connections: pure ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "selected"),
    [
        ({}, [1, 2, 3, 4, 5, 6]),
        ({"nth": 3}, [3]),
        ({"first": 2}, [1, 2]),
        ({"every": 2}, [2, 4, 6]),
        ({"starting_at": 4}, [4, 5, 6]),
        ({"every": 2, "starting_at": 3}, [4, 6]),
        ({"first": 2, "nth": 3}, []),
    ],
)
def test_connection_index_rules(target: dict[str, int], selected: list[int]) -> None:
    rule = parse_target(target)
    assert [index for index in range(1, 7) if rule.matches(index, "127.0.0.1", 5000)] == selected


def test_index_rules_never_match_a_connection_opened_before_the_toxic() -> None:
    assert not parse_target({"starting_at": 1}).matches(None, "127.0.0.1", 1)
    assert parse_target({"client_port": 1}).matches(None, "127.0.0.1", 1)  # no index rule: it applies


def test_client_address_rules() -> None:
    rule = parse_target({"client_host": "::1", "client_port": 4000})
    assert rule.client_host == "::1"
    assert rule.matches(1, "0:0:0:0:0:0:0:1", 4000)
    assert not rule.matches(1, "::1", 4001)
    assert not rule.matches(1, "127.0.0.1", 4000)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"first": 0}, INDEX_ZERO),
        ({"nth": -1}, "target nth must be >= 1 (a connection index counts from 1), got -1"),
        ({"frist": 2}, "unknown target key 'frist'; did you mean 'first'? known keys: nth, first, every"),
        ({"client_host": "localhost"}, "target client_host must be an IP address like '127.0.0.1'"),
        ({"client_port": 70000}, "target client_port must be a port from 1 to 65535, got 70000"),
        ({"after_bytes": -5}, "target after_bytes must be >= 0 (it must be >= 0), got -5"),
        ({"every": 1.5}, "target every must be a whole number >= 1, got 1.5"),
        ([1], "target must be a mapping of nth, first"),
    ],
)
def test_bad_targets_name_the_key(given: object, message: str) -> None:
    with pytest.raises(InvalidTarget) as refused:
        parse_target(given)
    assert refused.value.message.startswith(message), refused.value.message


def test_a_target_object_is_checked_like_a_mapping() -> None:
    assert parse_target(Target(first=2)) == Target(first=2)
    with pytest.raises(InvalidTarget, match=re.escape(INDEX_ZERO)):
        parse_target(Target(first=0))


def test_target_json_shows_only_what_is_set() -> None:
    spec = ToxicSpec.build("latency", latency=5, target={"first": 2, "after_bytes": 10})
    assert spec.to_json()["target"] == {"first": 2, "after_bytes": 10}
    assert "target" not in ToxicSpec.build("latency", latency=5).to_json()
    assert ToxicSpec.from_json(spec.to_json()) == spec
    assert Target(first=2).describe() == "first=2"


# --- windows and cuts: pure ----------------------------------------------------------------------------


def _chain(facts: ConnectionFacts | None = None) -> Chain:
    return Chain(RngFactory(1, "p", 1, "downstream"), facts)


def _drain(chain: Chain, now: float) -> list[Chunk]:
    return chain.advance(now)


def _data(chunks: list[Chunk]) -> bytes:
    return b"".join(chunk.data for chunk in chunks if chunk.kind == DATA)


@pytest.mark.parametrize("cut", [0, 1, 7, 10, 23, 99, 100])
@pytest.mark.parametrize("seed", range(5))
def test_a_cut_delivers_exactly_the_bytes_before_it(cut: int, seed: int) -> None:
    rng = random.Random(seed)
    payload = bytes(rng.randrange(256) for _ in range(100))
    chain = _chain()
    chain.add(ToxicSpec.build("cut", bytes=cut, action="close"), 0.0)
    out: list[Chunk] = []
    position = 0
    while position < len(payload):
        size = rng.randint(1, 30)
        chain.feed(Chunk(DATA, payload[position : position + size], 0.0), 0.0)
        position += size
        out += _drain(chain, 0.0)
    chain.feed(Chunk(EOF, b"", 0.0), 0.0)
    out += _drain(chain, 0.0)
    assert _data(out) == payload[:cut]
    assert [chunk.kind for chunk in out if chunk.kind != DATA] == [CLOSE]


@pytest.mark.parametrize("split", range(1, 40))
def test_a_pattern_cut_finds_the_match_across_chunks(split: int) -> None:
    response = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody\r\n\r\nmore"
    chain = _chain()
    chain.add(ToxicSpec.build("cut", pattern="\r\n\r\n", action="reset"), 0.0)
    chain.feed(Chunk(DATA, response[:split], 0.0), 0.0)
    chain.feed(Chunk(DATA, response[split:], 0.0), 0.0)
    out = _drain(chain, 0.0)
    assert _data(out) == b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n"
    assert out[-1].kind == PEER_RESET  # the RST waits for the bytes before it to be sent


def test_stall_holds_the_rest_then_releases_it_in_order() -> None:
    chain = _chain()
    chain.add(ToxicSpec.build("cut", bytes=3, action="stall", stall=500), 0.0)
    chain.feed(Chunk(DATA, b"abcdef", 0.0), 1.0)
    assert _data(_drain(chain, 1.0)) == b"abc"
    chain.feed(Chunk(DATA, b"gh", 1.1), 1.1)
    assert _drain(chain, 1.49) == []
    assert chain.next_due() == pytest.approx(1.5)
    assert _data(_drain(chain, 1.5)) == b"defgh"


def test_hang_keeps_everything_after_the_cut_including_the_close() -> None:
    chain = _chain()
    chain.add(ToxicSpec.build("cut", bytes=2, action="hang"), 0.0)
    chain.feed(Chunk(DATA, b"abcd", 0.0), 0.0)
    chain.feed(Chunk(EOF, b"", 0.0), 0.0)
    assert [(c.kind, c.data) for c in _drain(chain, 10.0)] == [(DATA, b"ab")]


def test_a_byte_window_lets_exactly_n_bytes_through_untouched() -> None:
    chain = _chain(ConnectionFacts(1, "127.0.0.1", 1, {"corrupt_downstream": 0}))
    spec = ToxicSpec.build("corrupt", fraction=1, mask=0xFF, target={"after_bytes": 5})
    chain.add(spec, 0.0)
    chain.feed(Chunk(DATA, b"\x00" * 3, 0.0), 0.0)
    chain.feed(Chunk(DATA, b"\x00" * 4, 0.0), 0.0)
    assert _data(_drain(chain, 0.0)) == b"\x00" * 5 + b"\xff" * 2


def test_a_time_window_starts_the_toxic_late_and_its_timeout_counts_from_the_opening() -> None:
    facts = ConnectionFacts(1, "127.0.0.1", 1, {"timeout_downstream": 0})
    chain = _chain(facts)
    chain.add(ToxicSpec.build("timeout", timeout=100, target={"after_ms": 200}), 10.0)
    chain.feed(Chunk(DATA, b"early", 10.0), 10.0)
    assert _data(_drain(chain, 10.0)) == b"early"
    assert chain.next_due() == pytest.approx(10.2)
    assert _drain(chain, 10.2) == []  # the window opens: the timeout toxic starts now
    chain.feed(Chunk(DATA, b"late", 10.25), 10.25)
    assert _drain(chain, 10.25) == []  # dropped, as a timeout toxic does
    assert chain.next_due() == pytest.approx(10.3)
    assert [chunk.kind for chunk in _drain(chain, 10.3)] == [CLOSE]
    assert facts.applied == ["timeout_downstream"]


def test_an_update_keeps_the_cut_where_it_happened() -> None:
    chain = _chain()
    chain.add(ToxicSpec.build("cut", bytes=3, action="stall", stall=100), 0.0)
    chain.feed(Chunk(DATA, b"abcdef", 0.0), 0.0)
    assert _data(_drain(chain, 0.0)) == b"abc"
    chain.update(ToxicSpec.build("cut", bytes=3, action="stall", stall=100), 0.05)
    assert _data(_drain(chain, 0.05)) == b"def"  # an update releases what the old instance held
    chain.feed(Chunk(DATA, b"ghijk", 0.06), 0.06)
    assert _drain(chain, 0.06) == []  # still stalled: the cut is not counted again from zero
    assert _data(_drain(chain, 0.1)) == b"ghijk"


def test_an_update_keeps_the_byte_window_counting() -> None:
    chain = _chain(ConnectionFacts(1, "127.0.0.1", 1, {"corrupt_downstream": 0}))
    chain.add(ToxicSpec.build("corrupt", fraction=1, mask=0x01, target={"after_bytes": 5}), 0.0)
    chain.feed(Chunk(DATA, b"\x00" * 3, 0.0), 0.0)
    chain.update(ToxicSpec.build("corrupt", fraction=1, mask=0xFF, target={"after_bytes": 5}), 0.0)
    chain.feed(Chunk(DATA, b"\x00" * 4, 0.0), 0.0)
    assert _data(_drain(chain, 0.0)) == b"\x00" * 5 + b"\xff" * 2


def test_after_ms_counts_from_the_accept_even_for_a_toxic_added_later() -> None:
    facts = ConnectionFacts(1, "127.0.0.1", 1, {}, accepted_at=10.0)
    chain = _chain(facts)
    chain.add(ToxicSpec.build("cut", bytes=0, action="close", target={"after_ms": 200}), 10.15)
    assert chain.next_due() == pytest.approx(10.2)
    late = _chain(ConnectionFacts(1, "127.0.0.1", 1, {}, accepted_at=10.0))
    late.add(ToxicSpec.build("cut", bytes=0, action="close", target={"after_ms": 200}), 10.3)
    late.feed(Chunk(DATA, b"x", 10.3), 10.3)  # the window is long open: the cut acts at once
    assert [chunk.kind for chunk in _drain(late, 10.3)] == [CLOSE]


def test_an_untargeted_connection_gets_a_pass_through_and_no_log_entry() -> None:
    facts = ConnectionFacts(5, "127.0.0.1", 1, {"cut_downstream": 0})
    chain = _chain(facts)
    chain.add(ToxicSpec.build("cut", bytes=1, target={"first": 2}), 0.0)
    assert chain.transparent and facts.applied == []


# --- the engine, on real sockets -----------------------------------------------------------------------


@pytest.fixture
def backend() -> Iterator[EmbeddedBackend]:
    with EmbeddedBackend(seed=5) as created:
        yield created
    assert created.engine.reactor.errors == []


@pytest.fixture
def upstream() -> Iterator[socket.socket]:
    """A plain listener the proxy connects to; the test accepts and reads exactly what got through."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)
        yield listener


def _connect(proxy: EmbeddedProxy) -> socket.socket:
    client = socket.create_connection(proxy.address, timeout=5)
    return client


def _read_to_eof(sock: socket.socket) -> bytes:
    parts = []
    while chunk := sock.recv(65536):
        parts.append(chunk)
    return b"".join(parts)


def test_fail_the_first_two_connects_then_recover(backend: EmbeddedBackend, upstream: socket.socket) -> None:
    proxy = backend.create_proxy(upstream.getsockname())
    proxy.add_toxic("cut", stream="upstream", bytes=0, target={"first": 2})  # the one line
    for _attempt in (1, 2):
        with _connect(proxy) as client:
            client.sendall(b"request")
            server, _ = upstream.accept()
            with server:
                with pytest.raises(ConnectionResetError):
                    client.recv(16)
                server.settimeout(5)
                with pytest.raises(ConnectionResetError):  # not one byte of the request arrived first
                    server.recv(16)
    with _connect(proxy) as client:
        client.sendall(b"request")
        server, _ = upstream.accept()
        with server:
            assert recv_exactly(server, 7) == b"request"
            server.sendall(b"reply")
            assert recv_exactly(client, 5) == b"reply"
    log = proxy.connections()
    assert [record.index for record in log] == [1, 2, 3]
    assert [record.toxics for record in log] == [["cut_upstream"], ["cut_upstream"], []]
    assert [record.ended for record in log[:2]] == ["reset", "reset"]
    assert all("cut upstream at byte 0" in " ".join(record.events) for record in log[:2])


@pytest.mark.parametrize("cut", [1, 4096, 100_000, 1_000_000])
def test_an_upload_cut_to_the_byte(backend: EmbeddedBackend, upstream: socket.socket, cut: int) -> None:
    payload = random.Random(cut).randbytes(2 * cut + 7)
    proxy = backend.create_proxy(upstream.getsockname())
    proxy.add_toxic("cut", stream="upstream", bytes=cut, action="half_close")
    with _connect(proxy) as client:
        server, _ = upstream.accept()
        with server:
            server.settimeout(5)
            client.sendall(payload[:cut])  # never more than fits before the cut: sendall cannot block
            received = recv_exactly(server, cut)
            client.sendall(payload[cut:])
            assert received + _read_to_eof(server) == payload[:cut]  # exactly cut bytes, then a FIN
            server.sendall(b"still open downstream")  # a half-close: the reply still gets through
            assert recv_exactly(client, 21) == b"still open downstream"
    [record] = proxy.connections()
    assert record.bytes_up == cut
    assert any(f"cut upstream at byte {cut}" in event for event in record.events)


def test_a_response_cut_after_its_headers_by_pattern(
    backend: EmbeddedBackend, upstream: socket.socket
) -> None:
    proxy = backend.create_proxy(upstream.getsockname())
    proxy.add_toxic("cut", pattern="\r\n\r\n", action="reset")
    headers = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
    with _connect(proxy) as client:
        server, _ = upstream.accept()
        with server:
            server.sendall(headers[:20])
            server.sendall(headers[20:] + b"body")
            got = b""
            with pytest.raises(ConnectionResetError):
                while chunk := client.recv(1024):
                    got += chunk
            assert got == headers
    [record] = proxy.connections()
    assert record.ended == "reset" and record.bytes_down == len(headers)


def test_a_target_by_client_port(backend: EmbeddedBackend, upstream: socket.socket) -> None:
    proxy = backend.create_proxy(upstream.getsockname())
    with closing(socket.socket()) as chosen:
        chosen.bind(("127.0.0.1", 0))
        port = chosen.getsockname()[1]
        proxy.add_toxic("corrupt", offsets="0", mask=1, target={"client_port": port})
        with _connect(proxy) as other:
            server, _ = upstream.accept()
            with server:
                server.sendall(b"a")
                assert recv_exactly(other, 1) == b"a"
        chosen.settimeout(5)
        chosen.connect(proxy.address)
        server, _ = upstream.accept()
        with server:
            server.sendall(b"a")
            assert recv_exactly(chosen, 1) == b"`"
    log = proxy.connections()
    assert [record.toxics for record in log] == [[], ["corrupt_downstream"]]
    assert log[1].client.endswith(f":{port}")
    assert "corrupted downstream byte 0 (xor 0x01)" in log[1].events[0]


# --- the same words everywhere -------------------------------------------------------------------------


def test_bad_input_is_refused_at_the_call(backend: EmbeddedBackend) -> None:
    proxy = backend.create_proxy(("127.0.0.1", 9))
    with pytest.raises(InvalidAttribute, match=re.escape(EMPTY_PATTERN)):
        proxy.add_toxic("cut", pattern="")
    with pytest.raises(InvalidTarget, match=re.escape(INDEX_ZERO)):
        proxy.add_toxic("latency", latency=10, target={"first": 0})
    with pytest.raises(InvalidAttribute, match=re.escape(CORRELATION)):
        proxy.add_toxic("latency", latency=10, jitter=5, distribution="normal", correlation=101)
    with pytest.raises(InvalidAttribute, match="needs latency > 0"):
        proxy.add_toxic("latency", latency=0, jitter=5, distribution="lognormal")
    with pytest.raises(InvalidAttribute, match="did you mean 'pareto'"):
        proxy.add_toxic("latency", latency=10, distribution="paretto")
    assert proxy.toxics() == []


@pytest.mark.parametrize(
    ("toxic", "message"),
    [
        ('{type: cut, attributes: {pattern: ""}}', EMPTY_PATTERN),
        ("{type: latency, attributes: {latency: 5}, target: {first: 0}}", INDEX_ZERO),
        (
            "{type: latency, attributes: {latency: 5, jitter: 1, distribution: normal, correlation: 101}}",
            CORRELATION,
        ),
    ],
)
def test_bad_input_is_refused_in_yaml_at_file_line(toxic: str, message: str) -> None:
    text = textwrap.dedent(
        f"""\
        scenarios:
          - name: s
            peers:
              srv: echo
              px:
                kind: proxy
                upstream: srv
                toxics:
                  - {toxic}
            steps:
              - sleep: 0
        """
    )
    with pytest.raises(ScenarioError) as refused:
        load_text(text, "bad.yaml")
    assert "bad.yaml:9" in str(refused.value) and message in str(refused.value), str(refused.value)


def _post(url: str, body: object) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    ("toxic", "message"),
    [
        ({"type": "cut", "attributes": {"pattern": ""}}, EMPTY_PATTERN),
        ({"type": "latency", "attributes": {"latency": 5}, "target": {"first": 0}}, INDEX_ZERO),
        (
            {"type": "latency", "attributes": {"latency": 5, "jitter": 1, "correlation": 101}},
            CORRELATION,
        ),
        ({"type": "cut", "attributes": {"pattern": 5}}, "cannot unmarshal number into Go struct field"),
    ],
)
def test_bad_input_is_a_400_with_toxiproxys_error_body(
    embedded_api: ToxiproxyAPIServer, toxic: dict[str, object], message: str
) -> None:
    status, _ = _post(f"{embedded_api.url}/proxies", {"name": "p", "upstream": "127.0.0.1:9"})
    assert status == 201
    status, body = _post(f"{embedded_api.url}/proxies/p/toxics", toxic)
    assert status == 400
    assert body["status"] == 400 and message in str(body["error"]), body


def test_toxiproxy_python_creates_the_new_toxics_and_reads_the_connection_log(
    embedded_api: ToxiproxyAPIServer, upstream: socket.socket
) -> None:
    from toxiproxy import Toxiproxy

    client = Toxiproxy()
    client.update_api_consumer(*embedded_api.url.removeprefix("http://").split(":"))
    host, port = upstream.getsockname()
    proxy = client.create(upstream=f"{host}:{port}", name="tp", listen="127.0.0.1:0")
    proxy.add_toxic(type="corrupt", attributes={"offsets": "1", "mask": 1})
    listen_host, listen_port = proxy.listen.rsplit(":", 1)
    with socket.create_connection((listen_host, int(listen_port)), timeout=5) as sock:
        server, _ = upstream.accept()
        with server:
            server.sendall(b"aa")
            assert recv_exactly(sock, 2) == b"a`"
    with urllib.request.urlopen(f"{embedded_api.url}/proxies/tp/connections", timeout=5) as answer:
        [record] = json.loads(answer.read())
    assert record["index"] == 1 and record["toxics"] == ["corrupt_downstream"]
    assert any("corrupted downstream byte 1 (xor 0x01)" in event for event in record["events"])
    proxy.destroy()


@pytest.mark.parametrize("client_backend", ["embedded", "toxiproxy"], indirect=True)
def test_the_toxiproxy_backend_refuses_embedded_only_faults_by_name(client_backend: ToxiproxyBackend) -> None:
    proxy = client_backend.create_proxy(("127.0.0.1", 9))
    with pytest.raises(UnsupportedToxic, match="the cut toxic is embedded-only"):
        proxy.add_toxic("cut", bytes=10)
    with pytest.raises(
        UnsupportedToxic, match="attribute distribution of the latency toxic is embedded-only"
    ):
        proxy.add_toxic("latency", latency=10, jitter=2, distribution="normal")
    with pytest.raises(
        BadRequest, match=r"targeting \(first=2\) of the latency_downstream toxic is embedded-only"
    ):
        proxy.add_toxic("latency", latency=10, target={"first": 2})
    with pytest.raises(UnsupportedToxic, match=r"the connection log .* is embedded-only"):
        proxy.connections()
    assert proxy.toxics() == []
    proxy.add_toxic("latency", latency=10, distribution="uniform")  # the default is what Toxiproxy does
    assert [toxic.attributes for toxic in proxy.toxics()] == [{"latency": 10, "jitter": 0}]
    # An update is checked the same way: the server would silently keep the old behaviour.
    with pytest.raises(
        UnsupportedToxic, match="attribute distribution of the latency toxic is embedded-only"
    ):
        proxy.update_toxic("latency_downstream", jitter=2, distribution="normal")
    with pytest.raises(
        BadRequest, match=r"targeting \(first=2\) of the latency_downstream toxic is embedded-only"
    ):
        proxy.update_toxic("latency_downstream", latency=20, target={"first": 2})
    assert [toxic.attributes for toxic in proxy.toxics()] == [{"latency": 10, "jitter": 0}]
    proxy.update_toxic("latency_downstream", latency=20, target={})  # every connection: what it has
    assert [toxic.attributes for toxic in proxy.toxics()] == [{"latency": 20, "jitter": 0}]


def test_a_python_update_changes_the_target(backend: EmbeddedBackend, upstream: socket.socket) -> None:
    """``update_toxic(target=...)`` retargets a toxic in place; ``{}`` widens it to every connection."""
    proxy = backend.create_proxy(upstream.getsockname())
    proxy.add_toxic("cut", name="cut", stream="upstream", bytes=0, target={"nth": 1})

    def attempt() -> bool:
        """One connection; True when the cut reset it, False when its request got through."""
        with _connect(proxy) as client:
            client.sendall(b"request")
            server, _ = upstream.accept()
            with server:
                server.settimeout(5)
                try:
                    got = recv_exactly(server, 7)
                except ConnectionResetError:
                    return True
                assert got == b"request"
                return False

    assert [attempt(), attempt()] == [True, False]  # connection 1 only
    proxy.update_toxic("cut", target={"every": 2})
    assert [attempt(), attempt()] == [False, True]  # connections 3 and 4: the even one
    proxy.update_toxic("cut", target={})
    assert attempt() is True
    with pytest.raises(InvalidTarget, match=re.escape(INDEX_ZERO)):
        proxy.update_toxic("cut", target={"first": 0})
    [toxic] = proxy.toxics()
    assert toxic.target.is_everything  # the refused update changed nothing


# --- the connection log in a failure report ------------------------------------------------------------


def test_a_failure_report_prints_the_connection_log_next_to_the_transcripts() -> None:
    from sockharness.scenario._run.failure import ScenarioFailure
    from sockharness.scenario._run.runner import run_scenario

    text = textwrap.dedent(
        """\
        scenarios:
          - name: the-client-expected-the-whole-echo
            description: "fails on purpose: the cut keeps the echo short"
            peers:
              echo: echo
              px:
                kind: proxy
                upstream: echo
                backend: embedded
                toxics: [{type: cut, stream: upstream, attributes: {bytes: 3, action: close}}]
            steps:
              - socket: {as: c}
              - settimeout: {socket: c, value: 5s}
              - connect: {socket: c, address: px}
              - sendall: {socket: c, data: "hello"}
              - recv_until: {socket: c, size: 5}
                bytes: "hello"
        """
    )
    with pytest.raises(ScenarioFailure) as failed:
        run_scenario(load_text(text, "cut.yaml").scenarios[0], file="cut.yaml")
    report = str(failed.value)
    assert "--- proxy px connections ---" in report, report
    assert "#1 from 127.0.0.1:" in report and "toxics cut_upstream" in report, report
    assert "cut upstream at byte 3 (after the byte count): close" in report, report


def test_targets_work_in_phases_and_add_toxic_steps() -> None:
    from sockharness.scenario._run.report import PASSED
    from sockharness.scenario._run.runner import run_scenario

    text = textwrap.dedent(
        """\
        scenarios:
          - name: outage-for-one-connection-then-recovery
            description: "a phase resets the next connection only; add_toxic corrupts the 2nd's byte 1"
            peers:
              echo: echo
              px: {kind: proxy, upstream: echo, backend: embedded}
            phases:
              - name: flaky
                toxics:
                  - {proxy: px, type: cut, stream: upstream, attributes: {bytes: 0}, target: {nth: 1}}
                steps:
                  - socket: {as: a}
                  - settimeout: {socket: a, value: 5s}
                  - connect: {socket: a, address: px}
                  - sendall: {socket: a, data: "x"}
                  - recv: {socket: a, bufsize: 1}
                    raises: {type: ConnectionResetError, errno: ECONNRESET}
                  - add_toxic:
                      {proxy: px, type: corrupt, attributes: {offsets: "1", mask: 1}, target: {nth: 1}}
                  - socket: {as: b}
                  - settimeout: {socket: b, value: 5s}
                  - connect: {socket: b, address: px}
                  - sendall: {socket: b, data: "aa"}
                  - recv_until: {socket: b, size: 2}
                    bytes: "a`"
              - name: recovered
                steps:
                  - socket: {as: c}
                  - settimeout: {socket: c, value: 5s}
                  - connect: {socket: c, address: px}
                  - sendall: {socket: c, data: "aa"}
                  - recv_until: {socket: c, size: 2}
                    bytes: "aa"
                  - proxy_connections: px
                    returns: 3
        """
    )
    result = run_scenario(load_text(text, "phases.yaml").scenarios[0], file="phases.yaml")
    assert result.status == PASSED


def test_a_yaml_update_changes_a_cut_action_and_its_target() -> None:
    """``update_toxic`` in YAML takes what ``add_toxic`` takes: a text attribute, a unit, a new target."""
    from sockharness.scenario._run.report import PASSED
    from sockharness.scenario._run.runner import run_scenario

    text = textwrap.dedent(
        """\
        scenarios:
          - name: a-cut-retargeted-and-turned-into-a-reset
            description: "the first connection is closed after 2 bytes; after the update every one is reset"
            peers:
              echo: echo
              px:
                kind: proxy
                upstream: echo
                backend: embedded
                toxics:
                  - {type: cut, name: cutter, attributes: {bytes: 2, action: close}, target: {first: 1}}
            steps:
              - socket: {as: a}
              - settimeout: {socket: a, value: 5s}
              - connect: {socket: a, address: px}
              - sendall: {socket: a, data: "hello"}
              - recv_until: {socket: a, eof: true}
                bytes: "he"
              - update_toxic: {proxy: px, name: cutter, attributes: {action: reset, bytes: 1KiB}, target: {}}
              - socket: {as: b}
              - settimeout: {socket: b, value: 5s}
              - connect: {socket: b, address: px}
              - sendall: {socket: b, data: "hello"}
              - recv_until: {socket: b, size: 5}
                bytes: "hello"
              - sendall: {socket: b, data: {size: 2000}}
              - recv_until: {socket: b, eof: true}
                raises: {type: ConnectionResetError, errno: ECONNRESET}
        """
    )
    result = run_scenario(load_text(text, "update.yaml").scenarios[0], file="update.yaml")
    assert result.status == PASSED, result


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (
            "{proxy: px, name: lag, attributes: {latncy: 20}}",
            "unknown attribute 'latncy' for a latency toxic",
        ),
        (
            "{proxy: px, name: cutter, attributes: {action: explode}}",
            "attribute action of a cut toxic must be",
        ),
        (
            "{proxy: px, name: lag, attributes: {jitter: 5, distribution: normal, correlation: 101}}",
            CORRELATION,
        ),
        ("{proxy: px, name: lag, target: {first: 0}}", INDEX_ZERO),
        ("{proxy: px, name: lag}", "update_toxic changes nothing: give attributes, toxicity or target"),
    ],
)
def test_a_yaml_update_is_checked_at_load_time_at_file_line(update: str, message: str) -> None:
    """Checked against the type the scenario gave the toxic, in the words add_toxic and Python use."""
    text = textwrap.dedent(
        f"""\
        scenarios:
          - name: bad-update
            description: "an update the loader refuses"
            peers:
              echo: echo
              px:
                kind: proxy
                upstream: echo
                toxics: [{{type: latency, name: lag, attributes: {{latency: 5}}}}]
            steps:
              - add_toxic: {{proxy: px, type: cut, name: cutter, attributes: {{bytes: 5}}}}
              - update_toxic: {update}
        """
    )
    with pytest.raises(ScenarioError) as refused:
        load_text(text, "update.yaml")
    assert "update.yaml:12:" in str(refused.value) and message in str(refused.value), str(refused.value)


def test_the_http_api_shows_and_updates_a_target(embedded_api: ToxiproxyAPIServer) -> None:
    url = embedded_api.url
    assert _post(f"{url}/proxies", {"name": "p", "upstream": "127.0.0.1:9"})[0] == 201
    status, created = _post(
        f"{url}/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 5}, "target": {"every": 3}}
    )
    assert status == 200 and created["target"] == {"every": 3}
    assert created["attributes"] == {"latency": 5, "jitter": 0}  # Toxiproxy's attributes, unchanged
    status, updated = _post(f"{url}/proxies/p/toxics/latency_downstream", {"target": {"client_port": 4000}})
    assert status == 200 and updated["target"] == {"client_port": 4000}
    status, plain = _post(f"{url}/proxies/p/toxics", {"type": "latency", "name": "plain"})
    assert status == 200 and "target" not in plain  # a toxic without a target reads as Toxiproxy's
