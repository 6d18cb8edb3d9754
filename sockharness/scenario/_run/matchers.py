"""Match an observed value against a ``returns:`` matcher; a mismatch is data, rendered once for the report.

``match(observed, matcher, variables)`` returns None when it matches, otherwise a :class:`Difference`:
what was expected and what was observed (each already in words), and where inside the value they differ
(``[1]``, ``len``). ``str(difference)`` is the sentence ``expected < 1048576 ($offered), got 1048576``.
Pure: no I/O.

Rules (docs/scenario-language.md): a scalar means equality, except that an errno name equals the errno
number (alias-aware, via :mod:`sockharness._errnos`), a socket constant name (``SOCK_STREAM``) equals its
number on this platform when the observed value is an integer, ``$name`` / ``$name[0]`` is a saved value,
and a text matcher equals bytes that decode to it. Booleans never equal integers (``true`` is not ``1``).
A list matches a sequence of the same length element by element; a mapping holds operators that must all
hold.
"""

from __future__ import annotations

import dataclasses
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from sockharness._errnos import describe_errno, is_errno, resolve_errno
from sockharness.scenario._language.model_types import (
    ERRNO_NAME_PATTERN,
    SOCKET_CONSTANT_PATTERN,
    parse_variable,
)
from sockharness.scenario._language.model_values import MatcherOps
from sockharness.scenario._run.render import render

__all__ = [
    "Difference",
    "UnknownVariableError",
    "match",
    "render",
    "resolve_variable",
    "socket_constant_value",
]

_ERRNO_RE = re.compile(ERRNO_NAME_PATTERN)
_CONSTANT_RE = re.compile(SOCKET_CONSTANT_PATTERN)
_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "int": (int,),
    "float": (float,),
    "str": (str,),
    "bytes": (bytes, bytearray, memoryview),
    "bool": (bool,),
    "none": (type(None),),
    "tuple": (tuple,),
    "list": (list,),
}
_COMPARISONS: Final[dict[str, tuple[str, Callable[[object, object], object]]]] = {
    "lt": ("<", lambda a, b: a < b),  # type: ignore[operator]
    "le": ("<=", lambda a, b: a <= b),  # type: ignore[operator]
    "gt": (">", lambda a, b: a > b),  # type: ignore[operator]
    "ge": (">=", lambda a, b: a >= b),  # type: ignore[operator]
}

Variables = Mapping[str, object]


