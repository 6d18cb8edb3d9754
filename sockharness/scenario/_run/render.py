"""The one way an observed value is shown: in mismatches, step observations, saved variables and ``observe``.

Pure. Two forms of the same rendering: ``render(value)`` is exact (``repr``-like, so ``'1'`` and ``1`` and
``b'1'`` differ in a verdict), ``render(value, readable=True)`` is for tables and ``observe`` text (a string
as itself, an address as ``host:port``). Both describe an exception with its errno name and number, and an
errno result (:class:`ErrnoCode`) as ``EINPROGRESS (115)``.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Final

from sockharness._errnos import describe_errno, describe_exception
from sockharness.peers._addresses import format_address

__all__ = ["ErrnoCode", "render"]

#: Longest rendering before the middle is cut (a 1 MiB payload must not flood a report).
RENDER_LIMIT: Final = 120


class ErrnoCode(int):
    """An integer result that is an errno (``connect_ex``, ``getsockopt SO_ERROR``).

    It compares, indexes and formats with a spec as the number; it reads as the errno's name with the
    number in brackets, so a saved ``connect_ex`` result shows ``EINPROGRESS (115)`` in ``observe``.
    """

    __slots__ = ()

    def __str__(self) -> str:
        return describe_errno(int(self)) if self else "0 (success)"

    def __repr__(self) -> str:
        return int.__repr__(self)

    def __format__(self, spec: str) -> str:
        return format(int(self), spec) if spec else str(self)


def render(value: object, *, readable: bool = False, limit: int = RENDER_LIMIT) -> str:
    """A short, unambiguous rendering of ``value`` (see the module docstring for the two forms)."""
    if isinstance(value, BaseException):
        return describe_exception(value)
    if isinstance(value, ErrnoCode):
        return str(value)
    if readable and isinstance(value, str):
        return value
    if readable and isinstance(value, tuple) and len(value) >= 2:
        host, port = value[0], value[1]
        if isinstance(host, str) and isinstance(port, int) and not isinstance(port, bool):
            return format_address(value)
    if isinstance(value, memoryview):
        value = bytes(value)
    text = repr(value)
    if len(text) > limit:
        length = len(value) if isinstance(value, Sized) else "?"
        text = f"{text[: limit - 20]}... ({length} long)"
    return text
