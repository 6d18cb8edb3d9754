"""``sockharness run``, ``sockharness validate`` and ``sockharness schema``.

``run`` goes through ``pytest.main`` on purpose: selection (``-k``), ``-x``, xdist (``-n 2``), JUnit XML and
every other pytest feature work unchanged, and the conformance table is the same one a plain pytest run
prints with ``--sockharness-table``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sockharness.scenario._run.report_formats import ANNOTATION_STYLES, github_annotation

if TYPE_CHECKING:
    from sockharness.scenario._language.errors import ScenarioError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
#: nothing ran (every scenario deselected or skipped): a run that checked nothing is bad input, not a pass.
EXIT_NOTHING_RAN = EXIT_USAGE


def builtin_scenarios_dir(package_dir: Path | None = None) -> Path | None:
    """The shipped suite: ``sockharness/_builtin_scenarios`` in a wheel, the repo's ``scenarios/`` when
    the package is installed editable (or run from a checkout). ``package_dir`` defaults to this package."""
    if package_dir is None:
        package_dir = Path(__file__).resolve().parent.parent
    candidates = [package_dir / "_builtin_scenarios", package_dir.parent / "scenarios"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--netns",
        action="store_true",
        help="run inside a private network namespace so packet-fault scenarios can run (needs root)",
    )
    parser.add_argument(
        "--backend",
        choices=["embedded", "toxiproxy"],
        default=None,
        help="fault backend for proxy peers that do not name one (default: embedded)",
    )
    parser.add_argument(
        "--report",
        metavar="[FORMAT:]PATH",
        action="append",
        default=None,
        help="also write the conformance table to PATH (repeatable); FORMAT is md, json or junit, or "
        "follows from a .md/.json/.xml suffix, e.g. --report junit:results.xml",
    )
    parser.add_argument(
        "--report-append",
        metavar="[md:]PATH",
        action="append",
        default=None,
        help="like --report, but add the Markdown table to the end of PATH (repeatable), "
        "e.g. --report-append md:$GITHUB_STEP_SUMMARY",
    )
    _add_annotations_option(parser)
    _add_max_bytes_option(parser)
    parser.add_argument("--seed", type=int, default=None, help="replay a run with this seed")
    parser.add_argument(
        "--socket-impl",
        type=_socket_impl_name,
        default=None,
        metavar="NAME",
        help="make the scenarios' own sockets with gevent, eventlet or package.module:factory instead of "
        "the standard library (peers stay standard-library)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="with --socket-impl: also run each scenario with stdlib sockets (same seed) and show, per "
        "scenario, where the implementation differs",
    )


def _socket_impl_name(text: str) -> str:
    """argparse type for ``--socket-impl``: the name's shape is checked here, its import by the run."""
    from sockharness._socket_impl import SocketImplError, parse_socket_impl

    try:
        return parse_socket_impl(text).name
    except SocketImplError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix(f"--socket-impl {text!r}: ")) from None


def _size(text: str) -> int:
    """argparse type for ``--max-bytes``: a size such as ``16MiB`` or a byte count."""
    from sockharness._units import parse_size

    try:
        size = parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if size < 1:
        raise argparse.ArgumentTypeError(f"expected a size of at least one byte, got {text!r}")
    return size


def _add_max_bytes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-bytes",
        type=_size,
        default=None,
        metavar="SIZE",
        help="refuse scenario files larger than SIZE before parsing them (default 4MiB), e.g. 16MiB",
    )


def _add_annotations_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--annotations",
        choices=ANNOTATION_STYLES,
        default=None,
        help="also print each problem as a CI annotation on its file:line (github: ::error lines)",
    )


