"""Symbolic errno names, portable comparison and readable rendering.

Errno *numbers* differ between Linux, macOS and Windows (ECONNREFUSED is 111, 61 and 10061), so the harness
speaks in names and resolves them with ``getattr(errno, NAME)`` on the machine that runs the test. Numbers are
never mapped back with ``errno.errorcode``: it returns whichever alias was registered last (``ENOTSUP`` for
EOPNOTSUPP on Linux, ``WSAECONNREFUSED`` on Windows). This module keeps its own preference order instead.

Pure: no I/O, only the ``errno`` and ``socket`` modules' constants.
"""

from __future__ import annotations

import difflib
import errno
import os
import socket
from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = [
    "ALIAS_SETS",
    "PORTABLE_EQUIVALENTS",
    "WSA_CODES",
    "UnknownErrnoError",
    "assert_errno",
    "describe_errno",
    "describe_exception",
    "errno_aliases",
    "errno_name",
    "exception_class_for",
    "is_errno",
    "known_errno_names",
    "resolve_errno",
    "wsa_name",
]

#: Names that denote the same condition. On some platform they share one number (EAGAIN == EWOULDBLOCK on
#: Linux and macOS), on others they do not (Windows sockets report WSAEWOULDBLOCK, not the CRT's EAGAIN), so a
#: test naming either must accept both.
ALIAS_SETS: tuple[frozenset[str], ...] = (
    frozenset({"EAGAIN", "EWOULDBLOCK"}),
    frozenset({"EOPNOTSUPP", "ENOTSUP"}),
    frozenset({"EDEADLK", "EDEADLOCK"}),
)

#: Different names that portable code must treat as the same outcome because one platform reports the other:
#: Windows reports an operation on a closed socket as ENOTSOCK and a pending non-blocking connect as
#: WSAEWOULDBLOCK. Used only when a caller asks for ``portable=True``.
PORTABLE_EQUIVALENTS: tuple[frozenset[str], ...] = (
    frozenset({"EBADF", "ENOTSOCK"}),
    frozenset({"EINPROGRESS", "EWOULDBLOCK", "EAGAIN"}),
)

#: Winsock error codes (10000 + the BSD number) as the socket HOWTO quotes them: ``connect_ex`` returning
#: 10061 on Windows is WSAECONNREFUSED. CPython on Windows binds ``errno.ECONNREFUSED`` to 10061 too.
WSA_CODES: Mapping[str, int] = MappingProxyType(
    {
        "WSAEINTR": 10004,
        "WSAEBADF": 10009,
        "WSAEACCES": 10013,
        "WSAEFAULT": 10014,
        "WSAEINVAL": 10022,
        "WSAEMFILE": 10024,
        "WSAEWOULDBLOCK": 10035,
        "WSAEINPROGRESS": 10036,
        "WSAEALREADY": 10037,
        "WSAENOTSOCK": 10038,
        "WSAEDESTADDRREQ": 10039,
        "WSAEMSGSIZE": 10040,
        "WSAEPROTOTYPE": 10041,
        "WSAENOPROTOOPT": 10042,
        "WSAEPROTONOSUPPORT": 10043,
        "WSAESOCKTNOSUPPORT": 10044,
        "WSAEOPNOTSUPP": 10045,
        "WSAEPFNOSUPPORT": 10046,
        "WSAEAFNOSUPPORT": 10047,
        "WSAEADDRINUSE": 10048,
        "WSAEADDRNOTAVAIL": 10049,
        "WSAENETDOWN": 10050,
        "WSAENETUNREACH": 10051,
        "WSAENETRESET": 10052,
        "WSAECONNABORTED": 10053,
        "WSAECONNRESET": 10054,
        "WSAENOBUFS": 10055,
        "WSAEISCONN": 10056,
        "WSAENOTCONN": 10057,
        "WSAESHUTDOWN": 10058,
        "WSAETOOMANYREFS": 10059,
        "WSAETIMEDOUT": 10060,
        "WSAECONNREFUSED": 10061,
        "WSAELOOP": 10062,
        "WSAENAMETOOLONG": 10063,
        "WSAEHOSTDOWN": 10064,
        "WSAEHOSTUNREACH": 10065,
    }
)

_WSA_BY_NUMBER: Mapping[int, str] = MappingProxyType({number: name for name, number in WSA_CODES.items()})

