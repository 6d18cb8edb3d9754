"""Renders the single results table (pure: rows in, text out)."""

from __future__ import annotations

from collections.abc import Sequence

from bench.results import Row
from bench.stats import Summary

HEADERS = ("figure", "mode", "median", "range (n)", "ratio", "target", "result")


def number(value: float) -> str:
    """Three significant figures, but never scientific notation for the sizes a benchmark meets."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def value_cell(row: Row) -> str:
    if row.value is None:
        return "-"
    return f"{number(row.value.median)} {row.unit}".rstrip()


def range_cell(summary: Summary | None) -> str:
    if summary is None:
        return ""
    if summary.runs == 1:
        return "(n=1)"
    return f"{number(summary.low)}-{number(summary.high)} (n={summary.runs})"


def ratio_cell(row: Row) -> str:
    if row.ratio is None:
        return ""
    text = f"{row.ratio.median:.2f}x {row.ratio_of}".rstrip()
    if row.ratio.runs > 1 and row.ratio.low != row.ratio.high:
        text += f" [{row.ratio.low:.2f}-{row.ratio.high:.2f}]"
    return text


def cells(row: Row) -> tuple[str, ...]:
    check_text = row.check.text if row.check else ""
    verdict = row.check.verdict if row.check else ""
    return (
        row.figure,
        row.mode,
        value_cell(row),
        range_cell(row.value),
        ratio_cell(row),
        check_text,
        verdict,
    )


def render(rows: Sequence[Row]) -> str:
    """A plain-text table grouped by section; notes (reasons, side figures) go on an indented line."""
    body = [cells(row) for row in rows]
    widths = [max(len(line[i]) for line in [HEADERS, *body]) for i in range(len(HEADERS))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(value.ljust(width) for value, width in zip(values, widths, strict=True)).rstrip()

    out = [line(HEADERS), line(["-" * width for width in widths])]
    section = None
    for row, row_cells in zip(rows, body, strict=True):
        if row.section != section:
            if section is not None:
                out.append("")
            out.append(f"[{row.section}]")
            section = row.section
        out.append(line(row_cells))
        if row.note:
            out.append(f"    note: {row.note}")
    return "\n".join(out)


def render_markdown(rows: Sequence[Row]) -> str:
    """The same table as GitHub markdown (notes in their own column), for the README's bench section."""
    headers = (*HEADERS, "note")
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        row_cells = (*cells(row), row.note)
        out.append("| " + " | ".join(cell.replace("|", "/") for cell in row_cells) + " |")
    return "\n".join(out)