def register(subparsers: Any) -> None:
    """Add ``run``, ``validate`` and ``schema`` to the ``sockharness`` command."""
    run = subparsers.add_parser(
        "run",
        help="run scenarios through pytest and print the conformance table",
        description=(
            "Run YAML scenarios (the built-in suite when no PATH is given) through pytest. "
            "Arguments after `--` go to pytest unchanged, e.g. `sockharness run -- -k connect -n 2`."
        ),
    )
    _add_run_options(run)
    run.add_argument(
        "rest",
        nargs=argparse.REMAINDER,
        metavar="[PATH ...] [-- PYTEST_ARGS]",
        help="scenario files or folders, then `--` and extra pytest arguments",
    )
    run.set_defaults(func=run_command)

    validate = subparsers.add_parser(
        "validate",
        help="check scenario files without running them (file:line errors; exit 1 on errors, 2 on a "
        "missing path)",
    )
    validate.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="scenario files or folders (hidden, virtual-environment and cache folders are skipped)",
    )
    _add_annotations_option(validate)
    _add_max_bytes_option(validate)
    validate.set_defaults(func=validate_command)

    schema = subparsers.add_parser("schema", help="print the JSON Schema of scenario files")
    schema.add_argument(
        "--output", metavar="PATH", type=Path, help="write it to PATH (folders are created) instead of stdout"
    )
    schema.set_defaults(func=schema_command)


def split_run_arguments(namespace: argparse.Namespace) -> tuple[argparse.Namespace, list[str], list[str]]:
    """Separate ``[PATH ...] [options] -- PYTEST_ARGS``; run options may also follow the paths."""
    rest: list[str] = list(namespace.rest or [])
    if "--" in rest:
        index = rest.index("--")
        before, pytest_args = rest[:index], rest[index + 1 :]
    else:
        before, pytest_args = rest, []
    late = argparse.ArgumentParser(prog="sockharness run", add_help=False)
    _add_run_options(late)
    late.add_argument("paths", nargs="*")
    parsed = late.parse_intermixed_args(before)
    merged = argparse.Namespace(**vars(namespace))
    for key in ("netns", "backend", "annotations", "seed", "max_bytes", "socket_impl", "compare"):
        value = getattr(parsed, key)
        if value not in (None, False):
            setattr(merged, key, value)
    merged.report = [*(namespace.report or []), *(parsed.report or [])]
    merged.report_append = [*(namespace.report_append or []), *(parsed.report_append or [])]
    return merged, list(parsed.paths), pytest_args


class _RunCounter:
    """Counts tests that actually ran (passed or failed, not skipped), on the xdist controller too: YAML
    scenarios and Python tests alike, so ``run tests/test_x.py`` that passes is a success."""

    def __init__(self) -> None:
        self.ran = 0

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when != "call":
            return
        if report.outcome in ("passed", "failed") or hasattr(report, "wasxfail"):
            self.ran += 1


# pytest's own search order; the first four configure pytest whatever they hold.
_PYTEST_CONFIG_FILES = (
    "pytest.toml",
    ".pytest.toml",
    "pytest.ini",
    ".pytest.ini",
    "pyproject.toml",
    "tox.ini",
    "setup.cfg",
)
_XDIST_OPTIONS = ("-n", "--numprocesses", "--maxprocesses", "--dist", "-d", "--tx")
_SKIPPED_FOLDERS = frozenset({"venv", "node_modules", "__pycache__", "site-packages"})

XDIST_MISSING = (
    "sockharness run: {option} needs pytest-xdist, which is not installed: pip install 'sockharness[xdist]'"
)


def _is_pytest_config(path: Path) -> bool:
    """pytest's own rule: which of the files it looks for actually configure pytest."""
    if path.name in _PYTEST_CONFIG_FILES[:4]:
        return True
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if path.name == "pyproject.toml":
        try:
            tool = tomllib.loads(text).get("tool", {})
        except tomllib.TOMLDecodeError:
            return False
        return "pytest" in tool
    section = "[pytest]" if path.name == "tox.ini" else "[tool:pytest]"
    return any(line.strip() == section for line in text.splitlines())


