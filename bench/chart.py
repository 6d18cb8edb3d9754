"""The PNG chart: one small bar panel per figure, a bar per mode at its median with the run range as
an error bar, the panel title coloured by the target's verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from bench.results import Row

COLOURS = {"direct": "#7f7f7f", "toxiproxy": "#1f77b4", "embedded": "#ff7f0e", "harness": "#2ca02c"}
VERDICT_COLOURS = {"PASS": "#2ca02c", "FAIL": "#d62728", "n/a": "#000000"}


def panels(rows: Sequence[Row]) -> list[tuple[str, list[Row]]]:
    """Rows grouped by figure, in table order, keeping only figures with at least one value."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.figure, []).append(row)
    return [(figure, group) for figure, group in groups.items() if any(r.value for r in group)]


def write_png(rows: Sequence[Row], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = panels(rows)
    columns = 4
    lines = max(1, math.ceil(len(groups) / columns))
    figure, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.0 * lines), squeeze=False)
    for axis in axes.flat[len(groups) :]:
        axis.axis("off")
    for axis, (name, group) in zip(axes.flat, groups, strict=False):
        measured = [row for row in group if row.value is not None]
        medians = [row.value.median for row in measured if row.value]
        lower = [row.value.median - row.value.low for row in measured if row.value]
        upper = [row.value.high - row.value.median for row in measured if row.value]
        labels = [row.mode for row in measured]
        axis.bar(
            labels,
            medians,
            yerr=[lower, upper],
            capsize=4,
            color=[COLOURS.get(label, "#9467bd") for label in labels],
        )
        lows = [row.value.low for row in measured if row.value]
        if len(lows) > 1 and min(lows) > 0 and max(medians) - min(lows) < 0.1 * max(medians):
            # near-equal bars (e.g. 50.2 vs 50.4 ms): start the axis near them so the difference shows
            axis.set_ylim(bottom=min(lows) * 0.98)
        verdicts = [row.check.verdict for row in group if row.check]
        colour = VERDICT_COLOURS[verdicts[0]] if verdicts else "#000000"
        suffix = f" [{verdicts[0]}]" if verdicts else ""
        axis.set_title(wrap(name + suffix, 44), fontsize=8, color=colour)
        axis.set_ylabel(measured[0].unit or "ratio", fontsize=8)
        axis.tick_params(labelsize=8)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def wrap(text: str, width: int) -> str:
    words, lines, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    lines.append(current)
    return "\n".join(lines)
