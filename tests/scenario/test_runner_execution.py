"""The runner executes real scenarios end to end (real sockets, peers, proxies) and cleans up after them."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from sockharness.scenario._api import load_scenarios, run_scenario
from sockharness.scenario._run.report import PASSED

HERE = Path(__file__).parents[1] / "data" / "user_scenarios"
PASSING = HERE / "runner_passing.yaml"


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()


@pytest.mark.parametrize("name", [scenario.name for scenario in load_scenarios(PASSING)])
def test_runner_passing_scenarios_pass_and_leave_nothing_open(name: str) -> None:
    threads_before = threading.active_count()
    fds_before = _open_fds()
    result = run_scenario(PASSING, name, seed=7)
    assert result.status == PASSED
    assert result.scenario == name
    assert result.duration > 0
    assert result.steps, "every executed step is observed"
    assert all(step.elapsed >= 0 for step in result.steps)
    assert threading.active_count() <= threads_before
    leaked = _open_fds() - fds_before
    assert not leaked, f"file descriptors left open: {sorted(leaked)}"


def test_runner_observe_is_rendered_from_saved_values() -> None:
    result = run_scenario(PASSING, "echo-roundtrip-with-offered", seed=1)
    assert result.observed.startswith("sent   8 bytes to 127.0.0.1:")  # format specs apply to numbers
    assert "(host 127.0.0.1)" in result.observed  # indexing reaches into the saved address
    assert result.observed.endswith("got b'abababab'")
    assert result.variables["n"] == "8"
    assert result.variables["offered"] == "1024"  # the last send-like step offered 1 KiB


def test_runner_without_observe_the_table_shows_the_last_checked_outcome() -> None:
    result = run_scenario(PASSING, "udp-echo", seed=1)
    assert result.observed.startswith("recvfrom returned [b'ping', ('127.0.0.1', ")


def test_runner_connect_ex_result_is_platform_number() -> None:
    """The errno result reads by name, with this platform's number in brackets."""
    import errno

    result = run_scenario(PASSING, "refused-and-errno-forms", seed=1)
    assert result.observed == f"connect_ex returned ECONNREFUSED ({errno.ECONNREFUSED})"


def test_runner_repeat_stops_at_until_raises() -> None:
    result = run_scenario(PASSING, "repeat-until-would-block", seed=1)
    repeat = next(step for step in result.steps if step.action == "repeat")
    assert repeat.raised is None
    sizes = [int(part) for part in result.variables["calls"].strip("[]").split(",")]
    assert 1 <= len(sizes) < 200
    assert all(0 < size <= 64 * 1024 for size in sizes)


def test_runner_step_observations_carry_lines_and_timing() -> None:
    result = run_scenario(PASSING, "timeout-elapsed", seed=1)
    recv = next(step for step in result.steps if step.action == "recv")
    lines = PASSING.read_text().splitlines()
    assert recv.line is not None
    assert lines[recv.line - 1].strip().startswith("- recv:")
    assert recv.raised is not None and recv.raised.startswith("TimeoutError (no errno)")
    assert recv.elapsed >= 0.098


def test_runner_random_payloads_replay_with_the_seed(tmp_path: Path) -> None:
    scenario = tmp_path / "random.yaml"
    scenario.write_text(
        """
scenarios:
  - name: random-bytes
    description: random payload bytes come from the scenario's seeded generator
    peers:
      srv: echo
    steps:
      - socket: {as: c}
      - settimeout: {socket: c, value: 5s}
      - connect: {socket: c, address: srv}
      - sendall: {socket: c, data: {size: 32, random: true}}
      - recv_until: {socket: c, size: 32}
        save: data
"""
    )
    first = run_scenario(scenario, "random-bytes", seed=42).variables["data"]
    again = run_scenario(scenario, "random-bytes", seed=42).variables["data"]
    other = run_scenario(scenario, "random-bytes", seed=43).variables["data"]
    assert first == again
    assert first != other


