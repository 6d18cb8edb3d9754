"""``python -m bench``: runs the sections, prints one table, writes JSON and a PNG chart."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.chart import write_png
from bench.context import Config, Context
from bench.peerproc import raise_fd_limit
from bench.results import Row
from bench.sections import concurrency, harness, roundtrip, throughput, tls, toxic_accuracy, udp
from bench.table import render, render_markdown

SECTIONS: dict[str, ModuleType] = {
    "throughput": throughput,
    "roundtrip": roundtrip,
    "toxics": toxic_accuracy,
    "concurrency": concurrency,
    "harness": harness,
    "udp": udp,
    "tls": tls,
}
RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark sockharness's embedded fault proxy against direct loopback and Toxiproxy.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes and one run (proves the machinery)")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SECTIONS),
        metavar="NAME",
        help=f"run only this section (repeatable): {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=RESULTS / "latest.json",
        metavar="PATH",
        help="where to write the results as JSON (default: %(default)s)",
    )
    parser.add_argument(
        "--png",
        type=Path,
        default=RESULTS / "latest.png",
        metavar="PATH",
        help="where to write the chart (default: %(default)s)",
    )
    parser.add_argument(
        "--markdown", type=Path, metavar="PATH", help="also write the table as markdown (for the README)"
    )
    parser.add_argument("--runs", type=int, metavar="N", help="runs per figure (default 5, --quick 1)")
    parser.add_argument("--toxiproxy", metavar="PATH", help="Toxiproxy server binary (default: found)")
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    return args


def run_section(ctx: Context, name: str, module: ModuleType) -> list[Row]:
    """A crashed section becomes one row saying so; the other sections still run."""
    stop = ctx.timed(name)
    try:
        section_run: Callable[[Context], list[Row]] = module.run
        return section_run(ctx)
    except Exception as exc:
        return [Row(name, "section", "-", "", note=f"section failed: {type(exc).__name__}: {exc}")]
    finally:
        stop()


def metadata(ctx: Context, started: float, load_at_start: float, toxiproxy_version: str) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.release()}, {os.cpu_count()} cores",
        "load_average_1min": {"start": load_at_start, "end": os.getloadavg()[0]},
        "toxiproxy": f"{ctx.toxiproxy_binary} ({toxiproxy_version})" if ctx.toxiproxy_binary else None,
        "missing": ctx.missing,
        "wall_seconds": round(time.monotonic() - started, 1),
        "quick": ctx.config.quick,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the finally below still stops the Toxiproxy server it started
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.monotonic()
    load_at_start = os.getloadavg()[0]
    raise_fd_limit()
    config = Config.quick_config() if args.quick else Config()
    if args.runs is not None:
        config = dataclasses.replace(config, runs=args.runs, concurrent_runs=args.runs)
    ctx = Context(config)
    rows: list[Row] = []
    try:
        ctx.start_drivers(args.toxiproxy)
        toxiproxy_version = str(getattr(ctx.drivers.get("toxiproxy"), "version", "absent"))
        for name, module in SECTIONS.items():
            if args.only is None or name in args.only:
                rows += run_section(ctx, name, module)
    finally:
        ctx.close()
    meta = metadata(ctx, started, load_at_start, toxiproxy_version)
    title = f"sockharness bench, {meta['date']}, {meta['machine']}, Python {meta['python']}"
    print(title)
    load = meta["load_average_1min"]
    print(f"1-min load average {load['start']:.2f} at start, {load['end']:.2f} at end (the bench adds ~1-2)")
    for mode, why in ctx.missing.items():
        print(f"{mode}: {why}")
    print(render(rows))
    print(f"wall time {meta['wall_seconds']} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta, "config": dataclasses.asdict(config), "rows": [row.to_json() for row in rows]}
    args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"results: {args.json}")
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(render_markdown(rows) + "\n")
        print(f"markdown: {args.markdown}")
    try:
        print(f"chart: {write_png(rows, args.png, title)}")
    except ImportError as exc:
        print(f"chart: not written, matplotlib unavailable ({exc})", file=sys.stderr)
    return 0
