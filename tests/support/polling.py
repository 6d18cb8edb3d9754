"""A bounded wait on state that no event reports (not a test module: pytest does not collect it).

Tests wait on events wherever one exists; some states (a kernel TCP state, a server thread having marked
its connection idle, a descriptor count settling) have none, and are polled with a deadline instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.005) -> bool:
    """True once ``condition()`` holds, False if it still does not after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        time.sleep(interval)  # sync-ok: bounded poll of a condition with a deadline
    return True
