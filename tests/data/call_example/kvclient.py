"""A small key-value client that retries: the code under test in docs/how-to/call-steps.md.

The protocol is one line each way: ``GET <key>\n`` is answered by ``VALUE <value>\n`` or ``MISSING\n``.
"""

from __future__ import annotations

import socket
import time


class KVError(Exception):
    """The client gave up: every attempt failed (the last failure is the cause)."""


class KVClient:
    def __init__(
        self, host: str, port: int, *, attempts: int = 3, timeout: float = 1.0, backoff: float = 0.05
    ) -> None:
        self.address = (host, port)
        self.attempts = attempts
        self.timeout = timeout
        self.backoff = backoff

    def get(self, key: str) -> str | None:
        """The value of ``key`` (None if the server has none), retrying on connection errors and timeouts."""
        last: OSError | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                return self._get_once(key)
            except OSError as error:  # refused, reset, timed out: try again after a pause
                last = error
                if attempt < self.attempts:
                    time.sleep(self.backoff)  # sync-ok: the client's own retry back-off
        raise KVError(f"gave up after {self.attempts} attempts: {last!r}") from last

    def _get_once(self, key: str) -> str | None:
        with socket.create_connection(self.address, timeout=self.timeout) as sock:
            sock.sendall(f"GET {key}\n".encode())
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(1024)
                if not chunk:
                    raise ConnectionResetError("the server closed the connection before answering")
                reply += chunk
        answer = reply.decode().rstrip("\n")
        if answer == "MISSING":
            return None
        if not answer.startswith("VALUE "):
            raise ValueError(f"unexpected answer {answer!r}")
        return answer.removeprefix("VALUE ")
