"""A ``serve`` you can watch (issue 12.6): log lines for what happens, at the chosen level and format, and
``/metrics`` in the Prometheus text format with Toxiproxy's byte counters, scraped while bytes flow."""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sockharness.faults._api.http_api import ToxiproxyAPIServer
from sockharness.faults._engine.engine import FaultEngine
from sockharness.faults._events import JSONFormatter, TextFormatter, log_event
from sockharness.peers._builtin import DiscardServer, EchoServer
from tests.faults.test_faults_api_serve import read_line, start_serve
from tests.support.toxiproxy_api import http_request


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"EOF after {len(data)} of {count} bytes"
        data += chunk
    return data


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """``/metrics`` as {(sample name, sorted labels): value}, parsed by prometheus-client's own parser."""
    reply = http_request(url, "GET", "/metrics")
    assert reply.status == 200, reply.body
    assert reply.content_type is not None and reply.content_type.startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(reply.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def byte_counter(samples: Samples, name: str, direction: str, proxy: str) -> float:
    found = [
        value
        for (sample, labels), value in samples.items()
        if sample == name and ("direction", direction) in labels and ("proxy", proxy) in labels
    ]
    assert len(found) == 1, (name, direction, proxy, samples)
    return found[0]


@pytest.fixture
def metrics_api() -> Iterator[ToxiproxyAPIServer]:
    engine = FaultEngine(seed=12)
    server = ToxiproxyAPIServer(engine, metrics=True).start()
    try:
        yield server
    finally:
        server.stop()
        engine.close()


def test_metrics_count_bytes_while_they_flow(metrics_api: ToxiproxyAPIServer) -> None:
    with EchoServer() as echo:
        created = http_request(
            metrics_api.url, "POST", "/proxies", {"name": "echo", "upstream": f"127.0.0.1:{echo.port}"}
        ).json()
        host, port = created["listen"].rsplit(":", 1)
        labels_expected = {
            ("listener", created["listen"]),
            ("proxy", "echo"),
            ("upstream", f"127.0.0.1:{echo.port}"),
        }
        with socket.create_connection((host, int(port)), timeout=5.0) as client:
            sent = 0
            for round_number in range(1, 4):
                chunk = bytes([round_number]) * 5000
                client.sendall(chunk)
                assert recv_exactly(client, len(chunk)) == chunk
                sent += len(chunk)
                samples = scrape(metrics_api.url)  # mid-flow: the connection is live
                for counter in ("toxiproxy_proxy_received_bytes_total", "toxiproxy_proxy_sent_bytes_total"):
                    assert byte_counter(samples, counter, "upstream", "echo") == sent
                    assert byte_counter(samples, counter, "downstream", "echo") == sent
                live = [v for (n, _l), v in samples.items() if n == "sockharness_proxy_connections"]
                assert live == [1.0]
            names = {labels for (name, labels) in samples if name == "toxiproxy_proxy_sent_bytes_total"}
            assert all(labels_expected <= set(labels) for labels in names), names
        # closed connections keep counting in the totals
        for _ in range(200):
            samples = scrape(metrics_api.url)
            if [v for (n, _l), v in samples.items() if n == "sockharness_proxy_connections"] == [0.0]:
                break
        assert byte_counter(samples, "toxiproxy_proxy_received_bytes_total", "upstream", "echo") == sent
        assert byte_counter(samples, "toxiproxy_proxy_sent_bytes_total", "downstream", "echo") == sent


def test_metrics_are_404_unless_asked_for() -> None:
    """Like toxiproxy-server without -proxy-metrics; ``serve`` turns them on."""
    with FaultEngine() as engine, ToxiproxyAPIServer(engine) as server:
        assert http_request(server.url, "GET", "/metrics").status == 404


def serve_and_stop(*args: str, actions: Callable[[str], None]) -> tuple[list[str], str]:
    proc = start_serve("--port", "0", *args)
    try:
        line = read_line(proc)
        url = line.split(" on ", 1)[1].split()[0]
        actions(url)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        return err.splitlines(), out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def drive(url: str) -> None:
    """Create a proxy, relay a byte through it, add and remove a toxic, fail one upstream, delete."""
    with EchoServer() as echo:
        created = http_request(
            url, "POST", "/proxies", {"name": "watched", "upstream": f"127.0.0.1:{echo.port}"}
        )
        host, port = created.json()["listen"].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5.0) as client:
            client.sendall(b"x")
            assert recv_exactly(client, 1) == b"x"
        toxic = {"name": "lag", "type": "latency", "attributes": {"latency": 1}}
        assert http_request(url, "POST", "/proxies/watched/toxics", toxic).status == 200
        assert http_request(url, "DELETE", "/proxies/watched/toxics/lag").status == 204
        with socket.socket() as closed:  # a port nothing listens on, for an upstream error
            closed.bind(("127.0.0.1", 0))
            dead = closed.getsockname()[1]
            patched = http_request(url, "PATCH", "/proxies/watched", {"upstream": f"127.0.0.1:{dead}"})
            assert patched.status == 200
            with socket.create_connection((host, int(port)), timeout=5.0) as client:
                assert client.recv(1) == b""  # closed at once: the upstream refused
        scraped = http_request(url, "GET", "/metrics")
        assert scraped.status == 200 and b"toxiproxy_proxy_sent_bytes_total" in scraped.body
        assert http_request(url, "DELETE", "/proxies/watched").status == 204


