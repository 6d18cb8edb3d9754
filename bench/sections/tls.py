"""TLS through the proxies: handshake time (connect + TLS 1.3 handshake + close) and TLS bulk throughput.

The proxies relay TLS bytes without looking at them, so their added cost should be the plain new-connection
and bulk cost of the roundtrip and throughput sections; this section checks that nothing about TLS (more round
trips in the handshake, 16 KiB records) changes it. The TLS servers are sockharness's own TLS peers in this
process (threads; OpenSSL releases the GIL during its crypto), certificates from the session CA. The modes
take turns in blocks within each run, as in the roundtrip section.
"""

from __future__ import annotations

import socket
import ssl
import time
from contextlib import ExitStack
from typing import Any

from bench.context import Context
from bench.results import Row
from bench.sections.common import ModeSamples, mode_rows
from bench.stats import percentile
from sockharness.peers import (
    EchoServer,
    Recv,
    Registry,
    ScriptedTCPServer,
    SendAll,
    TLSOptions,
    session_certificates,
)

NAME = "tls"
MODES = ("direct", "toxiproxy", "embedded")
HANDSHAKE_BLOCK = 10
#: TLS bulk is CPU-bound on a 2-core VM; a tenth of the plain bulk size keeps the section short.
BULK_FRACTION = 8
ACK = b"\x01"


def handshakes(address: tuple[str, int], context: ssl.SSLContext, count: int) -> list[float]:
    """Seconds for each connect + full TLS 1.3 handshake + close."""
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        with socket.create_connection(address, timeout=5) as raw:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with context.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass
        timings.append(time.perf_counter() - started)
    return timings


def bulk(address: tuple[str, int], context: ssl.SSLContext, size: int) -> float:
    """MB/s of ``size`` bytes sent over TLS until the server acknowledged all of them."""
    chunk = b"\x00" * (64 * 1024)
    started = time.perf_counter()
    with (
        socket.create_connection(address, timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        sent = 0
        while sent < size:
            piece = chunk[: size - sent]
            sock.sendall(piece)
            sent += len(piece)
        if sock.recv(1) != ACK:
            raise ConnectionError("the TLS sink did not acknowledge the bulk transfer")
    return size / (time.perf_counter() - started) / 1e6


def run(ctx: Context) -> list[Row]:
    config = ctx.config
    total = max(HANDSHAKE_BLOCK, config.connections // 10)
    bulk_bytes = max(1024 * 1024, config.bulk_bytes // BULK_FRACTION)
    context = session_certificates().client_context()
    medians, bulk_rates = ModeSamples(), ModeSamples()
    with Registry("bench tls") as registry:
        echo = EchoServer(tls=TLSOptions(session_tickets=0), registry=registry).start()
        sink = ScriptedTCPServer(
            [Recv(bulk_bytes), SendAll(ACK)], tls=TLSOptions(session_tickets=0), registry=registry
        ).start()
        with ExitStack() as stack:
            proxies: dict[str, dict[str, Any]] = {}
            for mode in ctx.available(MODES):
                try:
                    driver = ctx.drivers[mode]
                    made = {
                        name: driver.create(peer.address[:2])
                        for name, peer in (("echo", echo), ("sink", sink))
                    }
                    for proxy_id, _ in made.values():
                        stack.callback(driver.delete, proxy_id)
                    proxies[mode] = {name: address for name, (_, address) in made.items()}
                except Exception as exc:
                    medians.fail(mode, exc)
                    bulk_rates.fail(mode, exc)
            for _ in range(config.runs):
                timings: dict[str, list[float]] = {mode: [] for mode in proxies}
                for _ in range(max(1, total // HANDSHAKE_BLOCK)):
                    for mode, addresses in proxies.items():
                        if medians.ok(mode):
                            try:
                                timings[mode] += handshakes(addresses["echo"], context, HANDSHAKE_BLOCK)
                            except Exception as exc:
                                medians.fail(mode, exc)
                for mode, values in timings.items():
                    if medians.ok(mode) and values:
                        medians.add(mode, percentile(values, 0.5) * 1e3)
                for mode, addresses in proxies.items():
                    if bulk_rates.ok(mode):
                        try:
                            bulk_rates.add(mode, bulk(addresses["sink"], context, bulk_bytes))
                        except Exception as exc:
                            bulk_rates.fail(mode, exc)
    handshake = f"connect + TLS 1.3 handshake + close ({total:,} per run), median"
    rows = mode_rows(ctx, NAME, handshake, "ms", medians, MODES, "direct")
    rows += mode_rows(
        ctx,
        NAME,
        f"TLS bulk, {bulk_bytes // (1024 * 1024)} MiB client -> server",
        "MB/s",
        bulk_rates,
        MODES,
        "direct",
    )
    return rows
