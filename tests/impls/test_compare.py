"""``--compare``: how a run with another socket implementation is set against the stdlib run (pure)."""

from __future__ import annotations

from sockharness.scenario._run.compare import departures, normalise
from sockharness.scenario._run.report import (
    FAILED,
    PASSED,
    ScenarioResult,
    StepObservation,
    TableRow,
    render_markdown,
    render_text_table,
    row_from_result,
)


def _step(
    number: str,
    action: str,
    *,
    returned: str | None = None,
    raised: str | None = None,
    elapsed: float = 0.001,
) -> StepObservation:
    return StepObservation(number, action, None, elapsed, returned, raised)


def _result(status: str, *steps: StepObservation) -> ScenarioResult:
    return ScenarioResult("s", "a behaviour", "connect", "f.yaml", status, "obs", 0.1, steps=list(steps))


def test_identical_runs_have_no_departure() -> None:
    steps = (_step("1", "socket", returned="None"), _step("2", "connect", raised="OSError EISCONN (106): x"))
    assert departures(_result(PASSED, *steps), _result(PASSED, *steps), "gevent") == []


def test_raised_versus_returned_and_the_verdict() -> None:
    base = _result(
        PASSED, _step("3", "connect", raised="OSError EISCONN (106): Transport endpoint is connected")
    )
    other = _result(FAILED, _step("3", "connect", returned="None"))
    found = departures(base, other, "gevent")
    assert found == [
        "fails with gevent, passes with stdlib",
        "step 3 (connect): stdlib raised OSError EISCONN (106): Transport endpoint is connected; "
        "gevent returned None",
    ]


def test_another_class_or_errno_and_another_message() -> None:
    base = _result(
        PASSED,
        _step("1", "connect", raised="ConnectionRefusedError ECONNREFUSED (111): refused"),
        _step("2", "bind", raised="OverflowError: connect(): port must be 0-65535."),
    )
    other = _result(
        PASSED,
        _step("1", "connect", raised="ConnectionAbortedError ECONNABORTED (103): abort"),
        _step("2", "bind", raised="OverflowError: connect_ex(): port must be 0-65535."),
    )
    first, second = departures(base, other, "gevent")
    assert first.startswith("step 1 (connect): stdlib raised ConnectionRefusedError ECONNREFUSED (111)")
    assert "gevent raised ConnectionAbortedError ECONNABORTED (103)" in first
    assert second == (
        "step 2 (bind): same OverflowError, message 'connect(): port must be 0-65535.' "
        "vs gevent 'connect_ex(): port must be 0-65535.'"
    )


def test_ports_and_descriptor_numbers_are_not_behaviour() -> None:
    base = _result(
        PASSED,
        _step("1", "accept", returned="127.0.0.1:40001"),
        _step("2", "getpeername", returned="[::1]:40001"),
        _step("3", "fileno", returned="15"),
        _step("4", "fileno", returned="-1"),
    )
    other = _result(
        PASSED,
        _step("1", "accept", returned="127.0.0.1:52000"),
        _step("2", "getpeername", returned="[::1]:5"),
        _step("3", "fileno", returned="16"),
        _step("4", "fileno", returned="16"),
    )
    assert departures(base, other, "eventlet") == [
        "step 4 (fileno): stdlib returned -1; eventlet returned 16"
    ]


def test_normalise_keeps_addresses_apart_from_other_numbers() -> None:
    assert normalise("('127.0.0.1', 4242) and 10.0.0.12") == "('127.0.0.1':PORT) and 10.0.0.12"
    assert normalise("bytes 4194304") == "bytes 4194304"


def test_timing_counts_only_beyond_the_floor_and_the_ratio() -> None:
    def pair(base: float, other: float) -> list[str]:
        return departures(
            _result(PASSED, _step("1", "recv", raised="TimeoutError (no errno): timed out", elapsed=base)),
            _result(PASSED, _step("1", "recv", raised="TimeoutError (no errno): timed out", elapsed=other)),
            "gevent",
        )

    assert pair(0.100, 0.140) == []  # 40 ms apart: under the 50 ms floor
    assert pair(1.0, 1.2) == []  # 200 ms apart, but only 1.2 times as long
    assert pair(0.0001, 0.1003) == ["step 1 (recv): took 100.3 ms with gevent, 0.1 ms with stdlib"]


def test_steps_reached_on_one_side_only() -> None:
    base = _result(PASSED, _step("1", "socket", returned="None"), _step("2", "recv", returned="b''"))
    other = _result(FAILED, _step("1", "socket", returned="None"))
    other.observed = "step 2 (recv): expected the call to return; observed Failed: Timeout (>10.0s)"
    assert departures(base, other, "eventlet")[1:] == [
        "step 2 (recv): no result with eventlet: step 2 (recv): expected the call to return; "
        "observed Failed: Timeout (>10.0s)"
    ]
    assert departures(other, base, "eventlet")[1:] == ["step 2 (recv): reached only with eventlet"]


def _row(departed: list[str] | None, impl: str = "gevent") -> TableRow:
    result = _result(PASSED)
    result.socket_impl, result.departures = impl, departed
    return row_from_result(result)


def test_tables_show_departures_and_the_implementation() -> None:
    rows = [_row(["step 3 (connect): stdlib raised X; gevent returned None"]), _row([])]
    text = "\n".join(render_text_table(rows, width=150))
    assert "differs from stdlib: step 3 (connect): stdlib raised X; gevent returned None" in text
    assert "socket implementation: gevent (peers: stdlib)" in text
    assert "1 of 2 scenarios differ from the stdlib run of the same seed" in text
    markdown = render_markdown(rows)
    assert "| behaviour | method | result | observed | scenario | differs from stdlib |" in markdown
    assert "gevent returned None |" in markdown and "| - |" in markdown


def test_a_plain_stdlib_table_is_unchanged() -> None:
    rows = [_row(None, impl="stdlib")]
    assert "socket implementation" not in "\n".join(render_text_table(rows))
    assert "differs from stdlib" not in render_markdown(rows)
    assert "| behaviour | method | result | observed | scenario |\n" in render_markdown(rows)


def test_junit_system_out_carries_the_implementation_and_departures() -> None:
    from sockharness.scenario._run.report_formats import render_junit

    xml = render_junit([_row(["step 3 (connect): stdlib raised X; gevent returned None"])])
    assert "socket implementation: gevent" in xml
    assert "differs from stdlib: step 3 (connect): stdlib raised X; gevent returned None" in xml
    assert "socket implementation" not in render_junit([_row(None, impl="stdlib")])
