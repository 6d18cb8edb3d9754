"""Reports CI systems accept: explicit formats, several per run, append mode, escaped Markdown with failures
first, xunit2-valid JUnit XML with one-line failure messages, and GitHub annotations."""

from __future__ import annotations

import json
import os
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sockharness.scenario._run.report import TableRow, md_text, render_markdown
from sockharness.scenario._run.report_formats import (
    ReportSpec,
    github_annotation,
    parse_failure_text,
    parse_report_spec,
    render_junit,
)

pytest_plugins = ["pytester"]

SUITE = """
scenarios:
  - name: blocking-default
    description: a new socket is blocking
    method: socket
    steps:
      - socket: {as: s}
      - getblocking: s
        returns: true
  - name: wrong-on-purpose
    description: this expectation is wrong
    method: socket
    steps:
      - socket: {as: s}
      - gettimeout: s
        returns: 1.5
  - name: skipped-one
    description: skipped with a reason
    method: recv
    marks: [{skip: "not here"}]
    steps: [{socket: {as: s}}]
"""
WRONG_STEP_LINE = 15  # `- gettimeout: s` of wrong-on-purpose in the dedented file

# What pytest's own example schema (testing/example_scripts/junit-10.xsd, the xunit2 schema, MIT) allows;
# checked here without the schema file, and against the file itself when SOCKHARNESS_XUNIT2_XSD names it.
TESTCASE_ATTRIBUTES = {"name", "time", "classname", "group"}
TESTCASE_CHILDREN = {
    "skipped",
    "errors",
    "failure",
    "rerunFailure",
    "rerunError",
    "flakyFailure",
    "flakyError",
    "system-out",
    "system-err",
}
SUREFIRE_TIME = r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]{0,3})?"


def _row(scenario: str, result: str, observed: str = "x", **extra: object) -> TableRow:
    fields: dict[str, object] = {
        "behaviour": f"{scenario} behaves",
        "method": "recv",
        "result": result,
        "observed": observed,
        "scenario": scenario,
        "file": "suite/f.yaml",
        "duration": 0.25,
    }
    fields.update(extra)
    return TableRow(**fields)  # type: ignore[arg-type]


def _assert_xunit2(text: str) -> ET.Element:
    import re

    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    for suite in root.iter("testsuite"):
        assert {"name", "tests", "failures", "errors"} <= set(suite.attrib)
        assert re.fullmatch(SUREFIRE_TIME, suite.get("time", ""))
    for case in root.iter("testcase"):
        assert set(case.attrib) <= TESTCASE_ATTRIBUTES, case.attrib
        assert {child.tag for child in case} <= TESTCASE_CHILDREN, [child.tag for child in case]
    schema_path = os.environ.get("SOCKHARNESS_XUNIT2_XSD")
    if schema_path:
        xmlschema = pytest.importorskip("xmlschema", reason="xmlschema validates JUnit XML (dev extra)")
        xmlschema.XMLSchema(schema_path).validate(text)
    return root


# --- pure: formats, escaping, JUnit, annotations -----------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("md:/tmp/step_summary_0a1b", ReportSpec("md", "/tmp/step_summary_0a1b")),
        ("junit:out/any.name", ReportSpec("junit", "out/any.name")),
        ("json:r.txt", ReportSpec("json", "r.txt")),
        ("report.MD", ReportSpec("md", "report.MD")),
        ("out/r.xml", ReportSpec("junit", "out/r.xml")),
        ("C:/reports/r.json", ReportSpec("json", "C:/reports/r.json")),
    ],
)
def test_report_spec_names_the_format_or_takes_it_from_the_suffix(given: str, expected: ReportSpec) -> None:
    assert parse_report_spec(given) == expected


@pytest.mark.parametrize("given", ["summary", "table.txt", "md:", "html:x.html"])
def test_report_spec_without_a_known_format_is_refused_with_the_choices(given: str) -> None:
    with pytest.raises(ValueError, match=r"md:PATH, json:PATH, junit:PATH|no path after"):
        parse_report_spec(given)


