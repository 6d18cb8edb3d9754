"""Report files CI systems accept: which format goes to which path, JUnit XML, annotations.

Pure formatting only (no file I/O): ``parse_report_spec`` turns ``--report md:PATH`` into a format and a
path, the renderers turn table rows into text. Writing the files is the caller's business.

* The format is explicit (``md:``, ``json:``, ``junit:``) or follows from the suffix (``.md``, ``.json``,
  ``.xml``), so any file name works -- ``md:$GITHUB_STEP_SUMMARY`` included.
* JUnit XML keeps to the xunit2 schema (pytest's ``junit-10.xsd``): ``testcase`` carries only ``name``,
  ``classname`` and ``time``; the row's data goes to ``system-out``; a failure's message is one line with the
  step, its action, ``file:line`` and expected vs observed.
* ``--annotations github`` lines (``::error file=…,line=…::message``) put problems on pull-request lines.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from sockharness.scenario._run.report import ERROR, FAILED, SKIPPED, XFAILED, TableRow, summary_counts

__all__ = [
    "ANNOTATION_STYLES",
    "REPORT_FORMATS",
    "FailureSummary",
    "ReportSpec",
    "github_annotation",
    "parse_failure_text",
    "parse_report_spec",
    "render_junit",
]

REPORT_FORMATS = ("md", "json", "junit")
ANNOTATION_STYLES = ("github",)
_SUFFIXES = {".md": "md", ".markdown": "md", ".json": "json", ".xml": "junit"}
_STEP_LINE = re.compile(r"^\s*step (?P<number>\S+) \((?P<action>[^)]*)\) @ (?P<file>.+?):(?P<line>\d+)")
_IN_LINE = re.compile(r"^\s*in (?P<file>.+?)(?::(?P<line>\d+))?$")
# Characters XML 1.0 cannot carry at all, even escaped: observed bytes may hold any of them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class ReportSpec:
    """One ``--report`` (or ``--report-append``): where it goes, in which format, added to or replacing."""

    format: str
    path: str
    append: bool = False


def parse_report_spec(text: str, *, append: bool = False) -> ReportSpec:
    """``md:PATH``, ``json:PATH``, ``junit:PATH``, or a bare PATH whose suffix names the format.

    ``append`` (``--report-append``) is for Markdown only: a second JSON or XML document added to a file
    would make the whole file invalid."""
    option = "--report-append" if append else "--report"
    spec = _spec(text, option)
    if append and spec.format != "md":
        raise ValueError(
            f"{option} {text}: only Markdown reports can be appended to (a second {spec.format} document "
            "in one file is not valid); use --report to replace the file"
        )
    return ReportSpec(spec.format, spec.path, append)


def _spec(text: str, option: str) -> ReportSpec:
    prefix, sep, rest = text.partition(":")
    if sep and prefix in REPORT_FORMATS:
        if not rest:
            raise ValueError(f"{option} {text}: no path after {prefix!r}")
        return ReportSpec(prefix, rest)
    lowered = text.lower()
    for suffix, name in _SUFFIXES.items():
        if lowered.endswith(suffix):
            return ReportSpec(name, text)
    known = ", ".join(f"{name}:PATH" for name in REPORT_FORMATS)
    raise ValueError(
        f"{option} {text}: say the format ({known}) or use a file name ending in .md, .json or .xml"
    )


@dataclass(frozen=True)
class FailureSummary:
    """The first lines of a scenario failure: which step, where, what was expected and observed."""

    step: str | None
    action: str | None
    file: str | None
    line: int | None
    expected: str | None
    observed: str | None

    def headline(self, fallback: str) -> str:
        """One line for a JUnit message or an annotation; ``fallback`` when the text had no step."""
        where = f"{self.file}:{self.line}" if self.file and self.line else self.file
        parts = []
        if self.step is not None:
            parts.append(f"step {self.step} ({self.action})")
        if where:
            parts.append(f"@ {where}")
        head = " ".join(parts)
        if self.expected is not None or self.observed is not None:
            detail = f"expected {self.expected}; observed {self.observed}"
            return f"{head}: {detail}" if head else detail
        return f"{head}: {fallback}" if head else fallback


def parse_failure_text(text: str) -> FailureSummary:
    """Read a rendered ``ScenarioFailure``: ``step 3 (connect) @ f.yaml:12``, ``expected:``, ``observed:``."""
    step = action = file = expected = observed = None
    line: int | None = None
    for raw in text.splitlines():
        stripped = raw.strip()
        match = _STEP_LINE.match(raw)
        if match and step is None:
            step, action, file = match["number"], match["action"], match["file"]
            line = int(match["line"])
            continue
        located = _IN_LINE.match(raw)
        if located and file is None:
            file = located["file"]
            line = int(located["line"]) if located["line"] else None
            continue
        if stripped.startswith("expected:") and expected is None:
            expected = stripped.removeprefix("expected:").strip()
        elif stripped.startswith("observed:") and observed is None:
            observed = stripped.removeprefix("observed:").strip()
    return FailureSummary(step, action, file, line, expected, observed)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def _seconds(value: float) -> str:
    return f"{max(0.0, value):.3f}"


def _row_lines(row: TableRow) -> str:
    lines = [
        f"behaviour: {row.behaviour}",
        f"method: {row.method}",
        f"result: {row.result}",
        f"observed: {row.observed}",
        f"file: {row.file}" + (f":{row.line}" if row.line else ""),
    ]
    if row.socket_impl != "stdlib":
        lines.append(f"socket implementation: {row.socket_impl}")
    lines += [f"differs from stdlib: {departure}" for departure in row.departures or []]
    return "\n".join(lines)


def render_junit(rows: Sequence[TableRow], seed: int | None = None, suite: str = "sockharness") -> str:
    """xunit2-valid JUnit XML, one ``testcase`` per row; failures carry the step line as their message."""
    counts = summary_counts(rows)
    failures = counts.get(FAILED, 0) + counts.get(ERROR, 0)
    total = sum(row.duration for row in rows)
    root = ET.Element("testsuites", name=suite, tests=str(len(rows)), failures=str(failures), errors="0")
    root.set("time", _seconds(total))
    testsuite = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(rows)),
        failures=str(failures),
        errors="0",
        skipped=str(counts.get(SKIPPED, 0) + counts.get(XFAILED, 0)),
        time=_seconds(total),
    )
    if seed is not None:
        properties = ET.SubElement(testsuite, "properties")  # allowed on the suite, not on a testcase
        ET.SubElement(properties, "property", name="sockharness_seed", value=str(seed))
    for row in rows:
        case = ET.SubElement(
            testsuite,
            "testcase",
            name=_xml_text(row.scenario),
            classname=_xml_text(row.file.replace("/", ".")),
            time=_seconds(row.duration),
        )
        if row.result in (FAILED, ERROR):
            summary = parse_failure_text(row.details)
            fallback = row.observed or row.result
            message = summary.headline(fallback)
            if summary.file is None:
                message = f"{row.file}:{row.line}: {message}" if row.line else f"{row.file}: {message}"
            failure = ET.SubElement(
                case, "failure", type="ScenarioFailure" if row.result == FAILED else "ScenarioError"
            )
            failure.set("message", _xml_text(message))
            failure.text = _xml_text(row.details or message)
        elif row.result in (SKIPPED, XFAILED):
            ET.SubElement(case, "skipped", message=_xml_text(row.observed or row.result))
        ET.SubElement(case, "system-out").text = _xml_text(_row_lines(row))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    column: int | None = None,
    level: str = "error",
) -> str:
    """A GitHub Actions workflow command: the runner turns it into a note on the file's line in a PR."""
    properties = []
    if file:
        properties.append(f"file={_escape_property(file)}")
        if line:
            properties.append(f"line={line}")
            if column:
                properties.append(f"col={column}")
    head = f"::{level} {','.join(properties)}" if properties else f"::{level}"
    return f"{head}::{_escape_data(message)}"
