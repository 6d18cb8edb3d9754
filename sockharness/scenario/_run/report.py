"""What a scenario run produced, and the conformance table built from many runs.

Everything here is plain data and pure formatting: results travel from pytest-xdist workers to the
controller as JSON (through a test report's ``user_properties``), so the table can be rendered on the
controller without any shared state.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: key under which a scenario's row travels in ``TestReport.user_properties``.
ROW_PROPERTY = "sockharness_scenario"

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"
XFAILED = "xfailed"
XPASSED = "xpassed"
ERROR = "error"


@dataclass(frozen=True)
class StepObservation:
    """One executed step: what was called, what came back, and how long it took."""

    number: str  # "3", or "4.2.1" inside repeat/phases (1-based)
    action: str
    line: int | None
    elapsed: float  # seconds, perf_counter around the call only
    returned: str | None  # repr of the return value (None when it raised)
    raised: str | None  # "ConnectionRefusedError ECONNREFUSED (111): ..." when it raised
    label: str | None = None


@dataclass
class ScenarioResult:
    """Outcome of one scenario run: what the conformance table and the report files show."""

    scenario: str
    description: str
    method: str | None
    file: str
    status: str  # PASSED / FAILED / ...
    observed: str  # rendered ``observe`` text, or a one-line failure summary
    duration: float
    seed: int | None = None
    steps: list[StepObservation] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    socket_impl: str = "stdlib"  # where the scenario's own sockets came from (``--socket-impl``)
    #: How this run departed from the standard library's run of the same scenario (``--compare``);
    #: None when no comparison was made, [] when it was made and found nothing.
    departures: list[str] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ScenarioResult:
        raw: dict[str, Any] = json.loads(text)
        steps = [StepObservation(**step) for step in raw.pop("steps", [])]
        return cls(steps=steps, **raw)


@dataclass(frozen=True)
class TableRow:
    """One line of the conformance table (the JSON report holds the same fields)."""

    behaviour: str
    method: str
    result: str
    observed: str
    scenario: str
    file: str
    duration: float
    line: int | None = None
    """The failing step's line when it failed, else the scenario's line (for CI annotations)."""
    details: str = ""
    """The full failure text (step, expected, observed, peers) when it failed or errored."""
    socket_impl: str = "stdlib"
    departures: list[str] | None = None
    """Where the run departed from the standard library's (``--compare``); None: not compared."""


def row_from_result(result: ScenarioResult, status: str | None = None) -> TableRow:
    return TableRow(
        behaviour=result.description,
        method=result.method or "-",
        result=status or result.status,
        observed=result.observed,
        scenario=result.scenario,
        file=result.file,
        duration=round(result.duration, 4),
        socket_impl=result.socket_impl,
        departures=result.departures,
    )


def sorted_rows(rows: Iterable[TableRow]) -> list[TableRow]:
    """Group by method, then by file and scenario, so the table reads like a reference."""
    return sorted(rows, key=lambda row: (row.method == "-", row.method, row.file, row.scenario))


