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
from dataclasses import dataclass

from bench import wire
from bench.context import Context
from bench.procs import PeerProcess, open_fds, rss_bytes
from bench.proxies import EmbeddedDriver, Toxic
from bench.results import Check, Row, unavailable
from bench.stats import Summary

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


def one_run(ctx: Context, upstream: tuple[str, int], count: int) -> Outcome:
    driver = EmbeddedDriver()
    assert driver.pid is not None
    sockets: list[socket.socket] = []
    try:
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


def rows_for(ctx: Context, upstream: tuple[str, int], wanted: int) -> list[Row]:
    count = possible_count(wanted)
    figure = f"{wanted:,} connections, latency {ctx.config.concurrent_latency_ms:g} ms"
    note = ""
    if count < wanted:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        note = f"{wanted:,} impossible: RLIMIT_NOFILE hard limit {hard}, 2 fds per proxied connection"
        figure = f"{count:,} connections (of {wanted:,}), latency {ctx.config.concurrent_latency_ms:g} ms"
    outcomes: list[Outcome] = []
    error = ""
    stop = ctx.timed(f"{count:,} concurrent connections x {ctx.config.concurrent_runs}")
    for _ in range(ctx.config.concurrent_runs):
        try:
            outcomes.append(one_run(ctx, upstream, count))
        except Exception as exc:
            error = f"failed: {type(exc).__name__}: {exc}".splitlines()[0]
            break
    stop()
    held_text = f"all {wanted:,} held, bytes intact"
    if error or not outcomes:
        why = error or "embedded absent"
        rows = [unavailable(NAME, f"{figure}: connections intact", "embedded", "conns", why, held_text)]
        return rows
    intact = Row(
        NAME,
        f"{figure}: connections intact",
        "embedded",
        "conns",
        value=Summary.of([o.intact for o in outcomes]),
        samples=[o.intact for o in outcomes],
        note=note,
    )
    # a count the machine's limit forbids is not the engine's failure: the verdict is then n/a
    intact.check = Check(held_text, None if count < wanted else all(o.intact == count for o in outcomes))
    rss = [o.rss_live / 1e6 for o in outcomes]
    live = Row(
        NAME, f"{figure}: proxy process RSS, all live", "embedded", "MB", value=Summary.of(rss), samples=rss
    )
    if wanted <= 1_000:
        live.check = Check("≤ 100 MB", Summary.of(rss).median <= 100)
    per = [o.rss_delta / count / 1024 for o in outcomes]
    delta = Row(
        NAME, f"{figure}: RSS delta per connection", "embedded", "KiB", value=Summary.of(per), samples=per
    )
    return [intact, live, delta]


def run(ctx: Context) -> list[Row]:
    if "embedded" not in ctx.drivers:
        reason = "embedded absent" if "embedded" in ctx.missing else "not measured"
        return [
            unavailable(NAME, f"{n:,} connections", "embedded", "", reason)
            for n in ctx.config.concurrent_counts
        ]
    rows: list[Row] = []
    with PeerProcess("mass-echo") as echo:
        for wanted in ctx.config.concurrent_counts:
            rows += rows_for(ctx, echo.address, wanted)
    return rows
