"""Match an observed value against a ``returns:`` matcher and say precisely how it differs.

``match(observed, matcher, variables)`` returns None when it matches, otherwise one sentence such as
``expected < 1048576 ($offered), got 1048576``. Pure: no I/O.

Rules (docs/scenario-language.md): a scalar means equality, except that an errno name equals the errno
number (alias-aware, via :mod:`sockharness.errnos`), ``$name`` / ``$name[0]`` is a saved value, and a
text matcher equals bytes that decode to it. Booleans never equal integers (``true`` is not ``1``). A list
matches a sequence of the same length element by element; a mapping holds operators that must all hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sockharness.errnos import describe_errno, is_errno, resolve_errno
from sockharness.scenario.model_types import ERRNO_NAME_PATTERN, parse_variable
from sockharness.scenario.model_values import MatcherOps

__all__ = ["UnknownVariableError", "match", "render", "resolve_variable"]

_ERRNO_RE = re.compile(ERRNO_NAME_PATTERN)
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
_COMPARISONS: Final = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class UnknownVariableError(KeyError):
    """``$name`` was used but never saved (the loader rejects this; it can only come from code)."""


def render(value: Any, limit: int = 120) -> str:
    """A short, unambiguous rendering of an observed value for mismatch messages."""
    if isinstance(value, memoryview):
        value = bytes(value)
    text = repr(value)
    if len(text) > limit:
        text = f"{text[: limit - 20]}... ({len(value) if hasattr(value, '__len__') else '?'} long)"
    return text


def resolve_variable(expression: str, variables: Mapping[str, Any]) -> Any:
    """The value of ``$name`` or ``$name[0][1]`` (indices into saved tuples/lists)."""
    name, indices = parse_variable(expression)
    if name not in variables:
        raise UnknownVariableError(f"{expression}: no step saved {name!r}")
    value = variables[name]
    for index in indices:
        try:
            value = value[index]
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


def _operand(value: Any, variables: Mapping[str, Any]) -> tuple[Any, str]:
    """Resolve a scalar operand; return (value, how to show it in a message)."""
    if isinstance(value, str) and value.startswith("$"):
        resolved = resolve_variable(value, variables)
        return resolved, f"{render(resolved)} ({value})"
    return value, render(value)


def _show_observed(observed: Any, expected: Any) -> str:
    if isinstance(expected, str) and _is_errno_name(expected) and isinstance(observed, int):
        return describe_errno(observed) if observed else "0 (success)"
    return render(observed)


def _scalar_equal(observed: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(observed, bool):
        return isinstance(expected, bool) and isinstance(observed, bool) and expected is observed
    if isinstance(expected, str) and isinstance(observed, bytes | bytearray):
        return bytes(observed) == expected.encode()
    return bool(observed == expected)


def _match_scalar(observed: Any, expected: Any, variables: Mapping[str, Any]) -> str | None:
    if isinstance(expected, str) and expected.startswith("$"):
        value, shown = _operand(expected, variables)
        if _scalar_equal(observed, value) or (
            isinstance(value, tuple | list) and _sequence_equal(observed, value)
        ):
            return None
        return f"expected {shown}, got {render(observed)}"
    if (
        isinstance(expected, str)
        and _is_errno_name(expected)
        and (observed is None or (isinstance(observed, int) and not isinstance(observed, bool)))
    ):
        if is_errno(observed, expected):
            return None
        return f"expected {expected} ({resolve_errno(expected)}), got {_show_observed(observed, expected)}"
    if _scalar_equal(observed, expected):
        return None
    return f"expected {render(expected)}, got {render(observed)}"


def _sequence_equal(observed: Any, expected: Sequence[Any]) -> bool:
    return isinstance(observed, tuple | list) and list(observed) == list(expected)


def _match_list(observed: Any, expected: list[Any], variables: Mapping[str, Any]) -> str | None:
    if not isinstance(observed, tuple | list):
        return f"expected a sequence of {len(expected)}, got {render(observed)}"
    if len(observed) != len(expected):
        return f"expected a sequence of {len(expected)}, got {len(observed)} items: {render(observed)}"
    for index, (item, item_matcher) in enumerate(zip(observed, expected, strict=True)):
        problem = match(item, item_matcher, variables)
        if problem is not None:
            return f"[{index}]: {problem}"
    return None


def _compare(observed: Any, operator: str, operand: Any, variables: Mapping[str, Any]) -> str | None:
    value, shown = _operand(operand, variables)
    if isinstance(value, str) and _is_errno_name(value):
        number = resolve_errno(value)
        value, shown = number, f"{value} ({number})"
    symbol = _COMPARISONS[operator]
    try:
        holds = {
            "lt": lambda: observed < value,
            "le": lambda: observed <= value,
            "gt": lambda: observed > value,
            "ge": lambda: observed >= value,
        }[operator]()
    except TypeError:
        return f"expected a value {symbol} {shown}, got {render(observed)} (not comparable)"
    return None if holds else f"expected {symbol} {shown}, got {render(observed)}"


def _match_ops(observed: Any, matcher: MatcherOps, variables: Mapping[str, Any]) -> str | None:
    for operator, operand in matcher.operators():
        problem: str | None = None
        if operator == "eq":
            problem = match(observed, operand, variables)
        elif operator == "ne":
            if match(observed, operand, variables) is None:
                problem = f"expected anything but {_operand(operand, variables)[1]}, got {render(observed)}"
        elif operator in _COMPARISONS:
            problem = _compare(observed, operator, operand, variables)
        elif operator == "in":
            if all(match(observed, option, variables) is not None for option in operand):
                shown = ", ".join(_operand(option, variables)[1] for option in operand)
                problem = f"expected one of [{shown}], got {_show_observed(observed, operand[0])}"
        elif operator == "between":
            low, high = operand
            problem = _compare(observed, "ge", low, variables) or _compare(observed, "le", high, variables)
            if problem is not None:
                low_shown, high_shown = _operand(low, variables)[1], _operand(high, variables)[1]
                problem = f"expected between {low_shown} and {high_shown}, got {render(observed)}"
        elif operator == "type":
            allowed = _TYPES[operand]
            wrong_bool = operand == "int" and isinstance(observed, bool)
            if wrong_bool or not isinstance(observed, allowed):
                problem = f"expected type {operand}, got {type(observed).__name__} {render(observed)}"
        elif operator == "len":
            try:
                length = len(observed)
            except TypeError:
                problem = f"expected something with a length, got {render(observed)}"
            else:
                inner = match(length, operand, variables)
                problem = None if inner is None else f"len: {inner}"
        if problem is not None:
            return problem
    return None


def match(observed: Any, matcher: Any, variables: Mapping[str, Any]) -> str | None:
    """None if ``observed`` satisfies ``matcher``; otherwise what was expected and what was observed."""
    if isinstance(matcher, MatcherOps):
        return _match_ops(observed, matcher, variables)
    if isinstance(matcher, list):
        return _match_list(observed, matcher, variables)
    return _match_scalar(observed, matcher, variables)