def summary_counts(rows: Sequence[TableRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.result] = counts.get(row.result, 0) + 1
    return dict(sorted(counts.items()))


def render_text_table(rows: Sequence[TableRow], width: int = 160) -> list[str]:
    """Fixed-width lines for the terminal summary; long cells wrap inside their column, nothing is cut."""
    ordered = sorted_rows(rows)
    method_w = max([len("method"), *(len(r.method) for r in ordered)])
    result_w = max([len("result"), *(len(r.result) for r in ordered)])
    rest = max(40, width - method_w - result_w - 6)
    behaviour_w = rest * 11 // 20
    observed_w = rest - behaviour_w
    header = f"{'method':<{method_w}}  {'behaviour':<{behaviour_w}}  {'result':<{result_w}}  observed"
    lines = [header, "-" * min(width, len(header) + observed_w - len("observed"))]
    for row in ordered:
        behaviour = textwrap.wrap(" ".join(row.behaviour.split()), behaviour_w) or [""]
        observed = textwrap.wrap(" ".join(row.observed.split()), observed_w, break_on_hyphens=False) or [""]
        for index in range(max(len(behaviour), len(observed))):
            method = row.method if index == 0 else ""
            result = row.result if index == 0 else ""
            left = behaviour[index] if index < len(behaviour) else ""
            right = observed[index] if index < len(observed) else ""
            lines.append(
                f"{method:<{method_w}}  {left:<{behaviour_w}}  {result:<{result_w}}  {right}".rstrip()
            )
        indent = " " * (method_w + 2)
        for departure in row.departures or []:
            lines += textwrap.wrap(
                f"differs from stdlib: {' '.join(departure.split())}",
                width,
                initial_indent=indent,
                subsequent_indent=indent + "  ",
                break_on_hyphens=False,
            )
    counts = ", ".join(f"{n} {status}" for status, n in summary_counts(ordered).items())
    lines.append(f"{len(ordered)} scenarios: {counts}" if ordered else "no scenarios ran")
    lines += implementation_lines(ordered)
    return lines


def implementations(rows: Sequence[TableRow]) -> list[str]:
    """The socket implementations the rows ran with, in first-seen order (one, unless reports were merged)."""
    return list(dict.fromkeys(row.socket_impl for row in rows))


def compared(rows: Sequence[TableRow]) -> bool:
    return any(row.departures is not None for row in rows)


def implementation_lines(rows: Sequence[TableRow]) -> list[str]:
    """What the table's results were measured with, when that is not simply the standard library."""
    names = implementations(rows)
    if not rows or names == ["stdlib"]:
        return []
    lines = [f"socket implementation: {', '.join(names)} (peers: stdlib)"]
    if compared(rows):
        differing = sum(1 for row in rows if row.departures)
        lines.append(f"{differing} of {len(rows)} scenarios differ from the stdlib run of the same seed")
    return lines


# Every ASCII punctuation character that Markdown or HTML could read as markup: escaped, each renders as
# itself. ``:`` and ``@`` too, or GitHub turns a bare ``http://…`` or an e-mail address into a link.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~:@&])")
_MD_WWW = re.compile(r"(?i)\b(www)\.")


def md_text(text: str) -> str:
    """``text`` as one line of Markdown that renders literally: no HTML, emphasis, links or table breaks."""
    flat = " ".join(text.split())
    return _MD_WWW.sub(r"\1\\.", _MD_SPECIAL.sub(r"\\\1", flat))


_FAILED_FIRST = (FAILED, ERROR, XPASSED)


def failures_first(rows: Iterable[TableRow]) -> list[TableRow]:
    """What needs attention on top (failed, error, xpassed), each group in the reference order."""
    ordered = sorted_rows(rows)
    return [r for r in ordered if r.result in _FAILED_FIRST] + [
        r for r in ordered if r.result not in _FAILED_FIRST
    ]


def render_markdown(rows: Sequence[TableRow], seed: int | None = None) -> str:
    ordered = failures_first(rows)
    out = ["# Socket behaviour conformance", ""]
    if seed is not None:
        out += [f"Run seed: `{seed}` (replay with `--sockharness-seed {seed}`).", ""]
    counts = ", ".join(f"{n} {status}" for status, n in summary_counts(ordered).items())
    out += [f"{len(ordered)} scenarios: {counts or 'none'}.", ""]
    out += [f"{md_text(line)}." for line in implementation_lines(ordered)]
    out += [""] if implementation_lines(ordered) else []
    with_departures = compared(ordered)
    extra_head, extra_rule = (" differs from stdlib |", "---|") if with_departures else ("", "")
    out += [
        f"| behaviour | method | result | observed | scenario |{extra_head}",
        f"|---|---|---|---|---|{extra_rule}",
    ]
    for row in ordered:
        extra = ""
        if with_departures:
            extra = f" {md_text('; '.join(row.departures or [])) or '-'} |"
        out.append(
            f"| {md_text(row.behaviour)} | {md_text(row.method)} | {md_text(row.result)} | "
            f"{md_text(row.observed)} | {md_text(row.scenario)} ({md_text(row.file)}) |{extra}"
        )
    return "\n".join(out) + "\n"


def render_json(rows: Sequence[TableRow], seed: int | None = None) -> str:
    ordered = sorted_rows(rows)
    document = {
        "seed": seed,
        "summary": summary_counts(ordered),
        "scenarios": [asdict(row) for row in ordered],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_report(path: str, rows: Sequence[TableRow], seed: int | None = None) -> str:
    """Text of the report for ``path``: ``md:``/``json:``/``junit:`` prefix, or ``.md``/``.json``/``.xml``."""
    from sockharness.scenario._run.report_formats import parse_report_spec, render_junit

    spec = parse_report_spec(path)
    if spec.format == "json":
        return render_json(rows, seed)
    if spec.format == "junit":
        return render_junit(sorted_rows(rows), seed)
    return render_markdown(rows, seed)
