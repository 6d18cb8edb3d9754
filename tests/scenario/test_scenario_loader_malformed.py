"""Every file in tests/data/scenario_malformed/ holds one mistake; the loader must report exactly that one.

Each file starts with ``# expect: LINE:COLUMN KEY.PATH`` (the path is absent for whole-file problems
such as YAML syntax errors) and ``# mistake: ...`` saying what is wrong, for the reader.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_file

CORPUS = Path(__file__).parents[1] / "data" / "scenario_malformed"
_EXPECT = re.compile(r"^# expect: (?P<line>\d+):(?P<column>\d+)(?: (?P<path>\S+))?$")
FILES = sorted(CORPUS.glob("*.yaml"))


def _expectation(path: Path) -> tuple[int, int, str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = _EXPECT.match(first)
    assert match, f"{path.name}: first line must be '# expect: LINE:COLUMN [key.path]', got {first!r}"
    return int(match["line"]), int(match["column"]), match["path"] or ""


def test_corpus_covers_at_least_thirty_distinct_mistakes() -> None:
    mistakes = {
        line.removeprefix("# mistake: ")
        for path in FILES
        for line in path.read_text(encoding="utf-8").splitlines()[:2]
        if line.startswith("# mistake: ")
    }
    assert len(FILES) >= 30
    assert len(mistakes) == len(FILES), "each corpus file documents a different mistake"


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_malformed_file_reports_one_located_error(path: Path) -> None:
    line, column, key_path = _expectation(path)
    with pytest.raises(ScenarioError) as caught:
        load_file(path)
    error = caught.value
    assert len(error.problems) == 1, str(error)
    assert (error.line, error.column) == (line, column), str(error)
    assert error.key_path == key_path, str(error)
    rendered = str(error)
    assert rendered.startswith(f"{path}:{line}:{column}: "), rendered
    if key_path:
        assert f": {key_path}: " in rendered.splitlines()[0]
    source_line = path.read_text(encoding="utf-8").splitlines()[line - 1] if line else None
    if source_line is not None:
        shown, caret = rendered.splitlines()[1:3]
        assert shown.strip() == source_line.strip().replace("\t", " ")
        assert caret == " " * (4 + column - 1) + "^"
    for leak in ("validation error", "Input should", "pydantic", "Traceback", "§", "[type="):
        assert leak not in rendered, rendered
