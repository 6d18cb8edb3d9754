"""The package's public names resolve, and ``import sockharness`` stays cheap (the plugin imports it)."""

from __future__ import annotations

import subprocess
import sys

import sockharness


def test_every_public_name_resolves_and_all_matches_the_lazy_table() -> None:
    assert set(sockharness.__all__) == {"__version__", *sockharness._EXPORTS}
    for name in sockharness.__all__:
        assert getattr(sockharness, name) is not None


def test_import_does_not_load_the_scenario_models_or_the_fault_engine() -> None:
    code = (
        "import sys, sockharness, sockharness.plugin\n"
        "heavy = [m for m in ('pydantic', 'sockharness.scenario._language.model', "
        "'sockharness.faults._engine.engine', 'sockharness.faults._engine.reactor') "
        "if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
