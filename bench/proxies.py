"""The three ways traffic reaches a test server: direct, through real Toxiproxy, through the embedded
engine. Each is a :class:`Driver` whose proxies expose the same small surface, so the measurements do
not care which one they go through."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.procs import Child, ChildError, read_line, wait_until
from sockharness.peers._addresses import format_address, parse_host_port

Address = tuple[str, int]
DEFAULT_TOXIPROXY = "/root/go/bin/server"


@dataclass(frozen=True)
class Toxic:
    type: str
    stream: str = "downstream"
    attributes: dict[str, float] = field(default_factory=dict)

    def json_attributes(self) -> dict[str, int | float]:
        """Whole numbers as JSON integers: Toxiproxy's Go structs reject ``5.0`` for an int64 field."""
        return {key: int(v) if float(v).is_integer() else v for key, v in self.attributes.items()}


class Driver(ABC):
    mode: str
    pid: int | None = None  # the process doing the proxying, when there is one

    @abstractmethod
    def create(self, upstream: Address) -> tuple[str, Address]:
        """Create a proxy to ``upstream``; returns (proxy id, address clients connect to)."""

    @abstractmethod
    def add_toxic(self, proxy_id: str, toxic: Toxic) -> str: ...

    @abstractmethod
    def remove_toxic(self, proxy_id: str, name: str) -> None: ...

    @abstractmethod
    def delete(self, proxy_id: str) -> None: ...

    def close(self) -> None:  # noqa: B027 - most drivers start nothing, so doing nothing is the default
        """Stop whatever the driver started."""

    @contextmanager
    def proxy(self, upstream: Address, *toxics: Toxic) -> Iterator[Address]:
        proxy_id, address = self.create(upstream)
        try:
            for toxic in toxics:
                self.add_toxic(proxy_id, toxic)
            yield address
        finally:
            self.delete(proxy_id)


class DirectDriver(Driver):
    """No proxy at all: the reference every proxy is compared with."""

    mode = "direct"

    def create(self, upstream: Address) -> tuple[str, Address]:
        return "direct", upstream

    def add_toxic(self, proxy_id: str, toxic: Toxic) -> str:
        raise ValueError("direct mode has no proxy to add a toxic to")

    def remove_toxic(self, proxy_id: str, name: str) -> None:
        raise ValueError("direct mode has no proxy to remove a toxic from")

    def delete(self, proxy_id: str) -> None:
        return None


def find_toxiproxy(explicit: str | None) -> str | None:
    """The server binary: ``--toxiproxy`` (only that, when given), $TOXIPROXY_SERVER, the project
    machine's path, or ``toxiproxy-server`` on PATH."""
    if explicit is not None:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in (os.environ.get("TOXIPROXY_SERVER"), DEFAULT_TOXIPROXY):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("toxiproxy-server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ToxiproxyDriver(Driver):
    """A real Toxiproxy server started for the run, driven through its HTTP API with urllib."""

    mode = "toxiproxy"

    def __init__(self, binary: str, start_timeout: float = 10.0) -> None:
        self.binary = binary
        last_error = "not started"
        for _ in range(3):  # the free port may be taken between probing and the server's bind
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            self.process = subprocess.Popen(
                [binary, "-host", "127.0.0.1", "-port", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                answered = wait_until(
                    lambda: self.process.poll() is not None or self._answers(), start_timeout
                )
                if answered and self.process.poll() is None:
                    self.pid = self.process.pid
                    self.version = str(self.request("GET", "/version").get("version", "?"))
                    return
            except BaseException:
                self.close()  # never leave a server behind, whatever interrupted the start
                raise
            if answered:
                last_error = f"exited with status {self.process.returncode}"
            else:
                last_error = f"API did not answer within {start_timeout:.0f} s"
                self.close()
        raise ChildError(f"toxiproxy server {binary}: {last_error}")

    def _answers(self) -> bool:
        try:
            self.request("GET", "/version")
        except (OSError, ChildError):
            return False
        return True

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "User-Agent": "sockharness-bench"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise ChildError(f"toxiproxy {method} {path}: {exc.code} {exc.read().decode()!r}") from exc
        if not text:
            return {}
        decoded = json.loads(text)
        return decoded if isinstance(decoded, dict) else {"value": decoded}

    def create(self, upstream: Address) -> tuple[str, Address]:
        name = f"bench-{uuid.uuid4().hex[:12]}"
        created = self.request(
            "POST",
            "/proxies",
            {"name": name, "listen": "127.0.0.1:0", "upstream": format_address(upstream)},
        )
        return name, parse_host_port(str(created["listen"]))

    def add_toxic(self, proxy_id: str, toxic: Toxic) -> str:
        name = f"{toxic.type}_{toxic.stream}_{uuid.uuid4().hex[:6]}"
        body = {"name": name, "type": toxic.type, "stream": toxic.stream, "toxicity": 1.0}
        self.request("POST", f"/proxies/{proxy_id}/toxics", {**body, "attributes": toxic.json_attributes()})
        return name

    def remove_toxic(self, proxy_id: str, name: str) -> None:
        self.request("DELETE", f"/proxies/{proxy_id}/toxics/{name}")

    def delete(self, proxy_id: str) -> None:
        self.request("DELETE", f"/proxies/{proxy_id}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class EmbeddedDriver(Driver):
    """sockharness's embedded engine, hosted in its own process by :mod:`bench.embedded_host`."""

    mode = "embedded"

    def __init__(self) -> None:
        self.child = Child([sys.executable, "-m", "bench.embedded_host"], "embedded proxy host")
        first = json.loads(self.child.ready_line)
        if "error" in first:
            self.child.close()
            raise ChildError(str(first["error"]))
        self.pid = self.child.pid

    def call(self, payload: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        self.child.stdin.write(json.dumps(payload) + "\n")
        self.child.stdin.flush()
        reply: dict[str, Any] = json.loads(read_line(self.child.stdout, timeout, "embedded proxy host"))
        if "error" in reply:
            raise ChildError(f"embedded engine: {reply['error']}\n{reply.get('traceback', '')}")
        return reply

    def create(self, upstream: Address, protocol: str = "tcp") -> tuple[str, Address]:
        reply = self.call({"op": "create", "upstream": list(upstream), "protocol": protocol})
        host, port = reply["address"]
        return str(reply["id"]), (str(host), int(port))

    def add_toxic(self, proxy_id: str, toxic: Toxic) -> str:
        request = {"op": "add_toxic", "id": proxy_id, "type": toxic.type, "stream": toxic.stream}
        return str(self.call({**request, "attributes": toxic.json_attributes()})["name"])

    def remove_toxic(self, proxy_id: str, name: str) -> None:
        self.call({"op": "remove_toxic", "id": proxy_id, "name": name})

    def delete(self, proxy_id: str) -> None:
        self.call({"op": "delete", "id": proxy_id})

    def close(self) -> None:
        self.child.close()
