"""Matchers: what matches, and the exact sentence a mismatch produces."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from pydantic import TypeAdapter

from sockharness.scenario._language.model_values import Matcher
from sockharness.scenario._run.matchers import UnknownVariableError, match, render, resolve_variable

_MATCHER: TypeAdapter[Any] = TypeAdapter(Matcher)
VARIABLES = {"offered": 1048576, "addr": ("127.0.0.1", 5555), "rc": 0, "names": ["a", "b"]}


def check(observed: Any, written: Any) -> str | None:
    """The mismatch as the report's sentence (``Difference.__str__``), or None."""
    difference = match(observed, _MATCHER.validate_python(written), VARIABLES)
    return None if difference is None else str(difference)


@pytest.mark.parametrize(
    ("observed", "written"),
    [
        (0, 0),
        (None, None),
        (True, True),
        ("text", "text"),
        (b"text", "text"),
        (5.0, 5),
        (errno.ECONNREFUSED, "ECONNREFUSED"),
        (errno.EAGAIN, "EWOULDBLOCK"),
        (errno.EOPNOTSUPP, "ENOTSUP"),
        (("127.0.0.1", 4000), ["127.0.0.1", {"gt": 0}]),
        ([1, 2], [1, 2]),
        (1048575, {"lt": "$offered"}),
        (1048576, {"le": "$offered"}),
        (1048576, "$offered"),
        ("127.0.0.1", "$addr[0]"),
        (("127.0.0.1", 5555), "$addr"),
        (["127.0.0.1", 5555], "$addr"),
        (3, {"between": [1, 3]}),
        (2, {"in": [1, 2]}),
        (errno.EINPROGRESS, {"in": [0, "EINPROGRESS"]}),
        (b"abc", {"len": 3}),
        (b"abc", {"len": {"ge": 1}}),
        (1, {"type": "int"}),
        (1.0, {"type": "float"}),
        (None, {"type": "none"}),
        (("a",), {"type": "tuple"}),
        (b"", {"type": "bytes"}),
        (4, {"gt": 1, "lt": 10, "ne": 5}),
        (4, {"eq": 4}),
        (errno.ECONNRESET, {"ge": "ECONNRESET"}),
    ],
)
def test_matches(observed: Any, written: Any) -> None:
    assert check(observed, written) is None


@pytest.mark.parametrize(
    ("observed", "written", "message"),
    [
        (1048576, {"lt": "$offered"}, "expected < 1048576 ($offered), got 1048576"),
        (0, "ECONNREFUSED", f"expected ECONNREFUSED ({errno.ECONNREFUSED}), got 0 (success)"),
        (
            errno.ETIMEDOUT,
            "ECONNREFUSED",
            f"expected ECONNREFUSED ({errno.ECONNREFUSED}), got ETIMEDOUT ({errno.ETIMEDOUT})",
        ),
        (None, "ECONNREFUSED", f"expected ECONNREFUSED ({errno.ECONNREFUSED}), got None"),
        (1, True, "expected True, got 1"),
        (True, 1, "expected 1, got True"),
        (1, {"type": "bool"}, "expected type bool, got int 1"),
        (True, {"type": "int"}, "expected type int, got bool True"),
        (("127.0.0.1", 0), ["127.0.0.1", {"gt": 0}], "[1]: expected > 0, got 0"),
        (("127.0.0.1",), ["127.0.0.1", 0], "expected a sequence of 2, got 1 items"),
        (5, [5], "expected a sequence of 1, got 5"),
        (3, {"in": [1, 2]}, "expected one of [1, 2], got 3"),
        (4, {"between": [1, 3]}, "expected between 1 and 3, got 4"),
        (5, {"ne": 5}, "expected anything but 5, got 5"),
        (b"ab", {"len": {"gt": 5}}, "len: expected > 5, got 2"),
        (5, {"len": 1}, "expected something with a length, got 5"),
        ("x", {"lt": 3}, "not comparable"),
        ("127.0.0.2", "$addr[0]", "expected '127.0.0.1' ($addr[0]), got '127.0.0.2'"),
    ],
)
def test_mismatch_messages(observed: Any, written: Any, message: str) -> None:
    problem = check(observed, written)
    assert problem is not None and message in problem, problem


def test_variables_resolve_with_indices_and_fail_clearly() -> None:
    assert resolve_variable("$addr[1]", VARIABLES) == 5555
    assert resolve_variable("$names[-1]", VARIABLES) == "b"
    with pytest.raises(UnknownVariableError, match="no step saved 'nope'"):
        resolve_variable("$nope", VARIABLES)
    with pytest.raises(UnknownVariableError, match=r"has no item \[7\]"):
        resolve_variable("$addr[7]", VARIABLES)


def test_render_truncates_long_values() -> None:
    text = render(b"x" * 10_000)
    assert len(text) < 140 and text.endswith("(10000 long)")
