"""Every code block in README.md and docs/ runs against the installed package, so no example can rot.

How each fenced block is treated, by its language:

- ``python``: a block that defines ``test_*`` functions is written as a test file into a fresh pytester
  project and must pass (no failure, no error); any other block is exec'd in a fresh namespace inside a
  temporary directory.
- ``yaml``: a block with a top-level ``scenarios:`` key is a scenario file: written as
  ``test_doc_example.sock.yaml`` into a fresh pytester project and run. Any other YAML is a fragment and
  must be marked as a snippet (below); it must still parse.
- ``bash``: every line is split like a shell would; a ``sockharness`` command is parsed by the real
  argument parser, and ``sockharness validate`` / ``sockharness schema`` are run.
- ``ini``, ``toml``, ``json``: parsed. ``text``: output shown to the reader, not run.

An HTML comment on the line before a block changes that:

- ``<!-- no-run: reason -->``: the block is not run (the reason shows in the skip). Keep these rare.
- ``<!-- snippet: what it is -->``: a YAML fragment (a few steps, a peers mapping), only parsed.
- ``<!-- write: PATH -->``: the block is written to PATH in the project of every later block on the
  same page, instead of being run on its own (e.g. a peers file that a Python example then loads).

docs/architecture.md is the maintainers' design map (interface sketches, not examples) and is left out.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

import sockharness

ROOT = Path(__file__).resolve().parents[2]
EXCLUDED = {ROOT / "docs" / "architecture.md"}
LANGUAGES = {"python", "yaml", "bash", "ini", "toml", "json", "text"}
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*$")
_MARKER = re.compile(r"<!--\s*(?P<kind>no-run|write|snippet):\s*(?P<value>.+?)\s*-->")
#: The public modules a documented import may name; each name imported from one must be in its __all__.
PUBLIC_MODULES = (
    "sockharness",
    "sockharness.peers",
    "sockharness.faults",
    "sockharness.scenario",
    "sockharness.netns",
)


@dataclass
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int
    language: str
    code: str
    no_run: str | None = None
    snippet: str | None = None
    write_to: str | None = None
    #: ``write:`` blocks earlier on the same page: path -> content.
    files: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def doc_pages() -> list[Path]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [page for page in pages if page not in EXCLUDED]


def blocks_of(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    files: dict[str, str] = {}
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        indent, start = len(fence["indent"]), index
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][indent:])
            index += 1
        index += 1
        previous = start - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        marker = _MARKER.search(lines[previous]) if previous >= 0 else None
        block = Block(page, start + 1, fence["lang"], "\n".join(body) + "\n", files=dict(files))
        if marker is not None and marker["kind"] == "no-run":
            block.no_run = marker["value"]
        elif marker is not None and marker["kind"] == "snippet":
            block.snippet = marker["value"]
        elif marker is not None:
            block.write_to = marker["value"]
            files[block.write_to] = block.code
        blocks.append(block)
    return blocks


BLOCKS = [block for page in doc_pages() for block in blocks_of(page)]
RUNNABLE = [block for block in BLOCKS if block.write_to is None]


def test_the_docs_have_examples() -> None:
    assert len(BLOCKS) > 50, f"only {len(BLOCKS)} code blocks found: is the extractor broken?"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.id)
def test_every_block_names_a_known_language(block: Block) -> None:
    assert block.language in LANGUAGES, f"{block.id}: a code block needs one of {sorted(LANGUAGES)}"


def test_no_run_markers_stay_rare() -> None:
    marked = [f"{block.id} ({block.no_run})" for block in BLOCKS if block.no_run]
    assert len(marked) <= len(BLOCKS) // 8, "too many blocks are not run:\n" + "\n".join(marked)


def _run_project(pytester: pytest.Pytester, block: Block, test_files: dict[str, str]) -> None:
    for path, content in {**block.files, **test_files}.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "-q")
    outcomes = result.parseoutcomes()
    text = "\n".join(result.outlines)
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, f"{block.id}:\n{text}"
    if outcomes.get("passed", 0) == 0 and outcomes.get("skipped", 0) > 0:
        # e.g. a netns test outside the namespace mode: visible as a skip, never counted as a pass
        pytest.skip(f"{block.id}: every test of the example skipped:\n{text}")
    assert outcomes.get("passed", 0) >= 1, f"{block.id}: nothing ran\n{text}"


def _is_test_module(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
        for node in tree.body
    )


def _run_python(block: Block, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = ast.parse(block.code, filename=block.id)
    if _is_test_module(tree):
        _run_project(pytester, block, {"test_doc_example.py": block.code})
        return
    for path, content in block.files.items():
        (pytester.path / path).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / path).write_text(content, encoding="utf-8")
    monkeypatch.chdir(pytester.path)
    exec(compile(tree, block.id, "exec"), {"__name__": "__doc_example__"})


def _run_yaml(block: Block, pytester: pytest.Pytester) -> None:
    document = yaml.safe_load(block.code)
    if block.snippet:
        return
    assert isinstance(document, dict) and "scenarios" in document, (
        f"{block.id}: a YAML block is a whole scenario file (with `scenarios:`) or is marked "
        "<!-- snippet: what it is -->"
    )
    _run_project(pytester, block, {"test_doc_example.sock.yaml": block.code})


def _run_bash(block: Block, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from sockharness._cli import build_parser, main

    monkeypatch.chdir(pytester.path)
    for path, content in block.files.items():
        (pytester.path / path).write_text(content, encoding="utf-8")
    for line in block.code.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line:
            continue
        for command in re.split(r"\s*(?:&&|\|\||;|>)\s*", line):
            argv = shlex.split(command)
            if not argv or argv[0] != "sockharness":
                continue
            pytest_args = argv.index("--") if "--" in argv else len(argv)
            build_parser().parse_args(argv[1:pytest_args])
            if argv[1] in {"validate", "schema"}:
                assert main(argv[1:]) == 0, f"{block.id}: {command!r} failed"


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda block: block.id)
def test_code_block_runs(block: Block, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    if block.no_run:
        pytest.skip(f"marked no-run: {block.no_run}")
    if block.language == "python":
        _run_python(block, pytester, monkeypatch)
    elif block.language == "yaml":
        _run_yaml(block, pytester)
    elif block.language == "bash":
        _run_bash(block, pytester, monkeypatch)
    elif block.language == "json":
        json.loads(block.code)
    elif block.language == "toml":
        tomllib.loads(block.code)
    elif block.language == "ini":
        configparser.ConfigParser().read_string(block.code)


def _imports(code: str) -> list[tuple[str, str | None]]:
    """(module, imported name or None for ``import module``) for every sockharness import of a block."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "sockharness"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sockharness":
            found += [(str(node.module), alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize(
    "block", [block for block in BLOCKS if block.language == "python"], ids=lambda block: block.id
)
def test_examples_import_only_public_names(block: Block) -> None:
    """Docs teach the public surface: the top-level exports and a few public subpackages, nothing deeper."""
    import importlib

    for module_name, name in _imports(block.code):
        assert module_name in PUBLIC_MODULES, (
            f"{block.id}: imports {module_name}, which is not public; use one of {PUBLIC_MODULES}"
        )
        if name is not None:
            exported = getattr(importlib.import_module(module_name), "__all__", ())
            assert name in exported, f"{block.id}: {module_name} does not export {name!r}"


def test_the_import_check_catches_a_deep_import() -> None:
    assert _imports(
        "from sockharness.faults._engine.engine import FaultEngine\nimport sockharness.netns\n"
    ) == [
        ("sockharness.faults._engine.engine", "FaultEngine"),
        ("sockharness.netns", None),
    ]
    assert "FaultEngine" in sockharness.__all__
