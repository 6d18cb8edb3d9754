"""Shared fixtures and helpers for the HTTP-API / real-Toxiproxy / differential tests.

Test modules import the fixtures they use from here. The real-Toxiproxy side comes from the URL in
TOXIPROXY_URL (shared by every xdist worker, so tests only touch proxies they named uniquely) or, for
server-wide calls such as ``POST /reset``, from a private server process started from the binary.
Without a real server those cases skip with the reason, and fail when the CI variable is set.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from toxiproxy.api import APIConsumer

from sockharness.faults._api.http_api import ToxiproxyAPIServer
from sockharness.faults._backends.toxiproxy_backend import (
    TOXIPROXY_URL_ENV,
    ToxiproxyBackend,
    parse_toxiproxy_url,
    toxiproxy_unavailable_reason,
)
from sockharness.faults._engine.engine import FaultEngine

BACKENDS = ["embedded", "toxiproxy"]


def skip_or_fail(reason: str) -> None:
    """Skip locally; under CI a missing real server is a failure, not a silent skip."""
    if os.environ.get("CI"):
        pytest.fail(f"real Toxiproxy required under CI: {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


def http_request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | str | object | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    """One request on a fresh connection, body sent verbatim (bytes/str) or as JSON (anything else)."""
    host, port = parse_toxiproxy_url(base_url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if body is None or isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = json.dumps(body).encode()
        all_headers = {"User-Agent": "sockharness-tests"}
        all_headers.update(headers or {})
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class APIUnderTest:
    """An API base URL plus the proxies a test created there, deleted at teardown."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        self.created: list[str] = []

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return http_request(self.url, method, path, body, **kwargs)

    def create(self, upstream: str = "127.0.0.1:9", **fields: Any) -> Reply:
        name = fields.pop("name", None) or unique("api")
        body = {"name": name, "listen": "127.0.0.1:0", "upstream": upstream, **fields}
        reply = self.request("POST", "/proxies", body)
        if reply.status == 201:
            self.created.append(name)
        return reply

    def track(self, name: str) -> str:
        self.created.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.created:
            with contextlib.suppress(OSError):
                self.request("DELETE", f"/proxies/{name}")


@pytest.fixture
def embedded_api() -> Iterator[ToxiproxyAPIServer]:
    """The embedded engine behind the Toxiproxy-compatible API, on a free loopback port.

    Whatever a test sends, no thread may die: anything reaching threading.excepthook fails the test.
    """
    engine = FaultEngine(seed=1234)
    server = ToxiproxyAPIServer(engine).start()
    try:
        with excepthook_watch() as died:
            yield server
        assert died == [], f"a thread died: {[str(args.exc_value) for args in died]}"
    finally:
        server.stop()
        engine.close()


@pytest.fixture(scope="session")
def toxiproxy_url(pytestconfig: pytest.Config) -> str:
    """The shared real server: ``--sockharness-toxiproxy-url``, else $TOXIPROXY_URL."""
    given = pytestconfig.getoption("sockharness_toxiproxy_url", default=None)
    url = given or os.environ.get(TOXIPROXY_URL_ENV) or None
    reason = toxiproxy_unavailable_reason(url)
    if reason is not None:
        skip_or_fail(reason)
    assert url is not None
    return url.rstrip("/")


def find_toxiproxy_server() -> str | None:
    """The real server binary, looked up like .ci/toxiproxy.sh does (no install here)."""
    candidates = [
        os.environ.get("TOXIPROXY_SERVER"),
        shutil.which("toxiproxy-server"),
        shutil.which("server"),
        str(Path.home() / "go" / "bin" / "server"),
    ]
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        try:
            out = subprocess.run([candidate, "-version"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        if "toxiproxy-server version" in out.stdout + out.stderr:
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def private_toxiproxy_url() -> Iterator[str]:
    """A real Toxiproxy of this test module alone, for server-wide calls (reset) that would disturb
    other workers' tests on the shared TOXIPROXY_URL server."""
    binary = find_toxiproxy_server()
    if binary is None:
        skip_or_fail("no Toxiproxy server binary (set TOXIPROXY_SERVER or run .ci/toxiproxy.sh install)")
    assert binary is not None
    for _ in range(5):
        port = _free_port()
        proc = subprocess.Popen(
            [binary, "-host", "127.0.0.1", "-port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and proc.poll() is None:
            if toxiproxy_unavailable_reason(url) is None:
                break
            time.sleep(0.05)  # sync-ok: a starting server has no event to await
        if proc.poll() is None and toxiproxy_unavailable_reason(url) is None:
            try:
                yield url
            finally:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            return
        proc.kill()
        proc.wait(5)
    skip_or_fail("the private Toxiproxy server did not start")


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest) -> Iterator[APIUnderTest]:
    """The same HTTP API twice: the embedded engine's and a real Toxiproxy 2.12's."""
    if request.param == "embedded":
        server = request.getfixturevalue("embedded_api")
        under_test = APIUnderTest("embedded", server.url)
    else:
        under_test = APIUnderTest("toxiproxy", request.getfixturevalue("toxiproxy_url"))
    try:
        yield under_test
    finally:
        under_test.cleanup()


@pytest.fixture(params=BACKENDS)
def private_api(request: pytest.FixtureRequest) -> Iterator[APIUnderTest]:
    """Like ``api`` but the real side is a private server, so server-wide calls are safe."""
    if request.param == "embedded":
        server = request.getfixturevalue("embedded_api")
        under_test = APIUnderTest("embedded", server.url)
    else:
        under_test = APIUnderTest("toxiproxy", request.getfixturevalue("private_toxiproxy_url"))
    try:
        yield under_test
    finally:
        under_test.cleanup()


@pytest.fixture
def restore_toxiproxy_client() -> Iterator[None]:
    """toxiproxy-python keeps host/port in class attributes: put them back after the test."""
    saved = (APIConsumer.host, APIConsumer.port)
    try:
        yield
    finally:
        APIConsumer.host, APIConsumer.port = saved


@pytest.fixture(params=BACKENDS)
def client_backend(request: pytest.FixtureRequest) -> Iterator[ToxiproxyBackend]:
    """ToxiproxyBackend (toxiproxy-python underneath) against the embedded API or a real Toxiproxy."""
    if request.param == "embedded":
        url = request.getfixturevalue("embedded_api").url
    else:
        url = request.getfixturevalue("toxiproxy_url")
    backend = ToxiproxyBackend(url)
    try:
        yield backend
    finally:
        backend.close()


@contextlib.contextmanager
def excepthook_watch() -> Iterator[list[threading.ExceptHookArgs]]:
    """Collect anything that reaches threading.excepthook (a handler thread that died) while inside."""
    seen: list[threading.ExceptHookArgs] = []
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        seen.append(args)
        previous(args)

    threading.excepthook = hook
    try:
        yield seen
    finally:
        threading.excepthook = previous
