"""The ``sockharness`` command.

Each sub-command lives with the layer it drives; this module only builds the argument parser and
dispatches, so adding a command never means editing another layer.

Every sub-command exits with the same convention: 0 when everything passed, 1 when something failed
(a scenario, a test, a file that does not validate), 2 for bad input or usage (a missing file, an unknown
option, a scenario file that ``run`` cannot load). ``run`` adds pytest's 5 for "nothing ran": a run that ran
nothing must never look green; pytest's 3 (internal error) passes through.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# sub-command name -> module that defines ``register(subparsers)``; the module sets ``func`` on its parser.
_COMMANDS: dict[str, str] = {
    "run": "sockharness.scenario._commands",
    "validate": "sockharness.scenario._commands",
    "schema": "sockharness.scenario._commands",
    "serve": "sockharness.faults._api.serve",
}


def package_version() -> str:
    """The installed distribution's version (a checkout that was never installed says so)."""
    try:
        return version("sockharness")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sockharness",
        description="Socket testing and fault-injection harness: run scenarios, lint them, serve faults.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    seen: set[str] = set()
    for module_name in _COMMANDS.values():
        if module_name in seen:
            continue
        seen.add(module_name)
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