def test_only_markdown_reports_append() -> None:
    assert parse_report_spec("md:/tmp/summary", append=True) == ReportSpec("md", "/tmp/summary", append=True)
    with pytest.raises(ValueError, match=r"^--report-append r\.xml: only Markdown reports can be appended"):
        parse_report_spec("r.xml", append=True)


HOSTILE = "<script>alert(1)</script> *a* _b_ | [link](http://evil.example) `tick` www.evil.example"


def test_markdown_cells_render_as_text_in_a_commonmark_table() -> None:
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py renders CommonMark (dev extra)")
    html = (
        markdown_it.MarkdownIt("commonmark")
        .enable("table")
        .render(render_markdown([_row("s", "failed", HOSTILE)]))
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    for markup in ("<em>", "<strong>", "<a ", "<code>"):
        assert markup not in html
    assert "[link](http://evil.example)" in html  # every character shown, none of it markup
    body_row = html.split("<tbody>")[1].split("</tr>")[0]
    assert body_row.count("<td>") == 5  # the `|` in the value did not split the row


def test_markdown_escaping_is_total_without_a_renderer() -> None:
    escaped = md_text(HOSTILE)
    for raw in ("<script>", "*a*", "_b_", " | ", "[link]", "`tick`", "http://", "www.evil"):
        assert raw not in escaped
    assert md_text("line one\nline two") == "line one line two"


def test_markdown_puts_failures_first() -> None:
    rows = [_row("a-pass", "passed"), _row("z-fail", "failed"), _row("b-skip", "skipped"), _row("c", "error")]
    body = [
        line for line in render_markdown(rows).splitlines() if line.startswith("| ") and "behaves" in line
    ]
    assert [line.split(" | ")[4].split(" ")[0] for line in body] == ["c", "z-fail", "a-pass", "b-skip"]


FAILURE_TEXT = """scenario 'wrong' failed
  step 2 (gettimeout) @ suite/f.yaml:17
    | - gettimeout: s
  expected: returns 1.5
  observed: None
  seed:     5 (replay: --sockharness-seed 5)"""


def test_failure_text_is_read_into_step_location_and_values() -> None:
    summary = parse_failure_text(FAILURE_TEXT)
    assert (summary.step, summary.action, summary.file, summary.line) == (
        "2",
        "gettimeout",
        "suite/f.yaml",
        17,
    )
    assert (
        summary.headline("?") == "step 2 (gettimeout) @ suite/f.yaml:17: expected returns 1.5; observed None"
    )
    assert parse_failure_text("boom").headline("fallback") == "fallback"


def test_junit_is_xunit2_shaped_with_one_line_failure_messages() -> None:
    rows = [
        _row("ok", "passed"),
        _row(
            "wrong",
            "failed",
            "step 2 (gettimeout): expected returns 1.5; observed None",
            details=FAILURE_TEXT,
        ),
        _row("gone", "skipped", "not here"),
        _row("bytes", "passed", "got b'\\x00' \x00\x1b<&>"),
    ]
    root = _assert_xunit2(render_junit(rows, seed=5))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    assert [p.get("value") for p in suite.iter("property")] == ["5"]
    failure = root.find("testsuite/testcase[@name='wrong']/failure")
    assert failure is not None and failure.text == FAILURE_TEXT
    assert (
        failure.get("message") == "step 2 (gettimeout) @ suite/f.yaml:17: expected returns 1.5; observed None"
    )
    out = root.find("testsuite/testcase[@name='bytes']/system-out")
    assert out is not None and out.text is not None and "\\x00\\x1b<&>" in out.text
    assert root.find("testsuite/testcase[@name='gone']/skipped") is not None


def test_github_annotations_escape_their_fields() -> None:
    line = github_annotation("a: 50%\nb", file="dir/x,y.yaml", line=3, column=7)
    assert line == "::error file=dir/x%2Cy.yaml,line=3,col=7::a: 50%25%0Ab"
    assert github_annotation("plain") == "::error::plain"


# --- through pytest --------------------------------------------------------------------------------


def _suite(pytester: pytest.Pytester) -> None:
    (pytester.path / "test_suite.sock.yaml").write_text(textwrap.dedent(SUITE))


def test_several_reports_one_run_any_file_name_and_valid_pytest_junit(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    summary = pytester.path / "step_summary_0a1b"  # what $GITHUB_STEP_SUMMARY looks like
    result = pytester.runpytest(
        "-p",
        "no:randomly",
        "--sockharness-report",
        f"md:{summary}",
        "--sockharness-report",
        "junit:out/conformance.junit",
        "--sockharness-report",
        "rows.json",
        "--sockharness-annotations",
        "github",
        "--junitxml=pytest.xml",
        "-o",
        "junit_family=xunit2",
    )
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    markdown = summary.read_text()
    assert markdown.index("wrong-on-purpose") < markdown.index("blocking-default")  # failures first
    assert json.loads((pytester.path / "rows.json").read_text())["summary"]["failed"] == 1
    ours = _assert_xunit2((pytester.path / "out" / "conformance.junit").read_text())
    failure = ours.find("testsuite/testcase[@name='wrong-on-purpose']/failure")
    assert failure is not None
    expected = (
        f"step 2 (gettimeout) @ test_suite.sock.yaml:{WRONG_STEP_LINE}: expected returns 1.5; observed None"
    )
    assert failure.get("message") == expected
    pytests = _assert_xunit2((pytester.path / "pytest.xml").read_text())
    assert pytests.find(".//properties") is None  # the row's JSON stays out of the testcases
    pytest_failure = pytests.find(".//testcase[@name='wrong-on-purpose']/failure")
    assert pytest_failure is not None and pytest_failure.get("message") == expected
    assert (pytest_failure.text or "").startswith("scenario 'wrong-on-purpose' failed")  # the full text
    result.stdout.fnmatch_lines(
        [
            f"::error file=test_suite.sock.yaml,line={WRONG_STEP_LINE}::"
            "wrong-on-purpose: step 2 (gettimeout) @ *"
        ]
    )


def test_row_properties_only_when_asked(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    pytester.runpytest("-p", "no:randomly", "--junitxml=p.xml", "--sockharness-junit-properties")
    assert ET.parse(pytester.path / "p.xml").getroot().find(".//testcase/properties") is not None


def test_append_mode_adds_a_report_per_run_and_refuses_json(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    summary = pytester.path / "summary"
    summary.write_text("## earlier step\n")
    for _ in range(2):
        pytester.runpytest(
            "-p",
            "no:randomly",
            "--sockharness-report-append",
            f"md:{summary}",
            "--sockharness-report",
            "r.xml",
        )
    text = summary.read_text()
    assert text.startswith("## earlier step\n")
    assert text.count("# Socket behaviour conformance") == 2
    assert ET.parse(pytester.path / "r.xml").getroot().tag == "testsuites"  # replaced: still one document
    refused = pytester.runpytest("--sockharness-report-append", "r.json")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    expected = "--sockharness-report-append r.json: only Markdown reports can be appended to"
    assert expected in refused.stderr.str()


def test_schema_file_itself_when_available() -> None:
    """The structural checks above mirror the xunit2 schema; this one uses the file when it is provided."""
    path = os.environ.get("SOCKHARNESS_XUNIT2_XSD")
    if not path or not Path(path).is_file():
        pytest.skip("SOCKHARNESS_XUNIT2_XSD does not name pytest's junit-10.xsd (not vendored in this repo)")
    xmlschema = pytest.importorskip("xmlschema", reason="xmlschema validates JUnit XML (dev extra)")
    xmlschema.XMLSchema(path).validate(render_junit([_row("wrong", "failed", details=FAILURE_TEXT)], seed=1))
