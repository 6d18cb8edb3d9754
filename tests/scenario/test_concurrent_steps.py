"""``concurrently``: background steps on a second thread while the main steps go on, joined with a bound;
a failure on either side names its own step, and a join that times out names the block."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from sockharness.scenario._api import run_scenario
from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_text
from sockharness.scenario._run.failure import ScenarioFailure

HEADER = "scenarios:\n  - name: s\n    description: d\n    steps:\n"


def _path(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "concurrent.yaml"
    path.write_text(HEADER + "\n".join(f"      {line}" for line in steps.strip("\n").splitlines()) + "\n")
    return path


def _fails(tmp_path: Path, steps: str) -> ScenarioFailure:
    with pytest.raises(ScenarioFailure) as caught:
        run_scenario(_path(tmp_path, steps), "s", seed=3)
    return caught.value


def test_the_background_runs_while_the_main_steps_go_on(tmp_path: Path) -> None:
    """The background accept() is blocked until the main steps connect: they ran at the same time."""
    result = run_scenario(
        _path(
            tmp_path,
            """
- socket: {as: srv}
- bind: {socket: srv, address: "127.0.0.1:0"}
- listen: {socket: srv, backlog: 1}
- settimeout: {socket: srv, value: 3s}
- concurrently:
    background:
      - accept: {socket: srv, as: conn}
        save: peer
    steps:
      - sleep: 100ms
      - socket: {as: c}
      - connect: {socket: c, address: srv}
      - getsockname: c
        save: mine
- getpeername: conn
  returns: $mine
""",
        ),
        "s",
        seed=3,
    )
    assert [step.number for step in result.steps] == ["1", "2", "3", "4", "5", "6"]


def test_a_join_that_times_out_names_the_block_and_the_running_step(tmp_path: Path) -> None:
    started = time.perf_counter()
    failure = _fails(
        tmp_path,
        """
- concurrently:
    background:
      - sleep: 0
      - sleep: 1s
    steps:
      - sleep: 0
    join: 100ms
""",
    )
    assert time.perf_counter() - started < 0.9
    assert failure.place is not None and failure.place.number == "1" and failure.place.line == 5
    assert "BackgroundStillRunning" in failure.observed
    assert "(step 1.b2) 0.1s after the main steps ended" in failure.observed
    for thread in threading.enumerate():
        if thread.name.startswith("sockharness concurrently"):
            thread.join(2)


def test_a_background_failure_is_reported_at_its_own_step(tmp_path: Path) -> None:
    failure = _fails(
        tmp_path,
        """
- concurrently:
    background:
      - sleep: 0
      - sleep: 0
        returns: 1
    steps:
      - sleep: 0
""",
    )
    assert failure.place is not None and failure.place.number == "1.b2" and failure.place.line == 8
    assert failure.expected == "returns 1"


def test_a_main_step_failure_still_joins_the_background(tmp_path: Path) -> None:
    failure = _fails(
        tmp_path,
        """
- concurrently:
    background:
      - sleep: 200ms
    steps:
      - sleep: 0
        returns: 1
""",
    )
    assert failure.place is not None and failure.place.number == "1.1"
    assert not [t for t in threading.enumerate() if t.name.startswith("sockharness concurrently")]


def test_validation_needs_both_lists_and_checks_names_inside() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text(HEADER + "      - concurrently: {background: [], steps: [{sleep: 0}]}\n")
    assert "background" in str(caught.value)
    with pytest.raises(ScenarioError) as caught:
        load_text(HEADER + "      - concurrently: {background: [{close: nosuch}], steps: [{sleep: 0}]}\n")
    assert "unknown socket 'nosuch'" in str(caught.value)
