"""The conformance table: printed with --sockharness-table (serially, under xdist), written as .md/.json."""

from __future__ import annotations

import errno
import json
import textwrap

import pytest

from sockharness.scenario._run.report import (
    ScenarioResult,
    StepObservation,
    TableRow,
    render_json,
    render_markdown,
    render_report,
    render_text_table,
)

pytest_plugins = ["pytester"]

MIXED = """
scenarios:
  - name: refused
    description: connect_ex reports a refusal as ECONNREFUSED
    method: connect_ex
    observe: "connect_ex returned {rc}"
    peers:
      closed: closed_port
    steps:
      - socket: {as: c}
      - connect_ex: {socket: c, address: closed}
        returns: ECONNREFUSED
        save: rc
  - name: blocking-default
    description: a new socket is blocking
    method: socket
    steps:
      - socket: {as: s}
      - getblocking: s
        returns: true
  - name: wrong-on-purpose
    description: this expectation is wrong | with a pipe
    method: socket
    steps:
      - socket: {as: s}
      - gettimeout: s
        returns: 1.5
  - name: skipped-one
    description: skipped with a reason
    method: recv
    marks: [{skip: "reason shown in the table"}]
    steps: [{socket: {as: s}}]
  - name: known-difference
    description: an expected failure
    method: recv
    marks: [{xfail: {reason: "documented quirk"}}]
    steps:
      - socket: {as: s}
      - getblocking: s
        returns: false
"""


def _suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    (pytester.path / "test_mixed.sock.yaml").write_text(textwrap.dedent(MIXED))
    # A wide terminal keeps every cell on one line, so the assertions below can look for whole phrases.
    monkeypatch.setenv("COLUMNS", "250")


def _table_lines(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "sockharness conformance table" in line)
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("5 scenarios:"))
    return lines[start : end + 1]


def _check_table(output: str) -> None:
    table = "\n".join(_table_lines(output))
    assert f"connect_ex returned ECONNREFUSED ({errno.ECONNREFUSED})" in table
    assert "reason shown in the table" in table
    assert "xfailed" in table
    assert "step 2 (gettimeout): expected returns 1.5; observed None" in table
    assert "5 scenarios: 1 failed, 2 passed, 1 skipped, 1 xfailed" in table
    methods = [line.split()[0] for line in _table_lines(output)[3:-1] if not line.startswith(" ")]
    assert methods == sorted(methods), "rows are grouped by method"


def test_report_table_serial(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _suite(pytester, monkeypatch)
    result = pytester.runpytest("--sockharness-table", "-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1, skipped=1, xfailed=1)
    _check_table(result.stdout.str())


def test_report_table_absent_without_the_option(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _suite(pytester, monkeypatch)
    result = pytester.runpytest("-p", "no:randomly")
    assert "sockharness conformance table" not in result.stdout.str()


def test_report_table_under_xdist_comes_from_the_workers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _suite(pytester, monkeypatch)
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "--sockharness-table")
    result.assert_outcomes(passed=2, failed=1, skipped=1, xfailed=1)
    _check_table(result.stdout.str())


@pytest.mark.parametrize("suffix", ["md", "json"])
def test_report_file_serial_and_xdist(
    pytester: pytest.Pytester, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _suite(pytester, monkeypatch)
    target = pytester.path / "out" / f"conformance.{suffix}"
    options = ("--sockharness-report", str(target), "--sockharness-seed", "77")
    if suffix == "md":  # one of the two through xdist: the controller writes what the workers found
        result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", *options)
    else:
        result = pytester.runpytest("-p", "no:randomly", *options)
    result.assert_outcomes(passed=2, failed=1, skipped=1, xfailed=1)
    text = target.read_text()
    if suffix == "json":
        document = json.loads(text)
        assert document["seed"] == 77
        assert document["summary"] == {"failed": 1, "passed": 2, "skipped": 1, "xfailed": 1}
        rows = {row["scenario"]: row for row in document["scenarios"]}
        assert rows["refused"]["observed"] == f"connect_ex returned ECONNREFUSED ({errno.ECONNREFUSED})"
        assert rows["refused"]["method"] == "connect_ex"
        assert rows["refused"]["file"] == "test_mixed.sock.yaml"
        assert rows["skipped-one"]["result"] == "skipped"
    else:
        assert text.startswith("# Socket behaviour conformance")
        assert "Run seed: `77`" in text
        assert (
            "| connect\\_ex reports a refusal as ECONNREFUSED | connect\\_ex | passed | "
            f"connect\\_ex returned ECONNREFUSED \\({errno.ECONNREFUSED}\\) |" in text
        )
        assert "this expectation is wrong \\| with a pipe" in text


def test_report_rejects_an_unknown_suffix(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _suite(pytester, monkeypatch)
    result = pytester.runpytest("--sockharness-report", "table.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "say the format (md:PATH, json:PATH, junit:PATH)" in result.stderr.str()
    assert "a file name ending in .md, .json or .xml" in result.stderr.str()


def _row(method: str, scenario: str, result: str = "passed") -> TableRow:
    return TableRow(
        behaviour=f"{scenario} behaves",
        method=method,
        result=result,
        observed="x",
        scenario=scenario,
        file="f.yaml",
        duration=0.1,
    )


def test_report_renderers_are_pure_and_sorted() -> None:
    rows = [_row("send", "b"), _row("-", "z"), _row("accept", "a", "failed")]
    text = render_text_table(rows, width=100)
    assert [line.split()[0] for line in text[2:-1]] == ["accept", "send", "-"]
    assert text[-1] == "3 scenarios: 1 failed, 2 passed"
    assert render_text_table([])[-1] == "no scenarios ran"
    assert json.loads(render_json(rows, seed=5))["summary"] == {"failed": 1, "passed": 2}
    assert render_markdown(rows).count("\n| ") == 4  # header + 3 rows
    with pytest.raises(ValueError, match=r"ending in \.md, \.json or \.xml"):
        render_report("x.csv", rows)


def test_report_long_cells_wrap_inside_their_column() -> None:
    behaviour = " ".join(f"b{i}" for i in range(100))
    observed = " ".join(f"o{i}" for i in range(100))
    lines = render_text_table(
        [TableRow(behaviour, "recv", "passed", observed, "s", "f.yaml", 0.0)], width=120
    )
    body = lines[2:-1]
    assert len(body) > 1 and all(len(line) <= 120 for line in body)
    assert body[0].startswith("recv") and body[1].startswith(" ")
    assert " ".join(" ".join(line.split()) for line in body).count("b99") == 1  # nothing is cut
    shown = " ".join(body)
    assert all(f"o{i}" in shown.split() for i in range(100))


def test_report_result_json_round_trip() -> None:
    result = ScenarioResult(
        scenario="s",
        description="d",
        method=None,
        file="f.yaml",
        status="passed",
        observed="o",
        duration=0.5,
        seed=3,
        steps=[StepObservation("1", "socket", 4, 0.001, "None", None)],
        variables={"rc": "111"},
    )
    assert ScenarioResult.from_json(result.to_json()) == result
