"""What the harness costs a test suite: starting a scripted server plus connecting a client, and the
wall time of the built-in conformance suite (``pytest scenarios/``) serial and with ``-n 2``."""

from __future__ import annotations

import importlib
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.results import Check, Row, unavailable
from bench.stats import Summary, percentile

NAME = "harness"
ROOT = Path(__file__).resolve().parents[2]
SUMMARY_LINE = re.compile(r"=+ (.+) in [\d.]+s")


def scripted_server_class() -> tuple[Any, Any] | str:
    """(ScriptedTCPServer, Echo) from the peers layer, or why they cannot be had. Looked up by name so
    the benchmark still runs (and says why) while that layer is missing or broken."""
    try:
        server_class = importlib.import_module("sockharness.peers").ScriptedTCPServer
        echo_step = importlib.import_module("sockharness.peers.steps").Echo
    except Exception as exc:
        return f"sockharness.peers.ScriptedTCPServer unavailable: {exc!r}"
    return server_class, echo_step


def fixture_rows(ctx: Context) -> list[Row]:
    figure = f"start ScriptedTCPServer + connect a client ({ctx.config.fixture_starts} x per run)"
    target = "≤ 0.5 ms"
    found = scripted_server_class()
    if isinstance(found, str):
        return [unavailable(NAME, figure, "harness", "ms", found, target)]
    server_class, echo_step = found
    medians: list[float] = []
    try:
        for _ in range(ctx.config.runs):
            timings: list[float] = []
            for _ in range(ctx.config.fixture_starts):
                start = time.perf_counter()
                server = server_class([echo_step()]).start()
                try:
                    client = socket.create_connection(server.address[:2], timeout=5)
                    timings.append(time.perf_counter() - start)
                    client.close()
                finally:
                    server.stop()
            medians.append(percentile(timings, 0.5) * 1000)
    except Exception as exc:
        return [unavailable(NAME, figure, "harness", "ms", f"failed: {exc!r}".splitlines()[0], target)]
    row = Row(NAME, figure, "harness", "ms", value=Summary.of(medians), samples=medians)
    row.check = Check(target, Summary.of(medians).median <= 0.5)
    return [row]


def run_suite(extra: list[str]) -> tuple[float, str, int]:
    """Wall seconds, pytest's summary line and exit status of one ``pytest scenarios/`` run."""
    command = [sys.executable, "-m", "pytest", "scenarios/", "-q", "-p", "no:cacheprovider", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    elapsed = time.perf_counter() - start
    summaries = SUMMARY_LINE.findall(done.stdout)
    return elapsed, summaries[-1] if summaries else done.stdout.strip()[-120:], done.returncode


def suite_rows(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    for label, extra, target in (("serial", [], 30.0), ("-n 2", ["-p", "xdist", "-n", "2"], None)):
        figure = f"conformance suite wall time (pytest scenarios/, {label})"
        if ctx.config.suite_runs == 0:
            rows.append(unavailable(NAME, figure, "harness", "s", "skipped (--quick)"))
            continue
        if not (ROOT / "scenarios").is_dir():
            rows.append(unavailable(NAME, figure, "harness", "s", "no scenarios/ directory"))
            continue
        times: list[float] = []
        summary, status = "", 0
        spent = 0.0
        # repeats stop once they would overrun the budget: a 25 s suite cannot run 5x in a 5-minute bench
        while len(times) < ctx.config.suite_runs and (
            not times or spent + times[0] <= ctx.config.suite_budget_s
        ):
            elapsed, summary, status = run_suite(extra)
            times.append(elapsed)
            spent += elapsed
        row = Row(NAME, figure, "harness", "s", value=Summary.of(times), samples=times)
        row.note = f"pytest: {summary}" + ("" if status == 0 else f" (exit status {status})")
        if target is not None:
            row.check = Check(f"≤ {target:g} s", Summary.of(times).median <= target)
        rows.append(row)
    return rows


def run(ctx: Context) -> list[Row]:
    return fixture_rows(ctx) + suite_rows(ctx)
