"""The ``.aio`` views: every wait of the peer and proxy fixtures, awaited from pytest-asyncio and anyio tests.

Each test makes the event loop itself do the work the wait is waiting for (connect, answer, serve): if an
awaited wait blocked the loop, that work could never happen and the wait would end at its timeout. A
ticker task counts loop turns as a second witness.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from sockharness.peers import PeerError
from sockharness.peers._steps import Expect, Recv, SendAll


class Ticker:
    """Counts turns of the event loop while a wait is pending: one tick per turn, whatever the clock says
    (a timed tick let a fast exchange finish inside one tick and the count read 1 under load)."""

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self) -> None:
        while True:
            self.ticks += 1
            await anyio.sleep(0)  # yield for one turn of the loop; nothing waits on it


@asynccontextmanager
async def ticking() -> AsyncIterator[Ticker]:
    ticker = Ticker()
    async with anyio.create_task_group() as group:
        group.start_soon(ticker.run)
        yield ticker
        group.cancel_scope.cancel()


@pytest.mark.asyncio
async def test_asyncio_waits_let_the_loop_connect_the_client(tcp_server: Callable[..., Any]) -> None:
    server = tcp_server([Expect(b"ping"), SendAll(b"pong")])
    async with ticking() as ticker:
        waiting = asyncio.ensure_future(server.aio.wait_connections(1, timeout=5.0))
        finished = asyncio.ensure_future(server.aio.wait_done(timeout=5.0))
        reader, writer = await asyncio.open_connection(server.host, server.port)
        await waiting
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"pong"
        await finished
        writer.close()
        await writer.wait_closed()
        assert ticker.ticks > 1
    assert server.connection_count == 1


@pytest.mark.asyncio
async def test_a_wait_that_times_out_raises_the_peer_error_and_the_loop_ran_meanwhile(
    tcp_server: Callable[..., Any],
) -> None:
    server = tcp_server([Recv(4)])
    async with ticking() as ticker:
        started = time.perf_counter()
        with pytest.raises(PeerError, match=r"expected 1 connection\(s\) within 0.2 s, 0 accepted"):
            await server.aio.wait_connections(1, timeout=0.2)
        assert time.perf_counter() - started >= 0.2
        assert ticker.ticks >= 5  # a blocked loop would have counted once


@pytest.mark.asyncio
async def test_a_client_peer_is_awaited_while_the_loop_serves_it(tcp_client_peer: Callable[..., Any]) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        client = tcp_client_peer(server.sockets[0].getsockname(), [Expect(b"hello")])
        await client.aio.wait_done(timeout=5.0)
    await client.aio.check()


@pytest.mark.anyio
async def test_anyio_waits_let_the_loop_connect_the_client(tcp_server: Callable[..., Any]) -> None:
    server = tcp_server([Expect(b"ping"), SendAll(b"pong")])
    async with ticking() as ticker, anyio.create_task_group() as group:
        group.start_soon(server.aio.wait_connections, 1)
        stream = await anyio.connect_tcp(server.host, server.port)
        async with stream:
            await stream.send(b"ping")
            assert await stream.receive(4) == b"pong"
            await server.aio.wait_done()
        assert ticker.ticks > 1


@pytest.mark.anyio
async def test_anyio_proxy_calls_and_down(
    tcp_server: Callable[..., Any], fault_proxy: Callable[..., Any]
) -> None:
    server = tcp_server([Expect(b"ping"), SendAll(b"pong")], max_connections=1)
    proxy = fault_proxy(server)
    name = await proxy.aio.add_toxic("latency", latency=150)
    assert [toxic.name for toxic in await proxy.aio.toxics()] == [name]
    started = time.perf_counter()
    stream = await anyio.connect_tcp(proxy.host, proxy.port)
    async with stream:
        await stream.send(b"ping")
        assert await stream.receive(4) == b"pong"
    assert time.perf_counter() - started >= 0.15
    await server.aio.wait_done()
    [record] = await proxy.aio.connections()
    assert record.index == 1 and name in record.toxics
    await proxy.aio.remove_toxic(name)
    assert await proxy.aio.toxics() == []
    async with proxy.aio.down():
        assert not proxy.enabled
    assert proxy.enabled


def test_awaiting_outside_an_event_loop_says_what_to_do(tcp_server: Callable[..., Any]) -> None:
    server = tcp_server([])
    waiting = server.aio.wait_done()
    with pytest.raises(RuntimeError, match="must be awaited on a running asyncio event loop"):
        waiting.send(None)
    waiting.close()


def test_a_peer_without_the_wait_names_it(udp_echo: Any) -> None:
    waiting = udp_echo.aio.wait_connections(1)
    with pytest.raises(TypeError, match=r"UDPEcho '.*' has no wait_connections\(\) to await"):
        waiting.send(None)
