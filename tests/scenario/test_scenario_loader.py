"""The loader: safe YAML, positions for every problem, all problems at once, and bounded work."""

from __future__ import annotations

import pickle
import textwrap
import time
from pathlib import Path

import pytest

from sockharness.scenario._language.errors import Problem, ScenarioError
from sockharness.scenario._language.loader import MAX_DEPTH, load_file, load_text

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "scenarios").rglob("*.yaml"))

MINIMAL = textwrap.dedent(
    """\
    scenarios:
      - name: minimal
        description: one step
        steps:
          - socket: {as: c}
    """
)


def _error(text: str, name: str = "t.yaml") -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_text(text, name)
    return caught.value


def test_load_file_and_load_text_agree(tmp_path: Path) -> None:
    path = tmp_path / "minimal.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_file(path) == load_text(MINIMAL)


def test_every_problem_in_a_file_is_reported_in_line_order() -> None:
    text = textwrap.dedent(
        """\
        scenarios:
          - name: a
            description: d
            steps:
              - recv: {socket: c, bufsize: -5}
          - name: b
            steps:
              - sleep: 5parsecs
              - connect: {socket: c, adress: x}
        """
    )
    error = _error(text)
    assert [(problem.line, problem.path[-1]) for problem in error.problems] == [
        (5, "bufsize"),
        (6, 1),
        (8, "sleep"),
        (9, "adress"),
    ]
    assert "missing required key 'description'" in error.problems[1].message
    assert "did you mean 'address'?" in error.problems[3].message
    assert str(error).endswith("4 problems in t.yaml")
    assert error.line == 5 and error.key_path == "scenarios[0].steps[0].recv.bufsize"


def test_reference_problems_of_sound_scenarios_come_with_structural_ones() -> None:
    text = textwrap.dedent(
        """\
        scenarios:
          - name: broken
            description: d
            steps:
              - sleep: -1s
          - name: sound
            description: d
            steps:
              - close: c
        """
    )
    error = _error(text)
    assert [problem.path for problem in error.problems] == [
        ("scenarios", 0, "steps", 0, "sleep"),
        ("scenarios", 1, "steps", 0, "close"),
    ]
    assert "unknown socket 'c'" in error.problems[1].message


def test_rendering_matches_the_documented_shape() -> None:
    text = MINIMAL + "      - recv: {socket: c, bufsize: -5}\n"
    rendered = str(_error(text, "scenarios/recv/basic.yaml"))
    assert rendered.splitlines() == [
        "scenarios/recv/basic.yaml:6:36: scenarios[0].steps[1].recv.bufsize: "
        "expected a non-negative size, got -5",
        "          - recv: {socket: c, bufsize: -5}",
        "                                       ^",
    ]


def test_nested_duplicate_key_points_at_the_second_one() -> None:
    error = _error(MINIMAL.replace("{as: c}", "{as: c, as: d}"))
    assert (error.line, error.column) == (5, 25)
    assert "duplicate key 'as' (first written on line 5)" in error.message


def test_merge_keys_and_aliases_are_plain_data() -> None:
    text = textwrap.dedent(
        """\
        scenarios:
          - &base
            name: one
            description: shared
            steps:
              - socket: {as: c}
          - <<: *base
            name: two
        """
    )
    first, second = load_text(text).scenarios
    assert (first.name, second.name) == ("one", "two")
    assert second.description == "shared" and second.steps == first.steps


def test_alias_bombs_are_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [*a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}]" for n in range(1, 12)]
    started = time.perf_counter()
    error = _error("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 10
    assert "expands to more than" in error.message


def test_deep_nesting_is_refused() -> None:
    depth = MAX_DEPTH + 10
    error = _error("scenarios: " + "[" * depth + "]" * depth + "\n")
    assert f"nested more than {MAX_DEPTH} levels deep" in error.message


def test_very_deep_nesting_does_not_crash_the_parser() -> None:
    depth = 5000
    error = _error("scenarios: " + "[" * depth + "]" * depth + "\n")
    # Either our depth limit or libyaml's own nesting limit answers first; both are located errors.
    assert "levels deep" in error.message or "maximum nesting depth" in error.message
    assert error.line == 1 and error.column > 1


def test_recursive_alias_is_refused() -> None:
    error = _error("scenarios: &loop [*loop]\n")
    assert "recursive alias" in error.message or "expected" in error.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scenarios:\n  - name: 2024-01-01\n", "!!timestamp: quote the value"),
        ("scenarios: !!binary aGk=\n", "!!binary"),
        ("scenarios: !custom {}\n", "unsupported YAML tag !custom"),
        ("? [a, b]\n: 1\n", "mapping keys must be plain scalars"),
        ("scenarios: [\x00]\n", "YAML syntax error"),
        ("", "empty file"),
        ("42\n", "expected a mapping with scenarios"),
    ],
)
def test_yaml_level_problems(text: str, message: str) -> None:
    assert message in str(_error(text))


def test_byte_order_mark_is_accepted_and_bad_encoding_located(tmp_path: Path) -> None:
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_file(bom).scenarios[0].name == "minimal"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(MINIMAL.replace("one step", "caf\xe9").encode("latin-1"))
    with pytest.raises(ScenarioError) as caught:
        load_file(latin)
    assert (caught.value.line, caught.value.column) == (3, 21)
    assert "not UTF-8" in caught.value.message


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_file(tmp_path / "absent.yaml")


def test_error_survives_pickling_for_xdist() -> None:
    error = _error(MINIMAL + "      - sleep: -1s\n")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, ScenarioError) and copy.problems == error.problems and str(copy) == str(error)


def test_scenario_error_needs_a_problem() -> None:
    with pytest.raises(ValueError):
        ScenarioError([])
    single = ScenarioError([Problem("f.yaml", 0, 0, (), "whole file")])
    assert str(single) == "f.yaml: whole file"


@pytest.mark.parametrize("path", SHIPPED, ids=[str(path.relative_to(REPO)) for path in SHIPPED])
def test_shipped_scenarios_load(path: Path) -> None:
    load_file(path)
