"""The docs' reference tables, generated from the registries: rewrite them in place, or check them.

A page holds a generated table between two markers::

    <!-- generated: actions -->
    | action | ... |
    <!-- end generated -->

Everything between the markers belongs to the generator named in the first one (``GENERATORS``); a hand edit
there is overwritten. ``python -m tests.docs.regenerate`` rewrites every page; ``--check`` only reports the
pages that differ (exit 1), which is what ``tests/docs/test_docs_tables.py`` asserts.
"""

from __future__ import annotations

import argparse
import difflib
import enum
import functools
import importlib
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_REGION = re.compile(
    r"(?P<start><!-- generated: (?P<name>[\w.:-]+) -->\n)(?P<body>.*?)(?P<end><!-- end generated -->)",
    re.DOTALL,
)
#: The packages whose ``__all__`` is the public API, in the order the reference page shows them.
PUBLIC_PACKAGES = (
    "sockharness",
    "sockharness.peers",
    "sockharness.faults",
    "sockharness.scenario",
    "sockharness.netns",
)


def _actions() -> str:
    from sockharness.scenario import actions_table

    return actions_table()


def _peer_kinds() -> str:
    from sockharness.scenario import peer_kinds_table

    return peer_kinds_table()


def _script_steps() -> str:
    from sockharness.scenario import script_steps_table

    return script_steps_table()


def _toxics() -> str:
    from sockharness.faults import render_toxic_table

    return render_toxic_table()


def _targets() -> str:
    from sockharness.faults import render_target_table

    return render_target_table()


def _kind_of(value: object) -> str:
    if inspect.ismodule(value):
        return "module"
    if isinstance(value, type) and issubclass(value, enum.Enum):
        return "enum"
    if inspect.isclass(value):
        return "exception" if issubclass(value, BaseException) else "class"
    if callable(value):
        return "function"
    return "constant"


def _own_doc(value: object) -> str:
    """The object's own docstring: never one inherited from a base class or made up by ``dataclass``."""
    if inspect.isclass(value):
        doc = vars(value).get("__doc__") or ""
        return "" if doc.startswith(f"{value.__name__}(") else doc
    return getattr(value, "__doc__", None) or ""


def _summary(name: str, value: object) -> str:
    """The first paragraph of the docstring; for an enum its values, for a constant its value or shape."""
    if isinstance(value, type) and issubclass(value, enum.Enum):
        text = "one of " + ", ".join(f"`{member.value}`" for member in value)
    elif inspect.ismodule(value) or inspect.isclass(value) or callable(value):
        text = inspect.cleandoc(_own_doc(value)).split("\n\n", 1)[0].replace("\n", " ")
        text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    elif isinstance(value, dict) and value:
        key, item = next(iter(value.items()))
        text = f"a `dict`: {type(key).__name__} to {type(item).__name__}"
    elif name == "__version__":
        text = "the package's version (a `str`)"
    elif isinstance(value, str | int | bytes) and len(repr(value)) <= 40:
        text = f"`{value!r}`"
    else:
        text = f"a `{type(value).__name__}`"
    return text.replace("|", "\\|")


def public_api_table(package: str) -> str:
    """One row per name in ``package.__all__``: what it is and the first line of its docstring."""
    module = importlib.import_module(package)
    rows = ["| name | what | summary |", "| --- | --- | --- |"]
    for name in module.__all__:
        value = getattr(module, name)
        rows.append(f"| `{name}` | {_kind_of(value)} | {_summary(name, value)} |")
    return "\n".join(rows) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "actions": _actions,
    "peer-kinds": _peer_kinds,
    "script-steps": _script_steps,
    "toxics": _toxics,
    "targets": _targets,
    **{f"api:{package}": functools.partial(public_api_table, package) for package in PUBLIC_PACKAGES},
}


@dataclass(frozen=True)
class Region:
    """One generated region of a page, with what it holds and what its generator says it should hold."""

    page: Path
    name: str
    line: int
    current: str
    expected: str

    def diff(self) -> str:
        where = f"{shown(self.page)}:{self.line} ({self.name})"
        lines = difflib.unified_diff(
            self.current.splitlines(keepends=True),
            self.expected.splitlines(keepends=True),
            f"{where} as written",
            f"{where} as generated",
        )
        return "".join(lines)


def shown(page: Path) -> str:
    """The page as messages name it: relative to the repository when it is inside it."""
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)


def _body(table: str) -> str:
    """What sits between the markers: a blank line on each side, so Markdown sees a table block."""
    return "\n" + table.strip("\n") + "\n\n"


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def regions(page: Path) -> list[Region]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _REGION.finditer(text):
        name = match["name"]
        if name not in GENERATORS:
            known = ", ".join(sorted(GENERATORS))
            raise KeyError(f"{shown(page)}: unknown generated table {name!r}; known: {known}")
        line = text.count("\n", 0, match.start()) + 1
        found.append(Region(page, name, line, match["body"], _body(GENERATORS[name]())))
    return found


def regenerate(page: Path) -> bool:
    """Rewrite the generated regions of ``page``; True when it changed."""
    text = page.read_text(encoding="utf-8")

    def fill(match: re.Match[str]) -> str:
        return match["start"] + _body(GENERATORS[match["name"]]()) + match["end"]

    new = _REGION.sub(fill, text)
    if new != text:
        page.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.docs.regenerate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale tables (exit 1 if any)")
    args = parser.parse_args(argv)
    stale = [region for page in doc_pages() for region in regions(page) if region.current != region.expected]
    if args.check:
        for region in stale:
            print(region.diff())
        return 1 if stale else 0
    for page in sorted({region.page for region in stale}):
        regenerate(page)
        print(f"regenerated {shown(page)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
