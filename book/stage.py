"""Stage the book's source with the notebooks nbval already executed, for a build that
runs nothing.

    python book/stage.py [--executed _build/executed] [--stage _build/stage]
    jupyter-book build _build/stage --path-output . --all -W

`make test` executes every notebook exactly once, under nbval (tests/nbcapture.py keeps
the results in _build/executed/). The website is then built from a staged tree: symlinks
to the real _toc.yml, book/, bertmini/ (chapters `literalinclude` ../bertmini/*.py) and
chapters' other files, the executed notebooks in place of the committed ones, and a
_config.yml with execution off. The staged copies lose nbval's marker comments
(`# NBVAL_CHECK_OUTPUT`, ...): they are test machinery, not course material, so the
website never shows them (the notebooks keep them).

An executed copy is used only if it exists and was made from the current source notebook
(the sha256 that nbcapture recorded matches): a notebook that failed under nbval, or was
edited since, stops the build here instead of silently publishing stale outputs.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
# top-level paths the build reads besides chapters/
LINKED = (
    "_toc.yml",
    "book",
    "bertmini",
    "benchmarks",
)


# A whole line that is one of nbval's marker comments: `# NBVAL_CHECK_OUTPUT`,
# `# NBVAL_SKIP`, ...
NBVAL_MARKER = re.compile(r"^[ \t]*#[ \t]*NBVAL_[A-Z_]+[ \t]*(?:\n|$)", re.MULTILINE)


class StaleNotebookError(RuntimeError):
    """An executed notebook is missing or was not made from the current source."""


def toc_documents(root: Path = ROOT) -> list[str]:
    """Every document `_toc.yml` lists (root, chapters, sections), as written: `chapters/00_welcome`."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    found.append(node[key])
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load((root / "_toc.yml").read_text()))
    return found


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks among the documents `_toc.yml` lists."""
    return [
        root / f"{doc}.ipynb"
        for doc in toc_documents(root)
        if (root / f"{doc}.ipynb").is_file()
    ]


def executed_copy(source: Path, executed_root: Path, root: Path = ROOT) -> Path:
    """The executed copy of `source` (a notebook under root), checked against the source's hash."""
    relative = source.resolve().relative_to(root.resolve())
    copy = executed_root / relative
    if not copy.is_file():
        failed = executed_root / "failed" / relative
        why = (
            f"it failed under nbval (partial outputs in {failed})"
            if failed.is_file()
            else "nbval did not run it (or the run was interrupted)"
        )
        raise StaleNotebookError(
            f"{relative}: no executed copy in {executed_root}: {why}. "
            "Fix the notebook and run `make test` again."
        )
    recorded = (
        nbformat.read(copy, as_version=4)
        .metadata.get("bertmini", {})
        .get("source_sha256")
    )
    actual = hashlib.sha256(source.read_bytes()).hexdigest()
    if recorded != actual:
        raise StaleNotebookError(
            f"{relative}: the executed copy {copy} was made from another version "
            "of the notebook (sha256 differs); run `make test` again."
        )
    return copy


def strip_nbval_markers(notebook: nbformat.NotebookNode) -> int:
    """Delete nbval's marker lines from every code cell, in place; returns how many went."""
    removed = 0
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source, n = NBVAL_MARKER.subn("", cell.source)
            removed += n
    return removed


def stage(executed_root: Path, stage_root: Path, root: Path = ROOT) -> list[Path]:
    """Build the staged tree; returns the executed notebooks used. Raises StaleNotebookError."""
    chapters = root / "chapters"
    notebooks = toc_notebooks(root)
    # Check all before writing
    copies = [executed_copy(nb, executed_root, root) for nb in notebooks]
    if stage_root.exists():
        shutil.rmtree(stage_root)
    (stage_root / "chapters").mkdir(parents=True)
    for name in LINKED:
        (stage_root / name).symlink_to((root / name).resolve())
    for entry in sorted(chapters.iterdir()):
        if entry.suffix != ".ipynb" and entry.name not in (
            ".ipynb_checkpoints",
            "__pycache__",
        ):
            (stage_root / "chapters" / entry.name).symlink_to(entry.resolve())
    for source, copy in zip(notebooks, copies):
        target = stage_root / source.resolve().relative_to(root.resolve())
        target.parent.mkdir(parents=True, exist_ok=True)
        notebook = nbformat.read(copy, as_version=4)
        strip_nbval_markers(notebook)
        nbformat.write(notebook, target)
    config = yaml.safe_load((root / "_config.yml").read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (stage_root / "_config.yml").write_text(
        "# GENERATED by book/stage.py from ../../_config.yml: notebooks come executed by nbval.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    return copies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--executed", type=Path, default=ROOT / "_build" / "executed")
    parser.add_argument("--stage", type=Path, default=ROOT / "_build" / "stage")
    args = parser.parse_args(argv)
    try:
        copies = stage(args.executed.resolve(), args.stage.resolve())
    except StaleNotebookError as err:
        print(f"book/stage.py: {err}", file=sys.stderr)
        return 1
    print(f"book/stage.py: staged {len(copies)} executed notebooks in {args.stage}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
