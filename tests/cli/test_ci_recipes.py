"""The CI recipes in docs/ci/ work: they lint, and their commands pass (or annotate) in a user's project.

The commands are read from the recipe files themselves, so the docs cannot drift from what is tested.
Only what must differ on this machine is replaced: the ``pip install`` line is dropped (the package under
test is already installed; its scripts folder goes first on PATH), ``$GITHUB_STEP_SUMMARY`` names a file
in the temporary folder, and ``sudo`` is a pass-through when the test already runs as root without it.
Each GitHub step runs with the shell GitHub uses for ``run:`` (``bash --noprofile --norc -eo pipefail``),
each GitLab job's lines in one such shell, in a throwaway project laid out as docs/how-to/ci.md says.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sockharness._ci import skip_or_fail
from sockharness.netns import preflight_problem

RECIPES = Path(__file__).resolve().parents[2] / "docs" / "ci"
GITHUB_RECIPE = RECIPES / "github-actions.yml"
GITLAB_RECIPE = RECIPES / "gitlab-ci.yml"
HOW_TO = RECIPES.parent / "how-to" / "ci.md"

#: The one line each recipe runs that must not run here: the package under test is installed already.
INSTALL_LINE = "python -m pip install 'sockharness[xdist]'"
#: GitHub's shell for `run:` steps (https://docs.github.com/actions/reference/workflow-syntax-for-github-actions).
GITHUB_SHELL = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
#: `if:` conditions the runner below understands; a recipe using another one fails the test, not silently.
RUNS_AFTER_A_FAILURE = "${{ !cancelled() }}"
TABLE_HEADER = "| behaviour | method | result | observed | scenario |"
STEP_TIMEOUT = 600.0  # seconds, per step and per test; the built-in suite takes ~20 s, this bounds a hang

PYPROJECT = """\
[tool.pytest.ini_options]
testpaths = ["tests", "scenarios"]
sockharness_scenario_globs = ["scenarios/**/*.yaml"]
"""
SCENARIO = """\
scenarios:
  - name: connect_ex-refused
    description: connect_ex returns ECONNREFUSED instead of raising for a closed port
    method: connect_ex
    observe: "connect_ex returned {rc}"
    peers:
      closed: closed_port
    steps:
      - socket: {as: c}
      - connect_ex: {socket: c, address: closed}
        returns: ECONNREFUSED
        save: rc
"""
PYTHON_TEST = """\
import errno


def test_client_sees_refusal(closed_port, tcp_client):
    client = tcp_client()
    assert client.connect_ex(closed_port.address) == errno.ECONNREFUSED
"""
#: Line 9 holds the misspelt action; validate and the pytest collector must both point at it.
BROKEN_SCENARIO = """\
scenarios:
  - name: misspelt
    description: a misspelt step action
    method: recv
    peers:
      closed: closed_port
    steps:
      - socket: {as: c}
      - recieve: {socket: c, bufsize: 10}
"""
BROKEN_LINE = 9


# --- reading the recipes (pure) ----------------------------------------------------------------------


@dataclass(frozen=True)
class GithubStep:
    """One `run:` step of the workflow, in order, with its `if:` condition ("" when it has none)."""

    name: str
    script: str
    condition: str


def load_yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{path}: expected a mapping at the top"
    return loaded


def github_job(workflow: dict[str, Any]) -> dict[str, Any]:
    jobs = workflow["jobs"]
    assert list(jobs) == ["sockharness"], f"expected the one job 'sockharness', got {list(jobs)}"
    job: dict[str, Any] = jobs["sockharness"]
    return job


def github_run_steps(workflow: dict[str, Any]) -> list[GithubStep]:
    return [
        GithubStep(step.get("name", step["run"]), step["run"], step.get("if", ""))
        for step in github_job(workflow)["steps"]
        if "run" in step
    ]


def gitlab_job_lines(pipeline: dict[str, Any], job_name: str) -> list[str]:
    """before_script + script of a job, following its (single, local) `extends:`."""
    job = pipeline[job_name]
    base = pipeline[job["extends"]] if "extends" in job else {}
    merged = {**base, **job}
    return [*merged.get("before_script", []), *merged["script"]]


def gitlab_jobs(pipeline: dict[str, Any]) -> list[str]:
    """The jobs GitLab runs: top-level mappings that are not hidden (`.name`) or global keywords."""
    keywords = {"stages", "variables", "default", "include", "workflow", "image", "services", "cache"}
    return [
        name
        for name, value in pipeline.items()
        if isinstance(value, dict) and not name.startswith(".") and name not in keywords
    ]


def without_install(lines: list[str]) -> list[str]:
    """The lines minus the one install line; anything else that installs the package is a drift."""
    assert lines.count(INSTALL_LINE) == 1, f"expected exactly one {INSTALL_LINE!r} in {lines}"
    kept = [line for line in lines if line != INSTALL_LINE]
    assert not [line for line in kept if "pip install" in line], kept
    return kept


def junit_paths(commands: str) -> list[str]:
    """Every JUnit file the commands write: `--report junit:PATH` and pytest's `--junitxml=PATH`."""
    return [
        first or second for first, second in re.findall(r"--report junit:(\S+)|--junitxml=(\S+)", commands)
    ]


