"""Awaitable forms of the harness's blocking waits, for ``pytest-asyncio`` and ``anyio`` tests.

Every peer has an ``.aio`` view (``await server.aio.wait_done()``, ``await server.aio.wait_connections(2)``,
``await client_peer.aio.wait_done()``, ``await peer.aio.check()``), and so has the ``fault_proxy`` fixture's
proxy (``await proxy.aio.add_toxic("latency", latency=200)``): the same methods, with the same arguments,
errors and timeouts as the blocking ones.

Why a thread per call and not the default executor: the wait runs in a thread of its own, registered with
the leak check as the harness's, which hands the result to the loop with ``call_soon_threadsafe``. The
loop never blocks, nothing depends on the size of a shared pool (a test awaiting three peers at once gets
three threads), and every wait keeps its own bound (``timeout=``): if the awaiting task is cancelled, the
thread still ends at that bound, and the leak check names it if it outlives the test.

The view needs an asyncio event loop: pytest-asyncio's, or anyio's asyncio backend (its default).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sockharness._leaks import register_harness_thread

if TYPE_CHECKING:
    from sockharness.faults._engine.connection_log import ConnectionRecord
    from sockharness.faults._engine.toxics import ToxicSpec

__all__ = ["AsyncFaultProxy", "AsyncPeer", "run_blocking"]

T = TypeVar("T")


def _running_loop(what: str) -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            f"{what} must be awaited on a running asyncio event loop (pytest-asyncio, or anyio's asyncio "
            "backend); from synchronous code call the blocking method instead"
        ) from None


def _settle(future: asyncio.Future[Any], result: object, error: BaseException | None) -> None:
    if future.cancelled():
        return  # the awaiting task gave up; the wait itself ended at its own bound
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def run_blocking(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run the blocking ``func(*args, **kwargs)`` in its own harness thread and await its result."""
    what = getattr(func, "__qualname__", repr(func))
    loop = _running_loop(what)
    future: asyncio.Future[T] = loop.create_future()

    def work() -> None:
        result: object = None
        error: BaseException | None = None
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:  # handed to the awaiting task, which re-raises it
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, future, result, error)

    thread = threading.Thread(target=work, name=f"sockharness-aio {what}", daemon=True)
    register_harness_thread(thread, f"awaitable {what}")
    thread.start()
    return await future


class AsyncPeer:
    """``peer.aio``: the peer's waits as coroutines (see the module docstring)."""

    def __init__(self, peer: Any) -> None:
        self._peer = peer

    def _method(self, name: str) -> Callable[..., Any]:
        method: object = getattr(self._peer, name, None)
        if not callable(method):
            raise TypeError(f"{type(self._peer).__name__} {self._peer.name!r} has no {name}() to await")
        return method

    async def wait_done(self, timeout: float = 5.0, **keywords: Any) -> None:
        """``await`` form of ``wait_done`` (scripted servers also take ``connections=``)."""
        await run_blocking(self._method("wait_done"), timeout, **keywords)

    async def wait_connections(self, n: int, timeout: float = 5.0) -> None:
        """``await`` form of a server's ``wait_connections``."""
        await run_blocking(self._method("wait_connections"), n, timeout)

    async def check(self) -> None:
        """``check()`` takes no time, but is here so an async test uses one shape for the peer."""
        self._peer.check()

    async def stop(self, timeout: float = 2.0) -> None:
        """``await`` form of ``stop`` (it joins the peer's threads, up to ``timeout``)."""
        await run_blocking(self._peer.stop, timeout)


class AsyncFaultProxy:
    """``proxy.aio``: the proxy's calls as coroutines. The Toxiproxy backend makes an HTTP request per call,
    so even "quick" calls run off the loop."""

    def __init__(self, proxy: Any) -> None:
        self._proxy = proxy

    async def add_toxic(self, type: str, **kwargs: Any) -> str:
        return await run_blocking(self._proxy.add_toxic, type, **kwargs)

    async def update_toxic(self, name: str, **kwargs: Any) -> None:
        await run_blocking(self._proxy.update_toxic, name, **kwargs)

    async def remove_toxic(self, name: str) -> None:
        await run_blocking(self._proxy.remove_toxic, name)

    async def toxics(self) -> list[ToxicSpec]:
        return await run_blocking(self._proxy.toxics)

    async def connections(self) -> list[ConnectionRecord]:
        """The proxy's per-connection event log (embedded backend)."""
        return await run_blocking(self._proxy.connections)

    async def disable(self) -> None:
        await run_blocking(self._proxy.disable)

    async def enable(self) -> None:
        await run_blocking(self._proxy.enable)

    async def reset(self) -> None:
        await run_blocking(self._proxy.reset)

    @contextlib.asynccontextmanager
    async def down(self) -> AsyncIterator[None]:
        """``async with proxy.aio.down():`` the proxy refuses connections inside the block."""
        await self.disable()
        try:
            yield
        finally:
            await self.enable()
