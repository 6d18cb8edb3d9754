"""A Toxiproxy-compatible HTTP server on the embedded fault engine.

Built on the standard library's ``ThreadingHTTPServer``: the API is a handful of small JSON requests, so
a dependency would buy nothing. This module is only the HTTP shell (body limits, deadlines, connection
tracking, clean shutdown); the routes live in :mod:`sockharness.faults._api.api_routes`.

The API always answers, whatever other clients do:

- a new connection gets no thread until its first request head has arrived: the accept loop reads
  heads itself (non-blocking, in a selector), so idle and dripping connections cost a descriptor and a
  buffer, and are dropped there at ``request_timeout``; a thread then serves the connection's requests;
- every request has a whole-request deadline (``request_timeout``, from its first line to its last body
  byte) and a keep-alive connection may sit idle for ``idle_timeout``: the accept loop closes connections
  past their deadline, so a client dripping one byte a second cannot reset a per-read timeout forever;
- when ``max_connections`` threads are serving, a newcomer is not refused: the connection idle longest
  (or else the slowest request still being read) is closed to make room; 503 is only for a server whose
  every connection is running a request;
- the listen backlog takes bursts (``LISTEN_BACKLOG``), and when the process runs out of descriptors on
  accept, a spare descriptor kept for the purpose is given up to answer 503 instead of spinning.

Measured (2 noisy cores, loopback) before choosing this shape: with a thread per accepted connection, the
first ``GET /version`` after 1,000 idle connects waited 446 ms (about 0.4 ms per thread started and
evicted) and 270 dripping/idle clients kept 66 threads; with heads read in the accept loop it answered in
2 ms with 4 threads, and 0.6-1.4 ms at the median while 200 clients dripped. The standard library's
request parser is kept (it passes every malformed-HTTP probe), which a hand-written one would have to
earn again; only the accept loop is our own.

Hardening beyond Toxiproxy: request bodies are capped (413), and every failure is answered as a JSON
error instead of escaping into a thread, so one bad request never stops the server.
"""

from __future__ import annotations

import contextlib
import errno
import io
import ipaddress
import json
import logging
import os
import selectors
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

from sockharness import __version__
from sockharness.faults._api.api_json import APIResponse, error_response
from sockharness.faults._api.api_routes import ToxiproxyAPI
from sockharness.faults._events import log_event
from sockharness.peers._addresses import format_address

if TYPE_CHECKING:
    from collections.abc import Callable

    from sockharness.faults._engine.engine import FaultEngine

logger = logging.getLogger("sockharness.faults.api")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_REQUEST_TIMEOUT = 15.0  # Toxiproxy's own read timeout, here for the whole request
DEFAULT_IDLE_TIMEOUT = 30.0  # a keep-alive connection waiting for its next request
DEFAULT_MAX_CONNECTIONS = 64
#: Pending connects the kernel queues for the accept loop (it caps this at net.core.somaxconn): with
#: Python's default of 5, a burst of connects overflowed it and every ~6th waited a 1 s SYN retransmit.
LISTEN_BACKLOG = 1024
ACCEPT_BACKOFF = 0.05  # seconds the accept loop rests after the process ran out of descriptors
ACCEPTS_PER_WAKEUP = 64
#: Connections still sending their first request head, held without a thread; the one nearest its
#: deadline is dropped for a newcomer beyond this.
MAX_PENDING = 4096
MAX_HEAD_BYTES = 65536 + 8192  # past this the parser is handed the head, to answer 414/431
#: All heads being read at once hold at most this much memory; a head that would pass it is dropped.
MAX_PENDING_BYTES = 16 * 1024 * 1024
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


@dataclass(eq=False)
class _Client:
    """One API connection as the reaper and the eviction see it."""

    sock: socket.socket
    #: "idle" (waiting for a request line), "request" (reading one), "handling" (running it)
    phase: str = "idle"
    head: bytes = b""  # the first request head, already read by the accept loop
    deadline: float = 0.0
    since: float = field(default_factory=time.monotonic)
    closing: bool = False

    def close_now(self) -> None:
        """Wake the connection's thread out of its read (it sees EOF and ends)."""
        if not self.closing:
            self.closing = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


