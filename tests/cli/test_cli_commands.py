"""``sockharness run`` / ``validate`` / ``schema``: arguments, exit statuses and what they print."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import pytest

from sockharness._ci import skip_or_fail
from sockharness._cli import build_parser
from sockharness.scenario._commands import (
    EXIT_NOTHING_RAN,
    build_pytest_args,
    builtin_scenarios_dir,
    split_run_arguments,
)
from tests.support.cli import run_sockharness as _sockharness

PASSING = """
scenarios:
  - name: blocking-default
    description: a new socket is blocking
    method: socket
    steps:
      - socket: {as: s}
      - getblocking: s
        returns: true
  - name: timeout-default
    description: a new socket has no timeout
    method: socket
    steps:
      - socket: {as: s}
      - gettimeout: s
        returns: null
"""
FAILING = """
scenarios:
  - name: wrong
    description: wrong on purpose
    steps:
      - socket: {as: s}
      - getblocking: s
        returns: false
"""
SKIPPED = """
scenarios:
  - name: skipped
    description: never runs
    marks: [{skip: "not here"}]
    steps: [{socket: {as: s}}]
"""
BROKEN = """
scenarios:
  - name: broken
    description: an unknown action
    steps:
      - sokcet: {as: s}
"""


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _parse(*argv: str) -> tuple[argparse.Namespace, list[str], list[str]]:
    return split_run_arguments(build_parser().parse_args(["run", *argv]))


def test_cli_run_arguments_split_at_double_dash() -> None:
    options, paths, extra = _parse("a.yaml", "dir", "--netns", "--", "-k", "x", "-n", "2", "--report", "q")
    assert paths == ["a.yaml", "dir"]
    assert extra == ["-k", "x", "-n", "2", "--report", "q"]
    assert options.netns is True
    assert options.report == []  # the --report after `--` belongs to pytest


def test_cli_run_options_before_and_after_paths() -> None:
    options, paths, extra = _parse("--backend", "toxiproxy", "x.yaml", "--report", "t.md", "--seed", "9")
    assert (options.backend, options.report, options.seed) == ("toxiproxy", ["t.md"], 9)
    assert paths == ["x.yaml"] and extra == []


def test_cli_run_builds_pytest_arguments(tmp_path: Path) -> None:
    scenario = _file(tmp_path, "s.yaml", PASSING)
    options, paths, extra = _parse(
        str(scenario), "--netns", "--backend", "embedded", "--report", "r.json", "--", "-x"
    )
    args, problem = build_pytest_args(options, paths, extra)
    assert problem is None
    assert args[-1] == str(scenario)
    joined = " ".join(args)
    for expected in (
        f"--sockharness-scenarios {scenario}",
        "--sockharness-table",
        "--sockharness-netns",
        "--sockharness-backend embedded",
        "--sockharness-report r.json",
        "-x",
    ):
        assert expected in joined


def test_cli_run_missing_path_is_an_error(tmp_path: Path) -> None:
    options, paths, extra = _parse(str(tmp_path / "nope.yaml"))
    args, problem = build_pytest_args(options, paths, extra)
    assert args == [] and problem is not None and "no such file" in problem


def test_cli_builtin_scenarios_prefer_the_wheel_copy(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "sockharness"
    (package / "_builtin_scenarios").mkdir(parents=True)
    assert builtin_scenarios_dir(package) == package / "_builtin_scenarios"  # installed from a wheel
    checkout = tmp_path / "checkout"
    (checkout / "sockharness").mkdir(parents=True)
    (checkout / "scenarios").mkdir()
    assert builtin_scenarios_dir(checkout / "sockharness") == checkout / "scenarios"  # editable install
    assert builtin_scenarios_dir(tmp_path / "nowhere" / "sockharness") is None


def test_cli_builtin_scenarios_resolve_to_the_suite() -> None:
    found = builtin_scenarios_dir()
    assert found is not None and found.is_dir()
    assert any(found.rglob("*.yaml"))


def test_cli_run_passing_exits_zero_with_table(tmp_path: Path) -> None:
    scenario = _file(tmp_path, "behaviours.yaml", PASSING)
    done = _sockharness("run", str(scenario), "--seed", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sockharness conformance table" in done.stdout
    assert "2 scenarios: 2 passed" in done.stdout
    assert "seed 3" in done.stdout
    assert "PytestAssertRewriteWarning" not in done.stdout


def test_cli_run_failing_exits_one(tmp_path: Path) -> None:
    scenario = _file(tmp_path, "wrong.yaml", FAILING)
    done = _sockharness("run", str(scenario), cwd=tmp_path)
    assert done.returncode == 1
    assert "expected: returns False" in done.stdout


def test_cli_run_nothing_ran_is_not_success(tmp_path: Path) -> None:
    scenario = _file(tmp_path, "skipped.yaml", SKIPPED)
    done = _sockharness("run", str(scenario), cwd=tmp_path)
    assert done.returncode == EXIT_NOTHING_RAN
    assert "no scenario ran" in done.stderr


def test_cli_run_passes_pytest_selection_and_writes_report(tmp_path: Path) -> None:
    scenario = _file(tmp_path, "behaviours.yaml", PASSING)
    report = tmp_path / "out.json"
    done = _sockharness(
        "run", str(scenario), "--report", str(report), "--", "-k", "timeout-default", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(report.read_text())["scenarios"]
    assert [row["scenario"] for row in rows] == ["timeout-default"]


def test_cli_run_deselecting_everything_is_not_success(tmp_path: Path) -> None:
    scenario = _file(tmp_path, "behaviours.yaml", PASSING)
    done = _sockharness("run", str(scenario), "--", "-k", "no-such-scenario", cwd=tmp_path)
    assert done.returncode != 0


def test_cli_run_builtin_suite_with_xdist(tmp_path: Path) -> None:
    done = _sockharness(
        "run", "--", "-n", "2", "-k", "connect_ex", "-p", "no:randomly", cwd=tmp_path, timeout=400
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "sockharness conformance table" in done.stdout
    assert "connect_ex" in done.stdout


def test_cli_validate_ok_and_errors(tmp_path: Path) -> None:
    good = _file(tmp_path, "good.yaml", PASSING)
    bad = _file(tmp_path, "bad.yaml", BROKEN)
    ok = _sockharness("validate", str(good), cwd=tmp_path)
    assert ok.returncode == 0 and "valid" in ok.stdout
    broken = _sockharness("validate", str(good), str(bad), cwd=tmp_path)
    assert broken.returncode == 1
    assert f"{bad}:6:" in broken.stderr
    assert "did you mean 'socket'" in broken.stderr
    assert "1 problem(s) in 1 file(s)" in broken.stderr


def test_cli_schema_prints_json_schema(tmp_path: Path) -> None:
    done = _sockharness("schema", cwd=tmp_path)
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    assert schema["$schema"].startswith("http://json-schema.org/")
    assert "scenarios" in schema["properties"]


@pytest.mark.parametrize("command", ["run", "validate", "schema"])
def test_cli_commands_are_registered(command: str) -> None:
    parser = build_parser()
    args = parser.parse_args([command, "x.yaml"] if command == "validate" else [command])
    assert callable(args.func)


NETNS = """
scenarios:
  - name: blackhole-then-clear
    description: a blackholed port times a connect out; removing the fault lets the next connect through
    method: connect
    marks: [netns]
    timeout: 30s
    peers:
      srv: echo
    steps:
      - packet_fault: {peer: srv, kind: blackhole, direction: out, as: wall}
        returns: wall
      - socket: {as: a}
      - settimeout: {socket: a, value: 300ms}
      - connect: {socket: a, address: srv}
        raises: {type: TimeoutError, errno: null}
      - remove_packet_fault: wall
      - socket: {as: b}
      - settimeout: {socket: b, value: 5s}
      - connect: {socket: b, address: srv}
"""


def test_cli_run_netns_reaches_packet_faults(tmp_path: Path) -> None:
    """`run --netns` passes the mode through: a packet-fault scenario runs (root with nftables needed)."""

    from sockharness.netns import preflight_problem

    problem = preflight_problem()
    if problem is not None:
        skip_or_fail("the network namespace mode", problem)
    scenario = _file(tmp_path, "netns.yaml", NETNS)
    done = _sockharness("run", "--netns", str(scenario), "--", "-p", "no:randomly", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 scenarios: 1 passed" in done.stdout
    without = _sockharness("run", str(scenario), cwd=tmp_path)
    assert without.returncode == EXIT_NOTHING_RAN  # skipped outside the mode: nothing ran
