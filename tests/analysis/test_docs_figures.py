"""docs/analyses.md and the figure pages link to files that exist; the figures are small PNGs."""

import re

import pytest

from tests.conftest import REPO_ROOT

INDEX = REPO_ROOT / "docs" / "analyses.md"
PAGES = ["fidelity.md", "spike-rates.md", "landscape.md", "energy.md", "refinement.md"]


def links(page):
    return re.findall(r"\]\(([^)#]+)\)", page.read_text())


def test_index_links_every_figure_page():
    targets = links(INDEX)
    for name in PAGES:
        assert f"figures/{name}" in targets
    for target in targets:
        assert (INDEX.parent / target).exists(), target


@pytest.mark.parametrize("name", PAGES)
def test_figure_pages_link_existing_small_pngs(name):
    page = REPO_ROOT / "docs" / "figures" / name
    targets = links(page)
    images = [t for t in targets if t.endswith(".png")]
    assert images, f"{name} shows no figure"
    for target in targets:
        path = page.parent / target
        assert path.exists(), f"{name} links to missing {target}"
        if target.endswith(".png"):
            data = path.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 300_000, target
    text = page.read_text()
    assert re.search(r"\d+ CPU cores", text) and "2026-" in text, f"{name} states no machine and date"
