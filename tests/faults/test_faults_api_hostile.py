"""Issue 13's probes as tests: the API keeps answering through slow clients, connect bursts, proxy loops,
odd names and exhaustion, and every failed request leaves nothing behind.

Every probe stays on the loopback, is bounded in count and time, and stops itself. Waits are on events
(a reply, an EOF, a condition polled with a deadline), never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from sockharness.faults._api import http_api
from sockharness.faults._api.http_api import ToxiproxyAPIServer
from sockharness.faults._backends.embedded import EmbeddedBackend
from sockharness.faults._engine.engine import FaultEngine
from sockharness.faults._errors import BadRequest
from tests.support.polling import wait_until
from tests.support.toxiproxy_api import APIUnderTest, excepthook_watch, http_request, unique


@pytest.fixture
def hostile_api() -> Iterator[ToxiproxyAPIServer]:
    """A default-sized API (64 connections) with short deadlines, so limits are cheap to reach."""
    engine = FaultEngine(seed=13)
    server = ToxiproxyAPIServer(engine, request_timeout=1.0, idle_timeout=1.0)
    server.start()
    try:
        with excepthook_watch() as died:
            yield server
            assert died == [], f"a thread died: {died}"
    finally:
        server.stop()
        engine.close()


def timed_version(server: ToxiproxyAPIServer) -> float:
    """Milliseconds for one ``GET /version`` on a fresh connection (connect to last byte)."""
    start = time.perf_counter()
    reply = http_request(server.url, "GET", "/version", timeout=5.0)
    assert reply.status == 200 and "version" in reply.json()
    return (time.perf_counter() - start) * 1000


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True when the peer closes ``sock`` (EOF or reset) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


# --- 1. the API always answers ---------------------------------------------------------------------------


def test_a_burst_of_200_connects_is_taken_at_once(hostile_api: ToxiproxyAPIServer) -> None:
    """Backlog 5 made every ~6th connect wait a 1 s SYN retransmit: 200 connects took 29.7 s."""
    start = time.perf_counter()
    socks = [socket.create_connection(hostile_api.address, timeout=5.0) for _ in range(200)]
    elapsed = time.perf_counter() - start
    for sock in socks:
        sock.close()
    assert elapsed < 0.9, f"200 connects took {elapsed:.2f} s"  # ~0.02 s measured
    timed_version(hostile_api)


def test_version_answers_within_100_ms_among_idle_and_dripping_clients(
    hostile_api: ToxiproxyAPIServer,
) -> None:
    """70 idle connections and 200 clients dripping header bytes: the cap no longer turns into 503s,
    and even the first request after the burst answers in time (446 ms with a thread per connection)."""
    threads_before = threading.active_count()
    idle = [socket.create_connection(hostile_api.address, timeout=5.0) for _ in range(70)]
    drippers = [socket.create_connection(hostile_api.address, timeout=5.0) for _ in range(200)]
    try:
        for sock in drippers:
            sock.sendall(b"GET /version HTTP/1.1\r\nX-Drip: ")
        # queued behind the 270 connects: it answers in time only if they cost no thread each
        latencies = [timed_version(hostile_api)]
        for _ in range(30):
            for sock in drippers[:50]:
                with contextlib.suppress(OSError):  # evicted: the server closed it, as it should
                    sock.send(b"x")
            latencies.append(timed_version(hostile_api))
        # no thread is spent on a connection that has not sent a whole request head
        assert threading.active_count() - threads_before <= 4
        slow = [round(ms, 1) for ms in latencies if ms >= 100]
        assert statistics.median(latencies) < 20 and len(slow) <= 1, (statistics.median(latencies), slow)
    finally:
        for sock in idle + drippers:
            sock.close()


def test_a_dripping_client_is_dropped_at_the_whole_request_deadline(hostile_api: ToxiproxyAPIServer) -> None:
    """One header byte every 0.1 s kept a per-read timeout alive forever; the deadline is per request."""
    with socket.create_connection(hostile_api.address, timeout=5.0) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\n")
        start = time.monotonic()
        sock.settimeout(0.1)
        closed = False
        for _ in range(60):  # 6 s of dripping at most; the deadline is 1 s
            try:
                sock.sendall(b"X")
                if sock.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue  # the server is still reading: drip the next byte
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        elapsed = time.monotonic() - start
    assert closed, "the dripping client was never dropped"
    assert 0.8 <= elapsed < 3.0, f"dropped after {elapsed:.2f} s; the request deadline is 1 s"
    timed_version(hostile_api)


def test_an_idle_keep_alive_connection_is_closed_after_its_idle_limit(
    hostile_api: ToxiproxyAPIServer,
) -> None:
    with socket.create_connection(hostile_api.address, timeout=5.0) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        start = time.monotonic()
        assert closed_by_server(sock, within=4.0), "an idle keep-alive connection was kept for good"
        assert time.monotonic() - start >= 0.8  # not before the 1 s idle limit


# --- 3. all-or-nothing, names, the project's own words ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("\ud800", "lone surrogate U+D800"),
        ("a\udfffb", "lone surrogate U+DFFF"),
        ("tab\there", "unprintable character U+0009"),
        ("nl\n", "unprintable character U+000A"),
        ("x" * 257, "257 characters long; the limit is 256"),
    ],
)
def test_a_bad_proxy_name_is_400_and_creates_nothing(
    hostile_api: ToxiproxyAPIServer, name: str, problem: str
) -> None:
    before = open_fds()
    body = json.dumps({"name": name, "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"})
    reply = http_request(hostile_api.url, "POST", "/proxies", body)
    assert reply.status == 400, reply.body
    assert reply.json()["status"] == 400 and problem in reply.json()["error"]
    assert http_request(hostile_api.url, "GET", "/proxies").json() == {}  # nothing created, GET still works
    # and no listener left open (the API's own side of the requests above closes within moments)
    assert wait_until(lambda: open_fds() <= before, 2.0), (open_fds(), before)
    populate = http_request(hostile_api.url, "POST", "/populate", f"[{body}]")
    assert populate.status == 400 and populate.json()["error"].endswith("at proxy 1")
    assert http_request(hostile_api.url, "GET", "/proxies").json() == {}


def test_a_bad_toxic_name_is_400_and_adds_nothing(hostile_api: ToxiproxyAPIServer) -> None:
    name = unique("toxicname")
    body = {"name": name, "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"}
    assert http_request(hostile_api.url, "POST", "/proxies", body).status == 201
    toxic = json.dumps({"name": "\ud800", "type": "latency", "attributes": {"latency": 1}})
    reply = http_request(hostile_api.url, "POST", f"/proxies/{name}/toxics", toxic)
    assert reply.status == 400 and "toxic name holds a lone surrogate" in reply.json()["error"]
    assert http_request(hostile_api.url, "GET", f"/proxies/{name}/toxics").json() == []


def test_a_huge_number_is_answered_in_the_projects_own_words(hostile_api: ToxiproxyAPIServer) -> None:
    body = b'{"name": "big", "upstream": "127.0.0.1:9", "enabled": ' + b"1" * 5000 + b"}"
    reply = http_request(hostile_api.url, "POST", "/proxies", body)
    assert reply.status == 400
    error = reply.json()["error"]
    assert "4300" in error and "sys." not in error and "int_max_str_digits" not in error
    assert http_request(hostile_api.url, "GET", "/proxies").json() == {}


# --- 4. loopback by construction, upstreams that are addresses --------------------------------------------


@pytest.mark.parametrize("upstream", ["not an address", "::::not-an-address", "127.0.0.1", "host:port"])
def test_an_upstream_that_is_not_an_address_is_refused_at_once(
    hostile_api: ToxiproxyAPIServer, upstream: str
) -> None:
    body = {"name": unique("notaddr"), "upstream": upstream, "listen": "127.0.0.1:0"}
    reply = http_request(hostile_api.url, "POST", "/proxies", body)
    assert reply.status == 400 and "is not an address" in reply.json()["error"]
    assert http_request(hostile_api.url, "GET", "/proxies").json() == {}
    with EmbeddedBackend() as backend, pytest.raises(BadRequest, match="is not an address"):
        backend.create_proxy(upstream)  # from Python: at the call, not as resets later


def test_an_upstream_update_to_a_non_address_changes_nothing(hostile_api: ToxiproxyAPIServer) -> None:
    name = unique("upd")
    created = http_request(hostile_api.url, "POST", "/proxies", {"name": name, "upstream": "127.0.0.1:9"})
    reply = http_request(hostile_api.url, "PATCH", f"/proxies/{name}", {"upstream": "nope"})
    assert reply.status == 400 and "is not an address" in reply.json()["error"]
    assert http_request(hostile_api.url, "GET", f"/proxies/{name}").json() == created.json()


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", ":0"])
def test_a_proxy_listener_off_the_loopback_is_refused(hostile_api: ToxiproxyAPIServer, listen: str) -> None:
    body = {"name": unique("wide"), "upstream": "127.0.0.1:9", "listen": listen}
    reply = http_request(hostile_api.url, "POST", "/proxies", body)
    assert reply.status == 400 and "is not a loopback address" in reply.json()["error"]
    assert "--allow-non-loopback" in reply.json()["error"]  # the flag that allows it is named
    assert http_request(hostile_api.url, "GET", "/proxies").json() == {}


def test_allow_non_loopback_is_the_explicit_way_out() -> None:
    with FaultEngine(allow_non_loopback=True) as engine:
        engine.check_listen_host("0.0.0.0:0", "0.0.0.0")  # allowed: no error (nothing is bound here)
    with FaultEngine() as engine, pytest.raises(BadRequest, match="not a loopback address"):
        engine.check_listen_host("0.0.0.0:0", "0.0.0.0")


# --- 2. loops refused where seen, contained where not -----------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("spelling", ["127.0.0.1", "localhost", "0.0.0.0"])
def test_a_proxy_whose_upstream_is_itself_is_refused(hostile_api: ToxiproxyAPIServer, spelling: str) -> None:
    port = free_port()
    body = {"name": unique("self"), "listen": f"127.0.0.1:{port}", "upstream": f"{spelling}:{port}"}
    reply = http_request(hostile_api.url, "POST", "/proxies", body)
    assert reply.status == 400 and "proxy loop" in reply.json()["error"], reply.body
    assert http_request(hostile_api.url, "GET", "/proxies").json() == {}
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # the listener bound for the check is gone


def test_a_loop_through_another_proxy_is_refused_on_update_and_populate(
    hostile_api: ToxiproxyAPIServer,
) -> None:
    a, b = unique("loopa"), unique("loopb")
    made_a = http_request(hostile_api.url, "POST", "/proxies", {"name": a, "upstream": "127.0.0.1:9"}).json()
    body_b = {"name": b, "upstream": made_a["listen"]}  # b -> a is a chain, which is fine
    made_b = http_request(hostile_api.url, "POST", "/proxies", body_b)
    assert made_b.status == 201
    loop = http_request(hostile_api.url, "PATCH", f"/proxies/{a}", {"upstream": made_b.json()["listen"]})
    assert loop.status == 400 and f'("{a}" -> "{b}" -> "{a}")' in loop.json()["error"]
    assert http_request(hostile_api.url, "GET", f"/proxies/{a}").json() == made_a  # unchanged
    entry = {"name": unique("loopc"), "listen": f"127.0.0.1:{free_port()}"}
    entry["upstream"] = entry["listen"]
    populated = http_request(hostile_api.url, "POST", "/populate", [entry])
    assert populated.status == 400 and "proxy loop" in populated.json()["error"]
    assert sorted(http_request(hostile_api.url, "GET", "/proxies").json()) == sorted([a, b])


def test_a_loop_the_engine_cannot_see_is_capped_and_undone(hostile_api: ToxiproxyAPIServer) -> None:
    """A -> (another engine) B -> A: each engine sees a plain chain. The cap stops the growth, the API
    answers throughout, and deleting B brings the descriptors back to where they were.

    The client sends nothing: each accepted connection opens its upstream at once, so connects alone grow
    the loop. Bytes circling the loop would sit unread in some socket when the chain collapses, and a close
    with unread bytes is a reset, so the client would see EOF or RST by timing (2 of 15 runs reset)."""
    engine_a = hostile_api.engine
    baseline = open_fds()
    with FaultEngine(max_connections_per_proxy=50) as engine_b:
        engine_a.max_connections_per_proxy = 50
        port_a = free_port()
        proxy_b = engine_b.create_proxy("b", "127.0.0.1:0", f"127.0.0.1:{port_a}")
        engine_a.create_proxy("a", f"127.0.0.1:{port_a}", proxy_b.listen)
        with socket.create_connection(("127.0.0.1", port_a), timeout=5.0) as client:
            assert wait_until(lambda: engine_a.get_proxy("a").refused_connections > 0, 10.0)
            assert timed_version(hostile_api) < 1000  # answering while the loop is at its cap
            live = engine_a.reactor.call(engine_a.get_proxy("a").connection_count)
            assert live <= 50
            engine_b.delete_proxy("b")
            # the chain collapses: every link sees its neighbour close; only the test's own
            # connection stays (half-closed, as its upstream ended) until the test closes it
            count = engine_a.get_proxy("a").connection_count
            assert wait_until(lambda: engine_a.reactor.call(count) <= 1, 10.0)
            assert client.recv(1024) == b""  # the end of the upstream reached the client
        assert wait_until(lambda: engine_a.reactor.call(count) == 0, 5.0)
        engine_a.delete_proxy("a")
    assert wait_until(lambda: open_fds() <= baseline, 5.0), (open_fds(), baseline)


_RESERVE_PROBE = textwrap.dedent(
    """
    import json, os, resource, socket, sys, time
    resource.setrlimit(resource.RLIMIT_NOFILE, (400, 400))
    from sockharness.faults._engine.engine import FaultEngine
    from sockharness.faults._api.http_api import ToxiproxyAPIServer

    def version(url_address):
        with socket.create_connection(url_address, timeout=5) as sock:
            sock.sendall(b"GET /version HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        return data.split(b" ", 2)[1].decode()

    fds = lambda: len(os.listdir("/proc/self/fd"))
    engine_a, engine_b = FaultEngine(), FaultEngine()
    server = ToxiproxyAPIServer(engine_a).start()
    baseline = fds()
    port_a = engine_a.create_proxy("a", "127.0.0.1:0", "127.0.0.1:9").listen
    b = engine_b.create_proxy("b", "127.0.0.1:0", port_a)
    engine_a.update_proxy("a", upstream=b.listen)   # a loop across two engines: neither sees it
    host, port = port_a.rsplit(":", 1)
    client = socket.create_connection((host, int(port)))
    client.sendall(b"x")
    deadline = time.monotonic() + 10
    while engine_a.get_proxy("a").refused_connections == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # sync-ok: bounded poll with a deadline
    during = version(server.address)
    peak = fds()
    engine_b.delete_proxy("b")
    client.close()
    engine_a.delete_proxy("a")
    deadline = time.monotonic() + 5
    while fds() > baseline and time.monotonic() < deadline:
        time.sleep(0.01)  # sync-ok: bounded poll with a deadline
    print(json.dumps({"during": during, "peak": peak, "after": fds(), "baseline": baseline}))
    server.stop(); engine_a.close(); engine_b.close()
    """
)


def test_the_descriptor_reserve_keeps_the_api_answering_at_the_fd_limit() -> None:
    """At a 400-descriptor limit, the budget stops the loop short of it: the API still answers."""
    result = subprocess.run(
        [sys.executable, "-c", _RESERVE_PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["during"] == "200", figures
    assert figures["peak"] < 400, figures
    assert figures["after"] <= figures["baseline"], figures


_EMFILE_PROBE = textwrap.dedent(
    """
    import json, os, resource, socket, time
    resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))
    from sockharness.faults._engine.engine import FaultEngine
    from sockharness.faults._api.http_api import ToxiproxyAPIServer

    def status(address):
        with socket.create_connection(address, timeout=5) as sock:
            sock.sendall(b"GET /version HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        return data.split(b" ", 2)[1].decode() if data else "closed"

    engine = FaultEngine()
    server = ToxiproxyAPIServer(engine).start()
    client = socket.socket()
    client.settimeout(5)
    hoard = []
    while True:  # take every descriptor left, but keep the client socket already made
        try:
            hoard.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            break
    client.connect(server.address)
    client.sendall(b"GET /version HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    out_of_fds = client.recv(4096).split(b" ", 2)[1].decode()
    cpu_before = time.process_time()
    time.sleep(0.3)  # sync-ok: a CPU measurement window (the accept loop must rest, not spin)
    cpu = time.process_time() - cpu_before
    client.close()
    for fd in hoard:
        os.close(fd)
    print(json.dumps({"out_of_fds": out_of_fds, "cpu": cpu, "after": status(server.address)}))
    server.stop(); engine.close()
    """
)


def test_out_of_descriptors_on_accept_answers_503_without_spinning() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _EMFILE_PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["out_of_fds"] == "503", figures
    assert figures["cpu"] < 0.2, figures  # a spinning accept loop burns ~0.3 s of CPU in 0.3 s
    assert figures["after"] == "200", figures


# --- 5. localhost resolved as Toxiproxy resolves it (issue 12.3) ------------------------------------------


def test_populate_with_localhost_keeps_the_proxy_on_127_0_0_1_and_its_toxics(api: APIUnderTest) -> None:
    name = api.track(unique("localhost"))
    port = free_port()
    entry = {"name": name, "upstream": "127.0.0.1:9", "listen": f"127.0.0.1:{port}"}
    assert api.request("POST", "/populate", [entry]).status == 201
    toxic = {"name": "slow", "type": "latency", "attributes": {"latency": 5}}
    assert api.request("POST", f"/proxies/{name}/toxics", toxic).status == 200
    again = api.request("POST", "/populate", [dict(entry, listen=f"localhost:{port}")])
    assert again.status == 201, again.body
    kept = api.request("GET", f"/proxies/{name}").json()
    assert kept["listen"] == f"127.0.0.1:{port}"
    assert [t["name"] for t in kept["toxics"]] == ["slow"]  # same address: the proxy was kept


def test_a_bind_conflict_names_the_resolved_address(api: APIUnderTest) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        reply = api.create(listen=f"localhost:{port}")
    assert reply.status == 500
    assert reply.json()["error"] == f"listen tcp 127.0.0.1:{port}: bind: address already in use"


def test_unfinished_heads_are_bounded_in_memory(
    hostile_api: ToxiproxyAPIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Heads being read are held without a thread, so their bytes are bounded together: past the budget
    the connection adding to it is dropped (the budget is lowered here so a few clients reach it)."""
    monkeypatch.setattr(http_api, "MAX_PENDING_BYTES", 100_000)
    clients = [socket.create_connection(hostile_api.address, timeout=5.0) for _ in range(5)]
    try:
        for sock in clients:
            sock.sendall(b"GET /version HTTP/1.1\r\nX-Pad: " + b"p" * 30_000)  # never ends its head
        dropped = [sock for sock in clients if closed_by_server(sock, within=0.5)]
        assert 1 <= len(dropped) <= 3, len(dropped)  # 5 x 30 kB against a 100 kB budget
        assert timed_version(hostile_api) < 1000
    finally:
        for sock in clients:
            sock.close()
