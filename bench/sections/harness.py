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
SUMMARY_WORDS = re.compile(r"\b(passed|failed|errors?|skipped|no tests ran)\b")


def scripted_server_class() -> tuple[Any, Any] | str:
    """(ScriptedTCPServer, Echo) from the peers layer, or why they cannot be had. Looked up by name so
    the benchmark still runs (and says why) while that layer is missing or broken."""
    try:
        server_class = importlib.import_module("sockharness.peers").ScriptedTCPServer
        echo_step = importlib.import_module("sockharness.peers._steps").Echo
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


def summary_line(output: str) -> str:
    """pytest's final "N passed in Xs" line, without its ``=`` padding."""
    for line in reversed(output.splitlines()):
        if SUMMARY_WORDS.search(line) and " in " in line:
            return line.strip(" =")
    return output.strip()[-120:]


def run_suite(extra: list[str]) -> tuple[float, str, int]:
    """Wall seconds, pytest's summary line and exit status of one ``pytest scenarios/`` run."""
    command = [sys.executable, "-m", "pytest", "scenarios/", "-q", "-p", "no:cacheprovider", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    return time.perf_counter() - start, summary_line(done.stdout), done.returncode


VARIANTS: tuple[tuple[str, list[str], float | None], ...] = (
    ("serial", [], 30.0),
    ("-n 2", ["-p", "xdist", "-n", "2"], None),
)


def suite_rows(ctx: Context) -> list[Row]:
    """Each variant runs once, then both repeat in turn while the bench's time budget allows: at ~25 s
    a run, five of each would take the 5-minute bench over on its own."""
    figures = {label: f"conformance suite wall time (pytest scenarios/, {label})" for label, _, _ in VARIANTS}
    if ctx.config.suite_runs == 0 or not (ROOT / "scenarios").is_dir():
        why = "skipped (--quick)" if ctx.config.suite_runs == 0 else "no scenarios/ directory"
        return [unavailable(NAME, figures[label], "harness", "s", why) for label, _, _ in VARIANTS]
    times: dict[str, list[float]] = {label: [] for label, _, _ in VARIANTS}
    outcome: dict[str, tuple[str, int]] = {}
    for round_number in range(ctx.config.suite_runs):
        for label, extra, _ in VARIANTS:
            if round_number > 0 and ctx.time_left() < max(times[label]) * 1.2:
                continue
            elapsed, summary, status = run_suite(extra)
            times[label].append(elapsed)
            outcome[label] = (summary, status)
    rows: list[Row] = []
    for label, _, target in VARIANTS:
        summary, status = outcome[label]
        row = Row(NAME, figures[label], "harness", "s", value=Summary.of(times[label]), samples=times[label])
        row.note = f"pytest: {summary}" + ("" if status == 0 else f" (exit status {status})")
        if len(times[label]) < ctx.config.suite_runs:
            row.note += f"; {len(times[label])} of {ctx.config.suite_runs} runs fitted the time budget"
        if target is not None:
            row.check = Check(f"≤ {target:g} s", Summary.of(times[label]).median <= target)
        rows.append(row)
    return rows


def run(ctx: Context) -> list[Row]:
    return fixture_rows(ctx) + suite_rows(ctx)
