"""Check one executed step against its ``raises`` / ``returns`` / ``bytes`` / ``elapsed`` expectations.

Pure: the step already ran; this only compares what was observed with what was written and, on a
mismatch, returns both sides as data (exception class, errno name and number, message; the matcher's
:class:`~sockharness.scenario._run.matchers.Difference`) so the failure report needs no traceback and no
sentence is ever parsed back apart.
"""

from __future__ import annotations

import builtins
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sockharness._errnos import describe_exception, is_errno, resolve_errno
from sockharness._ssl_reasons import reason_matches, verify_code_name
from sockharness.peers import PeerError
from sockharness.peers._tls import describe_tls_error
from sockharness.scenario._actions.base import ScenarioSetupError
from sockharness.scenario._actions.imports import ImportPathError, import_object
from sockharness.scenario._language.model_values import BytesMatch, Elapsed, Payload, RaisesSpec
from sockharness.scenario._run.matchers import Difference, Variables, match
from sockharness.scenario._run.render import render

if TYPE_CHECKING:
    from sockharness.scenario._language.model_steps import StepBase

__all__ = ["Mismatch", "bytes_problem", "check_step", "describe_raises", "exception_class", "raises_problem"]

PayloadResolver = Callable[[Payload], bytes]


@dataclass(frozen=True)
class Mismatch:
    """What a step was expected to do and what it did, each side in words, plus an optional note."""

    expected: str
    observed: str
    note: str | None = None


def _describe(exc: BaseException) -> str:
    """An SSLError's errno is an SSL_ERROR_* code (1 is not EPERM): show its reason instead."""
    return describe_tls_error(exc) if isinstance(exc, ssl.SSLError) else describe_exception(exc)


def exception_class(name: str) -> type[BaseException]:
    """The class a ``raises: {type: ...}`` names (builtins, ``socket.gaierror``, or an import path, imported
    here: a path that does not resolve raises :class:`ImportPathError`)."""
    if name == "socket.gaierror":
        return socket.gaierror
    if name.startswith("ssl."):
        found_ssl = getattr(ssl, name.removeprefix("ssl."), None)
        if isinstance(found_ssl, type) and issubclass(found_ssl, BaseException):
            return found_ssl
    found = getattr(builtins, name, None)
    if isinstance(found, type) and issubclass(found, BaseException):
        return found
    if "." not in name and ":" not in name:
        raise ValueError(f"raises: unknown exception class {name!r}")
    imported = import_object(name)
    if not (isinstance(imported, type) and issubclass(imported, BaseException)):
        raise ImportPathError(f"raises: {name} is {imported!r}, not an exception class")
    return imported


def describe_raises(raises: RaisesSpec) -> str:
    text = str(raises.type)
    if raises.checks_errno:
        if raises.errno is None:
            text += " with errno None (a Python-level timeout)"
        else:
            names = " or ".join(f"{name} ({_number(name)})" for name in raises.errno)
            text += f" with errno {names}"
    if raises.message:
        text += f" whose message contains {raises.message!r}"
    if raises.reason is not None:
        text += f" with reason {' or '.join(raises.reason)}"
    if raises.verify_code is not None:
        text += f" with verify_code {verify_code_name(raises.verify_code)}"
    if raises.match is not None:
        text += f" whose message matches /{raises.match}/"
    return text


def _number(name: str) -> str:
    try:
        return str(resolve_errno(name))
    except ValueError:
        return "?"


def raises_problem(raises: RaisesSpec, exc: BaseException) -> str | None:
    """None when ``exc`` is what ``raises`` describes; otherwise which part differs."""
    if isinstance(exc, ScenarioSetupError):
        return "a harness error (an unknown name, an import that failed, a call that hung) is never expected"
    try:
        wanted = exception_class(raises.type)
    except ImportPathError as error:
        return str(error)
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
    if raises.reason is not None:
        observed = getattr(exc, "reason", None)
        if not any(reason_matches(wanted_reason, observed) for wanted_reason in raises.reason):
            return f"the reason is {observed}, not {' or '.join(raises.reason)} (nor a known alias)"
    if raises.verify_code is not None:
        code = getattr(exc, "verify_code", None)
        if code != raises.verify_code:
            return f"verify_code is {verify_code_name(code)}, not {verify_code_name(raises.verify_code)}"
    if raises.match is not None and re.search(raises.match, str(exc)) is None:
        return f"the message {str(exc)!r} does not match /{raises.match}/"
    return None


