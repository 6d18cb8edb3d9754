"""The ``sockharness`` command.

Each sub-command lives with the layer it drives; this module only builds the argument parser and
dispatches, so adding a command never means editing another layer.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# sub-command name -> module that defines ``register(subparsers)``; the module sets ``func`` on its parser.
_COMMANDS: dict[str, str] = {
    "run": "sockharness.scenario.commands",
    "validate": "sockharness.scenario.commands",
    "schema": "sockharness.scenario.commands",
    "serve": "sockharness.faults.serve",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sockharness",
        description="Socket testing and fault-injection harness: run scenarios, lint them, serve faults.",
    )
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