@dataclass(eq=False)
class _Pending:
    """A connection whose first request head is still arriving: held by the accept loop, no thread yet."""

    sock: socket.socket
    address: Any
    deadline: float
    head: bytearray = field(default_factory=bytearray)


class _PrefixedReader(io.RawIOBase):
    """The socket's bytes, preceded by what the accept loop already read (the request head)."""

    def __init__(self, sock: socket.socket, prefix: bytes) -> None:
        self._sock = sock
        self._prefix = memoryview(prefix)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        return self._sock.recv_into(buffer)


class _APIHTTPServer(ThreadingHTTPServer):
    """Tracks each connection's thread and socket so ``close_connections`` can end them all promptly."""

    daemon_threads = True
    block_on_close = False  # connection threads are joined by ToxiproxyAPIServer.stop, with a bound
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        api: ToxiproxyAPI,
        *,
        family: socket.AddressFamily,
        max_body_bytes: int,
        request_timeout: float,
        idle_timeout: float,
        max_connections: int,
    ) -> None:
        self.address_family = family
        self.api = api
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self._connections: dict[threading.Thread, _Client] = {}
        self._connections_lock = threading.Lock()
        self._connection_count = 0
        self.evicted = 0  # connections closed to make room or past their deadline (for tests and logs)
        self._spare_fd = -1
        self._pending: dict[int, _Pending] = {}  # fd -> connection whose first request head is arriving
        self._pending_bytes = 0
        self._selector = selectors.DefaultSelector()
        self._stop_requested = False
        self._stopped = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        super().__init__(address, _APIRequestHandler)
        self.socket.setblocking(False)  # the accept loop takes a batch per wake-up
        self._spare_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    # --- the accept loop -------------------------------------------------------------------------------
    def serve_forever(self, poll_interval: float = 0.05) -> None:
        """Accept, and read each new connection's first request head here, without a thread.

        A thread is started only once a whole head has arrived (or the client half-closed, or the head
        outgrew ``MAX_HEAD_BYTES``, so the parser can answer it): idle and dripping connections cost a
        descriptor and a buffer, never a thread, and a burst of them does not hold up the next request.
        """
        self._stopped.clear()
        selector = self._selector
        selector.register(self.socket, selectors.EVENT_READ, None)
        selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stop_requested:
                for key, _mask in selector.select(poll_interval):
                    if key.data is None:
                        self._accept_batch()
                    elif key.data == "wake":
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(64)
                    else:
                        self._read_head(key.data)
                self.service_actions()
        finally:
            for pending in list(self._pending.values()):
                self._drop_pending(pending)
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(self.socket)
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(self._wake_r)
            self._stop_requested = False
            self._stopped.set()

    def shutdown(self) -> None:
        self._stop_requested = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._stopped.wait()

    def _accept_batch(self) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                sock, address = self.get_request()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # a client gave up, or out of descriptors (answered and rested in get_request)
            if len(self._pending) >= MAX_PENDING:
                self._drop_pending(min(self._pending.values(), key=lambda pending: pending.deadline))
                self.evicted += 1
            sock.setblocking(False)
            pending = _Pending(sock, address, time.monotonic() + self.request_timeout)
            self._pending[sock.fileno()] = pending
            self._selector.register(sock, selectors.EVENT_READ, pending)

    def _read_head(self, pending: _Pending) -> None:
        try:
            data = pending.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop_pending(pending)
            return
        pending.head += data
        self._pending_bytes += len(data)
        if self._pending_bytes > MAX_PENDING_BYTES:
            self._drop_pending(pending)  # heads this big from this many clients are an attack
            self.evicted += 1
            return
        complete = b"\r\n\r\n" in pending.head or b"\n\n" in pending.head
        if data and not complete and len(pending.head) <= MAX_HEAD_BYTES:
            return  # more of the head to come
        if not pending.head:
            self._drop_pending(pending)  # connected and closed without a byte
            return
        self._selector.unregister(pending.sock)
        del self._pending[pending.sock.fileno()]
        self._pending_bytes -= len(pending.head)
        pending.sock.setblocking(True)
        self._start_thread(pending.sock, pending.address, bytes(pending.head))

    def _drop_pending(self, pending: _Pending) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(pending.sock)
        if self._pending.pop(pending.sock.fileno(), None) is not None:
            self._pending_bytes -= len(pending.head)
        pending.sock.close()

    def _reap_pending(self, now: float) -> None:
        for pending in [p for p in self._pending.values() if now >= p.deadline]:
            self._drop_pending(pending)
            self.evicted += 1

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            return super().get_request()
        except OSError as error:
            if error.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                raise
        # Out of descriptors: give up the spare one to take the client and tell it why, then rest, so
        # the readable listener does not spin the loop while the process is at its limit.
        self._release_spare()
        try:
            sock, _address = super().get_request()
        except OSError:
            time.sleep(ACCEPT_BACKOFF)  # sync-ok: back-off of the accept loop, not a test wait
            raise
        finally:
            self._take_spare()
        self._refuse(sock, 503, "the server is out of file descriptors; try again shortly")
        time.sleep(ACCEPT_BACKOFF)  # sync-ok: back-off of the accept loop, not a test wait
        raise OSError(errno.EMFILE, "answered 503: out of file descriptors")

    def _release_spare(self) -> None:
        if self._spare_fd >= 0:
            os.close(self._spare_fd)
            self._spare_fd = -1

    def _take_spare(self) -> None:
        if self._spare_fd < 0:
            with contextlib.suppress(OSError):
                self._spare_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    def server_close(self) -> None:
        super().server_close()
        self._release_spare()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _start_thread(self, sock: socket.socket, client_address: Any, head: bytes) -> None:
        thread: threading.Thread | None = None
        with self._connections_lock:
            open_clients = [client for client in self._connections.values() if not client.closing]
            if len(open_clients) >= self.max_connections:
                victim = self._eviction_victim(open_clients)
                if victim is not None:
                    victim.close_now()
                    self.evicted += 1
                    open_clients.remove(victim)
            # Threads of evicted connections end within moments; the hard bound covers a flood meanwhile.
            if len(open_clients) < self.max_connections and len(self._connections) < 2 * self.max_connections:
                self._connection_count += 1
                thread = threading.Thread(
                    target=self.process_request_thread,
                    args=(sock, client_address),
                    name=f"sockharness-api-conn-{self._connection_count}",
                    daemon=True,
                )
                self._connections[thread] = _Client(
                    sock, head=head, deadline=time.monotonic() + self.request_timeout
                )
        if thread is None:
            self._refuse(sock, 503, "too many connections to the API")
            return
        thread.start()

    @staticmethod
    def _eviction_victim(clients: list[_Client]) -> _Client | None:
        """The connection to close for a newcomer: idle longest first, then the slowest request being
        read; never one whose request is running (its answer is owed)."""
        idle = [client for client in clients if client.phase == "idle"]
        if idle:
            return min(idle, key=lambda client: client.since)
        reading = [client for client in clients if client.phase == "request"]
        return min(reading, key=lambda client: client.since) if reading else None

    def client_state(self) -> _Client | None:
        with self._connections_lock:
            return self._connections.get(threading.current_thread())

    def service_actions(self) -> None:
        """Runs in the accept loop between accepts: close connections past their deadline."""
        now = time.monotonic()
        self._reap_pending(now)
        with self._connections_lock:
            expired = [
                client
                for client in self._connections.values()
                if not client.closing and client.phase != "handling" and now >= client.deadline
            ]
        for client in expired:
            client.close_now()
            self.evicted += 1

    def _refuse(self, sock: socket.socket, status: int, message: str) -> None:
        body = json.dumps({"error": message, "status": status}).encode("utf-8") + b"\n"
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n"
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
        for _, client in connections:
            with contextlib.suppress(OSError):
                client.sock.shutdown(socket.SHUT_RDWR)
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
        # A per-read backstop; the whole-request deadline is the server's reaper (``service_actions``).
        self.connection.settimeout(self.server.request_timeout)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = self.server.client_state()
        super().setup()
        if self._client is not None and self._client.head:
            self.rfile = io.BufferedReader(_PrefixedReader(self.connection, self._client.head), 65536)
            self._client.head = b""

    def _enter(self, phase: str, timeout: float | None) -> None:
        """Enter ``phase``; ``timeout`` (if given) bounds it: the reaper's deadline, and each read's."""
        client = self._client
        if timeout is not None:
            self.connection.settimeout(timeout)
        if client is not None:
            client.phase = phase
            client.since = time.monotonic()
            if timeout is not None:
                client.deadline = client.since + timeout

    def parse_request(self) -> bool:
        # The request line has arrived: headers and body must follow within request_timeout.
        self._enter("request", self.server.request_timeout)
        return super().parse_request()

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
            self._enter("handling", None)
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
        client = self._client
        duration_ms = round((time.monotonic() - client.since) * 1000, 3) if client is not None else None
        if not self.close_connection:
            # Keep-alive: the next request line may take idle_timeout. The answer is in the kernel's buffer
            # and owed no more, so from here a newcomer at the cap may evict this connection (marking it
            # only when the handler returned left a window, under load, in which every connection looked
            # busy and the newcomer got a 503). Every keep-alive request ends here: the others close.
            self._enter("idle", self.server.idle_timeout)
        log_event(
            logger,
            logging.DEBUG,
            "API request",
            request_id=getattr(self, "_request_id", ""),
            client=format_address((str(self.client_address[0]), int(self.client_address[1]))),
            method=getattr(self, "command", None) or "-",
            url=getattr(self, "path", "-"),
            status=response.status,
            size=len(response.body),
            duration_ms=duration_ms,
        )

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Requests are logged once, with their fields, by ``_write``."""

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("API %s - " + format, self.address_string(), *args)


def _too_large(length: int, limit: int) -> APIResponse:
    return error_response(413, f"request body too large: {length} bytes, limit {limit}")


class ToxiproxyAPIServer:
    """Serves Toxiproxy's REST API for ``engine`` on ``host:port`` (port 0 picks a free one).

    The caller owns the engine: ``stop()`` ends the server and its connections but leaves the proxies.
    A non-loopback ``host`` needs ``allow_non_loopback=True``: the API can open listeners and relay
    traffic, so exposing it beyond this machine must be a deliberate choice. ``metrics=True`` serves
    ``/metrics`` in the Prometheus text format (Toxiproxy's ``-proxy-metrics``; 404 otherwise, as there).
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
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        metrics: bool = False,
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
        if idle_timeout <= 0:
            raise ValueError(f"idle_timeout={idle_timeout} must be positive")
        if max_connections < 1:
            raise ValueError(f"max_connections={max_connections} must be positive")
        self.engine = engine
        self._host = host.strip("[]")
        self._port = port
        self._max_body_bytes = max_body_bytes
        self._request_timeout = request_timeout
        self._idle_timeout = idle_timeout
        self._metrics = metrics
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
                ToxiproxyAPI(self.engine, metrics=self._metrics),
                family=family,
                max_body_bytes=self._max_body_bytes,
                request_timeout=self._request_timeout,
                idle_timeout=self._idle_timeout,
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
        return f"http://{format_address(self.address)}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else f"{self._host}:{self._port} (stopped)"
        return f"ToxiproxyAPIServer({where})"
