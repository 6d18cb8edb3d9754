"""Verdicts as data: structured differences, one value renderer, ``observe`` that shows the values, errno
results by name, and socket-constant matchers."""

from __future__ import annotations

import errno
import socket

import pytest
from pydantic import TypeAdapter

from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_text
from sockharness.scenario._language.model_values import Matcher
from sockharness.scenario._run import expectations
from sockharness.scenario._run.matchers import Difference, match
from sockharness.scenario._run.render import ErrnoCode, render
from sockharness.scenario._run.runner import fill_observe, run_scenario

_MATCHER: TypeAdapter[object] = TypeAdapter(Matcher)

VARIABLES: dict[str, object] = {
    "data": b"caf\xc3\xa9",
    "name": "h\u00e9llo",
    "addr": ("127.0.0.1", 5555),
    "seconds": 0.12345,
    "rc": ErrnoCode(errno.EINPROGRESS),
    "ok": ErrnoCode(0),
    "slow": 3.0,
    "fast": 1.5,
}


@pytest.mark.parametrize(
    ("template", "shown"),
    [
        ("{data!r}", "b'caf\\xc3\\xa9'"),
        ("{name!r}", "'h\u00e9llo'"),
        ("{name!a}", "'h\\xe9llo'"),
        ("{data!a}", "b'caf\\xc3\\xa9'"),
        ("{name!s}", "h\u00e9llo"),
        ("{name}", "h\u00e9llo"),
        ("{data}", "b'caf\\xc3\\xa9'"),
        ("{seconds:.2f}s", "0.12s"),
        ("{seconds:>8.3f}", "   0.123"),
        ("{name:>7}", "  h\u00e9llo"),
        ("{addr}", "127.0.0.1:5555"),
        ("{addr[0]}:{addr[1]}", "127.0.0.1:5555"),
        ("{addr!r}", "('127.0.0.1', 5555)"),
        ("{addr[1]:06d}", "005555"),
        ("{rc}", f"EINPROGRESS ({errno.EINPROGRESS})"),
        ("{rc:d}", str(errno.EINPROGRESS)),
        ("{rc!r}", str(errno.EINPROGRESS)),
        ("{ok}", "0 (success)"),
        ("{slow/fast:.1f}x", "2.0x"),
    ],
)
def test_observe_fills_in_the_values_themselves(template: str, shown: str) -> None:
    assert fill_observe(template, VARIABLES) == shown


def test_observe_never_shows_an_internal_object() -> None:
    for template in ("{data!r}", "{data!a}", "{addr!r}", "{name!a}"):
        assert "object at 0x" not in fill_observe(template, VARIABLES)


def test_a_difference_is_data_and_reads_as_one_sentence() -> None:
    difference = match(("127.0.0.1", 0), _MATCHER.validate_python(["127.0.0.1", {"gt": 0}]), VARIABLES)
    assert difference == Difference(expected="> 0", observed="0", where=("[1]",))
    assert difference.expectation == "[1]: > 0"
    assert str(difference) == "[1]: expected > 0, got 0"
    nested = match(b"ab", _MATCHER.validate_python({"len": {"gt": 5}}), VARIABLES)
    assert nested == Difference(expected="> 5", observed="2", where=("len",))


def test_expectations_no_longer_parse_sentences_back_apart() -> None:
    assert not hasattr(expectations, "_split")
    assert not hasattr(expectations, "render_value")


def test_one_renderer_for_reports_and_verdicts() -> None:
    assert render("1") == "'1'" and render("1", readable=True) == "1"
    assert render(("::1", 80, 0, 0), readable=True) == "[::1]:80"
    assert render(ErrnoCode(errno.ECONNREFUSED)) == f"ECONNREFUSED ({errno.ECONNREFUSED})"
    assert render(ConnectionRefusedError(errno.ECONNREFUSED, "refused")).startswith("ConnectionRefusedError")
    assert render(b"x" * 1000).endswith("(1000 long)")


def test_an_errno_code_compares_as_its_number() -> None:
    code = ErrnoCode(errno.ECONNREFUSED)
    assert code == errno.ECONNREFUSED and isinstance(code, int)
    assert match(code, _MATCHER.validate_python("ECONNREFUSED"), {}) is None
    assert match(code, _MATCHER.validate_python({"type": "int"}), {}) is None
    difference = match(code, _MATCHER.validate_python(0), {})
    assert difference is not None and difference.observed == f"ECONNREFUSED ({errno.ECONNREFUSED})"


def test_a_socket_constant_matcher_is_compared_as_its_number() -> None:
    """Decision: ``returns: SOCK_STREAM`` means the constant's number here (it could never match as text)."""
    assert match(int(socket.SOCK_STREAM), _MATCHER.validate_python("SOCK_STREAM"), {}) is None
    difference = match(int(socket.SOCK_DGRAM), _MATCHER.validate_python("SOCK_STREAM"), {})
    assert difference == Difference(f"SOCK_STREAM ({int(socket.SOCK_STREAM)})", repr(int(socket.SOCK_DGRAM)))
    assert (
        match(int(socket.SOCK_DGRAM), _MATCHER.validate_python({"in": ["SOCK_STREAM", "SOCK_DGRAM"]}), {})
        is None
    )
    assert match("SOCK_STREAM", _MATCHER.validate_python("SOCK_STREAM"), {}) is None  # text still equals text


_CONSTANT_RUN = """
scenarios:
  - name: so-type
    description: getsockopt SO_TYPE returns the socket's type, matched by name
    method: getsockopt
    observe: "type {kind}, refused {rc}, reply {reply!r}"
    peers:
      echo: echo
      gone: closed_port
    steps:
      - socket: {as: c}
      - getsockopt: {socket: c, level: SOL_SOCKET, option: SO_TYPE}
        returns: SOCK_STREAM
        save: kind
      - settimeout: {socket: c, value: 5s}
      - connect: {socket: c, address: echo}
      - sendall: {socket: c, data: "hi"}
      - recv: {socket: c, bufsize: 10}
        save: reply
      - socket: {as: d}
      - settimeout: {socket: d, value: 5s}
      - connect_ex: {socket: d, address: gone}
        returns: ECONNREFUSED
        save: rc
"""


def test_a_run_shows_constants_errnos_and_reprs_in_observe() -> None:
    scenario = load_text(_CONSTANT_RUN).scenarios[0]
    result = run_scenario(scenario)
    refused = f"ECONNREFUSED ({errno.ECONNREFUSED})"
    assert result.observed == f"type {int(socket.SOCK_STREAM)}, refused {refused}, reply b'hi'"
    connect_ex = next(step for step in result.steps if step.action == "connect_ex")
    assert connect_ex.returned == refused
    assert result.variables["rc"] == refused


def test_an_unknown_socket_constant_matcher_is_a_load_time_error() -> None:
    text = _CONSTANT_RUN.replace("returns: SOCK_STREAM", "returns: SOCK_STREEM")
    with pytest.raises(ScenarioError) as caught:
        load_text(text)
    message = str(caught.value)
    assert "unknown socket constant 'SOCK_STREEM'" in message
    assert "SOCK_STREAM" in message  # did you mean


def test_a_wrong_errno_result_reads_by_name_in_the_failure() -> None:
    text = _CONSTANT_RUN.replace("returns: ECONNREFUSED", "returns: 0")
    with pytest.raises(AssertionError) as caught:
        run_scenario(load_text(text).scenarios[0])
    report = str(caught.value)
    assert "expected: returns 0" in report
    assert f"observed: ECONNREFUSED ({errno.ECONNREFUSED})" in report
