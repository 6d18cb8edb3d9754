"""Bulk throughput through each proxy, without toxics and with a 1 ms latency toxic.

Method (as in the Toxiproxy facts): 8-byte length header, then the payload in 64 KiB ``sendall`` calls
to a sink that ``recv_into``s a 1 MiB buffer and answers one byte at the end; MB = 10^6 bytes. Modes
alternate within each run so a slow spell of the shared machine hits every mode alike, and each mode
gets one warm-up transfer first. The latency toxic sits on the ``upstream`` stream, the direction the
bulk data flows.
"""

from __future__ import annotations

from collections.abc import Callable

from bench import wire
from bench.context import Context
from bench.procs import PeerProcess, cpu_seconds
from bench.proxies import Toxic
from bench.results import Check, Row
from bench.sections.common import ModeSamples, mode_rows

NAME = "throughput"
GiB = 1024**3


def measure(
    ctx: Context, sink: PeerProcess, modes: list[str], toxics: tuple[Toxic, ...]
) -> tuple[ModeSamples, dict[str, list[float]]]:
    """Per-mode MB/s over the runs, and the proxy's CPU seconds per GiB moved."""
    config = ctx.config
    samples = ModeSamples()
    cpu_per_gib: dict[str, list[float]] = {}
    proxies = {}
    for mode in modes:
        driver = ctx.drivers[mode]
        try:
            proxies[mode] = driver.create(sink.address)
            for toxic in toxics:
                driver.add_toxic(proxies[mode][0], toxic)
            wire.bulk_upload(proxies[mode][1], config.warmup_bytes)
        except Exception as exc:
            samples.fail(mode, exc)
    try:
        for _ in range(config.runs):
            for mode in modes:
                if not samples.ok(mode):
                    continue
                driver = ctx.drivers[mode]
                try:
                    cpu_before = cpu_seconds(driver.pid) if driver.pid else 0.0
                    seconds = wire.bulk_upload(proxies[mode][1], config.bulk_bytes)
                    if driver.pid:
                        cpu = cpu_seconds(driver.pid) - cpu_before
                        cpu_per_gib.setdefault(mode, []).append(cpu * GiB / config.bulk_bytes)
                    samples.add(mode, config.bulk_bytes / seconds / 1e6)
                except Exception as exc:
                    samples.fail(mode, exc)
    finally:
        for mode, (proxy_id, _) in proxies.items():
            try:
                ctx.drivers[mode].delete(proxy_id)
            except Exception as exc:
                samples.fail(mode, exc)
    return samples, cpu_per_gib


def cpu_note(cpu_per_gib: dict[str, list[float]]) -> Callable[[str], str]:
    def note(mode: str) -> str:
        values = sorted(cpu_per_gib.get(mode, []))
        if not values or not values[len(values) // 2]:  # a short transfer stays below one clock tick
            return ""
        return f"proxy process CPU {values[len(values) // 2]:.2f} CPU-s per GiB"

    return note


def run(ctx: Context) -> list[Row]:
    size = f"{ctx.config.bulk_bytes // (1024 * 1024)} MiB"
    modes = ctx.available()
    with PeerProcess("sink") as sink:
        plain, plain_cpu = measure(ctx, sink, modes, ())
        latency = Toxic("latency", "upstream", {"latency": 1, "jitter": 0})
        proxied = [mode for mode in modes if mode != "direct"]
        delayed, delayed_cpu = measure(ctx, sink, proxied, (latency,))

    def vs_direct(row: Row) -> Check:
        ratio = row.ratio.median if row.ratio else None
        return Check("≥ 0.70x direct", None if ratio is None else ratio >= 0.70)

    def vs_toxiproxy(row: Row) -> Check:
        ratio = row.ratio.median if row.ratio else None
        return Check("≥ 1.5x toxiproxy", None if ratio is None else ratio >= 1.5)

    rows = mode_rows(
        ctx,
        NAME,
        f"bulk {size}, no toxics",
        "MB/s",
        plain,
        ("direct", "toxiproxy", "embedded"),
        "direct",
        vs_direct,
        cpu_note(plain_cpu),
    )
    rows += mode_rows(
        ctx,
        NAME,
        f"bulk {size}, latency 1 ms upstream",
        "MB/s",
        delayed,
        ("toxiproxy", "embedded"),
        "toxiproxy",
        vs_toxiproxy,
        cpu_note(delayed_cpu),
    )
    return rows