def project_config(cwd: Path) -> Path | None:
    """The pytest configuration file of the project ``cwd`` is in (searched upwards, as pytest does)."""
    for folder in (cwd, *cwd.parents):
        for name in _PYTEST_CONFIG_FILES:
            candidate = folder / name
            if candidate.is_file() and _is_pytest_config(candidate):
                return candidate
    return None


def xdist_problem(extra: Sequence[str]) -> str | None:
    """A sentence naming the extra to install when pytest arguments ask for xdist and it is missing."""
    asked = next(
        (arg for arg in extra if arg.split("=", 1)[0] in _XDIST_OPTIONS or re.fullmatch(r"-n\d+", arg)),
        None,
    )
    if asked is None or importlib.util.find_spec("xdist") is not None:
        return None
    name = asked.split("=", 1)[0]
    return XDIST_MISSING.format(option="-n" if re.fullmatch(r"-n\d*", name) else name)


def build_pytest_args(
    options: argparse.Namespace, paths: Sequence[str], extra: Sequence[str], cwd: Path | None = None
) -> tuple[list[str], str | None]:
    """The ``pytest.main`` argument list; the second value is an error message when nothing can run.

    The invoking project stays in charge: its pytest configuration file (found from ``cwd`` upwards, as
    pytest finds it) and its folder as rootdir, even when the scenarios are the built-in suite in
    site-packages, so ``junit_family``, ``addopts`` and the cache directory are the project's own.
    """
    args: list[str] = []
    targets = list(paths)
    if not targets:
        builtin = builtin_scenarios_dir()
        if builtin is None:
            return [], "no built-in scenarios found (neither sockharness/_builtin_scenarios nor scenarios/)"
        targets = [str(builtin)]
        here = (cwd or Path.cwd()).resolve()
        config = project_config(here)
        if config is not None:
            args += ["-c", str(config), "--rootdir", str(config.parent)]
        else:
            args += ["--rootdir", str(here)]
    for target in targets:
        if not Path(target).exists():
            return [], f"sockharness run: {target}: no such file or folder"
        args += ["--sockharness-scenarios", target]
    problem = xdist_problem(extra)
    if problem is not None:
        return [], problem
    # This command imported sockharness before pytest started, so pytest cannot rewrite its asserts;
    # the warning says only that, and would appear in every run.
    args += ["-W", "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning"]
    args += ["--sockharness-table"]
    if options.netns:
        args.append("--sockharness-netns")
    if options.backend:
        args += ["--sockharness-backend", options.backend]
    for report in options.report or []:
        args += ["--sockharness-report", report]
    for report in getattr(options, "report_append", None) or []:
        args += ["--sockharness-report-append", report]
    if getattr(options, "annotations", None):
        args += ["--sockharness-annotations", options.annotations]
    if options.seed is not None:
        args += ["--sockharness-seed", str(options.seed)]
    if getattr(options, "max_bytes", None) is not None:
        args += ["-o", f"sockharness_scenario_max_bytes={options.max_bytes}"]
    if getattr(options, "socket_impl", None):
        args += ["--sockharness-socket-impl", options.socket_impl]
    if getattr(options, "compare", False):
        if not getattr(options, "socket_impl", None):
            return (
                [],
                "sockharness run: --compare compares a --socket-impl with the standard library: name one",
            )
        args.append("--sockharness-compare")
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args += ["-p", "sockharness.plugin"]
    args += list(extra)
    args += targets
    return args, None


def exit_status(pytest_code: int, ran: int) -> int:
    """pytest's status in the command's one convention: 0 passed, 1 failed, 2 anything else.

    2 covers bad input and usage (pytest's 4), an interrupted run such as a scenario file that does not load
    (pytest's 2), pytest's "no tests collected" (5) and a run in which every test was deselected or skipped:
    a run that checked nothing must never read as a pass."""
    if pytest_code == EXIT_OK:
        return EXIT_OK if ran else EXIT_NOTHING_RAN
    if pytest_code == EXIT_FAILED:
        return EXIT_FAILED
    return EXIT_USAGE


