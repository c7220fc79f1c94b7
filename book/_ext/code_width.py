"""Sphinx extension: the course's small stylesheet (book/_ext/static/bertmini.css) on
every page.

It sets the code font so that an 88-character line fits the content column at a
1280-pixel window; tests/test_site.py measures the column in Chromium.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx

STATIC = Path(__file__).resolve().parent / "static"


def add_static_path(app: Sphinx) -> None:
    app.config.html_static_path = [*app.config.html_static_path, str(STATIC)]


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", add_static_path)
    app.add_css_file("bertmini.css")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
