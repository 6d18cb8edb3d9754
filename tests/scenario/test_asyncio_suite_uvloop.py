"""The asyncio suite on uvloop: every scenario behaves as on asyncio's default loop except the two that the
explanation page names (uvloop's ``write()`` raises RuntimeError once the loop has seen the connection
lost), so the page's claim is checked rather than remembered."""

from __future__ import annotations

from pathlib import Path

import pytest

from sockharness.scenario import RunOptions
from sockharness.scenario._api import run_scenario
from sockharness.scenario._language.loader import load_path

SUITE = Path(__file__).resolve().parents[2] / "scenarios" / "asyncio"
PAGE = Path(__file__).resolve().parents[2] / "docs" / "explanation" / "asyncio.md"
#: Where uvloop departs from the default loop, and the words of the exception it raises instead.
UVLOOP_DEPARTS = {
    "asyncio-drain-after-reset": "RuntimeError: unable to perform operation on <TCPTransport closed=True",
    "asyncio-write-after-reset-raises-nothing": "RuntimeError: unable to perform operation on <TCPTransport",
}


def test_the_asyncio_suite_on_uvloop_departs_only_where_documented() -> None:
    pytest.importorskip("uvloop")
    options = RunOptions(seed=1, loop_factory="uvloop:new_event_loop")
    departed: dict[str, str] = {}
    passed = 0
    for path in sorted(SUITE.glob("*.yaml")):
        loaded = load_path(path)
        for scenario in loaded.model.scenarios:
            try:
                run_scenario(loaded, scenario.name, options=options)
                passed += 1
            except AssertionError as failure:
                departed[scenario.name] = str(getattr(failure, "observed", failure))
    assert set(departed) == set(UVLOOP_DEPARTS), departed
    for name, words in UVLOOP_DEPARTS.items():
        assert departed[name].startswith(words)
    assert passed >= 40
    text = PAGE.read_text(encoding="utf-8")
    assert all(f"`{name}`" in text for name in UVLOOP_DEPARTS)
