"""Per-message and per-connection cost of each proxy: 1-byte ping-pong and connect+echo+close.

Both talk to a thread-per-connection echo server in its own process. Within each run the modes take
turns in blocks of 5-30 ms: on this VM the direct RTT alone jumps between 15 and 55 µs depending on
whether the CPUs were idle (wake-up from idle states), so consecutive 10,000-trip runs per mode
compared different machines. The "added over direct" rows subtract the direct figure of the *same*
run, which is what the targets compare (the proxy's own cost, not the loopback's).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial

from bench import wire
from bench.context import Context
from bench.procs import PeerProcess, thread_cpu_seconds
from bench.results import Check, Row, unavailable
from bench.sections.common import ModeSamples, mode_rows, reason
from bench.stats import Summary, paired_differences, percentile

NAME = "roundtrip"
MODES = ("direct", "toxiproxy", "embedded")
PROXIES = ("toxiproxy", "embedded")
RTT_BLOCK = 100  # round trips per turn (~5 ms)
CONNECT_BLOCK = 100  # connections per turn (~30 ms)


Sampler = Callable[[int], list[float]]
SessionFactory = Callable[[tuple[str, int]], AbstractContextManager[Sampler]]


@contextmanager
def ping_pong_session(address: tuple[str, int], warmup: int) -> Iterator[Sampler]:
    """One persistent connection per mode and run; ``warmup`` round trips are discarded."""
    with wire.connect(address) as sock:
        wire.ping_pong_on(sock, warmup)
        yield lambda count: wire.ping_pong_on(sock, count)


@contextmanager
def connect_session(address: tuple[str, int]) -> Iterator[Sampler]:
    yield lambda count: wire.connect_echo_close(address, count)


@dataclass
class Measured:
    """One measurement's per-run figures: timings (µs) and the proxy process's CPU (seconds per timing,
    from its threads' /proc schedstat, counted only while that mode was measuring)."""

    medians: ModeSamples = field(default_factory=ModeSamples)
    p99s: ModeSamples = field(default_factory=ModeSamples)
    cpu: ModeSamples = field(default_factory=ModeSamples)
    #: CPU-seconds per second of each proxy with one connection open and no traffic (see ``idle_cpu``).
    idle: ModeSamples = field(default_factory=ModeSamples)


def idle_cpu(ctx: Context, addresses: dict[str, tuple[str, int]], seconds: float) -> dict[str, float]:
    """Each proxy's CPU-seconds per second while one connection is open and silent, measured right after
    a burst of round trips (so a busy-poll or a timer left armed by the traffic would show). The proxies
    are separate processes, so they are idle side by side in one window."""
    pids = {mode: ctx.drivers[mode].pid for mode in addresses if ctx.drivers[mode].pid is not None}
    with ExitStack() as stack:
        for mode in pids:
            sock = stack.enter_context(wire.connect(addresses[mode]))
            wire.ping_pong_on(sock, 100)
        before = {mode: thread_cpu_seconds(pid) for mode, pid in pids.items() if pid is not None}
        started = time.perf_counter()
        time.sleep(seconds)  # the idle window itself: nothing is waited for
        elapsed = time.perf_counter() - started
        after = {mode: thread_cpu_seconds(pid) for mode, pid in pids.items() if pid is not None}
    return {mode: (after[mode] - before[mode]) / elapsed for mode in before}


def measure(
    ctx: Context,
    echo: PeerProcess,
    session: SessionFactory,
    total: int,
    block: int,
    idle_seconds: float = 0.0,
) -> Measured:
    """Median and p99 (µs) of each mode's ``total`` timings per run. The modes take turns in blocks of
    ``block`` timings, so a change of the machine's state (CPU idle states, another process's burst)
    lands on every mode of the run alike rather than on whichever mode happened to be measuring.
    With ``idle_seconds``, each run ends with the proxies' idle CPU over that window."""
    measured = Measured()
    medians, p99s = measured.medians, measured.p99s
    proxies = {}
    for mode in ctx.available():
        try:
            proxies[mode] = ctx.drivers[mode].create(echo.address)
        except Exception as exc:
            medians.fail(mode, exc)
            p99s.fail(mode, exc)

    def fail(mode: str, exc: Exception) -> None:
        medians.fail(mode, exc)
        p99s.fail(mode, exc)

    try:
        for _ in range(ctx.config.runs):
            with ExitStack() as stack:
                samplers: dict[str, Sampler] = {}
                for mode, (_, address) in proxies.items():
                    if medians.ok(mode):
                        try:
                            samplers[mode] = stack.enter_context(session(address))
                        except Exception as exc:
                            fail(mode, exc)
                timings: dict[str, list[float]] = {mode: [] for mode in samplers}
                cpu = dict.fromkeys(samplers, 0.0)
                for _ in range(max(1, total // block)):
                    for mode, sampler in samplers.items():
                        if medians.ok(mode):
                            pid = ctx.drivers[mode].pid
                            try:
                                before = thread_cpu_seconds(pid) if pid is not None else 0.0
                                timings[mode] += sampler(min(block, total))
                                cpu[mode] += thread_cpu_seconds(pid) - before if pid is not None else 0.0
                            except Exception as exc:
                                fail(mode, exc)
            for mode, values in timings.items():
                if medians.ok(mode) and values:
                    medians.add(mode, percentile(values, 0.5) * 1e6)
                    p99s.add(mode, percentile(values, 0.99) * 1e6)
                    if ctx.drivers[mode].pid is not None:
                        measured.cpu.add(mode, cpu[mode] / len(values))
            if idle_seconds > 0:
                live = {mode: address for mode, (_, address) in proxies.items() if medians.ok(mode)}
                try:
                    for mode, value in idle_cpu(ctx, live, idle_seconds).items():
                        measured.idle.add(mode, value)
                except Exception as exc:
                    for mode in live:
                        measured.idle.fail(mode, exc)
    finally:
        for mode, (proxy_id, _) in proxies.items():
            try:
                ctx.drivers[mode].delete(proxy_id)
            except Exception as exc:
                medians.fail(mode, exc)
    return measured


def added_rows(ctx: Context, figure: str, medians: ModeSamples, bound: float) -> list[Row]:
    """Each proxy's median minus the same run's direct median; the embedded row's ratio is its added
    time over Toxiproxy's (ratio of the medians; the bracket shows the run-by-run spread)."""
    direct = medians.values.get("direct", [])
    added: dict[str, list[float]] = {}
    rows: list[Row] = []
    for mode in ("toxiproxy", "embedded"):
        values = medians.values.get(mode, [])
        if direct and len(values) == len(direct):
            added[mode] = paired_differences(values, direct)
            rows.append(Row(NAME, figure, mode, "µs", value=Summary.of(added[mode]), samples=added[mode]))
        else:
            why = reason(ctx, medians, mode) if values == [] else reason(ctx, medians, "direct")
            rows.append(unavailable(NAME, figure, mode, "µs", why))
    embedded_row = rows[-1]
    embedded_row.check = Check(f"≤ {bound:.2f}x toxiproxy's", None)
    tox, emb = added.get("toxiproxy"), added.get("embedded")
    if tox and emb and Summary.of(tox).median > 0:
        median_ratio = Summary.of(emb).median / Summary.of(tox).median
        spread = [e / t for e, t in zip(emb, tox, strict=True) if t > 0] or [median_ratio]
        embedded_row.ratio = Summary(median_ratio, min(spread), max(spread), len(spread))
        embedded_row.ratio_of = "÷ toxiproxy's added"
        embedded_row.check = Check(embedded_row.check.text, median_ratio <= bound)
    return rows


def run(ctx: Context) -> list[Row]:
    config = ctx.config
    with PeerProcess("echo") as echo:
        rtt_run = measure(
            ctx,
            echo,
            partial(ping_pong_session, warmup=config.round_trip_warmup),
            config.round_trips,
            RTT_BLOCK,
            idle_seconds=config.idle_seconds,
        )
        conn_run = measure(ctx, echo, connect_session, config.connections, CONNECT_BLOCK)
    rtt = f"1-byte ping-pong RTT ({config.round_trips:,} round trips)"
    conn = f"connect + 1-byte echo + close ({config.connections:,} connections)"
    rtt_median, conn_median = rtt_run.medians, conn_run.medians
    rows = mode_rows(ctx, NAME, f"{rtt}, median", "µs", rtt_median, MODES, "direct")
    rows += mode_rows(ctx, NAME, f"{rtt}, p99", "µs", rtt_run.p99s, MODES, "direct")
    rows += added_rows(ctx, "added RTT over direct (median)", rtt_median, 0.5)
    rows += mode_rows(ctx, NAME, f"{conn}, median", "µs", conn_median, MODES, "direct")
    rows += mode_rows(ctx, NAME, f"{conn}, p99", "µs", conn_run.p99s, MODES, "direct")
    rows += added_rows(ctx, "added new-connection cost over direct (median)", conn_median, 0.75)
    rows += cpu_rows(ctx, rtt_run, conn_run)
    return rows


def cpu_rows(ctx: Context, rtt_run: Measured, conn_run: Measured) -> list[Row]:
    """The proxy process's CPU: per 10,000 round trips, per new connection, and idle. The embedded
    row is divided by Toxiproxy's from the same run."""
    per_10k = ModeSamples(
        {mode: [seconds * 10_000 * 1e3 for seconds in values] for mode, values in rtt_run.cpu.values.items()},
        rtt_run.cpu.errors,
    )
    per_conn = ModeSamples(
        {mode: [seconds * 1e6 for seconds in values] for mode, values in conn_run.cpu.values.items()},
        conn_run.cpu.errors,
    )
    idle = ModeSamples(
        {mode: [share * 1e3 for share in values] for mode, values in rtt_run.idle.values.items()},
        rtt_run.idle.errors,
    )
    seconds = ctx.config.idle_seconds
    rows = mode_rows(ctx, NAME, "proxy CPU per 10,000 round trips", "ms", per_10k, PROXIES, "toxiproxy")
    rows += mode_rows(ctx, NAME, "proxy CPU per new connection", "µs", per_conn, PROXIES, "toxiproxy")
    rows += mode_rows(
        ctx,
        NAME,
        f"proxy CPU when idle (1 connection open, {seconds:g} s after traffic)",
        "ms/s",
        idle,
        PROXIES,
        None,  # Toxiproxy's idle figure is often 0: a ratio to it says nothing
        check=lambda row: Check(
            "≤ 1 ms/s (the busy-poll sleeps)", None if row.value is None else row.value.median <= 1.0
        ),
    )
    return rows