def run_command(namespace: argparse.Namespace) -> int:
    import pytest

    options, paths, extra = split_run_arguments(namespace)
    args, problem = build_pytest_args(options, paths, extra)
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    counter = _RunCounter()
    code = exit_status(int(pytest.main(args, plugins=[counter])), counter.ran)
    if code == EXIT_NOTHING_RAN and counter.ran == 0:
        print(
            "sockharness run: no scenario ran, nor any test (all were deselected or skipped)", file=sys.stderr
        )
    return code


def _skipped_folder(folder: Path) -> bool:
    """Hidden folders (``.git``, ``.venv``, ``.tox``...), virtual environments and caches hold no scenarios
    of the project's own, and walking them takes long and finds third-party YAML."""
    return folder.name.startswith(".") or folder.name in _SKIPPED_FOLDERS or (folder / "pyvenv.cfg").is_file()


def yaml_files(folder: Path) -> list[Path]:
    """Every ``.yaml``/``.yml`` file under ``folder``, sorted, outside the folders ``_skipped_folder``
    names."""
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(name for name in dirs if not _skipped_folder(here / name))
        found += [here / name for name in files if name.endswith((".yaml", ".yml"))]
    return sorted(found)


@dataclass
class ValidationOutcome:
    """What ``validate`` found: the errors, and how much it checked (so "all valid" has a size)."""

    errors: list[ScenarioError] = field(default_factory=list)
    files: int = 0
    scenarios: int = 0
    missing: list[str] = field(default_factory=list)


def validate_files(paths: Sequence[Path], max_bytes: int | None = None) -> ValidationOutcome:
    """Load every file given, and every YAML file in the folders given; missing or empty paths are named."""
    from sockharness.scenario._language.errors import ScenarioError
    from sockharness.scenario._language.loader import DEFAULT_MAX_BYTES, load_path

    outcome = ValidationOutcome()
    for path in paths:
        if path.is_dir():
            files = yaml_files(path)
            if not files:
                outcome.missing.append(f"{path}: no .yaml/.yml files in this folder")
        elif path.exists():
            files = [path]
        else:
            outcome.missing.append(f"{path}: no such file or folder")
            continue
        for file in files:
            outcome.files += 1
            try:
                loaded = load_path(file, max_bytes=max_bytes or DEFAULT_MAX_BYTES)
                outcome.scenarios += len(loaded.model.scenarios)
            except ScenarioError as error:
                outcome.errors.append(error)
    return outcome


def validate_command(namespace: argparse.Namespace) -> int:
    from sockharness.scenario._language.errors import format_path

    outcome = validate_files([Path(p) for p in namespace.paths], namespace.max_bytes)
    for error in outcome.errors:
        print(error, file=sys.stderr)
    for missing in outcome.missing:
        print(f"sockharness validate: {missing}", file=sys.stderr)
    if namespace.annotations == "github":
        for error in outcome.errors:
            for problem in error.problems:
                where = f"{format_path(problem.path)}: " if problem.path else ""
                text = github_annotation(
                    f"{where}{problem.message}", file=problem.file, line=problem.line, column=problem.column
                )
                print(text)
    checked = f"checked {outcome.files} file(s), {outcome.scenarios} scenario(s)"
    if outcome.missing:
        return EXIT_USAGE
    if outcome.errors:
        count = sum(len(error.problems) for error in outcome.errors)
        print(f"{count} problem(s) in {len(outcome.errors)} file(s); {checked}", file=sys.stderr)
        return EXIT_FAILED
    print(f"all scenario files are valid: {checked}")
    return EXIT_OK


def schema_command(namespace: argparse.Namespace) -> int:
    from sockharness.scenario._language.schema import schema_text

    text = schema_text()
    if namespace.output is not None:
        namespace.output.parent.mkdir(parents=True, exist_ok=True)
        namespace.output.write_text(text, encoding="utf-8")
        return EXIT_OK
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK
