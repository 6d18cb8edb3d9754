"""The action registry is the one table of actions: everything else must be derived from it.

Each entry needs a step class in the model union, a definition in the published JSON Schema, a row in the
docs table the generator renders, and at least one built-in scenario under ``scenarios/`` using it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from pydantic import TypeAdapter

import sockharness.scenario
from sockharness.scenario._actions import REGISTRY, Container, Outcome, docs_table
from sockharness.scenario._actions.base import KeyPath
from sockharness.scenario._language.loader import load_file
from sockharness.scenario._language.model import STEP_CLASSES, StepBase
from sockharness.scenario._language.model_steps import ACTIONS, BYTES_ACTIONS, Step
from sockharness.scenario._language.model_values import RaisesSpec
from sockharness.scenario._language.schema import build_schema

SCENARIO_ROOT = Path(__file__).resolve().parents[2] / "scenarios"


def _walk(steps: Sequence[StepBase]) -> Iterator[str]:
    for step in steps:
        yield step.action
        entry = step.entry
        if isinstance(entry, Container):
            for _, body in entry.bodies(step.args):
                yield from _walk(body)


def _actions_used_by_builtin_scenarios() -> set[str]:
    used: set[str] = set()
    for path in sorted(SCENARIO_ROOT.rglob("*.yaml")):
        for scenario in load_file(path).scenarios:
            used.update(_walk(scenario.steps or []))
            for phase in scenario.phases or []:
                used.update(_walk(phase.steps))
    return used


def test_the_step_union_and_the_action_names_come_from_the_registry() -> None:
    assert tuple(STEP_CLASSES) == tuple(REGISTRY) == ACTIONS
    assert BYTES_ACTIONS == ("recv", "recvfrom", "recv_until")


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_action_has_a_schema_definition(name: str) -> None:
    definitions = build_schema()["definitions"]
    step_class = STEP_CLASSES[name].__name__
    assert step_class in definitions, f"{name}: no {step_class} in the schema"
    assert name in definitions[step_class]["properties"]
    assert definitions[step_class]["required"] == [name]


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_action_has_a_docs_row_with_a_one_line_summary(name: str) -> None:
    rows = [line for line in docs_table().splitlines() if line.startswith(f"| `{name}` |")]
    assert len(rows) == 1, docs_table()
    summary = REGISTRY[name].summary
    assert summary and "\n" not in summary
    assert rows[0].endswith(f"| {summary} |")


def test_every_action_is_used_by_a_builtin_scenario() -> None:
    unused = set(REGISTRY) - _actions_used_by_builtin_scenarios()
    assert not unused, f"actions no scenario under scenarios/ uses: {sorted(unused)}"


def test_docs_table_shows_the_traits_the_runner_and_expectations_use() -> None:
    table = docs_table()
    rows = {row.split(" | ")[0].strip("|` "): row for row in table.splitlines()[2:]}
    assert "| `recvfrom` | `socket`, `bufsize`, [`flags`] | [bytes, address] | bytes |" in table
    assert "| `repeat` | `times`, `steps`, [`until_raises`] |" in table and "contains steps" in table
    assert "| `connect_ex` |" in table and "errno (0 on success) | errno |" in table
    assert "sets `$offered`" in rows["send"]
    assert "netns only" in rows["packet_fault"]
    assert "errno (per call)" in rows["getsockopt"]


@pytest.mark.parametrize(
    "module",
    [
        "_run/runner",
        "_run/expectations",
        "_run/resolve",
        "_run/matchers",
        "_language/model_steps",
        "_language/model_refs",
    ],
)
def test_the_run_and_check_layers_name_no_action(module: str) -> None:
    """Per-action behaviour lives in the entry: these modules only iterate the registry and its traits."""
    source = (Path(sockharness.scenario.__file__).parent / f"{module}.py").read_text()
    literals = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    # "socket" and "peer" are also the kinds of names a step uses (model_refs), not actions.
    allowed = {"socket", "peer"} if module.endswith("model_refs") else set()
    assert not (literals & set(REGISTRY)) - allowed


class _ScriptedBody:
    """A BodyRunner whose nested calls succeed until the Nth, which raises BlockingIOError."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at
        self.calls: list[str] = []
        self.judged: list[tuple[str, int | None]] = []

    def call(self, step: StepBase, number: str, path: KeyPath) -> Outcome:
        self.calls.append(number)
        if len(self.calls) == self.fail_at:
            return Outcome(None, BlockingIOError(11, "would block"), 0.0)
        return Outcome(len(self.calls), None, 0.0)

    def judge(
        self, step: StepBase, number: str, path: KeyPath, outcome: Outcome, *, iteration: int | None
    ) -> None:
        self.judged.append((number, iteration))

    def raised_as(self, expected: RaisesSpec, error: Exception) -> bool:
        return type(error).__name__ == expected.type


def test_a_container_runs_its_body_through_the_body_runner_alone() -> None:
    """What the runner provides to a container is the BodyRunner protocol: no repeat-specific hook."""
    step = TypeAdapter(Step).validate_python(
        {"repeat": {"times": 5, "until_raises": "BlockingIOError", "steps": [{"sleep": 0}, {"sleep": 0}]}}
    )
    repeat = step.entry
    assert isinstance(repeat, Container)
    body = _ScriptedBody(fail_at=4)
    outcome = repeat.run(step.args, body, "7", ("scenarios", 0, "steps", 6))
    assert body.calls == ["7.1", "7.2", "7.1", "7.2"]
    assert body.judged == [("7.1", 1), ("7.2", 1), ("7.1", 2)]  # the stopping call is not judged
    assert outcome.error is None and outcome.value == [2]