def test_serve_logs_json_lines_for_every_event() -> None:
    lines, _ = serve_and_stop("--log-format", "json", "--log-level", "info", actions=drive)
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    messages = [event["message"] for event in events]
    for expected in (
        "Proxy created",
        "Accepted client",
        "Client closed",
        "Toxic added",
        "Toxic removed",
        "Proxy updated",
        "Unable to open connection to upstream",
        "Proxy deleted",
    ):
        assert expected in messages, (expected, messages)
    created = next(event for event in events if event["message"] == "Proxy created")
    assert created["proxy"] == "watched" and created["level"] == "info"
    assert created["listen"].startswith("127.0.0.1:") and created["upstream"].startswith("127.0.0.1:")
    failed = next(event for event in events if event["message"] == "Unable to open connection to upstream")
    assert failed["level"] == "warning" and failed["error"].startswith("ECONNREFUSED")
    accepted = next(event for event in events if event["message"] == "Accepted client")
    assert accepted["client"].startswith("127.0.0.1:")


def test_serve_log_level_filters_lines() -> None:
    lines, _ = serve_and_stop("--log-level", "warning", actions=drive)
    assert lines, "the upstream error is a warning and must be logged"
    assert all(line.split()[1] == "WARNING" for line in lines), lines
    assert any("Unable to open connection to upstream" in line for line in lines)


def test_a_bad_log_level_is_a_usage_error() -> None:
    proc = start_serve("--log-level", "loud")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "--log-level" in err


def test_log_formatters_render_fields() -> None:
    record = logging.LogRecord(
        "sockharness.faults._engine.engine", logging.INFO, __file__, 1, "Proxy created", (), None
    )
    record.fields = {"proxy": "db", "listen": "127.0.0.1:1", "note": "two words"}
    text = TextFormatter().format(record)
    assert text.split()[1:5] == ["INFO", "Proxy", "created", "proxy=db"] and 'note="two words"' in text
    data = json.loads(JSONFormatter().format(record))
    assert (data["level"], data["message"], data["proxy"], data["listen"]) == (
        "info",
        "Proxy created",
        "db",
        "127.0.0.1:1",
    )
    quiet = logging.getLogger("sockharness.faults.test-quiet")
    quiet.setLevel(logging.ERROR)
    log_event(quiet, logging.INFO, "never built")  # below the level: skipped without formatting


def test_serve_refuses_a_proxy_listener_off_the_loopback() -> None:
    """Without the flag a proxy listener off the loopback is refused, with the flag named."""

    def refuse(url: str) -> None:
        reply = http_request(
            url, "POST", "/proxies", {"name": "wide", "upstream": "127.0.0.1:9", "listen": "0.0.0.0:0"}
        )
        assert reply.status == 400 and "--allow-non-loopback" in reply.json()["error"]

    serve_and_stop(actions=refuse)


def test_serve_help_documents_the_new_flags() -> None:
    proc = start_serve("--help")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    for flag in ("--log-level", "--log-format", "--allow-non-loopback", "--max-connections-per-proxy"):
        assert flag in out, flag


def test_debug_level_logs_each_api_request_once() -> None:
    def ask(url: str) -> None:
        assert http_request(url, "GET", "/version").status == 200
        assert http_request(url, "GET", "/proxies/nope").status == 404

    lines, _ = serve_and_stop("--log-level", "debug", "--log-format", "json", actions=ask)
    requests = [event for event in map(json.loads, lines) if event["message"] == "API request"]
    # one line each; in either order, since a request's line is written once its answer is on the wire
    assert sorted((e["method"], e["url"], e["status"]) for e in requests) == [
        ("GET", "/proxies/nope", 404),
        ("GET", "/version", 200),
    ]
    assert all(e["level"] == "debug" and e["client"].startswith("127.0.0.1:") for e in requests)
    assert all(len(e["request_id"]) == 20 and e["duration_ms"] >= 0 for e in requests)


def test_metrics_follow_a_transfer_in_progress(metrics_api: ToxiproxyAPIServer) -> None:
    """A bandwidth toxic spreads 1 MB over about a second: scrapes taken meanwhile see the counters
    rise, the proxy's sent bytes never ahead of its received ones, and the totals exact at the end."""
    total = 1_000_000
    with DiscardServer() as sink:
        created = http_request(
            metrics_api.url, "POST", "/proxies", {"name": "bulk", "upstream": f"127.0.0.1:{sink.port}"}
        ).json()
        toxic = {"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 1000}}
        assert http_request(metrics_api.url, "POST", "/proxies/bulk/toxics", toxic).status == 200
        host, port = created["listen"].rsplit(":", 1)
        client = socket.create_connection((host, int(port)), timeout=10.0)
        sender = threading.Thread(target=client.sendall, args=(b"z" * total,))
        sender.start()
        try:
            seen: list[tuple[float, float]] = []
            for _ in range(2000):  # bounded: about a second of transfer, scraped as fast as it answers
                samples = scrape(metrics_api.url)
                received = byte_counter(samples, "toxiproxy_proxy_received_bytes_total", "upstream", "bulk")
                sent = byte_counter(samples, "toxiproxy_proxy_sent_bytes_total", "upstream", "bulk")
                seen.append((received, sent))
                if sent == total:
                    break
            sender.join(10.0)
        finally:
            client.close()
    assert seen[-1] == (total, total), seen[-1]
    assert all(sent <= received for received, sent in seen)
    assert [pair for pair in seen if 0 < pair[1] < total], "no scrape saw the transfer in progress"
    sents = [sent for _received, sent in seen]
    assert sents == sorted(sents)  # a counter never goes back
