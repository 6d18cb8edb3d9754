"""The event loop a scenario owns for its awaited ``call`` steps: one per run, closed at the end with its
leftover tasks cancelled and its transports closed (no socket left behind), and replaceable by uvloop."""

from __future__ import annotations

import gc
import os
import warnings
from pathlib import Path

import pytest

from sockharness.scenario import RunOptions
from sockharness.scenario._api import run_scenario
from sockharness.scenario._run.failure import ScenarioFailure

HEADER = "scenarios:\n  - name: s\n    description: d\n"


def _socket_fds() -> set[str]:
    fds = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            fds.add(fd)
    return fds


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "loop.yaml"
    path.write_text(HEADER + body)
    return path


LEFT_OPEN = """    peers:
      srv: {kind: tcp_server, script: [recv_eof]}
    steps:
      - call: {function: "asyncio:open_connection", args: [{host: srv}, {port: srv}]}
        save: conn
      - call: {object: "$conn[1]", method: write, args: [{bytes: {size: 8MiB}}]}
      - call: {function: "asyncio:ensure_future", args: [{value: null}], await: false}
        raises: TypeError
      - call: {function: "asyncio:get_event_loop"}
        save: loop
      - call: {object: $loop, method: create_task, args: [{value: null}]}
        raises: TypeError
"""


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts fds in /proc")
@pytest.mark.parametrize("loop_factory", [None, "uvloop:new_event_loop"])
def test_transports_left_open_are_closed_with_the_run(tmp_path: Path, loop_factory: str | None) -> None:
    """A writer nobody closed, with 8 MiB queued for a peer that does not read: the loop's teardown aborts it,
    so its socket is gone when run_scenario returns (no ResourceWarning, no leak). uvloop lists no
    transports: the saved writer's is closed all the same (its loop's close alone left it to warn)."""
    if loop_factory is not None:
        pytest.importorskip("uvloop")
    gc.collect()  # garbage an earlier test left must not warn inside this test's window
    before = _socket_fds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        run_scenario(_file(tmp_path, LEFT_OPEN), "s", seed=5, options=RunOptions(loop_factory=loop_factory))
        assert _socket_fds() <= before  # closed by the run, not by the garbage collector
        gc.collect()
    unclosed = [str(warning.message) for warning in caught if warning.category is ResourceWarning]
    assert not unclosed


def test_leftover_tasks_are_cancelled_when_the_run_ends(tmp_path: Path) -> None:
    body = """    steps:
      - call: {function: "asyncio:get_event_loop"}
        save: loop
      - call: {function: "asyncio:sleep", args: [3600], await: false}
        save: sleeper
      - call: {object: $loop, method: create_task, args: [$sleeper], await: false}
        save: task
      - call: {function: "asyncio:sleep", args: [0]}
      - call: {object: $task, method: done}
        returns: false
"""
    result = run_scenario(_file(tmp_path, body), "s", seed=5)
    assert result.status == "passed"


def test_each_run_has_its_own_loop(tmp_path: Path) -> None:
    body = """    steps:
      - call: {function: "asyncio:get_event_loop"}
        save: loop
      - call: {object: $loop, method: is_closed}
        returns: false
"""
    first = run_scenario(_file(tmp_path, body), "s", seed=5)
    second = run_scenario(_file(tmp_path, body), "s", seed=5)
    assert first.variables["loop"] != second.variables["loop"] or "closed=True" in first.variables["loop"]


def test_uvloop_as_the_loop_factory(tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    body = """    peers:
      closed: closed_port
    steps:
      - call: {function: "asyncio:get_event_loop"}
        save: loop
      - call: {function: "builtins:type", args: [$loop]}
        save: kind
      - call: {function: "asyncio:open_connection", args: [{host: closed}, {port: closed}], await: true}
        raises: {type: ConnectionRefusedError, errno: ECONNREFUSED, message: "Connection refused"}
"""
    result = run_scenario(
        _file(tmp_path, body), "s", seed=5, options=RunOptions(loop_factory="uvloop:new_event_loop")
    )
    assert "uvloop" in result.variables["kind"]


def test_a_loop_factory_that_does_not_import_is_reported_at_the_step(tmp_path: Path) -> None:
    body = """    steps:
      - call: {function: "asyncio:sleep", args: [0]}
"""
    with pytest.raises(ScenarioFailure) as caught:
        run_scenario(
            _file(tmp_path, body), "s", seed=5, options=RunOptions(loop_factory="uvlop:new_event_loop")
        )
    assert caught.value.place is not None and caught.value.place.line == 5
    assert "cannot import module 'uvlop'" in caught.value.observed