def test_junit_paths_finds_both_spellings() -> None:
    assert junit_paths("a --report junit:r/a.xml -- -n 2\nb --junitxml=r/b.xml --x") == ["r/a.xml", "r/b.xml"]
    assert junit_paths("sockharness validate scenarios/") == []


# --- running them (I/O) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    name: str
    returncode: int
    output: str


def make_project(root: Path, *, broken: bool = False) -> Path:
    """A user's project as docs/how-to/ci.md lays it out, with a malformed scenario file if `broken`."""
    (root / "scenarios").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (root / "scenarios" / "refusals.yaml").write_text(SCENARIO, encoding="utf-8")
    (root / "tests" / "test_client.py").write_text(PYTHON_TEST, encoding="utf-8")
    if broken:
        (root / "scenarios" / "broken.yaml").write_text(BROKEN_SCENARIO, encoding="utf-8")
    return root


def installed_scripts() -> Path:
    """The folder holding the installed `sockharness` and `pytest` commands (what pip put on PATH)."""
    scripts = Path(sys.executable).parent
    missing = [name for name in ("sockharness", "pytest") if not (scripts / name).exists()]
    if missing:
        pytest.fail(f"the installed package's scripts {missing} are not beside {sys.executable}")
    return scripts


def recipe_environment(tmp_path: Path) -> dict[str, str]:
    """This machine's environment as a CI runner's: CI set, the installed scripts first on PATH.

    pytest's own variables of the outer run (xdist worker ids, addopts) and a namespace marker are
    dropped: the recipes start from a clean shell on a runner.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "SOCKHARNESS_")) and name not in {"GITHUB_STEP_SUMMARY", "COLUMNS"}
    }
    path = [str(installed_scripts())]
    if shutil.which("sudo") is None and os.geteuid() == 0:
        fake = tmp_path / "fake-sudo"
        fake.mkdir()
        sudo = fake / "sudo"
        sudo.write_text('#!/bin/sh\n# root already: run the command as it is\nexec "$@"\n', encoding="utf-8")
        sudo.chmod(0o755)
        path.append(str(fake))
    env["PATH"] = os.pathsep.join([*path, env.get("PATH", os.defpath)])
    env["CI"] = "true"
    return env


def run_script(name: str, script: str, *, cwd: Path, env: dict[str, str]) -> Ran:
    done = subprocess.run(
        [*GITHUB_SHELL, script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    return Ran(name, done.returncode, done.stdout + done.stderr)


def run_github_steps(steps: list[GithubStep], *, cwd: Path, env: dict[str, str]) -> dict[str, Ran | None]:
    """Run the steps as GitHub does: after a failure only `!cancelled()` steps run (None = skipped)."""
    results: dict[str, Ran | None] = {}
    failed = False
    for step in steps:
        assert step.condition in ("", RUNS_AFTER_A_FAILURE), f"{step.name}: unknown if: {step.condition!r}"
        if failed and step.condition != RUNS_AFTER_A_FAILURE:
            results[step.name] = None
            continue
        ran = run_script(step.name, step.script, cwd=cwd, env=env)
        results[step.name] = ran
        failed = failed or ran.returncode != 0
    return results


def shown(ran: Ran) -> str:
    return f"{ran.name}: exit {ran.returncode}\n{ran.output[-4000:]}"


def require_netns() -> None:
    """Skip without the namespace mode locally; under CI the mode is required (CI runs as root here)."""
    problem = preflight_problem()
    if problem is None and os.geteuid() != 0 and shutil.which("sudo") is None:
        problem = "the recipe's netns step runs sudo, and there is no sudo here"
    if problem is not None:
        skip_or_fail("the network namespace mode", problem)


def assert_junit(path: Path, *, at_least: int) -> None:
    """The file parses, holds at least `at_least` testcases and no failure or error."""
    assert path.is_file(), f"{path} was not written"
    root = ElementTree.parse(path).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) >= at_least, f"{path}: {len(cases)} testcases"
    bad = [
        case.get("name")
        for case in cases
        if case.find("failure") is not None or case.find("error") is not None
    ]
    assert bad == [], f"{path}: failed testcases {bad}"


def netns_step(steps: list[GithubStep]) -> GithubStep:
    (step,) = [step for step in steps if "--netns" in step.script]
    return step


# --- linting -----------------------------------------------------------------------------------------


def find_actionlint() -> str | None:
    """actionlint on PATH, or where `go install` puts it ($GOPATH/bin, by default ~/go/bin)."""
    found = shutil.which("actionlint")
    if found is not None:
        return found
    gopath = os.environ.get("GOPATH") or str(Path.home() / "go")
    candidate = Path(gopath.split(os.pathsep)[0]) / "bin" / "actionlint"
    return str(candidate) if candidate.is_file() else None


def test_github_recipe_passes_actionlint() -> None:
    actionlint = find_actionlint()
    if actionlint is None:
        reason = "actionlint is not installed (.ci/run installs it with go install)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    done = subprocess.run(
        [actionlint, "-no-color", str(GITHUB_RECIPE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_github_recipe_uploads_every_junit_file_it_writes() -> None:
    workflow = load_yaml(GITHUB_RECIPE)
    steps = github_job(workflow)["steps"]
    uploads = [step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact@")]
    assert len(uploads) == 1, uploads
    assert uploads[0].get("if") == RUNS_AFTER_A_FAILURE, "reports matter most when a step failed"
    pattern = uploads[0]["with"]["path"]
    written = junit_paths("\n".join(step.script for step in github_run_steps(workflow)))
    assert len(written) == 3, written
    assert [path for path in written if not fnmatch.fnmatch(path, pattern)] == [], (pattern, written)


def test_gitlab_recipe_structure() -> None:
    """What GitLab would reject or silently ignore, checked offline (its linter needs a server)."""
    pipeline = load_yaml(GITLAB_RECIPE)
    jobs = gitlab_jobs(pipeline)
    assert jobs == ["sockharness", "sockharness-packet-faults"]
    for name in jobs:
        job = {**pipeline[pipeline[name]["extends"]], **pipeline[name]}
        assert job["stage"] in pipeline["stages"], name
        assert isinstance(job["image"], str) and job["image"].startswith("python:3."), name
        lines = gitlab_job_lines(pipeline, name)
        assert all(isinstance(line, str) for line in lines), f"{name}: script lines must be strings"
        artifacts = job["artifacts"]
        assert artifacts["when"] == "always", f"{name}: reports matter most when the job failed"
        pattern = artifacts["reports"]["junit"]
        written = junit_paths("\n".join(lines))
        assert written, f"{name} writes no JUnit file"
        assert [path for path in written if not fnmatch.fnmatch(path, pattern)] == [], (
            name,
            pattern,
            written,
        )
        assert set(artifacts) <= {"when", "paths", "reports", "expire_in", "name"}, artifacts
    assert "--netns" in " ".join(gitlab_job_lines(pipeline, "sockharness-packet-faults"))


def test_gitlab_recipe_scripts_pass_shellcheck(tmp_path: Path) -> None:
    """actionlint runs shellcheck on the workflow's scripts when it is installed; the same for GitLab's."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (optional: apt-get install shellcheck)")
    pipeline = load_yaml(GITLAB_RECIPE)
    for job in gitlab_jobs(pipeline):
        script = tmp_path / f"{job}.sh"
        script.write_text(
            "#!/bin/bash\n" + "\n".join(gitlab_job_lines(pipeline, job)) + "\n", encoding="utf-8"
        )
        done = subprocess.run(
            [shellcheck, str(script)], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"{job}:\n{done.stdout}{done.stderr}"


def fenced_blocks(markdown: str) -> list[str]:
    """The bodies of the page's fenced code blocks (the page nests none)."""
    blocks: list[str] = re.findall(r"^```[^\n]*\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)
    return blocks


def test_how_to_page_shows_both_recipe_files_verbatim() -> None:
    """The page copies the files (no snippet include is configured): a copy that drifted fails here."""
    page = HOW_TO.read_text(encoding="utf-8")
    blocks = fenced_blocks(page)
    for recipe in (GITHUB_RECIPE, GITLAB_RECIPE):
        assert f"docs/ci/{recipe.name}" in page, f"{HOW_TO} does not name {recipe.name}"
        assert recipe.read_text(encoding="utf-8") in blocks, f"{HOW_TO}: the copy of {recipe.name} differs"


# --- running the GitHub Actions recipe ---------------------------------------------------------------


@pytest.mark.timeout(STEP_TIMEOUT)
def test_github_recipe_commands_pass_in_a_project(tmp_path: Path) -> None:
    steps = github_run_steps(load_yaml(GITHUB_RECIPE))
    install, *rest = steps
    assert without_install(install.script.splitlines()) == []
    host_steps = [step for step in rest if step is not netns_step(steps)]
    project = make_project(tmp_path / "project")
    env = recipe_environment(tmp_path)
    summary = tmp_path / "step-summary.md"
    env["GITHUB_STEP_SUMMARY"] = str(summary)

    results = run_github_steps(host_steps, cwd=project, env=env)

    for ran in results.values():
        assert ran is not None and ran.returncode == 0, shown(ran) if ran else "skipped"
    validate = results["Validate the scenario files"]
    assert validate is not None and "all scenario files are valid" in validate.output
    assert "::error" not in "".join(ran.output for ran in results.values() if ran is not None)
    assert_junit(project / "reports" / "builtin.xml", at_least=200)
    assert_junit(project / "reports" / "project.xml", at_least=2)
    table = summary.read_text(encoding="utf-8")
    assert table.count(TABLE_HEADER) == 2, table[:2000]  # the built-in suite's, then the project's
    assert "connect\\_ex-refused (scenarios/refusals.yaml)" in table


@pytest.mark.timeout(STEP_TIMEOUT)
def test_github_recipe_commands_annotate_a_broken_file(tmp_path: Path) -> None:
    """validate fails the job and annotates the line; the `!cancelled()` steps still run and annotate."""
    steps = github_run_steps(load_yaml(GITHUB_RECIPE))[1:]
    host_steps = [step for step in steps if step is not netns_step(steps)]
    project = make_project(tmp_path / "project", broken=True)
    env = recipe_environment(tmp_path)
    env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "step-summary.md")

    results = run_github_steps(host_steps, cwd=project, env=env)

    annotation = f"::error file=scenarios/broken.yaml,line={BROKEN_LINE},col="
    validate = results["Validate the scenario files"]
    assert validate is not None and validate.returncode == 1, shown(validate) if validate else "skipped"
    assert annotation in validate.output and "did you mean 'recv'?" in validate.output, shown(validate)
    assert results["Built-in conformance suite"] is None, "a step without if: must not run after a failure"
    project_tests = results["Project tests and scenarios"]
    assert project_tests is not None, "the project's tests run after a failed validate (!cancelled())"
    # Under -n the collection error fails the run without interrupting it: the valid tests still ran.
    assert project_tests.returncode == 1, shown(project_tests)
    assert "2 passed, 1 error" in project_tests.output, shown(project_tests)
    assert annotation in project_tests.output, shown(project_tests)


@pytest.mark.timeout(STEP_TIMEOUT)
def test_github_recipe_netns_step_runs_the_packet_faults(tmp_path: Path) -> None:
    require_netns()
    step = netns_step(github_run_steps(load_yaml(GITHUB_RECIPE)))
    assert "sudo env" in step.script
    assert shutil.which("nft") is not None  # so the recipe's apt-get branch does not run here
    project = make_project(tmp_path / "project")
    env = recipe_environment(tmp_path)
    summary = tmp_path / "step-summary.md"
    env["GITHUB_STEP_SUMMARY"] = str(summary)

    ran = run_script(step.name, step.script, cwd=project, env=env)

    assert ran.returncode == 0, shown(ran)
    counts = re.search(r"(\d+) scenarios: (\d+) passed", ran.output)
    assert counts is not None and counts[1] == counts[2] and int(counts[1]) > 0, shown(ran)
    assert "sockharness netns: each xdist worker enters" in ran.output, shown(ran)  # the recipe runs -n auto
    assert_junit(project / "reports" / "netns.xml", at_least=int(counts[1]))
    assert summary.read_text(encoding="utf-8").count(TABLE_HEADER) == 1


# --- running the GitLab CI recipe --------------------------------------------------------------------


def gitlab_script(job_name: str) -> str:
    return "\n".join(without_install(gitlab_job_lines(load_yaml(GITLAB_RECIPE), job_name)))


@pytest.mark.timeout(STEP_TIMEOUT)
def test_gitlab_recipe_commands_pass_in_a_project(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    env = recipe_environment(tmp_path)

    ran = run_script("sockharness", gitlab_script("sockharness"), cwd=project, env=env)

    assert ran.returncode == 0, shown(ran)
    assert_junit(project / "reports" / "builtin.xml", at_least=200)
    assert_junit(project / "reports" / "project.xml", at_least=2)
    table = (project / "reports" / "conformance.md").read_text(encoding="utf-8")
    assert table.count(TABLE_HEADER) == 2, table[:2000]


@pytest.mark.timeout(STEP_TIMEOUT)
def test_gitlab_recipe_commands_stop_at_a_broken_file(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", broken=True)

    ran = run_script(
        "sockharness", gitlab_script("sockharness"), cwd=project, env=recipe_environment(tmp_path)
    )

    assert ran.returncode == 1, shown(ran)
    assert f"scenarios/broken.yaml:{BROKEN_LINE}:" in ran.output, shown(ran)
    assert not (project / "reports" / "builtin.xml").exists(), "the script must stop at the failed validate"


@pytest.mark.timeout(STEP_TIMEOUT)
def test_gitlab_recipe_netns_job_runs_the_packet_faults(tmp_path: Path) -> None:
    require_netns()
    assert shutil.which("nft") is not None  # so the recipe's apt-get branch does not run here
    project = make_project(tmp_path / "project")

    ran = run_script(
        "sockharness-packet-faults",
        gitlab_script("sockharness-packet-faults"),
        cwd=project,
        env=recipe_environment(tmp_path),
    )

    assert ran.returncode == 0, shown(ran)
    assert "sockharness netns: each xdist worker enters" in ran.output, shown(ran)  # the recipe runs -n auto
    counts = re.search(r"(\d+) scenarios: (\d+) passed", ran.output)
    assert counts is not None and counts[1] == counts[2] and int(counts[1]) > 0, shown(ran)
    assert_junit(project / "reports" / "netns.xml", at_least=int(counts[1]))


def test_recipes_differ_here_only_by_the_install_line() -> None:
    """Guard on the replacements: nothing else in the recipes is dropped or rewritten by this file."""
    github = [
        line for step in github_run_steps(load_yaml(GITHUB_RECIPE)) for line in step.script.splitlines()
    ]
    gitlab = [
        line
        for job in gitlab_jobs(load_yaml(GITLAB_RECIPE))
        for line in gitlab_job_lines(load_yaml(GITLAB_RECIPE), job)
    ]
    for lines in (github, gitlab):
        assert [line for line in lines if "pip" in line] == [INSTALL_LINE] * lines.count(INSTALL_LINE)
    assert github.count(INSTALL_LINE) == 1
    assert gitlab.count(INSTALL_LINE) == 2  # once per job, through the shared template
