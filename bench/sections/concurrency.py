"""Many simultaneous connections through one embedded proxy with a latency toxic on.

Each run starts a fresh proxy host process (so its RSS baseline is clean), opens the connections in
batches (each batch echoes its payload before the next opens, so the proxy's accept queue never
overflows into SYN retransmissions), then sends on every connection at once and checks every byte that
comes back. RSS is read from /proc while all connections are live. A proxy holds two descriptors per
connection, so the count is capped by RLIMIT_NOFILE's hard limit, which an unprivileged process cannot
raise; the row then says which count was possible.
"""

from __future__ import annotations

import resource
import socket
from collections.abc import Callable
from dataclasses import dataclass

from bench import wire
from bench.context import Context
from bench.procs import PeerProcess, open_fds, rss_bytes
from bench.proxies import Driver, EmbeddedDriver, Toxic, ToxiproxyDriver
from bench.results import Check, Row
from bench.sections.common import ModeSamples, mode_rows

NAME = "concurrency"
BATCH = 200
PAYLOAD = 256
SPARE_FDS = 64


@dataclass(frozen=True)
class Outcome:
    intact: int
    rss_live: int
    rss_delta: int


def payload(index: int) -> bytes:
    """A payload unique to its connection, so a byte delivered to the wrong connection is caught."""
    return (f"{index:08d}:".encode() * (PAYLOAD // 9 + 1))[:PAYLOAD]


def possible_count(wanted: int) -> int:
    """The largest count ≤ ``wanted`` (in hundreds) the proxy process's descriptor limit allows."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return wanted
    return min(wanted, (hard - SPARE_FDS) // 2 // 100 * 100)


def exchange(sockets: list[socket.socket], first_index: int) -> int:
    """Send each socket its payload, then read every echo; returns how many came back intact."""
    for offset, sock in enumerate(sockets):
        sock.sendall(payload(first_index + offset))
    intact = 0
    for offset, sock in enumerate(sockets):
        intact += wire.recv_exactly(sock, PAYLOAD) == payload(first_index + offset)
    return intact


def one_run(
    ctx: Context, make_driver: Callable[[], Driver], upstream: tuple[str, int], count: int
) -> Outcome:
    driver = make_driver()
    sockets: list[socket.socket] = []
    try:
        if driver.pid is None:
            raise ValueError(f"{driver.mode} has no proxy process to measure")
        proxy_id, address = driver.create(upstream)
        toxic = {"latency": ctx.config.concurrent_latency_ms, "jitter": 0}
        driver.add_toxic(proxy_id, Toxic("latency", "downstream", toxic))
        baseline = rss_bytes(driver.pid)
        for start in range(0, count, BATCH):
            try:
                batch = [wire.connect(address) for _ in range(min(BATCH, count - start))]
                sockets.extend(batch)
                exchange(batch, start)
            except OSError as exc:
                fds = open_fds(driver.pid)
                raise OSError(
                    exc.errno, f"{exc.strerror} at connection {len(sockets):,} (proxy has {fds} fds open)"
                ) from exc
        intact = exchange(sockets, 0)  # every connection at once, all of them live
        live = rss_bytes(driver.pid)
        return Outcome(intact, live, live - baseline)
    finally:
        for sock in sockets:
            sock.close()
        driver.close()


def drivers_for(ctx: Context, first_count: bool) -> dict[str, Callable[[], Driver]]:
    """A fresh proxy process per run (a clean RSS baseline): the embedded host always, a Toxiproxy
    server as the reference for the first count only (a 10,000 reference would cost ~30 s of budget)."""
    makers: dict[str, Callable[[], Driver]] = {}
    if "embedded" in ctx.drivers:
        makers["embedded"] = EmbeddedDriver
    binary = ctx.toxiproxy_binary
    if first_count and binary is not None and "toxiproxy" in ctx.drivers:
        makers["toxiproxy"] = lambda: ToxiproxyDriver(binary)
    return makers


def rows_for(ctx: Context, upstream: tuple[str, int], wanted: int, first_count: bool) -> list[Row]:
    count = possible_count(wanted)
    latency = f"latency {ctx.config.concurrent_latency_ms:g} ms"
    figure = f"{wanted:,} connections, {latency}"
    note = ""
    if count < wanted:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        note = f"{wanted:,} impossible: RLIMIT_NOFILE hard limit {hard}, 2 fds per proxied connection"
        figure = f"{count:,} connections (of {wanted:,}), {latency}"
    intact, live, per = ModeSamples(), ModeSamples(), ModeSamples()
    makers = drivers_for(ctx, first_count)
    stop = ctx.timed(f"{count:,} concurrent connections x {ctx.config.concurrent_runs} ({', '.join(makers)})")
    for _ in range(ctx.config.concurrent_runs):
        for mode, make_driver in makers.items():
            if not intact.ok(mode):
                continue
            try:
                outcome = one_run(ctx, make_driver, upstream, count)
            except Exception as exc:
                for samples in (intact, live, per):
                    samples.fail(mode, exc)
                continue
            intact.add(mode, outcome.intact)
            live.add(mode, outcome.rss_live / 1e6)
            per.add(mode, outcome.rss_delta / count / 1024)
    stop()
    modes = ("toxiproxy", "embedded") if first_count else ("embedded",)
    held_text = f"all {wanted:,} held, bytes intact"

    def held(row: Row) -> Check:
        # a count the machine's limit forbids is not the engine's failure: the verdict is then n/a
        values = intact.values.get("embedded", [])
        return Check(held_text, None if count < wanted or not values else all(v == count for v in values))

    def memory(row: Row) -> Check:
        return Check("≤ 100 MB", None if row.value is None else row.value.median <= 100)

    rows = mode_rows(ctx, NAME, f"{figure}: connections intact", "conns", intact, modes, None, held)
    rows += mode_rows(
        ctx,
        NAME,
        f"{figure}: proxy process RSS, all live",
        "MB",
        live,
        modes,
        None,
        memory if wanted <= 1_000 else None,
    )
    rows += mode_rows(ctx, NAME, f"{figure}: RSS delta per connection", "KiB", per, modes, "toxiproxy")
    if note:
        rows[0].note = note
    for row in rows[-len(modes) :]:
        if row.mode == "embedded" and row.ratio is None:
            row.ratio_of = ""
    return rows


def run(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    with PeerProcess("mass-echo") as echo:
        for index, wanted in enumerate(ctx.config.concurrent_counts):
            rows += rows_for(ctx, echo.address, wanted, first_count=index == 0)
    return rows
