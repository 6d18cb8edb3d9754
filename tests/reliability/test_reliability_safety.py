"""Untrusted input stays data: YAML builds no objects, and an external target runs without a shell.

A scenario file is a test input that people copy from issues and pull requests, so loading one must never
run code (no ``!!python/...`` tag, no tag at all; alias bombs are covered in test_scenario_loader.py), and
an external-target peer must run exactly the argv it lists: shell syntax in an argument is an argument.
At teardown the program is killed together with everything it started (its process group), also a
grandchild that ignores SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sockharness.scenario._api import load_scenarios, run_scenario, start_scenario_peers
from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_text
from sockharness.scenario._run.context import RunOptions
from sockharness.scenario._run.external import ExternalTarget

pytest_plugins = ["pytester"]

HERE = Path(__file__).resolve().parents[1] / "data" / "reliability_scenarios"
SPAWN_TREE = HERE / "spawn_tree.py"
EXTERNAL_TREE = HERE / "external_tree.yaml"
GONE_WITHIN_S = 10.0  # generous on a loaded machine; a process group dies in milliseconds

VALID_HEAD = "scenarios:\n  - name: s\n    description: d\n"


# --- safe YAML -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fragment", "tag"),
    [
        (
            'scenarios: !!python/object/apply:os.system ["touch {marker}"]\n',
            "!!python/object/apply:os.system",
        ),
        ("scenarios: !!python/object/new:subprocess.Popen [[touch, '{marker}']]\n", "!!python/object/new"),
        (VALID_HEAD + "    steps: [{{sleep: !!python/name:os.system }}]\n", "!!python/name:os.system"),
        (VALID_HEAD + "    steps: [{{sleep: 1ms}}]\n    method: !!python/module:os\n", "!!python/module:os"),
        (
            VALID_HEAD + "    steps: [{{sleep: 1ms}}]\n    observe: !!python/object:os.system {{}}\n",
            "!!python/object",
        ),
        (VALID_HEAD + "    steps: [{{sleep: 1ms}}]\n    method: !custom text\n", "!custom"),
    ],
)
def test_python_and_custom_tags_are_scenario_errors_not_objects(
    tmp_path: Path, fragment: str, tag: str
) -> None:
    marker = tmp_path / "code-ran"
    text = fragment.format(marker=marker)
    with pytest.raises(ScenarioError) as caught:
        load_text(text, "tagged.yaml")
    message = str(caught.value)
    assert f"unsupported YAML tag {tag}" in message
    assert message.startswith("tagged.yaml:")  # file:line:column of the tag
    assert not marker.exists()


def test_a_tagged_file_is_a_collection_error_in_pytest_and_runs_nothing(pytester: pytest.Pytester) -> None:
    marker = pytester.path / "code-ran"
    pytester.makeini("[pytest]\nsockharness_scenario_globs = scenarios/**/*.yaml\n")  # collection is opt-in
    pytester.mkdir("scenarios")
    (pytester.path / "scenarios" / "evil.yaml").write_text(
        f'scenarios: !!python/object/apply:os.system ["touch {marker}"]\n', encoding="utf-8"
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*scenarios/evil.yaml:1:12: scenarios: unsupported YAML tag !!python/object*"]
    )
    assert not marker.exists()


# --- external targets: argv only ---------------------------------------------------------------------------
def test_a_string_argv_in_yaml_is_a_scenario_error() -> None:
    text = (
        VALID_HEAD
        + "    peers:\n      ext: {kind: external, address: '127.0.0.1:0', argv: 'python -m http.server'}\n"
        "    steps: [{sleep: 1ms}]\n"
    )
    with pytest.raises(ScenarioError, match=r"scenarios\[0\]\.peers\.ext\.argv"):
        load_text(text, "string-argv.yaml")


@pytest.mark.parametrize(
    ("argv", "problem"),
    [("python -c pass", "string"), (["python", 3], "3")],
    ids=["string", "non-string-item"],
)
def test_a_string_argv_in_python_is_refused(argv: object, problem: str) -> None:
    # A str is a Sequence[str]: taken as argv it would run the program 'p' with arguments 'y', 't', ...
    with pytest.raises(TypeError, match="argv") as caught:
        ExternalTarget(argv)  # type: ignore[arg-type]
    assert problem in str(caught.value)


@dataclass(frozen=True)
class TreeRecord:
    argv: list[str]
    pid: int
    pgid: int
    grandchild: int


@pytest.fixture
def record_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where spawn_tree.py writes what it received; ``python`` on PATH is this interpreter."""
    record = tmp_path / "tree.json"
    monkeypatch.setenv("SOCKHARNESS_RELIABILITY_RECORD", str(record))
    monkeypatch.setenv("SOCKHARNESS_RELIABILITY_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    yield record
    leftover = read_record(record) if record.exists() else None
    if leftover is not None:  # a failed test must still not leave the tree running
        for pid in (leftover.grandchild, leftover.pid):
            kill_quietly(pid)


def read_record(path: Path) -> TreeRecord:
    return TreeRecord(**json.loads(path.read_text(encoding="utf-8")))


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def has_exited(pid: int, timeout: float) -> bool:
    """True once ``pid`` has exited (reaped, or a zombie left for init); waits on a pidfd, not a sleep."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True  # exited and reaped
    try:
        readable, _, _ = select.select([fd], [], [], timeout)  # a pidfd turns readable when it exits
        return bool(readable)
    finally:
        os.close(fd)


def test_external_argv_reaches_the_program_verbatim_and_its_group_dies(record_file: Path) -> None:
    expected = load_scenarios(EXTERNAL_TREE)[0].peers["ext"].argv  # type: ignore[union-attr]
    # argv names spawn_tree.py relative to the scenario's folder, where a pytest run would start it.
    options = RunOptions(seed=1, cwd=str(HERE))
    with start_scenario_peers(EXTERNAL_TREE, "external-argv-is-literal", options=options):
        record = read_record(record_file)
        assert not has_exited(record.pid, 0) and not has_exited(record.grandchild, 0)

    port = record.argv[1]
    assert record.argv == ["127.0.0.1", port, *expected[4:]]  # byte for byte, {host}/{port} filled in
    assert "{not a field}" in record.argv and "*" in record.argv and "~" in record.argv
    assert not (record_file.parent / "shell-ran").exists() and not (record_file.parent / "x").exists()
    assert record.pgid == record.pid  # it leads its own process group, apart from the test process
    assert record.pgid != os.getpgid(0)
    assert has_exited(record.pid, GONE_WITHIN_S), "the external program outlived the scenario"
    assert has_exited(record.grandchild, GONE_WITHIN_S), "the grandchild (ignores SIGTERM) outlived it"


def test_the_external_scenario_runs_and_leaves_no_process(record_file: Path) -> None:
    options = RunOptions(seed=1, cwd=str(HERE))
    run_scenario(EXTERNAL_TREE, "external-argv-is-literal", options=options)  # connect, close: passes
    record = read_record(record_file)
    assert has_exited(record.pid, GONE_WITHIN_S)
    assert has_exited(record.grandchild, GONE_WITHIN_S)


def test_a_program_that_ignores_sigterm_is_killed_with_its_group(record_file: Path) -> None:
    argv = [sys.executable, str(SPAWN_TREE), "{host}", "{port}", "--ignore-term"]
    target = ExternalTarget(argv, ready_timeout=20.0, name="stubborn").start()
    record = read_record(record_file)
    assert not has_exited(record.pid, 0) and not has_exited(record.grandchild, 0)
    try:
        target.stop(timeout=0.5)  # SIGTERM to the group, then SIGKILL after the grace period
    finally:
        target.close()
    assert has_exited(record.pid, GONE_WITHIN_S)
    assert has_exited(record.grandchild, GONE_WITHIN_S)
