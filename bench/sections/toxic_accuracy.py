"""How faithfully each proxy applies a toxic: latency 50 ms and bandwidth 1024 KB/s.

Latency: 64-byte round trips on one connection per run (as in the Toxiproxy facts); added delay = RTT
minus the median RTT through the same proxy before the toxic was added; "early" = an RTT below the
configured delay. Runs and modes go strictly one after another: measured here, five simultaneous
connections through Toxiproxy moved its median overshoot from 0.5 to 0.9 ms, and a second proxy
running at the same time moved the other's by 0.1 ms, a third of the embedded engine's target.

Bandwidth: downstream, timed from the request to the last byte; Toxiproxy's ``rate`` unit is 1000 B/s,
so 1024 means 1,024,000 B/s. A 4 s transfer is insensitive to 0.1 ms, so the two proxies transfer at
the same time (one connection each), which halves the section's wall time.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from bench import wire
from bench.context import Context
from bench.procs import PeerProcess
from bench.proxies import Toxic
from bench.results import Check, Row
from bench.sections.common import ModeSamples, mode_rows
from bench.stats import percentile

NAME = "toxic accuracy"
PROXIES = ("toxiproxy", "embedded")
PAYLOAD = 64
BASELINE_ROUND_TRIPS = 200
T = TypeVar("T")


def side_by_side(jobs: dict[str, Callable[[], T]]) -> dict[str, T | BaseException]:
    """Each job on its own thread at the same time; a job's exception is returned, not raised."""

    def guarded(job: Callable[[], T]) -> T | BaseException:
        try:
            return job()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, len(jobs)), thread_name_prefix="bench-toxic") as pool:
        futures = {mode: pool.submit(guarded, job) for mode, job in jobs.items()}
        return {mode: future.result() for mode, future in futures.items()}


def latency_runs(ctx: Context, mode: str, upstream: tuple[str, int]) -> tuple[float, list[list[float]]]:
    """(baseline RTT without the toxic, per-run RTT lists with it), all in seconds."""
    config = ctx.config
    driver = ctx.drivers[mode]
    proxy_id, address = driver.create(upstream)
    try:
        baseline = percentile(wire.ping_pong(address, BASELINE_ROUND_TRIPS, 20, PAYLOAD), 0.5)
        toxic = Toxic("latency", "downstream", {"latency": config.latency_ms, "jitter": 0})
        driver.add_toxic(proxy_id, toxic)
        runs = [wire.ping_pong(address, config.latency_round_trips, 2, PAYLOAD) for _ in range(config.runs)]
    finally:
        driver.delete(proxy_id)
    return baseline, runs


def latency_rows(ctx: Context) -> list[Row]:
    config = ctx.config
    delay_ms = config.latency_ms
    minimum, median, p99 = ModeSamples(), ModeSamples(), ModeSamples()
    early: dict[str, int] = {}
    with PeerProcess("echo") as echo:
        for mode in ctx.available(PROXIES):
            try:
                baseline, runs = latency_runs(ctx, mode, echo.address)
            except Exception as exc:
                for samples in (minimum, median, p99):
                    samples.fail(mode, exc)
                continue
            early[mode] = sum(rtt * 1000 < delay_ms for rtts in runs for rtt in rtts)
            for rtts in runs:
                added_ms = [(rtt - baseline) * 1000 for rtt in rtts]
                minimum.add(mode, min(added_ms))
                median.add(mode, percentile(added_ms, 0.5))
                p99.add(mode, percentile(added_ms, 0.99))

    def never_early(row: Row) -> Check:
        passed = early[row.mode] == 0 if row.mode in early else None
        return Check(f"never early (RTT ≥ {delay_ms:g} ms)", passed)

    def overshoot(bound: float) -> Callable[[Row], Check]:
        def check(row: Row) -> Check:
            text = f"overshoot ≤ {bound:g} ms"
            return Check(text, None if row.value is None else row.value.median - delay_ms <= bound)

        return check

    def note(mode: str) -> str:
        return f"{early.get(mode, 0)} early of {config.runs * config.latency_round_trips} RTTs"

    figure = f"latency {delay_ms:g} ms ({config.latency_round_trips} RTTs per run): added delay"
    rows = mode_rows(ctx, NAME, f"{figure} min", "ms", minimum, PROXIES, "toxiproxy", never_early, note)
    rows += mode_rows(ctx, NAME, f"{figure} median", "ms", median, PROXIES, "toxiproxy", overshoot(0.3))
    rows += mode_rows(ctx, NAME, f"{figure} p99", "ms", p99, PROXIES, "toxiproxy", overshoot(1.0))
    return rows


def bandwidth_samples(ctx: Context, upstream: tuple[str, int]) -> tuple[ModeSamples, ModeSamples]:
    """Per-run achieved/configured rate and first-byte delay (ms), both proxies side by side."""
    config = ctx.config
    configured = config.bandwidth_rate * 1000.0
    achieved, first_byte = ModeSamples(), ModeSamples()
    toxic = Toxic("bandwidth", "downstream", {"rate": config.bandwidth_rate})
    proxies: dict[str, tuple[str, tuple[str, int]]] = {}
    for mode in ctx.available(PROXIES):
        try:
            proxies[mode] = ctx.drivers[mode].create(upstream)
            ctx.drivers[mode].add_toxic(proxies[mode][0], toxic)
        except Exception as exc:
            achieved.fail(mode, exc)
            first_byte.fail(mode, exc)
    try:
        for _ in range(config.runs):
            jobs: dict[str, Callable[[], tuple[float, float]]] = {
                mode: partial(wire.download, address, config.bandwidth_bytes)
                for mode, (_, address) in proxies.items()
                if achieved.ok(mode)
            }
            for mode, outcome in side_by_side(jobs).items():
                if isinstance(outcome, BaseException):
                    achieved.fail(mode, outcome)
                    first_byte.fail(mode, outcome)
                    continue
                first, last = outcome
                achieved.add(mode, config.bandwidth_bytes / last / configured)
                first_byte.add(mode, first * 1000)
    finally:
        for mode, (proxy_id, _) in proxies.items():
            ctx.drivers[mode].delete(proxy_id)
    return achieved, first_byte


def bandwidth_rows(ctx: Context) -> list[Row]:
    config = ctx.config
    with PeerProcess("source") as source:
        achieved, first_byte = bandwidth_samples(ctx, source.address)

    def accurate(row: Row) -> Check:
        return Check("within ±1 %", None if row.value is None else abs(row.value.median - 1) <= 0.01)

    def prompt(row: Row) -> Check:
        return Check("≤ 5 ms", None if row.value is None else row.value.median <= 5.0)

    size = f"{config.bandwidth_bytes / 1024 / 1024:g} MiB"
    figure = f"bandwidth {config.bandwidth_rate} KB/s, {size}"
    rows = mode_rows(
        ctx, NAME, f"{figure}: achieved ÷ configured", "", achieved, PROXIES, "toxiproxy", accurate
    )
    rows += mode_rows(
        ctx, NAME, f"{figure}: first-byte delay", "ms", first_byte, PROXIES, "toxiproxy", prompt
    )
    return rows


def run(ctx: Context) -> list[Row]:
    return latency_rows(ctx) + bandwidth_rows(ctx)
