"""Check one executed step against its ``raises`` / ``returns`` / ``bytes`` / ``elapsed`` expectations.

Pure: the step already ran; this only compares what was observed with what was written and, on a
mismatch, says both sides in words (exception class, errno name and number, message) so the failure
report needs no traceback to be understood.
"""

from __future__ import annotations

import builtins
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sockharness.errnos import describe_errno, describe_exception, is_errno, resolve_errno
from sockharness.peers import PeerError
from sockharness.scenario.matchers import match, render
from sockharness.scenario.model_values import BytesMatch

PayloadResolver = Callable[[Any], bytes]


@dataclass(frozen=True)
class Mismatch:
    """What a step was expected to do and what it did, as text."""

    expected: str
    observed: str
    note: str | None = None


def render_value(value: Any) -> str:
    """A short rendering of any observed value (exceptions described with their errno)."""
    if isinstance(value, BaseException):
        return describe_exception(value)
    if (
        isinstance(value, tuple)
        and len(value) >= 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
    ):
        host, port = value[0], value[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(value, str):
        return value
    return render(value)


def exception_class(name: str) -> type[BaseException]:
    """The class a ``raises: {type: ...}`` names (builtins, or ``socket.gaierror``)."""
    if name == "socket.gaierror":
        return socket.gaierror
    found = getattr(builtins, name, None)
    if isinstance(found, type) and issubclass(found, BaseException):
        return found
    raise ValueError(f"raises: unknown exception class {name!r}")


def describe_raises(raises: Any) -> str:
    text = str(raises.type)
    if raises.checks_errno:
        if raises.errno is None:
            text += " with errno None (a Python-level timeout)"
        else:
            names = " or ".join(f"{name} ({_number(name)})" for name in raises.errno)
            text += f" with errno {names}"
    if raises.message:
        text += f" whose message contains {raises.message!r}"
    return text


def _number(name: str) -> str:
    try:
        return str(resolve_errno(name))
    except ValueError:
        return "?"


def raises_problem(raises: Any, exc: BaseException) -> str | None:
    """None when ``exc`` is what ``raises`` describes; otherwise which part differs."""
    wanted = exception_class(raises.type)
    if not isinstance(exc, wanted):
        return f"the exception is a {type(exc).__name__}, not a {raises.type}"
    if raises.checks_errno:
        code = getattr(exc, "errno", None)
        if raises.errno is None:
            if code is not None:
                return f"errno is {code} ({describe_exception(exc)}), expected None (a Python-level timeout)"
        elif not is_errno(code, list(raises.errno)):
            return "the errno differs"
    if raises.message and raises.message not in str(exc):
        return f"the message {str(exc)!r} does not contain {raises.message!r}"
    return None


def _split(sentence: str, value: Any) -> Mismatch:
    """Turn the matcher's "expected A, got B" into the two sides."""
    head, separator, tail = sentence.rpartition(", got ")
    if separator and head.startswith("expected "):
        return Mismatch(expected=head.removeprefix("expected "), observed=tail)
    prefix, colon, rest = sentence.partition(": ")
    if colon and ", got " in rest:
        inner = _split(rest, value)
        return Mismatch(expected=f"{prefix}: {inner.expected}", observed=inner.observed)
    return Mismatch(expected=sentence, observed=render(value))


def bytes_problem(
    expectation: Any, data: Any, payload: PayloadResolver, variables: Mapping[str, Any]
) -> str | None:
    if not isinstance(data, bytes | bytearray):
        return f"expected bytes, got {render(data)}"
    observed = bytes(data)
    if not isinstance(expectation, BytesMatch):
        wanted = payload(expectation)
        return None if observed == wanted else f"expected exactly {render(wanted)}, got {render(observed)}"
    checks = (
        ("exact", lambda w: observed == w),
        ("prefix", observed.startswith),
        ("suffix", observed.endswith),
        ("contains", lambda w: w in observed),
    )
    for key, holds in checks:
        spec = getattr(expectation, key)
        if spec is None:
            continue
        wanted = payload(spec)
        if not holds(wanted):
            word = {"exact": "exactly", "prefix": "a prefix", "suffix": "a suffix", "contains": "containing"}[
                key
            ]
            return f"expected {word} {render(wanted)}, got {render(observed)}"
    if "length" in expectation.model_fields_set:
        problem = match(len(observed), expectation.length, variables)
        if problem is not None:
            return f"length: {problem} (data {render(observed)})"
    return None


def check_step(
    step: Any,
    value: Any,
    exc: BaseException | None,
    elapsed: float,
    variables: Mapping[str, Any],
    payload: PayloadResolver,
) -> Mismatch | None:
    """The first unmet expectation of ``step``, or None when every written expectation holds."""
    if step.raises is not None:
        if exc is None:
            return Mismatch(describe_raises(step.raises), f"no exception; returned {render_value(value)}")
        problem = raises_problem(step.raises, exc)
        if problem is not None:
            return Mismatch(describe_raises(step.raises), describe_exception(exc), note=problem)
    elif exc is not None:
        partial = getattr(exc, "partial", None)
        note = f"bytes received before it: {render(partial)}" if partial else None
        first, _, rest = describe_exception(exc).partition("\n")
        if rest and not isinstance(exc, PeerError):  # a PeerError's transcripts are shown with the peers
            note = f"{note}; {rest}" if note else rest
        return Mismatch("no exception", first, note=note)
    else:
        if step.checks_return:
            problem = match(value, step.returns, variables)
            if problem is not None:
                mismatch = _split(problem, value)
                observed = mismatch.observed
                if (
                    step.entry.returns_errno(step.args)
                    and isinstance(value, int)
                    and not isinstance(value, bool)
                ):
                    observed = describe_errno(value) if value else "0 (success)"
                return Mismatch(f"returns {mismatch.expected}", observed)
        if step.bytes is not None:
            problem = bytes_problem(step.bytes, step.entry.bytes_of(value), payload, variables)
            if problem is not None:
                mismatch = _split(problem, value)
                return Mismatch(f"bytes {mismatch.expected}", mismatch.observed)
    if step.elapsed is not None:
        low, high = step.elapsed.min, step.elapsed.max
        if (low is not None and elapsed < low) or (high is not None and elapsed > high):
            bounds = " and ".join(
                part
                for part in (
                    f">= {low * 1000:g} ms" if low is not None else "",
                    f"<= {high * 1000:g} ms" if high is not None else "",
                )
                if part
            )
            outcome = describe_exception(exc) if exc is not None else f"returned {render_value(value)}"
            return Mismatch(f"elapsed {bounds}", f"{elapsed * 1000:.3f} ms ({outcome})")
    return None
