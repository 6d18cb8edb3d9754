"""Fixtures shared by every test folder: the Toxiproxy API under test, embedded and real.

The helpers they use live in :mod:`tests.support.toxiproxy_api`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

# pytester's in-process runs (the docs examples) drop every module first imported inside them. httpx imports
# httpcore lazily and keeps a map of httpcore's exception classes: were httpcore first imported inside such a
# run, a later import would make new classes, the map would miss them and raw httpcore errors would escape
# httpx in the tests that run after it (seen: 5 real-client TLS tests failing only after the docs tests).
with contextlib.suppress(ImportError):
    import httpcore  # noqa: F401
    import httpx  # noqa: F401
from toxiproxy.api import APIConsumer

from sockharness.faults._api.http_api import ToxiproxyAPIServer
from sockharness.faults._backends.toxiproxy_backend import (
    TOXIPROXY_URL_ENV,
    ToxiproxyBackend,
    toxiproxy_unavailable_reason,
)
from sockharness.faults._engine.engine import FaultEngine
from tests.support.toxiproxy_api import (
    BACKENDS,
    APIUnderTest,
    excepthook_watch,
    find_toxiproxy_server,
    free_port,
    skip_or_fail,
)


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


@pytest.fixture(scope="module")
def private_toxiproxy_url() -> Iterator[str]:
    """A real Toxiproxy of this test module alone, for server-wide calls (reset) that would disturb
    other workers' tests on the shared TOXIPROXY_URL server."""
    binary = find_toxiproxy_server()
    if binary is None:
        skip_or_fail("no Toxiproxy server binary (set TOXIPROXY_SERVER or run .ci/toxiproxy.sh install)")
    assert binary is not None
    for _ in range(5):
        port = free_port()
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
