"""The UDP fault proxy's cost: request/response round trips per second and the delay it adds (median
round trip through the proxy minus direct), with no toxic; then how close a 5 ms ``udp_latency`` lands.

As in the TCP sections, the echo server and the proxy each run in their own process, so the figure is the
proxy's cost and not three threads taking turns at one GIL. A second "added" row hosts the proxy in the
client's own process, as the ``udp_fault_proxy`` fixture does, to show what a test sees there.
"""

from __future__ import annotations

import socket
import time

from bench.context import Context
from bench.procs import PeerProcess
from bench.proxies import EmbeddedDriver
from bench.results import Check, Row, unavailable
from bench.stats import Summary, percentile

NAME = "udp"
ROUND_TRIPS = 2000
LATENCY_MS = 5


def _round_trips(target: tuple[str, int], count: int) -> list[float]:
    """Seconds per request/response, one datagram in flight at a time."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(2)
        times: list[float] = []
        for index in range(count):
            payload = index.to_bytes(4, "big")
            start = time.perf_counter()
            client.sendto(payload, target)
            while client.recv(64) != payload:  # a late reply of an earlier round would not count
                pass
            times.append(time.perf_counter() - start)
        return times


def run(ctx: Context) -> list[Row]:
    from sockharness.faults._backends.embedded import EmbeddedBackend

    figures = {
        "rate": f"UDP round trips per second ({ROUND_TRIPS} x per run, 4-byte datagrams)",
        "added": "UDP delay added by the proxy (median round trip minus direct)",
        "in_process": "UDP delay added by a proxy in the client's own process (as in a test)",
        "latency": f"UDP round trip with udp_latency {LATENCY_MS} ms upstream (never below it)",
    }
    driver = ctx.drivers.get("embedded")
    if not isinstance(driver, EmbeddedDriver):
        why = ctx.missing.get("embedded", "embedded engine unavailable")
        return [unavailable(NAME, figure, "embedded", "", why, "") for figure in figures.values()]
    rates: dict[str, list[float]] = {"direct": [], "embedded": []}
    added: list[float] = []
    in_process: list[float] = []
    latency: list[float] = []
    try:
        with PeerProcess("udp-echo") as echo, EmbeddedBackend(seed=1) as backend:
            proxy_id, address = driver.create(echo.address, protocol="udp")
            local = backend.create_proxy(echo.address, protocol="udp")
            try:
                for _ in range(ctx.config.runs):
                    direct = _round_trips(echo.address, ROUND_TRIPS)
                    proxied = _round_trips(address, ROUND_TRIPS)
                    here = _round_trips(local.address, ROUND_TRIPS)
                    rates["direct"].append(len(direct) / sum(direct))
                    rates["embedded"].append(len(proxied) / sum(proxied))
                    added.append((percentile(proxied, 0.5) - percentile(direct, 0.5)) * 1e6)
                    in_process.append((percentile(here, 0.5) - percentile(direct, 0.5)) * 1e6)
                local.add_toxic("udp_latency", stream="upstream", latency=LATENCY_MS)
                for _ in range(ctx.config.runs):
                    latency.append(min(_round_trips(local.address, 50)) * 1000)
            finally:
                driver.delete(proxy_id)
    except Exception as exc:
        why = f"failed: {exc!r}".splitlines()[0]
        return [unavailable(NAME, figure, "embedded", "", why, "") for figure in figures.values()]
    rows = [
        Row(NAME, figures["rate"], mode, "/s", value=Summary.of(values), samples=values)
        for mode, values in rates.items()
    ]
    rows.append(Row(NAME, figures["added"], "embedded", "µs", value=Summary.of(added), samples=added))
    rows.append(
        Row(NAME, figures["in_process"], "embedded", "µs", value=Summary.of(in_process), samples=in_process)
    )
    row = Row(NAME, figures["latency"], "embedded", "ms", value=Summary.of(latency), samples=latency)
    row.check = Check(f"≥ {LATENCY_MS} ms", min(latency) >= LATENCY_MS)
    rows.append(row)
    return rows
