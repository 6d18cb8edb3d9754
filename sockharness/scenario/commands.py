"""``sockharness run``, ``sockharness validate`` and ``sockharness schema``.

``run`` goes through ``pytest.main`` on purpose: selection (``-k``), ``-x``, xdist (``-n 2``), JUnit XML and
every other pytest feature work unchanged, and the conformance table is the same one a plain pytest run
prints with ``--sockharness-table``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sockharness.scenario.report import ROW_PROPERTY

#: exit status when nothing ran (same number pytest uses for "no tests collected").
EXIT_NOTHING_RAN = 5


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
        "--report", metavar="PATH", help="also write the conformance table to PATH (.md or .json)"
    )
    parser.add_argument("--seed", type=int, default=None, help="replay a run with this seed")


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
        help="check scenario files without running them (file:line errors, exit 1 on errors)",
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="scenario files or folders")
    validate.set_defaults(func=validate_command)

    schema = subparsers.add_parser("schema", help="print the JSON Schema of scenario files")
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
    for key in ("netns", "backend", "report", "seed"):
        value = getattr(parsed, key)
        if value not in (None, False):
            setattr(merged, key, value)
    return merged, list(parsed.paths), pytest_args


class _RunCounter:
    """Counts scenarios that actually ran (passed or failed, not skipped), on the xdist controller too."""

    def __init__(self) -> None:
        self.ran = 0

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when != "call" or not any(key == ROW_PROPERTY for key, _ in report.user_properties):
            return
        if report.outcome in ("passed", "failed") or hasattr(report, "wasxfail"):
            self.ran += 1


def build_pytest_args(
    options: argparse.Namespace, paths: Sequence[str], extra: Sequence[str]
) -> tuple[list[str], str | None]:
    """The ``pytest.main`` argument list; the second value is an error message when nothing can run."""
    args: list[str] = []
    targets = list(paths)
    if not targets:
        builtin = builtin_scenarios_dir()
        if builtin is None:
            return [], "no built-in scenarios found (neither sockharness/_builtin_scenarios nor scenarios/)"
        targets = [str(builtin)]
        if not os.access(builtin, os.W_OK):
            args += ["-p", "no:cacheprovider"]  # an installed package: do not write .pytest_cache there
        args += ["--rootdir", str(builtin)]
    for target in targets:
        if not Path(target).exists():
            return [], f"sockharness run: {target}: no such file or folder"
        args += ["--sockharness-scenarios", target]
    # This command imported sockharness before pytest started, so pytest cannot rewrite its asserts;
    # the warning says only that, and would appear in every run.
    args += ["-W", "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning"]
    args += ["--sockharness-table"]
    if options.netns:
        args.append("--sockharness-netns")
    if options.backend:
        args += ["--sockharness-backend", options.backend]
    if options.report:
        args += ["--sockharness-report", options.report]
    if options.seed is not None:
        args += ["--sockharness-seed", str(options.seed)]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args += ["-p", "sockharness.plugin"]
    args += list(extra)
    args += targets
    return args, None


def run_command(namespace: argparse.Namespace) -> int:
    import pytest

    options, paths, extra = split_run_arguments(namespace)
    args, problem = build_pytest_args(options, paths, extra)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    counter = _RunCounter()
    code = int(pytest.main(args, plugins=[counter]))
    if code == 0 and counter.ran == 0:
        print("sockharness run: no scenario ran (all were deselected or skipped)", file=sys.stderr)
        return EXIT_NOTHING_RAN
    return code


def validate_command(namespace: argparse.Namespace) -> int:
    from sockharness.scenario.schema import validate_paths

    errors = list(validate_paths([Path(p) for p in namespace.paths]))
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        count = sum(len(error.problems) for error in errors)
        print(f"{count} problem(s) in {len(errors)} file(s)", file=sys.stderr)
        return 1
    print("all scenario files are valid")
    return 0


def schema_command(namespace: argparse.Namespace) -> int:
    from sockharness.scenario.schema import schema_text

    text = schema_text()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
