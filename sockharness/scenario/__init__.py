"""YAML scenarios: the language (``_language``: models, loader, schema, reference checks), the registry of
step actions (``_actions``), and the run (``_run``: resolution, runner, expectations, peers, reports).

The names below are the public surface, imported on first use so that ``import sockharness`` (which pytest
does at every start) does not load pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sockharness._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "DEFAULT_MAX_BYTES": "sockharness.scenario._language.loader",
    "LoadedFile": "sockharness.scenario._language.loader",
    "load_file": "sockharness.scenario._language.loader",
    "load_path": "sockharness.scenario._language.loader",
    "load_source": "sockharness.scenario._language.loader",
    "load_text": "sockharness.scenario._language.loader",
    "Scenario": "sockharness.scenario._language.model",
    "ScenarioFile": "sockharness.scenario._language.model",
    "ScenarioError": "sockharness.scenario._language.errors",
    "Problem": "sockharness.scenario._language.errors",
    "build_schema": "sockharness.scenario._language.schema",
    "peer_kinds_table": "sockharness.scenario._language.model_peers",
    "script_steps_table": "sockharness.scenario._language.script_steps",
    "ACTIONS": "sockharness.scenario._actions:REGISTRY",
    "actions_table": "sockharness.scenario._actions:docs_table",
    "RunOptions": "sockharness.scenario._run.context",
    "ScenarioFailure": "sockharness.scenario._run.failure",
    "ScenarioResult": "sockharness.scenario._run.report",
    "ScenarioPeers": "sockharness.scenario._api",
    "load_scenarios": "sockharness.scenario._api",
    "run_scenario": "sockharness.scenario._api",
    "scenario_peers": "sockharness.scenario._api",
    "start_scenario_peers": "sockharness.scenario._api",
}
__all__ = [
    "ACTIONS",
    "DEFAULT_MAX_BYTES",
    "LoadedFile",
    "Problem",
    "RunOptions",
    "Scenario",
    "ScenarioError",
    "ScenarioFailure",
    "ScenarioFile",
    "ScenarioPeers",
    "ScenarioResult",
    "actions_table",
    "build_schema",
    "load_file",
    "load_path",
    "load_scenarios",
    "load_source",
    "load_text",
    "peer_kinds_table",
    "run_scenario",
    "scenario_peers",
    "script_steps_table",
    "start_scenario_peers",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:
    from sockharness.scenario._actions import REGISTRY as ACTIONS
    from sockharness.scenario._actions import docs_table as actions_table
    from sockharness.scenario._api import (
        ScenarioPeers,
        load_scenarios,
        run_scenario,
        scenario_peers,
        start_scenario_peers,
    )
    from sockharness.scenario._language.errors import Problem, ScenarioError
    from sockharness.scenario._language.loader import (
        DEFAULT_MAX_BYTES,
        LoadedFile,
        load_file,
        load_path,
        load_source,
        load_text,
    )
    from sockharness.scenario._language.model import Scenario, ScenarioFile
    from sockharness.scenario._language.model_peers import peer_kinds_table
    from sockharness.scenario._language.schema import build_schema
    from sockharness.scenario._language.script_steps import script_steps_table
    from sockharness.scenario._run.context import RunOptions
    from sockharness.scenario._run.failure import ScenarioFailure
    from sockharness.scenario._run.report import ScenarioResult