class UnknownVariableError(KeyError):
    """``$name`` was used but never saved (the loader rejects this; it can only come from code)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Difference:
    """How an observed value differs from its matcher, as data (the report renders it once)."""

    expected: str
    observed: str
    #: Where inside the value: ``("[1]",)`` for a list item, ``("len",)`` for a length.
    where: tuple[str, ...] = ()

    def inside(self, label: str) -> Difference:
        """The same difference seen from the enclosing value (``[1]`` then ``len``...)."""
        return dataclasses.replace(self, where=(label, *self.where))

    @property
    def expectation(self) -> str:
        """The expected side with its position: ``[1]: > 0``."""
        return "".join(f"{label}: " for label in self.where) + self.expected

    def __str__(self) -> str:
        prefix = "".join(f"{label}: " for label in self.where)
        return f"{prefix}expected {self.expected}, got {self.observed}"


def resolve_variable(expression: str, variables: Variables) -> object:
    """The value of ``$name`` or ``$name[0][1]`` (indices into saved tuples/lists): the one lookup."""
    name, indices = parse_variable(expression)
    if name not in variables:
        known = ", ".join(f"${known}" for known in sorted(variables)) or "none yet"
        raise UnknownVariableError(f"{expression}: no step saved {name!r} (saved so far: {known})")
    value = variables[name]
    for index in indices:
        try:
            value = value[index]  # type: ignore[index]  # a TypeError is reported below
        except (IndexError, TypeError, KeyError):
            raise UnknownVariableError(f"{expression}: {render(value)} has no item [{index}]") from None
    return value


def _is_errno_name(text: str) -> bool:
    if not _ERRNO_RE.match(text):
        return False
    try:
        resolve_errno(text)
    except ValueError:
        return False
    return True


def socket_constant_value(text: str) -> int | None:
    """``"SOCK_STREAM"`` -> its number on this platform; None for anything that is not such a name."""
    if not _CONSTANT_RE.match(text):
        return None
    value = getattr(socket, text, None)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _operand(value: object, variables: Variables) -> tuple[object, str]:
    """Resolve a scalar operand; return (value, how to show it in a message)."""
    if isinstance(value, str) and value.startswith("$"):
        resolved = resolve_variable(value, variables)
        return resolved, f"{render(resolved)} ({value})"
    if isinstance(value, str):
        if _is_errno_name(value):
            return resolve_errno(value), f"{value} ({resolve_errno(value)})"
        constant = socket_constant_value(value)
        if constant is not None:
            return constant, f"{value} ({constant})"
    return value, render(value)


def _show_observed(observed: object, expected: object) -> str:
    if isinstance(expected, str) and _is_errno_name(expected) and _is_int(observed):
        return describe_errno(int(observed)) if observed else "0 (success)"  # type: ignore[call-overload]
    return render(observed)


def _scalar_equal(observed: object, expected: object) -> bool:
    if isinstance(expected, bool) or isinstance(observed, bool):
        return isinstance(expected, bool) and isinstance(observed, bool) and expected is observed
    if isinstance(expected, str) and isinstance(observed, bytes | bytearray):
        return bytes(observed) == expected.encode()
    return bool(observed == expected)


def _match_scalar(observed: object, expected: object, variables: Variables) -> Difference | None:
    if isinstance(expected, str) and expected.startswith("$"):
        value, shown = _operand(expected, variables)
        if _scalar_equal(observed, value) or (
            isinstance(value, tuple | list) and _sequence_equal(observed, value)
        ):
            return None
        return Difference(shown, render(observed))
    if isinstance(expected, str) and _is_errno_name(expected) and (observed is None or _is_int(observed)):
        if is_errno(observed, expected):  # type: ignore[arg-type]  # None or an int, checked above
            return None
        return Difference(f"{expected} ({resolve_errno(expected)})", _show_observed(observed, expected))
    if isinstance(expected, str) and _is_int(observed):
        constant = socket_constant_value(expected)
        if constant is not None:
            return None if observed == constant else Difference(f"{expected} ({constant})", render(observed))
    if _scalar_equal(observed, expected):
        return None
    return Difference(render(expected), render(observed))


def _sequence_equal(observed: object, expected: Sequence[object]) -> bool:
    return isinstance(observed, tuple | list) and list(observed) == list(expected)


def _match_list(observed: object, expected: list[object], variables: Variables) -> Difference | None:
    if not isinstance(observed, tuple | list):
        return Difference(f"a sequence of {len(expected)}", render(observed))
    if len(observed) != len(expected):
        return Difference(f"a sequence of {len(expected)}", f"{len(observed)} items: {render(observed)}")
    for index, (item, item_matcher) in enumerate(zip(observed, expected, strict=True)):
        difference = match(item, item_matcher, variables)
        if difference is not None:
            return difference.inside(f"[{index}]")
    return None


def _compare(observed: object, operator: str, operand: object, variables: Variables) -> Difference | None:
    value, shown = _operand(operand, variables)
    symbol, holds = _COMPARISONS[operator]
    try:
        if holds(observed, value):
            return None
    except TypeError:
        return Difference(f"a value {symbol} {shown}", f"{render(observed)} (not comparable)")
    return Difference(f"{symbol} {shown}", render(observed))


def _match_operator(
    observed: object, operator: str, operand: object, variables: Variables
) -> Difference | None:
    if operator == "eq":
        return match(observed, operand, variables)
    if operator == "ne":
        if match(observed, operand, variables) is None:
            return Difference(f"anything but {_operand(operand, variables)[1]}", render(observed))
        return None
    if operator in _COMPARISONS:
        return _compare(observed, operator, operand, variables)
    if operator == "in":
        options = operand if isinstance(operand, list) else [operand]
        if all(match(observed, option, variables) is not None for option in options):
            shown = ", ".join(_operand(option, variables)[1] for option in options)
            return Difference(f"one of [{shown}]", _show_observed(observed, options[0]))
        return None
    if operator == "between":
        low, high = operand if isinstance(operand, list) else (operand, operand)
        if _compare(observed, "ge", low, variables) or _compare(observed, "le", high, variables):
            low_shown, high_shown = _operand(low, variables)[1], _operand(high, variables)[1]
            return Difference(f"between {low_shown} and {high_shown}", render(observed))
        return None
    if operator == "type":
        allowed = _TYPES[str(operand)]
        if (operand == "int" and isinstance(observed, bool)) or not isinstance(observed, allowed):
            return Difference(f"type {operand}", f"{type(observed).__name__} {render(observed)}")
        return None
    if operator == "len":
        try:
            length = len(observed)  # type: ignore[arg-type]  # a TypeError is the answer
        except TypeError:
            return Difference("something with a length", render(observed))
        inner = match(length, operand, variables)
        return None if inner is None else inner.inside("len")
    raise ValueError(f"unknown matcher operator {operator!r}")  # the model admits no other key


def match(observed: object, matcher: object, variables: Variables) -> Difference | None:
    """None if ``observed`` satisfies ``matcher``; otherwise how it differs."""
    if isinstance(matcher, MatcherOps):
        for operator, operand in matcher.operators():
            difference = _match_operator(observed, operator, operand, variables)
            if difference is not None:
                return difference
        return None
    if isinstance(matcher, list):
        return _match_list(observed, matcher, variables)
    return _match_scalar(observed, matcher, variables)
