"""The action registry is the one table of actions: everything else must be derived from it.

Each entry needs a step class in the model union, a definition in the published JSON Schema, a row in the
docs table the generator renders, and at least one built-in scenario under ``scenarios/`` using it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from sockharness.scenario._actions import REGISTRY, Container, docs_table
from sockharness.scenario.loader import load_file
from sockharness.scenario.model import STEP_CLASSES, StepBase
from sockharness.scenario.model_steps import ACTIONS, BYTES_ACTIONS
from sockharness.scenario.schema import build_schema

SCENARIO_ROOT = Path(__file__).resolve().parents[1] / "scenarios"


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
    "module", ["runner", "expectations", "resolve", "matchers", "model_steps", "model_refs"]
)
def test_the_run_and_check_layers_name_no_action(module: str) -> None:
    """Per-action behaviour lives in the entry: these modules only iterate the registry and its traits."""
    source = (Path(__file__).resolve().parents[1] / "sockharness" / "scenario" / f"{module}.py").read_text()
    literals = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    # "socket" and "peer" are also the kinds of names a step uses (model_refs), not actions.
    allowed = {"socket", "peer"} if module == "model_refs" else set()
    assert not (literals & set(REGISTRY)) - allowed
