"""Small asyncio protocol objects that scenario ``call`` steps can name by import path.

asyncio reports some outcomes only through protocol callbacks (a datagram endpoint's ``error_received``,
``datagram_received``, ``connection_lost``). A YAML scenario cannot define a class, so this module gives it
one that records every callback and turns the next one into an awaitable result or exception::

    - call: {object: $loop, method: create_datagram_endpoint, await: true,
             args: [{import: "sockharness.scenario.asyncio_probes:DatagramRecorder"}],
             kwargs: {remote_addr: {address: closed}}}
      save: endpoint                # (transport, protocol)
    - call: {object: $endpoint[1], method: next_error, kwargs: {timeout: 1}}
      raises: {type: ConnectionRefusedError, errno: ECONNREFUSED}
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["DatagramRecorder"]


@dataclass
class DatagramRecorder(asyncio.DatagramProtocol):
    """Records what a datagram endpoint's callbacks report, in order, and lets a step await the next one."""

    datagrams: list[tuple[bytes, object]] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    lost: list[Exception | None] = field(default_factory=list)
    errors_raised: int = 0
    datagrams_returned: int = 0
    _changed: asyncio.Event | None = None

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.datagrams.append((data, addr))
        self._notify()

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)
        self._notify()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)
        self._notify()

    async def _wait(self, ready: Sequence[object], taken: int, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds; then TimeoutError) until ``ready`` holds more than ``taken``."""
        async with asyncio.timeout(timeout):
            while len(ready) <= taken:
                self._changed = asyncio.Event()
                await self._changed.wait()

    async def next_error(self, timeout: float = 1.0) -> None:
        """Raise the next ``error_received`` exception not yet raised (TimeoutError if none comes in time)."""
        taken = self.errors_raised
        await self._wait(self.errors, taken, timeout)
        self.errors_raised = taken + 1
        raise self.errors[taken]

    async def next_datagram(self, timeout: float = 1.0) -> bytes:
        """The data of the next datagram not yet returned (TimeoutError if none comes in time)."""
        taken = self.datagrams_returned
        await self._wait(self.datagrams, taken, timeout)
        self.datagrams_returned = taken + 1
        return self.datagrams[taken][0]

    async def lost_connection(self, timeout: float = 1.0) -> Exception | None:
        """What ``connection_lost`` was called with (None for a clean close)."""
        await self._wait(self.lost, 0, timeout)
        return self.lost[0]
