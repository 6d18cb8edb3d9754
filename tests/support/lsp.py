"""A small Language Server Protocol client over stdio: the editor experience tested against a real server.

Only what the editor tests need: start a server process, ``initialize``, push settings, open documents,
wait for their diagnostics and ask for completions and hovers. Every wait is bounded by a deadline, and
:meth:`LanguageServer.close` always ends the process (terminate, then kill), so a hung server fails a
test instead of hanging it.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["Diagnostic", "LanguageServer", "LspError"]

#: Seconds any single request or notification wait may take before the test fails.
DEFAULT_TIMEOUT = 30.0


class LspError(AssertionError):
    """The server did not answer in time, answered with an error, or exited."""


@dataclass(frozen=True)
class Diagnostic:
    """One published problem: 0-based line as LSP counts, and the message an editor shows."""

    line: int
    character: int
    message: str
    severity: int


class LanguageServer:
    """One server process; use as a context manager so it is always ended."""

    def __init__(self, command: Sequence[str], root: Path, settings: dict[str, Any]) -> None:
        self._settings = settings
        self._process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=root,
        )
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._next_id = 0
        self._versions: dict[str, int] = {}
        #: The latest diagnostics per (uri, version) seen so far, whether asked for yet or not.
        self._diagnostics: dict[str, tuple[int | None, list[Diagnostic]]] = {}
        self._responses: dict[int, dict[str, Any]] = {}
        assert self._process.stdout is not None
        self._reader = threading.Thread(
            target=self._read_messages, args=(self._process.stdout,), name="lsp-reader", daemon=True
        )
        self._reader.start()
        self._root = root

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> LanguageServer:
        try:
            self.initialize()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def initialize(self) -> None:
        """The handshake, then the settings (``yaml.schemas`` and friends) as a configuration change."""
        self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": self._root.as_uri(),
                "workspaceFolders": [{"uri": self._root.as_uri(), "name": self._root.name}],
                "capabilities": {
                    "workspace": {
                        "configuration": True,
                        "didChangeConfiguration": {"dynamicRegistration": False},
                    },
                    "textDocument": {
                        "publishDiagnostics": {"versionSupport": True},
                        "completion": {"completionItem": {"snippetSupport": False}},
                        "hover": {"contentFormat": ["markdown", "plaintext"]},
                    },
                },
            },
        )
        self.notify("initialized", {})
        self.configure(self._settings)

    def configure(self, settings: dict[str, Any]) -> None:
        """New settings: announced as a change; the server then pulls them (``workspace/configuration``)
        and validates later documents only once it has them."""
        self._settings = settings
        self.notify("workspace/didChangeConfiguration", {"settings": settings})

    def close(self) -> None:
        """End the process whatever state it is in; never raises, never waits unbounded."""
        process = self._process
        if process.poll() is None:
            try:
                self._send({"jsonrpc": "2.0", "id": self._new_id(), "method": "shutdown", "params": None})
                self._send({"jsonrpc": "2.0", "method": "exit", "params": None})
                process.wait(timeout=2)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        self._reader.join(timeout=2)

    # -- documents -------------------------------------------------------------------------------

    def open(self, uri: str, text: str) -> None:
        self._versions[uri] = 1
        self._diagnostics.pop(uri, None)
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}},
        )

    def close_document(self, uri: str) -> None:
        self._versions.pop(uri, None)
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    def diagnostics(self, uri: str, timeout: float = DEFAULT_TIMEOUT) -> list[Diagnostic]:
        """The diagnostics the server publishes for the open version of ``uri`` (waits for them)."""
        version = self._versions[uri]
        deadline = time.monotonic() + timeout
        while True:
            published = self._diagnostics.get(uri)
            if published is not None and published[0] in (None, version):
                return published[1]
            self._pump(deadline, f"diagnostics for {uri}")

    def completion_labels(self, uri: str, line: int, character: int) -> list[str]:
        result = self.request(
            "textDocument/completion",
            {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
        )
        items = result.get("items", []) if isinstance(result, dict) else (result or [])
        return [str(item["label"]) for item in items]

    def hover_text(self, uri: str, line: int, character: int) -> str:
        result = self.request(
            "textDocument/hover",
            {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
        )
        if not result:
            return ""
        contents = result["contents"]
        if isinstance(contents, dict):
            return str(contents.get("value", ""))
        if isinstance(contents, list):
            return "\n".join(
                item if isinstance(item, str) else str(item.get("value", "")) for item in contents
            )
        return str(contents)

    # -- JSON-RPC ----------------------------------------------------------------------------------

    def request(self, method: str, params: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        request_id = self._new_id()
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while request_id not in self._responses:
            self._pump(deadline, f"the answer to {method}")
        response = self._responses.pop(request_id)
        if "error" in response:
            raise LspError(f"{method} failed: {response['error']}")
        return response.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode("utf-8")
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        stdin.flush()

    def _pump(self, deadline: float, waiting_for: str) -> None:
        """Handle one incoming message, or fail when the deadline passes or the server is gone."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LspError(f"timed out waiting for {waiting_for}")
        try:
            message = self._inbox.get(timeout=remaining)
        except queue.Empty:
            raise LspError(f"timed out waiting for {waiting_for}") from None
        if message is None:
            raise LspError(
                f"the server exited (status {self._process.poll()}) while waiting for {waiting_for}"
            )
        self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is None:
            self._responses[int(message["id"])] = message
        elif "id" in message:
            self._answer_server_request(message)
        elif method == "textDocument/publishDiagnostics":
            params = message["params"]
            found = [
                Diagnostic(
                    line=item["range"]["start"]["line"],
                    character=item["range"]["start"]["character"],
                    message=item["message"],
                    severity=item.get("severity", 1),
                )
                for item in params["diagnostics"]
            ]
            self._diagnostics[params["uri"]] = (params.get("version"), found)

    def _answer_server_request(self, message: dict[str, Any]) -> None:
        """Requests the server makes of the editor: settings by section; registrations are acknowledged."""
        result: Any = None
        if message["method"] == "workspace/configuration":
            result = [self._section(item.get("section")) for item in message["params"]["items"]]
        self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    def _section(self, section: str | None) -> Any:
        value: Any = self._settings
        for part in (section or "").split("."):
            if part:
                value = value.get(part) if isinstance(value, dict) else None
        return value

    def _read_messages(self, stdout: IO[bytes]) -> None:
        """Reader thread: frame ``Content-Length`` messages into the inbox; ``None`` marks the end."""
        try:
            while True:
                length = None
                while True:
                    header = stdout.readline()
                    if not header:
                        return
                    header = header.strip()
                    if not header:
                        break
                    name, _, value = header.decode("ascii").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                if length is None:
                    continue
                self._inbox.put(json.loads(stdout.read(length)))
        except (OSError, ValueError):
            return
        finally:
            self._inbox.put(None)
