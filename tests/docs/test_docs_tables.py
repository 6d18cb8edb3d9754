"""The reference tables in the docs are the registries' own tables, word for word.

Each table sits between ``<!-- generated: NAME -->`` and ``<!-- end generated -->`` (see
``tests/docs/regenerate.py``); a registry entry added, renamed or reworded without regenerating fails here
with the diff, and ``python -m tests.docs.regenerate`` fixes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.regenerate import GENERATORS, ROOT, Region, doc_pages, regenerate, regions

REGIONS = [region for page in doc_pages() for region in regions(page)]
FIX = "run `python -m tests.docs.regenerate` to rewrite it"


@pytest.mark.parametrize("region", REGIONS, ids=lambda region: f"{region.page.name}:{region.name}")
def test_generated_table_matches_its_registry(region: Region) -> None:
    assert region.current == region.expected, f"stale generated table; {FIX}\n{region.diff()}"


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_generated_table_is_on_a_page(name: str) -> None:
    """A table cannot disappear from the docs (or lose its markers) unnoticed."""
    pages = sorted({str(region.page.relative_to(ROOT)) for region in REGIONS if region.name == name})
    assert pages, f"no docs page holds the generated table {name!r} (<!-- generated: {name} -->)"


def test_regeneration_rewrites_only_the_region(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\nprose before\n\n<!-- generated: toxics -->\n| stale |\n<!-- end generated -->\n\nafter\n",
        encoding="utf-8",
    )
    assert regenerate(page) is True
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nprose before\n\n<!-- generated: toxics -->\n\n| toxic |")
    assert text.endswith("|\n\n<!-- end generated -->\n\nafter\n")
    assert "| stale |" not in text
    assert regenerate(page) is False  # a second run finds nothing to change


def test_an_unknown_table_name_is_an_error(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- generated: toxicz -->\n<!-- end generated -->\n", encoding="utf-8")
    with pytest.raises(KeyError, match="unknown generated table 'toxicz'"):
        regions(page)
