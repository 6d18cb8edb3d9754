"""The documentation site builds: ``mkdocs build --strict`` fails on a broken link, a page missing from the
navigation or a nav entry without a page, so the docs cannot drift apart from their table of contents."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        reason = "mkdocs and mkdocs-material are not installed (pip install -e '.[dev]')"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must build the site")
        pytest.skip(reason)
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "index.html").is_file()
    assert (site / "tutorial" / "index.html").is_file()


def test_readme_links_resolve() -> None:
    """The README is read on GitHub and PyPI, outside the site: ``mkdocs build`` never checks its links."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [target for target in targets if "://" not in target]
    assert local, "the README links to no docs page: is the link pattern broken?"
    missing = [target for target in local if not (ROOT / target).is_file()]
    assert not missing, f"README links to files that do not exist: {missing}"


def test_readme_stays_short() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size <= 15 * 1024, f"README.md is {size} bytes; keep it under ~15 KB and move the rest to docs/"
