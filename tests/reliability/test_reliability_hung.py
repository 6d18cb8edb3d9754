"""A hung peer ends at its timeout, is reported as a timeout, leaves nothing open, and spoils no later test.

Each inner session runs in a subprocess (``runpytest_subprocess``) so a timeout that went wrong could not
take the outer session with it. The inner session runs with ``--sockharness-leaks`` (every test fails if a
socket or harness thread outlives its teardown) and a conftest that counts the process's descriptors,
sockets and threads when the session starts and when it finishes.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).resolve().parents[1] / "data"
HUNG_SCENARIOS = HERE / "reliability_scenarios" / "hung_peer.yaml"
INNER_TIMEOUT_S = 2.0
# Eight items, four of which wait INNER_TIMEOUT_S: anything far beyond that means a timeout did not fire.
INNER_SESSION_BOUND_S = 60.0

RESOURCE_COUNTER = """
import json
import os
import threading

_START = {}


def _counts():
    names = os.listdir("/proc/self/fd")
    sockets = 0
    for name in names:
        try:
            sockets += os.readlink(f"/proc/self/fd/{name}").startswith("socket:")
        except OSError:
            pass  # the descriptor listdir itself used is gone by now
    threads = sorted(thread.name for thread in threading.enumerate())
    return {"fds": len(names), "sockets": sockets, "threads": len(threads), "names": threads}


def pytest_sessionstart(session):
    _START.update(_counts())


def pytest_sessionfinish(session, exitstatus):
    end = _counts()
    print(f"\\nreliability-resources start {json.dumps(_START)}", flush=True)
    print(f"reliability-resources finish {json.dumps(end)}", flush=True)
"""

HUNG_PYTHON_TESTS = """
import socket

import pytest


@pytest.mark.timeout(2)
def test_1_fixture_client_waits_for_silent_server(silent_server, tcp_client):
    client = tcp_client(silent_server)
    client.sendall(b"anyone there?")
    client.recv(1024)  # HANGS-HERE


def test_2_next_test_runs_normally(echo_server, tcp_client):
    client = tcp_client(echo_server, timeout=10)
    client.sendall(b"ping")
    assert client.recv(4) == b"ping"


@pytest.mark.timeout(2)
def test_3_own_socket_waits_for_silent_server(silent_server):
    with socket.create_connection(silent_server.address) as client:
        client.recv(1024)  # OWN-SOCKET-HANGS-HERE


def test_4_next_test_runs_normally(echo_server, tcp_client):
    client = tcp_client(echo_server, timeout=10)
    client.sendall(b"pong")
    assert client.recv(4) == b"pong"
"""


@dataclass(frozen=True)
class Resources:
    fds: int
    sockets: int
    threads: int
    names: list[str]


def resources(output: str, moment: str) -> Resources:
    match = re.search(rf"^reliability-resources {moment} (\{{.*\}})$", output, re.MULTILINE)
    assert match is not None, f"the inner conftest printed no {moment} counts:\n{output}"
    return Resources(**json.loads(match.group(1)))


def line_of(text: str, marker: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if marker in line)


def prepare(pytester: pytest.Pytester) -> str:
    pytester.makeconftest(RESOURCE_COUNTER)
    pytester.makeini("[pytest]\nsockharness_scenario_globs = scenarios/**/*.yaml\n")  # collection is opt-in
    scenarios = pytester.mkdir("scenarios")
    shutil.copy(HUNG_SCENARIOS, scenarios / "hung_peer.yaml")
    pytester.makepyfile(test_hung_python=HUNG_PYTHON_TESTS)
    return HUNG_SCENARIOS.read_text(encoding="utf-8")


def run_inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # Fixed order, so that the test after each hung one is known; the leak check on for every item.
    return pytester.runpytest_subprocess(
        "-p", "no:randomly", "-p", "no:cacheprovider", "--sockharness-leaks", "-rA", *args
    )


def test_hung_peers_end_at_their_timeout_cleanly_and_the_next_test_runs(pytester: pytest.Pytester) -> None:
    prepare(pytester)
    result = run_inner(pytester, "-v")
    output = result.stdout.str()

    # Two hung items failed by timeout, the two after them passed, and no leak check complained.
    result.assert_outcomes(failed=4, passed=4, errors=0)
    result.stdout.fnmatch_lines(
        [
            "*scenarios/hung_peer.yaml::silent-peer-recv-hangs FAILED*",
            "*scenarios/hung_peer.yaml::next-scenario-runs-normally PASSED*",
            "*scenarios/hung_peer.yaml::proxy-holds-the-data-hangs FAILED*",
            "*scenarios/hung_peer.yaml::next-proxy-scenario-runs-normally PASSED*",
        ]
    )
    assert "sockharness leak check" not in output
    assert result.duration < INNER_SESSION_BOUND_S, f"inner session took {result.duration:.1f} s"

    # Reported as a timeout, with the test or scenario named.
    timeout_text = f"Timeout (>{INNER_TIMEOUT_S}s) from pytest-timeout"
    text = (pytester.path / "scenarios" / "hung_peer.yaml").read_text(encoding="utf-8")
    for name in ("silent-peer-recv-hangs", "proxy-holds-the-data-hangs"):
        line = line_of(text, f"- name: {name}")
        result.stdout.fnmatch_lines([f"*scenario {name} (scenarios/hung_peer.yaml:{line})*"])
    hang = line_of((pytester.path / "test_hung_python.py").read_text(), "# HANGS-HERE")
    result.stdout.fnmatch_lines([f"test_hung_python.py:{hang}: Failed"])
    assert output.count(f"Failed: {timeout_text}") >= 4

    # Nothing open afterwards: same sockets, descriptors and threads as when the session started.
    start, finish = resources(output, "start"), resources(output, "finish")
    assert finish.sockets == start.sockets, (start, finish)
    assert finish.fds == start.fds, (start, finish)
    assert finish.names == start.names, (start, finish)


def failure_section(output: str, title: str) -> str:
    """The text pytest printed for one failure: from its ``___ title ___`` header to the next header."""
    lines = output.splitlines()
    first = next(index for index, line in enumerate(lines) if line.startswith("_") and title in line)
    rest = next(
        (
            index
            for index in range(first + 1, len(lines))
            if re.match(r"^(_{3,} .* _{3,}|={3,} .* ={3,})$", lines[index])
        ),
        len(lines),
    )
    return "\n".join(lines[first:rest])


def test_timed_out_scenario_names_its_step_in_a_short_report(pytester: pytest.Pytester) -> None:
    text = prepare(pytester)
    result = run_inner(pytester, "scenarios")
    result.assert_outcomes(failed=2, passed=2, errors=0)
    section = failure_section(result.stdout.str(), "scenario silent-peer-recv-hangs")
    step_line = line_of(text, "- recv:")
    assert "Timeout" in section
    assert f"step 4 (recv) @ scenarios/hung_peer.yaml:{step_line}" in section, section[-3000:]
    assert "waits for an answer that never comes" in section  # the step's label
    assert len(section.splitlines()) < 80, f"{len(section.splitlines())} lines"


def test_timed_out_phase_reports_the_toxics_it_had(pytester: pytest.Pytester) -> None:
    prepare(pytester)
    result = run_inner(pytester, "scenarios", "-k", "proxy-holds-the-data-hangs")
    result.assert_outcomes(failed=1, deselected=3, errors=0)
    section = failure_section(result.stdout.str(), "scenario proxy-holds-the-data-hangs")
    proxy_line = next(line for line in section.splitlines() if "--- proxy px:" in line)
    assert "timeout" in proxy_line, proxy_line
