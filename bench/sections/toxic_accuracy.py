"""How faithfully each proxy applies a toxic: latency 50 ms and bandwidth 1024 KB/s.

Both are dominated by waiting, not CPU, so the runs of one mode go as simultaneous connections through
one proxy, their starts staggered so they do not wake up together; that keeps the section at ~10 s per
mode instead of ~50 s. Latency: 64-byte round trips (as in the Toxiproxy facts); added delay = RTT minus
the median RTT through the same proxy before the toxic was added; "early" = an RTT below the configured
delay. Bandwidth: downstream, timed from the request to the last byte; Toxiproxy's ``rate`` unit is
1000 B/s, so 1024 means 1,024,000 B/s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
T = TypeVar("T")


def staggered(runs: int, stagger_s: float, job: Callable[[], T]) -> list[T]:
    """``runs`` calls of ``job`` on simultaneous threads, the i-th starting i x ``stagger_s`` late."""

    def delayed(index: int) -> T:
        time.sleep(index * stagger_s)  # sync-ok: a deliberate phase offset, nothing to wait for
        return job()

    with ThreadPoolExecutor(max_workers=runs, thread_name_prefix="bench-toxic") as pool:
        return list(pool.map(delayed, range(runs)))


def latency_rows(ctx: Context) -> list[Row]:
    config = ctx.config
    delay_ms = config.latency_ms
    minimum, median, p99 = ModeSamples(), ModeSamples(), ModeSamples()
    early: dict[str, int] = {}
    with PeerProcess("echo") as echo:
        for mode in ctx.available(PROXIES):
            driver = ctx.drivers[mode]
            try:
                proxy_id, address = driver.create(echo.address)
                try:
                    baseline = percentile(wire.ping_pong(address, 200, 20, PAYLOAD), 0.5)
                    driver.add_toxic(
                        proxy_id, Toxic("latency", "downstream", {"latency": delay_ms, "jitter": 0})
                    )
                    runs = staggered(
                        config.runs,
                        delay_ms / 1000 / max(config.runs, 1),
                        lambda: wire.ping_pong(address, config.latency_round_trips, 2, PAYLOAD),  # noqa: B023
                    )
                finally:
                    driver.delete(proxy_id)
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
        return Check(
            f"never early (RTT ≥ {delay_ms:g} ms)", early[row.mode] == 0 if row.mode in early else None
        )

    def overshoot(bound: float) -> Callable[[Row], Check]:
        def check(row: Row) -> Check:
            text = f"overshoot ≤ {bound:g} ms"
            return Check(text, None if row.value is None else row.value.median - delay_ms <= bound)

        return check

    def note(mode: str) -> str:
        return f"{early.get(mode, 0)} early RTTs; {config.runs} runs = simultaneous connections"

    figure = f"latency {delay_ms:g} ms ({config.latency_round_trips} RTTs): added delay"
    rows = mode_rows(ctx, NAME, f"{figure} min", "ms", minimum, PROXIES, "toxiproxy", never_early, note)
    rows += mode_rows(ctx, NAME, f"{figure} median", "ms", median, PROXIES, "toxiproxy", overshoot(0.3))
    rows += mode_rows(ctx, NAME, f"{figure} p99", "ms", p99, PROXIES, "toxiproxy", overshoot(1.0))
    return rows


def bandwidth_rows(ctx: Context) -> list[Row]:
    config = ctx.config
    configured = config.bandwidth_rate * 1000.0
    achieved, first_byte = ModeSamples(), ModeSamples()
    with PeerProcess("source") as source:
        for mode in ctx.available(PROXIES):
            driver = ctx.drivers[mode]
            toxic = Toxic("bandwidth", "downstream", {"rate": config.bandwidth_rate})
            try:
                with driver.proxy(source.address, toxic) as address:
                    runs = staggered(
                        config.runs,
                        0.1,
                        lambda: wire.download(address, config.bandwidth_bytes),
                    )
            except Exception as exc:
                achieved.fail(mode, exc)
                first_byte.fail(mode, exc)
                continue
            for first, last in runs:
                achieved.add(mode, config.bandwidth_bytes / last / configured)
                first_byte.add(mode, first * 1000)

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
