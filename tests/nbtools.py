"""Keep committed notebooks clean: no outputs except the references nbval checks.

    python -m tests.nbtools clean chapters/*.ipynb     # strip outputs of unchecked cells, in place
    python -m tests.nbtools refresh chapters/*.ipynb   # execute, keep only checked cells' outputs
    python -m tests.nbtools check chapters/*.ipynb     # exit 1 if a notebook is not clean

A cell is *checked* when its source has a `# NBVAL_CHECK_OUTPUT` comment line:
`pytest --nbval-lax` compares its fresh output with the committed one, so that output
(and an execution count, which nbval needs to know the reference was run) must stay.
Every other output is noise in a diff and goes stale; the website shows freshly executed
outputs instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

CHECK_MARKER = "NBVAL_CHECK_OUTPUT"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
# Cell metadata worth keeping; the rest (execution timings, collapsed, scrolled...) is
# editor state.
KEPT_CELL_METADATA = ("tags", "editable", "deletable", "slideshow")


def is_checked(cell) -> bool:
    """True for a code cell whose output nbval compares (a `# NBVAL_CHECK_OUTPUT` comment line)."""
    return cell.cell_type == "code" and any(
        line.strip().lstrip("#").strip() == CHECK_MARKER
        for line in cell.source.splitlines()
        if line.strip().startswith("#")
    )


def problems(nb) -> list[str]:
    """What `clean` would change, in words (empty for a clean notebook)."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if is_checked(cell):
            if not cell.outputs or cell.execution_count is None:
                found.append(
                    f"cell {index} has # {CHECK_MARKER} but no reference output: "
                    "run `python -m tests.nbtools refresh` on the notebook"
                )
        else:
            if cell.outputs:
                found.append(
                    f"cell {index} has outputs (only # {CHECK_MARKER} cells keep theirs)"
                )
            if cell.execution_count is not None:
                found.append(f"cell {index} has an execution count")
        extra = sorted(set(cell.metadata) - set(KEPT_CELL_METADATA))
        if extra:
            found.append(f"cell {index} has editor metadata {extra}")
    if "widgets" in nb.metadata:
        found.append("notebook metadata has saved widget state")
    return found


def clean(nb, executed: bool = False):
    """Strip outputs of unchecked cells, editor metadata and widget state; returns the
    notebook.

    With `executed`, checked cells take the fresh outputs just computed, renumbered
    1, 2, ...; otherwise their committed outputs are kept as they are.
    """
    count = 0
    for cell in nb.cells:
        cell.metadata = {
            k: v for k, v in cell.metadata.items() if k in KEPT_CELL_METADATA
        }
        if cell.cell_type != "code":
            continue
        if is_checked(cell) and (executed or cell.outputs):
            count += 1
            cell.execution_count = count
            for output in cell.outputs:
                if "execution_count" in output:
                    output["execution_count"] = count
        else:
            cell.outputs = []
            cell.execution_count = None
    nb.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
        **{k: v for k, v in nb.metadata.items() if k in ("colab",)},
    }
    return nb


def refresh(path: Path, timeout: int = 600):
    """Execute the notebook in a fresh kernel in its own folder, then `clean` it."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return clean(nb, executed=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.nbtools",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["clean", "refresh", "check"])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        if path.suffix != ".ipynb" or not path.is_file():
            parser.error(
                f"{path} is not a notebook file (expected an existing *.ipynb)"
            )
        if args.command == "check":
            nb = nbformat.read(path, as_version=4)
            for problem in problems(nb):
                print(f"{path}: {problem}")
                status = 1
            continue
        nb = (
            refresh(path)
            if args.command == "refresh"
            else clean(nbformat.read(path, as_version=4))
        )
        nbformat.validate(nb)
        nbformat.write(nb, path)
        print(f"{args.command}: {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