#: When several names share a number, the first of these wins in :func:`errno_name`: the name the socket
#: documentation and ``strerror`` readers expect.
_PREFERRED_NAMES: tuple[str, ...] = ("EAGAIN", "EOPNOTSUPP", "EDEADLK")


class UnknownErrnoError(ValueError):
    """An errno name this platform's ``errno`` module does not define (usually a typo)."""

    def __init__(self, name: str, argument: str = "name") -> None:
        self.name = name
        self.argument = argument
        suggestions = difflib.get_close_matches(name.upper(), known_errno_names(), n=1)
        hint = f" (did you mean {suggestions[0]}?)" if suggestions else ""
        super().__init__(f"{argument}: unknown errno name {name!r}{hint}")


def known_errno_names() -> list[str]:
    """Every errno name the running platform defines, sorted (WSA-prefixed duplicates excluded)."""
    return sorted(_NAMES_BY_NUMBER_ALL)


def _collect_names() -> dict[str, int]:
    names: dict[str, int] = {}
    for attribute in dir(errno):
        if attribute.startswith("E") and attribute.isupper():
            value = getattr(errno, attribute)
            if isinstance(value, int):
                names[attribute] = value
    used = set(names.values())
    # Where getaddrinfo's codes overlap errno numbers (positive EAI_* on BSDs), errno keeps its names.
    names.update({name: value for name, value in GAI_CODES.items() if value not in used})
    return names


def _collect_gai_codes() -> dict[str, int]:
    """``getaddrinfo``'s error codes (``socket.gaierror.errno``: EAI_NONAME -2, EAI_AGAIN -3 on glibc), so
    ``raises: {type: socket.gaierror, errno: EAI_NONAME}`` reads like any errno; negative on glibc, so they
    never collide with errno numbers there."""
    return {
        name: value
        for name in dir(socket)
        if name.startswith("EAI_") and isinstance(value := getattr(socket, name), int)
    }


GAI_CODES: Mapping[str, int] = MappingProxyType(_collect_gai_codes())


_NAMES_BY_NUMBER_ALL: Mapping[str, int] = MappingProxyType(_collect_names())


def _build_reverse() -> dict[int, str]:
    reverse: dict[int, str] = {}
    for name in sorted(_NAMES_BY_NUMBER_ALL):
        reverse.setdefault(_NAMES_BY_NUMBER_ALL[name], name)
    for name in _PREFERRED_NAMES:
        if name in _NAMES_BY_NUMBER_ALL:
            reverse[_NAMES_BY_NUMBER_ALL[name]] = name
    return reverse


_NAME_BY_NUMBER: Mapping[int, str] = MappingProxyType(_build_reverse())


def resolve_errno(name: str, *, argument: str = "name") -> int:
    """The number ``name`` has on this platform, via ``getattr(errno, name)``.

    ``WSAE...`` names resolve through :data:`WSA_CODES` so a Windows code quoted from documentation can be
    named anywhere. Raises :class:`UnknownErrnoError` (a ValueError) naming ``argument`` for unknown names.
    """
    if not isinstance(name, str):
        raise TypeError(f"{argument}: expected an errno name such as 'ECONNREFUSED', got {name!r}")
    value = getattr(errno, name, None) if name.startswith("E") else None
    if isinstance(value, int):
        return value
    if name in WSA_CODES:
        return WSA_CODES[name]
    if name in GAI_CODES:
        return GAI_CODES[name]
    raise UnknownErrnoError(name, argument)


def errno_aliases(name: str, *, portable: bool = False) -> frozenset[str]:
    """``name`` plus every name that means the same (``EAGAIN`` -> {EAGAIN, EWOULDBLOCK}).

    With ``portable=True`` the platform-variant names of :data:`PORTABLE_EQUIVALENTS` are added too.
    Raises :class:`UnknownErrnoError` if ``name`` is not an errno name here.
    """
    resolve_errno(name)
    result = {name}
    groups = ALIAS_SETS + (PORTABLE_EQUIVALENTS if portable else ())
    changed = True
    while changed:  # close over chains, e.g. EINPROGRESS -> EWOULDBLOCK -> EAGAIN; at most len(groups) passes
        changed = False
        for group in groups:
            if result & group and not group <= result:
                result |= group
                changed = True
    return frozenset(result)


def _numbers_for(names: Iterable[str], portable: bool) -> set[int]:
    numbers: set[int] = set()
    for name in names:
        for alias in errno_aliases(name, portable=portable):
            try:
                numbers.add(resolve_errno(alias))
            except UnknownErrnoError:
                continue  # an alias this platform lacks (e.g. EDEADLOCK on macOS)
    return numbers


