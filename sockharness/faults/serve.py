"""``sockharness serve``: the embedded fault engine behind a standalone Toxiproxy-compatible API.

Any Toxiproxy client (toxiproxy-python, the Go client, ``toxiproxy-cli``) can then drive it, with no
Go toolchain on the machine. It stays on loopback unless told otherwise, and stops on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from sockharness.faults.api_routes import ToxiproxyAPI
from sockharness.faults.http_api import ToxiproxyAPIServer, is_loopback_host

if TYPE_CHECKING:
    from sockharness.faults.engine import FaultEngine

DEFAULT_PORT = 8474  # Toxiproxy's, so clients work with their defaults


def register(subparsers: Any) -> None:
    """Add the ``serve`` sub-command (called by ``sockharness.cli``)."""
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
        help="allow --host to be a non-loopback address (exposes the API and its proxies to the network)",
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
    """Create the proxies listed in ``path`` exactly as ``POST /populate`` would; None or what went wrong."""
    try:
        body = Path(path).read_bytes()
    except OSError as exc:
        return f"cannot read --config {path}: {exc.strerror or exc}"
    response = ToxiproxyAPI(engine).handle("POST", "/populate", body)
    if response.status != 201:
        error = json.loads(response.body).get("error", "")
        return f"--config {path}: {error}"
    return None


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; exits 0 on a clean stop, 2 for a refused host, 1 if it cannot start."""
    from sockharness.faults.engine import FaultEngine

    if not args.allow_non_loopback and not is_loopback_host(args.host):
        print(
            f"sockharness serve: refusing --host {args.host}: it is not a loopback address, and the API lets "
            "anyone who reaches it open proxies on this machine (pass --allow-non-loopback to do it anyway).",
            file=sys.stderr,
        )
        return 2
    engine = FaultEngine(seed=args.seed)
    if args.config is not None:
        problem = _populate_from_file(engine, args.config)
        if problem is not None:
            engine.close()
            print(f"sockharness serve: {problem}", file=sys.stderr)
            return 1
    server = ToxiproxyAPIServer(engine, args.host, args.port, allow_non_loopback=args.allow_non_loopback)
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
