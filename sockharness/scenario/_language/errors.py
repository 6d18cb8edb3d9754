"""Validation errors that point at the YAML: file, line, column, key path, and the source line.

A scenario author should never see a traceback or a pydantic dump: every problem found in a file is
collected into one :class:`ScenarioError` whose ``str()`` reads like a compiler diagnostic::

    basic.yaml:14:9: scenarios[0].steps[3].recv.bufsize: expected a size like 1024 or "64KiB", got -5
        - recv: {socket: c, bufsize: -5}
                                     ^
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["KeyPath", "Problem", "ScenarioError", "describe_value", "did_you_mean", "format_path"]

#: A path of mapping keys and list indices from the document root, e.g. ("scenarios", 0, "steps", 3).
KeyPath = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """Render a key path the way users navigate YAML: ``scenarios[0].steps[3].recv.bufsize``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def describe_value(value: object, limit: int = 60) -> str:
    """Show an offending value briefly in YAML terms (``null``, ``true``, ``'text'``, ``a mapping``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def closest(word: object, candidates: Iterable[str]) -> str | None:
    """The candidate ``word`` was probably meant as (a close spelling, or the same word in another case)."""
    if not isinstance(word, str):
        return None
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    if not matches:
        folded = {candidate.lower(): candidate for candidate in candidates}
        if word.lower() in folded:
            matches = [folded[word.lower()]]
    return matches[0] if matches else None


def did_you_mean(word: object, candidates: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest candidate, or ``""`` when nothing is close."""
    match = closest(word, candidates)
    return f" (did you mean {match!r}?)" if match is not None else ""


_SHOWN_WIDTH = 100
#: A file with hundreds of errors is usually one systematic mistake; the first ones tell the story.
_RENDERED_PROBLEMS = 25


@dataclass(frozen=True)
class Problem:
    """One mistake at one place. ``line`` and ``column`` are 1-based; 0 means "whole file"."""

    file: str
    line: int
    column: int
    path: KeyPath
    message: str
    source_line: str | None = None

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file

    def render(self) -> str:
        where = f"{format_path(self.path)}: " if self.path else ""
        text = f"{self.location}: {where}{self.message}"
        if self.source_line is not None and self.line:
            shown = self.source_line.rstrip("\r\n").replace("\t", " ")
            offset = max(self.column - 1, 0)
            if len(shown) > _SHOWN_WIDTH:  # keep a window around the column on very long lines
                start = max(0, min(offset - _SHOWN_WIDTH // 2, len(shown) - _SHOWN_WIDTH))
                shown = ("..." if start else "") + shown[start : start + _SHOWN_WIDTH] + "..."
                offset = offset - start + (3 if start else 0)
            text += f"\n    {shown}\n    {' ' * offset}^"
        return text


@dataclass
class ScenarioError(Exception):
    """Everything wrong with one scenario file; the first problem is also exposed as attributes."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.problems:
            raise ValueError("ScenarioError needs at least one problem")
        super().__init__(str(self))

    @property
    def file(self) -> str:
        return self.problems[0].file

    @property
    def line(self) -> int:
        return self.problems[0].line

    @property
    def column(self) -> int:
        return self.problems[0].column

    @property
    def path(self) -> KeyPath:
        return self.problems[0].path

    @property
    def key_path(self) -> str:
        return format_path(self.problems[0].path)

    @property
    def message(self) -> str:
        """What was expected and what was found (the first problem's sentence)."""
        return self.problems[0].message

    @property
    def source_line(self) -> str | None:
        return self.problems[0].source_line

    def __str__(self) -> str:
        rendered = "\n".join(problem.render() for problem in self.problems[:_RENDERED_PROBLEMS])
        if len(self.problems) > _RENDERED_PROBLEMS:
            rendered += f"\n... and {len(self.problems) - _RENDERED_PROBLEMS} more"
        if len(self.problems) > 1:
            rendered += f"\n{len(self.problems)} problems in {self.problems[0].file}"
        return rendered

    def __hash__(self) -> int:
        return id(self)

    def __reduce__(self) -> tuple[type[ScenarioError], tuple[list[Problem]]]:
        # Exception pickling replays ``args`` (the rendered text); rebuild from the problems instead.
        return (type(self), (self.problems,))
