"""``sockharness serve``: the embedded fault engine behind a standalone Toxiproxy-compatible API.

Any Toxiproxy client (toxiproxy-python, the Go client, ``toxiproxy-cli``) can then drive it, with no
Go toolchain on the machine. It stays on loopback unless told otherwise (the API and every proxy
listener: ``--allow-non-loopback`` lifts both), and stops on Ctrl-C / SIGTERM.

It can be watched: log lines on stderr for proxies created/updated/deleted, toxics added/removed,
clients accepted/closed and upstream errors (``--log-level``, ``--log-format text|json``), and
``/metrics`` in the Prometheus text format with Toxiproxy's byte counters and live-connection gauges.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from sockharness.faults._api.api_routes import ToxiproxyAPI
from sockharness.faults._api.http_api import ToxiproxyAPIServer, is_loopback_host
from sockharness.faults._events import LEVELS, LOGGER_NAME, JSONFormatter, TextFormatter

if TYPE_CHECKING:
    from sockharness.faults._engine.engine import FaultEngine

DEFAULT_PORT = 8474  # Toxiproxy's, so clients work with their defaults


def register(subparsers: Any) -> None:
    """Add the ``serve`` sub-command (called by ``sockharness._cli``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the embedded fault engine behind a Toxiproxy-compatible HTTP API",
        description=(
            "Serve the embedded fault engine through Toxiproxy's REST API, so Toxiproxy clients "
            "(toxiproxy-python, toxiproxy-cli, the Go client) can create proxies and toxics. Ctrl-C stops."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="API address (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"API port (default: {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed for the toxics' randomness (jitter, toxicity)"
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="JSON file of proxies to create at start, as toxiproxy-server -config (a /populate body)",
    )
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help=(
            "allow --host and proxy listen addresses off the loopback (exposes the API and its proxies "
            "to the network); without it both are refused"
        ),
    )
    parser.add_argument(
        "--log-level",
        choices=list(LEVELS),
        default="info",
        help="least severe log lines written to stderr (default: info; debug adds every API request)",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="log lines as text or as one JSON object per line, like toxiproxy-server (default: text)",
    )
    parser.add_argument(
        "--max-connections-per-proxy",
        type=int,
        default=None,
        metavar="N",
        help="live connections one proxy carries at most; more are closed at once (default: 16384)",
    )
    parser.set_defaults(func=run_serve)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--port must be a number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"--port must be in 0..65535, got {port}")
    return port


def _populate_from_file(engine: FaultEngine, path: str) -> str | None:
    """Create the proxies listed in ``path`` exactly as ``POST /populate`` would; None or what went wrong.

    Each proxy's resolved listen address is printed: with ``listen: 127.0.0.1:0`` it is the only way to
    learn the port without asking the API.
    """
    try:
        body = Path(path).read_bytes()
    except OSError as exc:
        return f"cannot read --config {path}: {exc.strerror or exc}"
    response = ToxiproxyAPI(engine).handle("POST", "/populate", body)
    if response.status != 201:
        error = json.loads(response.body).get("error", "")
        return f"--config {path}: {error}"
    for proxy in json.loads(response.body).get("proxies") or []:
        state = "" if proxy["enabled"] else " (disabled)"
        print(
            f"sockharness serve: proxy {proxy['name']} listening on {proxy['listen']} -> {proxy['upstream']}"
            f"{state}",
            flush=True,
        )
    return None


def _configure_logging(level: str, log_format: str) -> logging.Handler:
    """Send the engine's and the API's log lines to stderr in the chosen format; returns the handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    logger.setLevel(LEVELS[level])
    logger.propagate = False
    return handler


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; exits 0 on a clean stop, 2 for a refused host, 1 if it cannot start."""

    if not args.allow_non_loopback and not is_loopback_host(args.host):
        print(
            f"sockharness serve: refusing --host {args.host}: it is not a loopback address, and the API lets "
            "anyone who reaches it open proxies on this machine (pass --allow-non-loopback to do it anyway).",
            file=sys.stderr,
        )
        return 2
    if args.max_connections_per_proxy is not None and args.max_connections_per_proxy < 1:
        print("sockharness serve: --max-connections-per-proxy must be at least 1", file=sys.stderr)
        return 2
    log_handler = _configure_logging(args.log_level, args.log_format)
    try:
        return _serve(args)
    finally:
        logging.getLogger(LOGGER_NAME).removeHandler(log_handler)


def _serve(args: argparse.Namespace) -> int:
    from sockharness.faults._engine.engine import FaultEngine

    limits: dict[str, int] = {}
    if args.max_connections_per_proxy is not None:
        limits["max_connections_per_proxy"] = args.max_connections_per_proxy
    engine = FaultEngine(seed=args.seed, allow_non_loopback=args.allow_non_loopback, **limits)
    if args.config is not None:
        problem = _populate_from_file(engine, args.config)
        if problem is not None:
            engine.close()
            print(f"sockharness serve: {problem}", file=sys.stderr)
            return 1
    server = ToxiproxyAPIServer(
        engine, args.host, args.port, allow_non_loopback=args.allow_non_loopback, metrics=True
    )
    try:
        server.start()
    except OSError as exc:
        engine.close()
        print(f"sockharness serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in previous:
        signal.signal(sig, request_stop)
    try:
        print(
            f"sockharness serve: Toxiproxy-compatible API on {server.url} "
            f"(seed {engine.seed}; Ctrl-C to stop)",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
        engine.close()
    print("sockharness serve: stopped", flush=True)
    return 0
