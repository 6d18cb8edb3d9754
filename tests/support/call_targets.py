"""What the ``call`` step tests call by import path (``tests.support.call_targets``)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any

#: Set by :func:`block_until_released`; the test releases it after checking the step timed out.
RELEASE = threading.Event()
NOT_CALLABLE = 42


class ProtocolError(Exception):
    """A user-defined exception, named in ``raises`` by its import path."""


def add(a: int, b: int = 0) -> int:
    return a + b


async def add_later(a: int, b: int = 0) -> int:
    await asyncio.sleep(0)
    return a + b


def returns_coroutine() -> Coroutine[Any, Any, int]:
    """A plain function that hands back a coroutine (the step must say whether to await it)."""
    return add_later(1, 2)


def fails(attempts: int) -> None:
    raise ProtocolError(f"gave up after {attempts} attempts")


def block_until_released() -> str:
    RELEASE.wait(10)
    return "released"


async def sleep_forever() -> None:
    await asyncio.sleep(3600)


def echo_once(address: tuple[str, int], data: bytes) -> bytes:
    """Connect, send ``data``, read one answer of the same length: a tiny blocking client."""
    with socket.create_connection(address, timeout=2) as sock:
        sock.sendall(data)
        received = b""
        while len(received) < len(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


class Counter:
    def __init__(self, start: int = 0) -> None:
        self.value = start

    def bump(self, by: int = 1) -> int:
        self.value += by
        return self.value

    async def bump_later(self, by: int = 1) -> int:
        await asyncio.sleep(0)
        return self.bump(by)


#: What :func:`describe` was called with last.
SEEN: dict[str, object] = {}


def describe(*args: object, **kwargs: object) -> int:
    """Records what it was given, to check how the step's values were resolved."""
    SEEN.clear()
    SEEN.update(args=list(args), kwargs=kwargs)
    return len(args) + len(kwargs)