def test_runner_external_target_is_started_and_killed_with_its_group(tmp_path: Path) -> None:
    import sys

    server = tmp_path / "echo_server.py"
    pid_file = tmp_path / "pid"
    server.write_text(
        "import os, socket, sys\n"
        "open(sys.argv[2], 'w').write(str(os.getpid()))\n"
        "listener = socket.create_server(('127.0.0.1', int(sys.argv[1])))\n"
        "while True:\n"
        "    conn, _ = listener.accept()\n"
        "    with conn:\n"
        "        data = conn.recv(1024)\n"
        "        if data:\n"
        "            conn.sendall(data.upper())\n"
    )
    scenario = tmp_path / "external.yaml"
    scenario.write_text(
        f"""
scenarios:
  - name: external-upper
    description: an external program started from argv answers in upper case
    peers:
      ext:
        kind: external
        address: "127.0.0.1:0"
        argv: [{sys.executable!r}, {str(server)!r}, "{{port}}", {str(pid_file)!r}]
        ready_timeout: 20s
    steps:
      - socket: {{as: c}}
      - settimeout: {{socket: c, value: 5s}}
      - connect: {{socket: c, address: ext}}
      - sendall: {{socket: c, data: "shout"}}
      - recv: {{socket: c, bufsize: 64}}
        bytes: "SHOUT"
"""
    )
    result = run_scenario(scenario, "external-upper", seed=1)
    assert result.status == PASSED
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_runner_external_target_that_exits_fails_with_its_output(tmp_path: Path) -> None:
    import sys

    scenario = tmp_path / "external_exit.yaml"
    scenario.write_text(
        f"""
scenarios:
  - name: external-crashes
    description: an external program that exits before listening
    peers:
      ext:
        kind: external
        address: "127.0.0.1:0"
        argv: [{sys.executable!r}, "-c", "import sys; print('boom on {{port}}'); sys.exit(3)"]
        ready_timeout: 20s
    steps:
      - socket: {{as: c}}
"""
    )
    with pytest.raises(AssertionError) as caught:
        run_scenario(scenario, "external-crashes", seed=1)
    text = str(caught.value)
    assert "exited with status 3" in text
    assert "boom on " in text
    assert "while starting peers" in text


@pytest.mark.parametrize("name", ["proxy-phases", "toxic-steps"])
def test_runner_proxy_scenarios_on_real_toxiproxy(name: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("toxiproxy_url")
    result = run_scenario(PASSING, name, seed=5, backend="toxiproxy", toxiproxy_url=url)
    assert result.status == PASSED


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="waits for the processes with a pidfd (Linux)")
def test_runner_external_target_group_is_killed_with_children(tmp_path: Path) -> None:
    """The program ignores SIGTERM and leaves a child behind: both are gone after the scenario."""
    import sys

    server = tmp_path / "stubborn.py"
    pids = tmp_path / "pids"
    server.write_text(
        "import os, signal, socket, subprocess, sys\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        # the grandchild's sleep is the process under test (it must outlive SIGTERM), not a wait
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"  # sync-ok
        "open(sys.argv[2], 'w').write(f'{os.getpid()} {child.pid}')\n"
        "listener = socket.create_server(('127.0.0.1', int(sys.argv[1])))\n"
        "while True:\n"
        "    listener.accept()[0].close()\n"
    )
    scenario = tmp_path / "stubborn.yaml"
    scenario.write_text(
        f"""
scenarios:
  - name: stubborn-external
    description: an external program that ignores SIGTERM and has a child
    peers:
      ext:
        kind: external
        address: "127.0.0.1:0"
        argv: [{sys.executable!r}, {str(server)!r}, "{{port}}", {str(pids)!r}]
        ready_timeout: 20s
    steps:
      - socket: {{as: c}}
      - settimeout: {{socket: c, value: 5s}}
      - connect: {{socket: c, address: ext}}
"""
    )
    result = run_scenario(scenario, "stubborn-external", seed=1)
    assert result.status == PASSED
    leader, child = (int(pid) for pid in pids.read_text().split())
    assert _exits_within(leader, 5.0)
    assert _exits_within(child, 5.0)  # the orphan got the group's SIGKILL too


def _exits_within(pid: int, timeout: float) -> bool:
    """Wait for ``pid`` to exit: a pidfd turns readable when it does (SIGKILL is delivered asynchronously)."""
    import select

    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True  # already gone (and reaped)
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(pidfd)


@pytest.mark.parametrize("argv", ["python -c pass", b"python", [], ["python", 3]])
def test_runner_external_target_refuses_a_bad_argv(argv: object) -> None:
    from sockharness.scenario._run.external import ExternalTarget

    with pytest.raises(TypeError, match="argv must be"):
        ExternalTarget(argv)  # type: ignore[arg-type]
