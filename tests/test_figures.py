"""The architecture figures (chapters/figures/*.svg): valid SVG, named as the code, used
with alt text.

The figures are hand-drawn SVG committed as text. Their labels in bold code type name
the package's classes, attributes and methods (`self.query`, `split_heads`,
`qa_outputs`); a label that the package no longer defines means the drawing went stale.
tests/test_site.py checks that each figure is on the website and loads in a browser.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIGURES = sorted((ROOT / "chapters" / "figures").glob("*.svg"))
SVG = "{http://www.w3.org/2000/svg}"
PACKAGE_SOURCE = "\n".join(p.read_text() for p in (ROOT / "bertmini").glob("*.py"))


def figure_cells() -> dict[str, list[str]]:
    """Figure file name -> the MyST figure directives (whole cell sources) that show it."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                for name in re.findall(
                    r"```\{figure\} figures/([\w.-]+\.svg)", cell.source
                ):
                    found.setdefault(name, []).append(cell.source)
    return found


def test_there_are_figures():
    assert len(FIGURES) >= 6, FIGURES


@pytest.mark.parametrize("path", FIGURES, ids=[p.name for p in FIGURES])
def test_figure_is_svg_with_a_title_and_a_description(path):
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg" and root.get("viewBox"), "an <svg> with a viewBox"
    assert (root.findtext(f"{SVG}title") or "").strip(), "a <title>"
    assert len((root.findtext(f"{SVG}desc") or "").strip()) > 80, (
        "a <desc> that describes it"
    )
    text = ET.tostring(root, encoding="unicode")
    assert "<image" not in text and 'href="http' not in text, (
        "self-contained: nothing loaded"
    )


@pytest.mark.parametrize("path", FIGURES, ids=[p.name for p in FIGURES])
def test_figure_labels_are_names_the_package_defines(path):
    labels = [
        e.text or ""
        for e in ET.parse(path).getroot().iter(f"{SVG}text")
        if {"code", "bold"} <= set((e.get("class") or "").split())
    ]
    names = {
        n
        for label in labels
        if not label.startswith("[")  # [CLS], [MASK]: tokens
        for n in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", label)
    }
    unknown = sorted(
        n for n in names if not re.search(rf"\b{re.escape(n)}\b", PACKAGE_SOURCE)
    )
    assert not unknown, f"{path.name}: labels the package does not define: {unknown}"


@pytest.mark.parametrize("path", FIGURES, ids=[p.name for p in FIGURES])
def test_figure_is_shown_in_a_chapter_with_alt_text(path):
    cells = figure_cells().get(path.name)
    assert cells, (
        f"no chapter shows {path.name} (a ```{{figure}} figures/{path.name} cell)"
    )
    for source in cells:
        alt = re.search(r"^:alt:(.*)$", source, re.MULTILINE)
        assert alt and len(alt.group(1).strip()) > 40, (
            f"{path.name}: a figure cell without :alt: text"
        )