_BYTES_WORDS = {"exact": "exactly", "prefix": "a prefix", "suffix": "a suffix", "contains": "containing"}


def bytes_problem(
    expectation: Payload | BytesMatch, data: object, payload: PayloadResolver, variables: Variables
) -> Difference | None:
    """None when ``data`` holds; otherwise how it differs from the ``bytes:`` expectation."""
    if not isinstance(data, bytes | bytearray):
        return Difference("bytes", render(data))
    observed = bytes(data)
    if not isinstance(expectation, BytesMatch):
        wanted = payload(expectation)
        return None if observed == wanted else Difference(f"exactly {render(wanted)}", render(observed))
    checks: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
        ("exact", lambda w: observed == w),
        ("prefix", observed.startswith),
        ("suffix", observed.endswith),
        ("contains", lambda w: w in observed),
    )
    for key, holds in checks:
        spec: Payload | None = getattr(expectation, key)
        if spec is None:
            continue
        wanted = payload(spec)
        if not holds(wanted):
            return Difference(f"{_BYTES_WORDS[key]} {render(wanted)}", render(observed))
    if "length" in expectation.model_fields_set:
        difference = match(len(observed), expectation.length, variables)
        if difference is not None:
            shown = f"{difference.observed} (data {render(observed)})"
            return Difference(difference.expected, shown, difference.where).inside("length")
    return None


def _unexpected_exception(exc: BaseException) -> Mismatch:
    partial = getattr(exc, "partial", None)
    note = f"bytes received before it: {render(partial)}" if partial else None
    first, _, rest = _describe(exc).partition("\n")
    if rest and not isinstance(exc, PeerError):  # a PeerError's transcripts are shown with the peers
        note = f"{note}; {rest}" if note else rest
    return Mismatch("no exception", first, note=note)


def _elapsed_problem(
    bounds: Elapsed, elapsed: float, value: object, exc: BaseException | None
) -> Mismatch | None:
    low, high = bounds.min, bounds.max
    if (low is None or elapsed >= low) and (high is None or elapsed <= high):
        return None
    words = [
        f">= {low * 1000:g} ms" if low is not None else "",
        f"<= {high * 1000:g} ms" if high is not None else "",
    ]
    outcome = _describe(exc) if exc is not None else f"returned {render(value, readable=True)}"
    return Mismatch(
        f"elapsed {' and '.join(word for word in words if word)}", f"{elapsed * 1000:.3f} ms ({outcome})"
    )


def check_step(
    step: StepBase,
    value: object,
    exc: BaseException | None,
    elapsed: float,
    variables: Variables,
    payload: PayloadResolver,
) -> Mismatch | None:
    """The first unmet expectation of ``step``, or None when every written expectation holds."""
    if step.raises is not None:
        if exc is None:
            return Mismatch(
                describe_raises(step.raises), f"no exception; returned {render(value, readable=True)}"
            )
        problem = raises_problem(step.raises, exc)
        if problem is not None:
            return Mismatch(describe_raises(step.raises), _describe(exc), note=problem)
    elif exc is not None:
        return _unexpected_exception(exc)
    else:
        if step.checks_return:
            difference = match(value, step.returns, variables)
            if difference is not None:
                return Mismatch(f"returns {difference.expectation}", difference.observed)
        if step.bytes is not None:
            difference = bytes_problem(step.bytes, step.entry.bytes_of(value), payload, variables)
            if difference is not None:
                return Mismatch(f"bytes {difference.expectation}", difference.observed)
    if step.elapsed is not None:
        return _elapsed_problem(step.elapsed, elapsed, value, exc)
    return None
