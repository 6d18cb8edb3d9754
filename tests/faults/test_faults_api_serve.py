"""``sockharness serve`` as a process: loopback guard, clean stop on SIGINT/SIGTERM, clients against it.

The command is run through its own ``register()`` on a fresh parser, so these tests do not depend on
the other sub-commands importing cleanly.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from toxiproxy import Toxiproxy

from sockharness.faults._api.http_api import is_loopback_host
from sockharness.faults._backends.toxiproxy_backend import parse_toxiproxy_url
from sockharness.peers._builtin import EchoServer
from tests.support.toxiproxy_api import http_request

SERVE = (
    "import argparse, sys\n"
    "from sockharness.faults._api import serve\n"
    "parser = argparse.ArgumentParser(prog='sockharness')\n"
    "serve.register(parser.add_subparsers(dest='command', required=True))\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)


def start_serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def read_line(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    """The next stdout line, waiting at most ``timeout`` seconds (the process may be starting up)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no output from serve within {timeout}s")
    return proc.stdout.readline()


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = start_serve("--port", "0", "--seed", "42")
    try:
        line = read_line(proc)
        assert "Toxiproxy-compatible API on http://127.0.0.1:" in line, line
        assert "(seed 42; Ctrl-C to stop)" in line  # printed so a run can be replayed
        url = line.split(" on ", 1)[1].split()[0]
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def stop(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=15)
    return proc.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serves_until_signalled(served: tuple[subprocess.Popen[str], str], sig: signal.Signals) -> None:
    proc, url = served
    version = http_request(url, "GET", "/version")
    assert version.json() == {"version": "2.12.0"}
    assert version.headers["server"].startswith("sockharness/")
    created = http_request(url, "POST", "/proxies", {"name": "p", "upstream": "127.0.0.1:9"})
    assert created.status == 201
    listen = created.json()["listen"]
    code, out, err = stop(proc, sig)
    assert code == 0
    # stderr carries the log (issue 12.6): here only the two proxy events, at info, no warning or error
    assert [line.split()[1:4] for line in err.splitlines()] == [
        ["INFO", "Proxy", "created"],
        ["INFO", "Proxy", "deleted"],
    ], err
    assert "stopped" in out
    host, port = listen.rsplit(":", 1)
    with socket.socket() as probe:
        assert probe.connect_ex((host, int(port))) != 0  # the proxies went with it


def test_toxiproxy_python_drives_serve(
    served: tuple[subprocess.Popen[str], str], restore_toxiproxy_client: None
) -> None:
    _, url = served
    client = Toxiproxy()
    client.update_api_consumer(*parse_toxiproxy_url(url))
    with EchoServer() as echo:
        proxy = client.create(upstream=f"127.0.0.1:{echo.port}", name="echo")
        proxy.add_toxic(type="latency", attributes={"latency": 100})
        host, port = proxy.listen.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5.0) as sock:
            start = time.monotonic()
            sock.sendall(b"hi")
            assert sock.recv(16) == b"hi"
            assert time.monotonic() - start >= 0.1
        proxy.destroy()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com", "::"])
def test_non_loopback_host_is_refused(host: str) -> None:
    proc = start_serve("--host", host, "--port", "0")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert out == ""
    assert f"refusing --host {host}" in err and "--allow-non-loopback" in err
    assert err.count("\n") == 1  # one sentence


def test_port_in_use_fails_cleanly() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        proc = start_serve("--port", str(port))
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err


@pytest.mark.parametrize("port", ["-1", "70000", "http"])
def test_bad_port_is_a_usage_error(port: str) -> None:
    proc = start_serve("--port", port)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "--port" in err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.5.5", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("example.com", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def find_toxiproxy_cli() -> str | None:
    for candidate in (
        os.environ.get("TOXIPROXY_CLI"),
        shutil.which("toxiproxy-cli"),
        str(Path.home() / "go" / "bin" / "cli"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def test_toxiproxy_cli_against_serve(served: tuple[subprocess.Popen[str], str]) -> None:
    """The official Go CLI (optional: `go install github.com/Shopify/toxiproxy/v2/cmd/cli@v2.12.0`)."""
    cli = find_toxiproxy_cli()
    if cli is None:
        pytest.skip("toxiproxy-cli is not installed (optional; set TOXIPROXY_CLI)")
    _, url = served

    def run(*args: str) -> str:
        done = subprocess.run([cli, "-h", url, *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    with EchoServer() as echo:
        assert "Created new proxy clip" in run(
            "create", "-l", "127.0.0.1:0", "-u", f"127.0.0.1:{echo.port}", "clip"
        )
        assert "Added downstream latency toxic" in run(
            "toxic", "add", "-t", "latency", "-a", "latency=100", "clip"
        )
        assert "Updated toxic" in run("toxic", "update", "-n", "latency_downstream", "-a", "jitter=3", "clip")
        inspected = run("inspect", "clip")
        assert "latency_downstream" in inspected and "jitter=3" in inspected and "latency=100" in inspected
        assert "now disabled" in run("toggle", "clip")
        listed = run("list")
        assert "clip" in listed and "disabled" in listed
        assert "now enabled" in run("toggle", "clip")
        assert "Removed toxic" in run("toxic", "remove", "-n", "latency_downstream", "clip")
        assert "Deleted proxy clip" in run("delete", "clip")
    missing = subprocess.run([cli, "-h", url, "inspect", "nope"], capture_output=True, text=True, timeout=30)
    assert missing.returncode != 0 and "proxy not found" in missing.stdout + missing.stderr


def test_config_file_creates_proxies_at_start(tmp_path: Path) -> None:
    config = tmp_path / "proxies.json"
    config.write_text('[{"name": "db", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"}]')
    proc = start_serve("--port", "0", "--config", str(config))
    try:
        printed = read_line(proc)  # each proxy's resolved listen address comes first (issue 12.6)
        assert printed.startswith("sockharness serve: proxy db listening on 127.0.0.1:"), printed
        url = read_line(proc).split(" on ", 1)[1].split()[0]
        proxies = http_request(url, "GET", "/proxies").json()
        assert list(proxies) == ["db"] and proxies["db"]["upstream"] == "127.0.0.1:9"
        assert printed.split()[6] == proxies["db"]["listen"] and proxies["db"]["listen"] != "127.0.0.1:0"
        code, _, err = stop(proc, signal.SIGINT)
        assert code == 0 and "Traceback" not in err
        assert {line.split()[1] for line in err.splitlines()} == {"INFO"}, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read --config"),
        ("{not json", "bad request body: invalid JSON"),
        ('[{"name": "x"}]', "missing required field: upstream at proxy 1"),
    ],
    ids=["missing", "syntax", "invalid"],
)
def test_bad_config_file_is_refused(tmp_path: Path, content: str | None, message: str) -> None:
    config = tmp_path / "proxies.json"
    if content is not None:
        config.write_text(content)
    proc = start_serve("--port", "0", "--config", str(config))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and out == ""
    assert f"--config {config}" in err and message in err
