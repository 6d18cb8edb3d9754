"""A Toxiproxy-compatible HTTP server on the embedded fault engine.

Built on the standard library's ``ThreadingHTTPServer``: the API is a handful of small JSON requests, so
a dependency would buy nothing. This module is only the HTTP shell (body limits, timeouts, connection
tracking, clean shutdown); the routes live in :mod:`sockharness.faults.api_routes`.

Hardening beyond Toxiproxy: request bodies are capped (413), a stalled client is dropped after
``request_timeout`` seconds, concurrent connections are capped (503), and every failure is answered as a
JSON error instead of escaping into a thread, so one bad request never stops the server.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

from sockharness import __version__
from sockharness.faults.api_json import APIResponse, error_response
from sockharness.faults.api_routes import ToxiproxyAPI

if TYPE_CHECKING:
    from collections.abc import Callable

    from sockharness.faults.engine import FaultEngine

logger = logging.getLogger("sockharness.faults.api")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_REQUEST_TIMEOUT = 15.0  # Toxiproxy's own read timeout
DEFAULT_MAX_CONNECTIONS = 64
_CHUNK_LINE_LIMIT = 1024


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals; any other name could resolve anywhere."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _BodyError(Exception):
    """A request body that cannot be read; answered with ``response`` and the connection closed."""

    def __init__(self, response: APIResponse) -> None:
        super().__init__(response.status)
        self.response = response


class _APIHTTPServer(ThreadingHTTPServer):
    """Tracks each connection's thread and socket so ``close_connections`` can end them all promptly."""

    daemon_threads = True
    block_on_close = False  # connection threads are joined by ToxiproxyAPIServer.stop, with a bound

    def __init__(
        self,
        address: tuple[str, int],
        api: ToxiproxyAPI,
        *,
        family: socket.AddressFamily,
        max_body_bytes: int,
        request_timeout: float,
        max_connections: int,
    ) -> None:
        self.address_family = family
        self.api = api
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self._connections: dict[threading.Thread, socket.socket] = {}
        self._connections_lock = threading.Lock()
        self._connection_count = 0
        super().__init__(address, _APIRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        sock = cast(socket.socket, request)
        thread: threading.Thread | None = None
        with self._connections_lock:
            if len(self._connections) < self.max_connections:
                self._connection_count += 1
                thread = threading.Thread(
                    target=self.process_request_thread,
                    args=(request, client_address),
                    name=f"sockharness-api-conn-{self._connection_count}",
                    daemon=True,
                )
                self._connections[thread] = sock
        if thread is None:
            self._refuse(sock)
            return
        thread.start()

    def _refuse(self, sock: socket.socket) -> None:
        body = b'{"error":"too many connections to the API","status":503}\n'
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode("ascii")
        try:
            sock.settimeout(1.0)
            sock.sendall(head + body)
        except OSError:
            pass
        self.shutdown_request(sock)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Only socket-level failures (client vanished mid-request) get here; answered errors never do.
        logger.debug("API connection from %s ended abnormally", client_address, exc_info=True)

    def close_connections(self, timeout: float) -> list[str]:
        """Shut every open connection down and join its thread; returns the names of threads that stayed."""
        with self._connections_lock:
            connections = list(self._connections.items())
        for _, sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        stuck = []
        for thread, _ in connections:
            thread.join(timeout)
            if thread.is_alive():
                stuck.append(thread.name)
        return stuck


class _APIRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' sessions and Go's client expect
    # Buffer each answer and send it in one write: headers and body as two small segments would meet
    # Nagle's algorithm and the client's delayed ACK, costing ~40 ms per request on keep-alive.
    wbufsize = 64 * 1024
    server: _APIHTTPServer

    def version_string(self) -> str:
        # Toxiproxy sends no Server header; ours tells the two apart when /version says the same.
        return f"sockharness/{__version__}"

    def setup(self) -> None:
        self.connection = cast(socket.socket, self.request)
        self.connection.settimeout(self.server.request_timeout)  # drop stalled clients, like Toxiproxy
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    # BaseHTTPRequestHandler looks up ``do_<METHOD>``; every method goes to the router so that unknown
    # ones get Toxiproxy's 405 instead of http.server's HTML 501.
    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        self._request_id = uuid.uuid4().hex[:20]
        try:
            # Toxiproxy refuses browsers: a web page could otherwise make the visitor's browser send
            # requests to this loopback API (CSRF, DNS rebinding) and reconfigure or delete proxies.
            if self.headers.get("User-Agent", "").startswith("Mozilla/"):
                self.close_connection = True  # the body is not read, so the connection cannot be reused
                self._write(error_response(403, "User agent not allowed"))
                return
            try:
                body = self._read_body()
            except _BodyError as exc:
                self.close_connection = True
                self._write(exc.response)
                return
            self._write(self.server.api.handle(self.command, self.path, body))
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True
            logger.debug("API client %s went away", self.client_address, exc_info=True)
        except Exception as exc:
            self.close_connection = True
            logger.exception("API handler failed on %s %s", self.command, self.path)
            with contextlib.suppress(OSError):
                self._write(error_response(500, f"internal error: {type(exc).__name__}: {exc}"))

    def _read_body(self) -> bytes:
        limit = self.server.max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise _BodyError(error_response(400, f"invalid Content-Length {length_header!r}")) from None
        if length < 0:
            raise _BodyError(error_response(400, f"invalid Content-Length {length_header!r}"))
        if length > limit:
            raise _BodyError(_too_large(length, limit))
        body = self.rfile.read(length)
        if len(body) != length:
            raise ConnectionError(f"client sent {len(body)} of {length} body bytes and closed")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(_CHUNK_LINE_LIMIT)
            if not line:
                raise ConnectionError("client closed inside a chunked body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BodyError(error_response(400, "malformed chunked request body")) from None
            if size < 0:
                raise _BodyError(error_response(400, "malformed chunked request body"))
            if size == 0:
                while self.rfile.readline(_CHUNK_LINE_LIMIT) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields, bounded by the socket timeout and the line limit
                return b"".join(parts)
            total += size
            if total > limit:
                raise _BodyError(_too_large(total, limit))
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise ConnectionError("client closed inside a chunk")
            parts.append(chunk)
            self.rfile.readline(_CHUNK_LINE_LIMIT)  # the CRLF after the chunk

    def handle_expect_100(self) -> bool:
        # Refuse an oversized body before the client sends it.
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.server.max_body_bytes:
            self._request_id = uuid.uuid4().hex[:20]
            self.close_connection = True
            self._write(_too_large(int(length), self.server.max_body_bytes))
            return False
        accepted = super().handle_expect_100()
        self.wfile.flush()  # the client waits for the 100 before it sends the body
        return accepted

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, huge headers) as JSON errors too."""
        self._request_id = uuid.uuid4().hex[:20]
        self.close_connection = True
        # An unparsable request line leaves the version at HTTP/0.9, which would suppress the status line.
        self.request_version = self.protocol_version
        text = message or HTTPStatus(code).phrase
        with contextlib.suppress(OSError):
            self._write(error_response(code, text))

    def _write(self, response: APIResponse) -> None:
        self.send_response(response.status)
        if response.content_type is not None:
            self.send_header("Content-Type", response.content_type)
        for key, value in response.headers:
            self.send_header(key, value)
        self.send_header("X-Toxiproxy-Request-Id", getattr(self, "_request_id", ""))
        if response.status != 204 and response.status >= 200:
            self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if response.body and getattr(self, "command", "") != "HEAD":
            self.wfile.write(response.body)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("API %s - " + format, self.address_string(), *args)


def _too_large(length: int, limit: int) -> APIResponse:
    return error_response(413, f"request body too large: {length} bytes, limit {limit}")


class ToxiproxyAPIServer:
    """Serves Toxiproxy's REST API for ``engine`` on ``host:port`` (port 0 picks a free one).

    The caller owns the engine: ``stop()`` ends the server and its connections but leaves the proxies.
    A non-loopback ``host`` needs ``allow_non_loopback=True``: the API can open listeners and relay
    traffic, so exposing it beyond this machine must be a deliberate choice.
    """

    def __init__(
        self,
        engine: FaultEngine,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_non_loopback: bool = False,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        if not allow_non_loopback and not is_loopback_host(host):
            raise ValueError(
                f"host={host!r} is not a loopback address; pass allow_non_loopback=True to expose the API"
            )
        if not 0 <= port <= 65535:
            raise ValueError(f"port={port} is outside 0..65535")
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes={max_body_bytes} must be positive")
        if request_timeout <= 0:
            raise ValueError(f"request_timeout={request_timeout} must be positive")
        if max_connections < 1:
            raise ValueError(f"max_connections={max_connections} must be positive")
        self.engine = engine
        self._host = host.strip("[]")
        self._port = port
        self._max_body_bytes = max_body_bytes
        self._request_timeout = request_timeout
        self._max_connections = max_connections
        self._httpd: _APIHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> Self:
        """Bind and serve in a background thread; raises OSError (e.g. port in use) without leaking."""
        with self._lock:
            if self._httpd is not None:
                return self
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            httpd = _APIHTTPServer(
                (self._host, self._port),
                ToxiproxyAPI(self.engine),
                family=family,
                max_body_bytes=self._max_body_bytes,
                request_timeout=self._request_timeout,
                max_connections=self._max_connections,
            )
            thread = threading.Thread(
                target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sockharness-api-server"
            )
            thread.daemon = True
            thread.start()
            self._httpd, self._thread = httpd, thread
            return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving, end open connections and join every thread (bounded by ``timeout`` each)."""
        with self._lock:
            httpd, thread = self._httpd, self._thread
            self._httpd, self._thread = None, None
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        thread.join(timeout)
        stuck = httpd.close_connections(timeout)
        httpd.server_close()
        if stuck:
            logger.warning("API connection threads still running after stop: %s", ", ".join(stuck))

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``; only valid after ``start()``."""
        if self._httpd is None:
            raise RuntimeError("ToxiproxyAPIServer is not started: call start() first")
        sockname = self._httpd.socket.getsockname()
        return str(sockname[0]), int(sockname[1])

    @property
    def url(self) -> str:
        """Base URL for clients, e.g. ``http://127.0.0.1:8474`` (brackets for IPv6)."""
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else f"{self._host}:{self._port} (stopped)"
        return f"ToxiproxyAPIServer({where})"
