"""A Linux timerfd through ctypes, so the reactor can sleep until an exact monotonic instant.

``epoll.poll(timeout)`` rounds timeouts up to whole milliseconds, which alone would make a latency toxic
overshoot by ~0.5 ms on average. A timerfd armed with an absolute CLOCK_MONOTONIC time (the clock behind
``time.monotonic`` on Linux) wakes epoll within tens of microseconds. Python 3.13 has ``os.timerfd_*``;
3.11 does not, hence ctypes. ``TimerFd.create()`` returns None where that is unavailable.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


class TimerFd:
    """One-shot absolute timer whose file descriptor becomes readable when it expires."""

    def __init__(self, fd: int, settime: ctypes._CFuncPtr) -> None:  # type: ignore[name-defined]
        self.fd = fd
        self._settime = settime
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)

    @classmethod
    def create(cls) -> TimerFd | None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            create = libc.timerfd_create
            settime = libc.timerfd_settime
        except (OSError, AttributeError):
            return None
        create.argtypes = (ctypes.c_int, ctypes.c_int)
        create.restype = ctypes.c_int
        settime.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
        settime.restype = ctypes.c_int
        fd = create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            return None
        return cls(fd, settime)

    def arm(self, when: float | None) -> None:
        """Expire at monotonic time ``when`` (at once if it has passed); None disarms."""
        value = self._spec.it_value
        if when is None:
            value.tv_sec = 0
            value.tv_nsec = 0
        else:
            nanoseconds = max(1, int(when * 1_000_000_000))
            value.tv_sec, value.tv_nsec = divmod(nanoseconds, 1_000_000_000)
        if self._settime(self.fd, _TFD_TIMER_ABSTIME, self._spec_ref, None) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))

    def clear(self) -> None:
        """Consume the expiry count so the fd stops being readable."""
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


__all__ = ["TimerFd"]