def _errno_of(value: int | BaseException | None) -> int | None:
    if isinstance(value, BaseException):
        code = getattr(value, "errno", None)
        return code if isinstance(code, int) else None
    return value


def is_errno(value: int | BaseException | None, name: str | Iterable[str], *, portable: bool = False) -> bool:
    """Whether ``value`` (a number, or an exception's ``errno``) is the errno ``name`` or one of its aliases.

    ``name`` may be a single name or several acceptable names. ``None`` (a Python-level timeout carries no
    errno) never matches.
    """
    number = _errno_of(value)
    if number is None:
        return False
    names = [name] if isinstance(name, str) else list(name)
    return number in _numbers_for(names, portable)


def errno_name(number: int) -> str:
    """A readable name for ``number``: the preferred platform name (EAGAIN, EOPNOTSUPP), else the Winsock name
    for a 100xx code this platform does not define, else the number itself as text."""
    name = _NAME_BY_NUMBER.get(number)
    if name is not None:
        return name
    if number in _WSA_BY_NUMBER:
        return _WSA_BY_NUMBER[number]
    return str(number)


def wsa_name(name: str) -> str | None:
    """The Winsock name for a POSIX errno name (``ECONNREFUSED`` -> ``WSAECONNREFUSED``), or None."""
    candidate = "WSA" + name
    return candidate if candidate in WSA_CODES else None


def describe_errno(value: int | None) -> str:
    """``"ECONNREFUSED (111)"``; None (what a Python-level timeout carries) reads ``"no errno (None)"``."""
    if value is None:
        return "no errno (None)"
    name = errno_name(value)
    return f"{name} ({value})" if name != str(value) else f"unknown errno {value}"


def _gai_name(number: int) -> str | None:
    for attribute in dir(socket):
        if attribute.startswith("EAI_") and getattr(socket, attribute) == number:
            return attribute
    return None


def describe_exception(exc: BaseException) -> str:
    """One line naming the class, the symbolic errno and the message.

    ``"ConnectionRefusedError ECONNREFUSED (111): Connection refused"``; a Python-level timeout reads
    ``"TimeoutError (no errno): timed out"``; resolver errors name their ``EAI_`` constant.
    """
    kind = type(exc).__name__
    if isinstance(exc, socket.gaierror) and isinstance(exc.errno, int):
        label = _gai_name(exc.errno) or "EAI"
        return f"{kind} {label} ({exc.errno}): {exc.strerror}"
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        message = exc.strerror if exc.strerror else os.strerror(exc.errno)
        return f"{kind} {describe_errno(exc.errno)}: {message}"
    text = str(exc)
    if isinstance(exc, OSError):
        return f"{kind} (no errno): {text}" if text else f"{kind} (no errno)"
    return f"{kind}: {text}" if text else kind


def _describe_expected(names: list[str]) -> str:
    parts = []
    for name in names:
        try:
            parts.append(f"{name} ({resolve_errno(name)})")
        except UnknownErrnoError:
            parts.append(name)
    return " or ".join(parts)


def assert_errno(
    value: int | BaseException | None,
    expected: str | Iterable[str],
    *,
    source: str = "",
    portable: bool = False,
) -> None:
    """Raise AssertionError unless ``value`` is the errno ``expected`` (alias-aware).

    The failure reads ``expected ECONNREFUSED (111), got ETIMEDOUT (110) from connect_ex``; for an exception
    the whole exception is described. Unknown expected names raise :class:`UnknownErrnoError` first, so a typo
    never passes silently as "not equal".
    """
    names = [expected] if isinstance(expected, str) else list(expected)
    for name in names:
        resolve_errno(name, argument="expected")
    if is_errno(value, names, portable=portable):
        return
    got = describe_exception(value) if isinstance(value, BaseException) else describe_errno(value)
    suffix = f" from {source}" if source else ""
    raise AssertionError(f"expected {_describe_expected(names)}, got {got}{suffix}")


def exception_class_for(name: str) -> type[OSError]:
    """The OSError subclass CPython raises for this errno (ECONNREFUSED -> ConnectionRefusedError).

    Asserting the class is portable where the number is not; CPython picks it from a fixed errno map.
    """
    return type(OSError(resolve_errno(name), "probe"))
