"""``save_elapsed`` is validated like ``save``: a variable name, known only after its step, file:line."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml
from jsonschema import Draft7Validator

from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_text
from sockharness.scenario._language.model_refs import observe_ratio
from sockharness.scenario._language.schema import SCHEMA_PATH

GOOD = textwrap.dedent(
    """\
    scenarios:
      - name: timed
        description: two timed steps and their ratio
        observe: "{slow:.3f} s vs {fast:.6f} s ({slow/fast:.1f} times as long), rc {rc}"
        peers:
          srv: echo
        steps:
          - sleep: 10ms
            save_elapsed: slow
          - socket: {as: c}
            save_elapsed: fast
          - connect_ex: {socket: c, address: srv}
            returns: {lt: $slow}
            save: rc
            save_elapsed: connect_time
          - repeat:
              times: 1
              steps:
                - sendall: {socket: c, data: "x"}
                  save_elapsed: inner
                - recv: {socket: c, bufsize: 1}
                  elapsed: {max: 5s}
                  returns: {len: {le: $inner}}
            save_elapsed: group
    """
)


def _problems(text: str) -> list[tuple[int, str, str]]:
    """(line, key path, message) of every problem the loader reports."""
    with pytest.raises(ScenarioError) as caught:
        load_text(textwrap.dedent(text), "t.yaml")
    return [
        (problem.line, ".".join(map(str, problem.path)), problem.message) for problem in caught.value.problems
    ]


def test_save_elapsed_loads_next_to_save_and_inside_repeat() -> None:
    steps = load_text(GOOD, "t.yaml").scenarios[0].steps
    assert steps is not None
    assert [step.save_elapsed for step in steps] == ["slow", "fast", "connect_time", "group"]
    assert steps[2].save == "rc"
    assert steps[3].args.steps[0].save_elapsed == "inner"


def test_the_published_schema_accepts_save_elapsed_and_checks_its_name() -> None:
    validator = Draft7Validator(json.loads(SCHEMA_PATH.read_text()))
    document = yaml.safe_load(GOOD)
    assert not list(validator.iter_errors(document))
    document["scenarios"][0]["steps"][0]["save_elapsed"] = "9lives"
    assert list(validator.iter_errors(document))


@pytest.mark.parametrize("value", ["9lives", "has-dash", "", 3, True, ["t"]])
def test_save_elapsed_must_be_a_variable_name(value: object) -> None:
    shown = json.dumps(value)
    text = f"""\
        scenarios:
          - name: bad
            description: a bad name
            steps:
              - socket: {{as: c}}
              - sleep: 1ms
                save_elapsed: {shown}
        """
    [(line, path, message)] = _problems(text)
    assert (line, path) == (7, "scenarios.0.steps.1.save_elapsed")
    assert "variable name" in message


def test_save_and_save_elapsed_cannot_share_a_name() -> None:
    [(line, path, message)] = _problems(
        """\
        scenarios:
          - name: clash
            description: one name for two values
            steps:
              - socket: {as: c}
                save: t
                save_elapsed: t
        """
    )
    assert (line, path) == (7, "scenarios.0.steps.0.save_elapsed")
    assert message == "save and save_elapsed both name 't': the result and the time need two names"


def test_a_time_used_before_it_is_saved_is_an_error_at_its_line() -> None:
    problems = _problems(
        """\
        scenarios:
          - name: early
            description: uses the time too soon
            steps:
              - socket: {as: c}
                returns: {lt: $t}
              - sleep: 1ms
                returns: {lt: $t}
                save_elapsed: t
              - sleep: 1ms
                returns: {lt: $t}
        """
    )
    assert [(line, path) for line, path, _ in problems] == [
        (6, "scenarios.0.steps.0.returns.lt"),
        (8, "scenarios.0.steps.1.returns.lt"),  # the step's own time exists only after it ran
    ]
    assert all("unknown variable $t: no earlier step saves 't'" in message for _, _, message in problems)


def test_observe_placeholders_and_ratios_must_name_saved_values() -> None:
    problems = _problems(
        """\
        scenarios:
          - name: observed
            description: observe names what was never saved
            observe: "{lossy:.3f} {lossy/clena:.1f} {1/2} {a/b/c}"
            steps:
              - sleep: 1ms
                save_elapsed: lossy
              - sleep: 1ms
                save_elapsed: clean
        """
    )
    assert {line for line, _, _ in problems} == {4}
    messages = [message for _, _, message in problems]
    assert messages == [
        "observe uses {clena}, which no step saves (did you mean 'clean'?) (saved: clean, lossy)",
        "observe field {1/2}: a ratio is written {a/b} with two saved variable names",
        "observe field {a/b/c}: a ratio is written {a/b} with two saved variable names",
    ]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("lossy/clean", ("lossy", "clean")),
        ("_a1/B_2", ("_a1", "B_2")),
        ("lossy", None),
        ("a/b/c", None),
        ("a[0]/b", None),
        ("1/2", None),
        ("a/", None),
        (" a/b", None),
    ],
)
def test_observe_ratio_accepts_exactly_two_names(field: str, expected: tuple[str, str] | None) -> None:
    assert observe_ratio(field) == expected
