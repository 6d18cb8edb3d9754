"""`sockharness run --netns` runs the whole built-in suite plus the packet-fault scenarios, all passing.

Outside the mode the netns scenarios skip; inside it nothing may skip on Linux as root with nftables, so
"every scenario ran and passed" is the assertion. Under CI the mode is required (CI runs as root here).
"""

from __future__ import annotations

import re
import subprocess
import sys

from sockharness._ci import skip_or_fail
from sockharness.netns import preflight_problem
from sockharness.scenario._commands import builtin_scenarios_dir
from sockharness.scenario._language.loader import load_file


def _builtin_counts() -> tuple[int, int]:
    """(all scenarios, netns-marked scenarios) in the shipped suite, read from its files."""
    suite = builtin_scenarios_dir()
    assert suite is not None
    scenarios = [s for path in sorted(suite.rglob("*.yaml")) for s in load_file(path).scenarios]
    netns = [s for s in scenarios if any(type(mark).__name__ == "NetnsMark" for mark in s.marks)]
    return len(scenarios), len(netns)


def _report(output: str) -> str:
    """The FAILED/ERROR summary lines first (they name the scenarios), then the end of the output."""
    summary = [line for line in output.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    return "\n".join([*summary, "...", output[-3000:]])


def test_run_netns_runs_every_builtin_scenario_and_all_pass() -> None:
    problem = preflight_problem()
    if problem is not None:
        skip_or_fail("the network namespace mode", problem)
    done = subprocess.run(
        [sys.executable, "-m", "sockharness", "run", "--netns", "--", "-p", "no:randomly", "-q"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, _report(output)
    summary = re.search(r"(\d+) scenarios: (\d+) passed(?:, (\d+) skipped)?", done.stdout)
    assert summary is not None, _report(output)
    total, passed, skipped = int(summary[1]), int(summary[2]), int(summary[3] or 0)
    expected_total, netns_count = _builtin_counts()
    assert netns_count > 0
    assert (total, passed, skipped) == (expected_total, expected_total, 0), summary[0]
