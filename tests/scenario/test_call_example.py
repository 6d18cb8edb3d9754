"""The how-to's example is a real tested file: a retrying key-value client (``call_example/kvclient.py``)
tested from YAML with ``call`` steps against a scripted server and a fault proxy; the page shows those two
files verbatim."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sockharness.scenario._api import load_scenarios, run_scenario

EXAMPLE = Path(__file__).parents[1] / "data" / "call_example"
PAGE = Path(__file__).parents[2] / "docs" / "how-to" / "call-steps.md"
SCENARIOS = [scenario.name for scenario in load_scenarios(EXAMPLE / "kv_scenarios.yaml")]


@pytest.fixture
def importable_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's project on sys.path, as pytest's ``pythonpath`` setting puts it there."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.delitem(sys.modules, "kvclient", raising=False)


@pytest.mark.usefixtures("importable_example")
@pytest.mark.parametrize("name", SCENARIOS)
def test_the_example_scenarios_pass(name: str) -> None:
    run_scenario(EXAMPLE / "kv_scenarios.yaml", name, seed=7)


@pytest.mark.parametrize("file", ["kvclient.py", "kv_scenarios.yaml"])
def test_the_page_shows_the_tested_files(file: str) -> None:
    assert (EXAMPLE / file).read_text(encoding="utf-8") in PAGE.read_text(encoding="utf-8")
