"""Helpers for the HTTP-API / real-Toxiproxy / differential tests (their fixtures are in tests/conftest.py).

The real-Toxiproxy side comes from the URL in
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
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from sockharness._ci import skip_or_fail as _skip_or_fail
from sockharness.faults._backends.toxiproxy_backend import (
    parse_toxiproxy_url,
)

BACKENDS = ["embedded", "toxiproxy"]


def skip_or_fail(reason: str) -> NoReturn:
    """Skip locally; under CI a missing real server is a failure, not a silent skip."""
    _skip_or_fail("real Toxiproxy", reason)


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
