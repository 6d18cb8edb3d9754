"""A command line that fits habits: ``--version``, one exit-code convention, ``validate`` that skips
virtual environments and counts what it checked, annotations, and a built-in run that stays inside the
invoking project (its pytest configuration, its cache folder) and names the xdist extra when it is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

import pytest

from sockharness.scenario._commands import (
    EXIT_NOTHING_RAN,
    builtin_scenarios_dir,
    exit_status,
    project_config,
    xdist_problem,
    yaml_files,
)
from tests.support.cli import run_sockharness as _sockharness

GOOD = """
scenarios:
  - name: blocking-default
    description: a new socket is blocking
    steps:
      - socket: {as: s}
      - getblocking: s
        returns: true
  - name: timeout-default
    description: a new socket has no timeout
    steps:
      - socket: {as: s}
      - gettimeout: s
        returns: null
"""
BROKEN = """
scenarios:
  - name: broken
    description: an unknown action
    steps:
      - sokcet: {as: s}
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_version_names_the_installed_distribution(tmp_path: Path) -> None:
    done = _sockharness("--version", cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, f"sockharness {version('sockharness')}")


@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_missing_path_is_bad_input_for_every_command(tmp_path: Path, command: str) -> None:
    done = _sockharness(command, "nope.yaml", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "nope.yaml: no such file or folder" in done.stderr


def test_usage_errors_are_two_for_every_command(tmp_path: Path) -> None:
    assert _sockharness("validate", cwd=tmp_path).returncode == 2  # argparse: PATH is required
    scenario = _write(tmp_path / "s.yaml", GOOD)
    done = _sockharness("run", str(scenario), "--", "--no-such-pytest-option", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr  # pytest's 4 in the command's convention


def test_exit_status_mapping() -> None:
    assert [exit_status(code, ran=3) for code in (0, 1, 2, 3, 4, 5)] == [0, 1, 2, 2, 2, 2]
    assert exit_status(0, ran=0) == EXIT_NOTHING_RAN == 2
    assert exit_status(1, ran=0) == 1


def test_run_of_python_tests_that_pass_is_a_success(tmp_path: Path) -> None:
    tests = _write(
        tmp_path / "test_x.py",
        """
        import pytest

        @pytest.mark.parametrize("n", range(8))
        def test_n(n):
            assert n >= 0
        """,
    )
    done = _sockharness("run", str(tests), "--", "-p", "no:randomly", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "8 passed" in done.stdout


def test_validate_skips_hidden_and_virtual_environment_folders_and_counts(tmp_path: Path) -> None:
    _write(tmp_path / "scenarios" / "good.yaml", GOOD)
    for hidden in (".venv", "venv", ".git", "node_modules", "__pycache__", ".tox", "env-with-cfg"):
        _write(tmp_path / hidden / "lib" / "broken.yaml", BROKEN)
    (tmp_path / "env-with-cfg" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert yaml_files(tmp_path) == [tmp_path / "scenarios" / "good.yaml"]
    done = _sockharness("validate", ".", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "all scenario files are valid: checked 1 file(s), 2 scenario(s)"


def test_validate_failures_count_and_annotate(tmp_path: Path) -> None:
    _write(tmp_path / "good.yaml", GOOD)
    bad = _write(tmp_path / "sub" / "bad.yaml", BROKEN)
    done = _sockharness("validate", ".", "--annotations", "github", cwd=tmp_path)
    assert done.returncode == 1
    assert "1 problem(s) in 1 file(s); checked 2 file(s), 2 scenario(s)" in done.stderr
    annotation = next(line for line in done.stdout.splitlines() if line.startswith("::error "))
    assert annotation.startswith(f"::error file={bad.relative_to(tmp_path)},line=6,col=")
    assert "did you mean 'socket'" in annotation


def test_an_empty_folder_checks_nothing_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = _sockharness("validate", "empty", cwd=tmp_path)
    assert done.returncode == 2
    assert "no .yaml/.yml files in this folder" in done.stderr


def test_run_annotates_a_scenario_file_that_does_not_load(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.yaml", BROKEN)
    done = _sockharness("run", str(bad), "--annotations", "github", cwd=tmp_path)
    assert done.returncode == 2, done.stdout[-2000:]
    assert (
        "::error file=bad.yaml,line=6,col=9::scenarios[0].steps[0].sokcet: unknown step action" in done.stdout
    )


# --- the user's project stays in charge --------------------------------------------------------------


def test_project_config_is_found_upwards_as_pytest_finds_it(tmp_path: Path) -> None:
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = x\n")  # not a pytest configuration
    assert project_config(tmp_path) != tmp_path / "setup.cfg"
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-q'\n")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    assert project_config(tmp_path / "deep" / "er") == tmp_path / "pyproject.toml"
    (tmp_path / "deep" / "pytest.ini").write_text("[pytest]\n")
    assert project_config(tmp_path / "deep" / "er") == tmp_path / "deep" / "pytest.ini"


def test_builtin_run_honours_the_project_config_and_writes_no_cache_beside_the_suite(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "pytest.ini").write_text(
        "[pytest]\njunit_family = xunit2\njunit_suite_name = the-users-suite\naddopts = -p no:randomly\n"
    )
    builtin = builtin_scenarios_dir()
    assert builtin is not None
    cache_beside_suite = builtin / ".pytest_cache"
    existed = cache_beside_suite.exists()
    done = _sockharness(
        "run", "--", "-k", "connect_ex", "--junitxml=out.xml", cwd=project / "src", timeout=400
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"rootdir: {project}" in done.stdout and "configfile: pytest.ini" in done.stdout
    suite = ET.parse(project / "src" / "out.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "the-users-suite"
    assert (project / ".pytest_cache").is_dir()
    assert cache_beside_suite.exists() == existed  # nothing written into the package's folder


def test_xdist_missing_is_one_sentence_naming_the_extra(tmp_path: Path) -> None:
    assert xdist_problem(["-k", "x"]) is None
    assert xdist_problem(["-n", "2"]) is None  # installed here (dev extra)
    code = (
        "import sys; sys.modules['xdist'] = None\n"  # as if pytest-xdist were not installed
        "from sockharness._cli import main\n"
        "sys.exit(main(['run', '--', '-n', '2']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr
    assert done.stderr.strip() == (
        "sockharness run: -n needs pytest-xdist, which is not installed: pip install 'sockharness[xdist]'"
    )


def test_run_writes_several_reports_and_appends_to_the_step_summary(tmp_path: Path) -> None:
    scenario = _write(tmp_path / "s.yaml", GOOD)
    summary = tmp_path / "step_summary_0a1b"  # no suffix, like $GITHUB_STEP_SUMMARY
    summary.write_text("## an earlier step\n")
    done = _sockharness(
        "run",
        str(scenario),
        "--report-append",
        f"md:{summary}",
        "--report",
        "junit:results.xml",
        "--report",
        "rows.json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert summary.read_text().startswith("## an earlier step\n\n# Socket behaviour conformance")
    suite = ET.parse(tmp_path / "results.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2"
    assert (tmp_path / "rows.json").read_text().startswith("{")
    refused = _sockharness("run", str(scenario), "--report-append", "rows.json", cwd=tmp_path)
    assert refused.returncode == 2
    assert "only Markdown reports can be appended to" in refused.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["-n", "2"], "-n"),
        (["-n2"], "-n"),
        (["--numprocesses=auto"], "--numprocesses"),
        (["--dist", "load"], "--dist"),
    ],
)
def test_xdist_options_are_recognised(monkeypatch: pytest.MonkeyPatch, args: list[str], named: str) -> None:
    monkeypatch.setitem(sys.modules, "xdist", None)  # find_spec then says: not installed
    install = "pip install 'sockharness[xdist]'"
    assert (
        xdist_problem(args)
        == f"sockharness run: {named} needs pytest-xdist, which is not installed: {install}"
    )


def test_max_bytes_raises_the_size_limit_for_validate_and_run(tmp_path: Path) -> None:
    """A file over the 4 MiB default is refused before parsing; --max-bytes lets it through, both commands."""
    padding = "# " + "x" * 1000 + "\n"
    big = _write(tmp_path / "big.yaml", GOOD)
    big.write_text(big.read_text() + padding * 4300)  # about 4.3 MB: over 4 MiB
    refused = _sockharness("validate", str(big), cwd=tmp_path)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "more than the 4194304-byte limit" in refused.stderr
    allowed = _sockharness("validate", "--max-bytes", "8MiB", str(big), cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    ran = _sockharness("run", str(big), "--max-bytes", "8MiB", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    refused_run = _sockharness("run", str(big), cwd=tmp_path)
    assert refused_run.returncode == 2, refused_run.stdout + refused_run.stderr
    bad = _sockharness("validate", "--max-bytes", "lots", str(big), cwd=tmp_path)
    assert bad.returncode == 2 and "--max-bytes" in bad.stderr
