"""A failed scenario says where (step number, file:line, the YAML text), what (expected vs observed with errno
names and numbers), how long, and what the peers saw; and it still cleans up everything."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from sockharness.scenario._api import run_scenario
from sockharness.scenario._run.failure import ScenarioFailure
from sockharness.scenario._run.report import FAILED

FAILING = Path(__file__).parents[1] / "data" / "user_scenarios" / "runner_failing.yaml"
LINES = FAILING.read_text().splitlines()


def _step_line(label: str) -> int:
    """The 1-based line of the step that carries ``label: <label>`` (the ``- action:`` line above it)."""
    index = next(i for i, line in enumerate(LINES) if line.strip() == f"label: {label}")
    while not LINES[index].lstrip().startswith("- "):
        index -= 1
    return index + 1


def _fail(name: str) -> ScenarioFailure:
    with pytest.raises(ScenarioFailure) as caught:
        run_scenario(FAILING, name, seed=99)
    return caught.value


def test_runner_failure_names_step_line_and_errno_with_number() -> None:
    failure = _fail("wrong-errno")
    assert failure.place is not None
    assert failure.place.number == "2"
    assert failure.place.line == _step_line("fails-wrong-errno")
    text = str(failure)
    assert f"step 2 (connect) @ {FAILING}:{failure.place.line}" in text
    assert "- connect: {socket: c, address: closed}" in text
    assert f"ECONNRESET ({errno.ECONNRESET})" in failure.expected
    assert failure.observed.startswith(f"ConnectionRefusedError ECONNREFUSED ({errno.ECONNREFUSED})")
    assert "elapsed:" in text
    assert "seed:     99 (replay: --sockharness-seed 99)" in text


def test_runner_failure_result_is_attached_for_the_table() -> None:
    failure = _fail("wrong-errno")
    assert failure.result is not None
    assert failure.result.status == FAILED
    assert failure.result.observed.startswith("step 2 (connect): expected ConnectionResetError")


def test_runner_unexpected_exception_is_described() -> None:
    failure = _fail("unexpected-exception")
    assert failure.expected == "no exception"
    assert failure.observed.startswith(f"OSError EBADF ({errno.EBADF})")


def test_runner_missing_exception_shows_the_return_value() -> None:
    failure = _fail("missing-exception")
    assert failure.expected == "OSError"
    assert failure.observed == "no exception; returned True"


def test_runner_bytes_mismatch_shows_peer_transcript() -> None:
    failure = _fail("bytes-mismatch")
    assert failure.place is not None and failure.place.line == _step_line("fails-bytes")
    assert failure.expected == "bytes exactly b'PONG'"
    assert failure.observed == "b'pong'"
    assert "--- peer srv (transcript) ---" in failure.transcripts
    assert "b'ping'" in failure.transcripts and "b'pong'" in failure.transcripts


def test_runner_elapsed_mismatch_reports_the_time() -> None:
    failure = _fail("too-slow")
    assert failure.expected == "elapsed <= 10 ms"
    assert "TimeoutError (no errno): timed out" in failure.observed
    assert failure.elapsed is not None and failure.elapsed >= 0.098


def test_runner_peer_script_failure_is_reported_once() -> None:
    failure = _fail("peer-script-fails")
    assert failure.observed.startswith("PeerError: peer 'srv'")
    assert "\n" not in failure.observed
    assert "expected b'hello', got b'HELLO'" in failure.transcripts


def test_runner_failure_inside_repeat_names_iteration() -> None:
    failure = _fail("repeat-inner-fails")
    assert failure.place is not None
    assert failure.place.number == "5.1"
    assert failure.place.line == _step_line("fails-repeat")
    assert failure.note is not None and "iteration 3" in failure.note


def test_runner_packet_fault_outside_netns_is_a_clear_error() -> None:
    failure = _fail("packet-fault-outside-netns")
    assert "--sockharness-netns" in failure.observed


@pytest.mark.parametrize(
    "name",
    ["wrong-errno", "bytes-mismatch", "too-slow", "peer-script-fails", "repeat-inner-fails"],
)
def test_runner_failures_leave_no_socket_or_thread(name: str) -> None:
    threads_before = threading.active_count()
    fds_before = set(os.listdir("/proc/self/fd"))
    _fail(name)
    assert threading.active_count() <= threads_before
    assert set(os.listdir("/proc/self/fd")) - fds_before == set()


def test_runner_failure_survives_pickling_as_its_text() -> None:
    import pickle

    failure = _fail("wrong-errno")
    copy = pickle.loads(pickle.dumps(failure))
    assert str(copy) == str(failure)


def test_runner_failure_in_a_phase_is_numbered_by_phase_and_shows_the_toxic() -> None:
    failure = _fail("phase-step-fails")
    assert failure.place is not None
    assert failure.place.number == "laggy.2"
    assert failure.place.line == _step_line("fails-phase")
    assert failure.expected == "elapsed <= 20 ms"
    assert "--- proxy px:" in failure.transcripts
    assert "lag=latency/downstream" in failure.transcripts  # the proxy's state when the step failed


def test_runner_interruption_inside_a_step_still_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-timeout (signal method) raises inside the running step: everything must still be released."""
    from sockharness.scenario._actions import REGISTRY

    class Interrupted(BaseException):  # like pytest's Failed/Exit: not an Exception, so no step catches it
        pass

    def interrupted_sleep(ctx: object, resolved: object) -> None:
        raise Interrupted

    monkeypatch.setattr(REGISTRY["sleep"], "call", interrupted_sleep)
    threads_before = threading.active_count()
    fds_before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(Interrupted):
        run_scenario(FAILING, "interrupted", seed=1)
    assert threading.active_count() <= threads_before
    assert set(os.listdir("/proc/self/fd")) - fds_before == set()


def test_runner_peer_failure_after_the_last_step_fails_the_scenario() -> None:
    failure = _fail("peer-fails-after-the-steps")
    assert failure.place is None
    assert failure.expected == "peer 'srv' to follow its script"
    assert failure.observed.startswith("PeerError: peer 'srv'")
    assert "\n" not in failure.observed
    assert "expected b'abc', got b'xyz'" in failure.transcripts
