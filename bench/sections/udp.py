"""The UDP fault proxy's cost: request/response round trips per second and the delay it adds (median
round trip through the proxy minus direct), with no toxic; then how close a 5 ms ``udp_latency`` lands."""

from __future__ import annotations

import socket
import time

from bench.context import Context
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
    from sockharness.peers import UDPEcho

    figures = {
        "rate": f"UDP round trips per second ({ROUND_TRIPS} x per run, 4-byte datagrams)",
        "added": "UDP delay added by the proxy (median round trip minus direct)",
        "latency": f"UDP round trip with udp_latency {LATENCY_MS} ms upstream (never below it)",
    }
    rates: dict[str, list[float]] = {"direct": [], "embedded": []}
    added: list[float] = []
    latency: list[float] = []
    try:
        with UDPEcho() as echo, EmbeddedBackend(seed=1) as backend:
            proxy = backend.create_proxy(echo, protocol="udp")
            for _ in range(ctx.config.runs):
                direct = _round_trips(echo.address[:2], ROUND_TRIPS)
                proxied = _round_trips(proxy.address, ROUND_TRIPS)
                rates["direct"].append(len(direct) / sum(direct))
                rates["embedded"].append(len(proxied) / sum(proxied))
                added.append((percentile(proxied, 0.5) - percentile(direct, 0.5)) * 1e6)
            proxy.add_toxic("udp_latency", stream="upstream", latency=LATENCY_MS)
            for _ in range(ctx.config.runs):
                latency.append(min(_round_trips(proxy.address, 50)) * 1000)
    except Exception as exc:
        why = f"failed: {exc!r}".splitlines()[0]
        return [unavailable(NAME, figure, "embedded", "", why, "") for figure in figures.values()]
    rows = [
        Row(NAME, figures["rate"], mode, "/s", value=Summary.of(values), samples=values)
        for mode, values in rates.items()
    ]
    rows.append(Row(NAME, figures["added"], "embedded", "µs", value=Summary.of(added), samples=added))
    row = Row(NAME, figures["latency"], "embedded", "ms", value=Summary.of(latency), samples=latency)
    row.check = Check(f"≥ {LATENCY_MS} ms", min(latency) >= LATENCY_MS)
    rows.append(row)
    return rows
