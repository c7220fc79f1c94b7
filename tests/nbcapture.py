"""pytest plugin: keep the notebooks nbval executes, so the website is built without
running them again.

    python -m pytest -p tests.nbcapture --nbval-lax --nbcapture-dir=_build/executed chapters/

nbval runs each notebook's cells in a fresh kernel and keeps each cell's outputs on its
test item (`IPyNbCell.test_outputs`). This plugin collects them and, after the last cell
of a notebook and before nbval stops that kernel, also asks the kernel for the
ipywidgets state (so widgets render on the static site). It then writes
`<dir>/<notebook path>.ipynb` with the outputs, the widget state and the sha256 of the
source notebook in `metadata.bertmini`; `book/stage.py` refuses an executed copy whose
hash does not match the source.

A notebook with a failing cell, or one not completely run (a cell deselected, the run
interrupted) gets no executed copy: copies of every collected notebook are deleted when
collection finishes, and a failed notebook's partial outputs go to `<dir>/failed/` for
reading, never to the site.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import nbformat
import pytest

WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
# Runs in the notebook's kernel after its last cell. Only reads ipywidgets if the
# notebook imported it.
WIDGET_STATE_CODE = """\
import json as _nbcapture_json, sys as _nbcapture_sys
_nbcapture_w = _nbcapture_sys.modules.get("ipywidgets")
print("NBCAPTURE:" + _nbcapture_json.dumps(
    _nbcapture_w.Widget.get_manager_state(drop_defaults=True) if _nbcapture_w else None))
del _nbcapture_json, _nbcapture_sys, _nbcapture_w
"""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("nbval").addoption(
        "--nbcapture-dir",
        default=None,
        metavar="DIR",
        help="write each notebook nbval executed successfully to DIR/<its path> (with outputs and "
        "ipywidgets state), for building the website without executing notebooks again",
    )


@dataclass
class NotebookRun:
    """What one notebook's nbval items produced so far."""

    path: Path
    # code-cell number -> outputs
    outputs: dict[int, list] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # nodeids of failed items


def is_nbval_cell(item: pytest.Item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "cell_num")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def destination(config: pytest.Config, notebook: Path, failed: bool = False) -> Path:
    root = Path(config.getoption("nbcapture_dir")).resolve()
    relative = notebook.resolve().relative_to(Path(config.rootpath).resolve())
    return (root / "failed" / relative) if failed else (root / relative)


def runs(config: pytest.Config) -> dict[str, NotebookRun]:
    if not hasattr(config, "_nbcapture_runs"):
        config._nbcapture_runs = {}  # type: ignore[attr-defined]
        config._nbcapture_written = []  # type: ignore[attr-defined]
    return config._nbcapture_runs  # type: ignore[attr-defined]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Delete the executed copies of every collected notebook: a stale copy must never survive."""
    if not session.config.getoption("nbcapture_dir"):
        return
    for item in session.items:
        if is_nbval_cell(item):
            path = Path(str(item.parent.fspath))
            for stale in (
                destination(session.config, path),
                destination(session.config, path, failed=True),
            ):
                stale.unlink(missing_ok=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    if is_nbval_cell(item) and report.failed and item.config.getoption("nbcapture_dir"):
        run = runs(item.config).setdefault(
            item.parent.nodeid, NotebookRun(Path(str(item.parent.fspath)))
        )
        run.failed.append(report.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Record this cell's outputs; after a notebook's last cell, write it (kernel still running)."""
    if not is_nbval_cell(item) or not item.config.getoption("nbcapture_dir"):
        return
    run = runs(item.config).setdefault(
        item.parent.nodeid, NotebookRun(Path(str(item.parent.fspath)))
    )
    # None when the cell did not run (NBVAL_SKIP, or setup failed)
    outputs = item.test_outputs
    run.outputs[item.cell_num] = None if outputs is None else list(outputs)
    if nextitem is not None and nextitem.parent is item.parent:
        return
    kernel = getattr(item.parent, "kernel", None)
    widget_state = None
    if not run.failed and kernel is not None and kernel.is_alive():
        widget_state = read_widget_state(kernel)
    write_executed(item.config, run, widget_state)


def read_widget_state(kernel, timeout: float = 60) -> dict | None:
    """The ipywidgets manager state of a live nbval kernel, or None if it has no widgets."""
    msg_id = kernel.kc.execute(
        WIDGET_STATE_CODE, silent=False, store_history=False, allow_stdin=False
    )
    text = []
    while True:
        try:
            msg = kernel.get_message(stream="iopub", timeout=timeout)
        except Empty:
            raise RuntimeError(
                f"nbcapture: no reply from the kernel within {timeout} s while reading "
                "the ipywidgets state"
            ) from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            text.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise RuntimeError(
                "nbcapture: reading the ipywidgets state failed:\n"
                + "\n".join(msg["content"]["traceback"])
            )
        elif (
            msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
        ):
            break
    payload = "".join(text).strip()
    if not payload.startswith("NBCAPTURE:"):
        raise RuntimeError(
            f"nbcapture: unexpected output while reading widget state: {payload[:200]!r}"
        )
    state = json.loads(payload[len("NBCAPTURE:") :])
    return state if state and state.get("state") else None


def as_output(out) -> nbformat.NotebookNode:
    """One nbval output (a NotebookNode built from an iopub message) as a valid nbformat output."""
    kind = out["output_type"]
    if kind == "stream":
        return nbformat.v4.new_output("stream", name=out["name"], text=out["text"])
    if kind in ("display_data", "execute_result"):
        return nbformat.v4.new_output(
            kind,
            data=out.get("data", {}),
            metadata=out.get("metadata", {}),
            **({"execution_count": None} if kind == "execute_result" else {}),
        )
    if kind == "error":
        return nbformat.v4.new_output(
            "error",
            ename=out["ename"],
            evalue=out["evalue"],
            traceback=out["traceback"],
        )
    raise ValueError(f"nbcapture: unknown output type {kind!r}")


def write_executed(
    config: pytest.Config, run: NotebookRun, widget_state: dict | None
) -> None:
    """Write the executed notebook (or, if a cell failed or did not run, its partial copy in failed/)."""
    source = run.path
    nb = nbformat.read(source, as_version=4)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    missing = [number for number in range(len(code_cells)) if number not in run.outputs]
    count = 0
    for number, cell in enumerate(code_cells):
        outputs = run.outputs.get(number)
        cell.outputs, cell.execution_count = [], None
        if outputs is None:
            continue
        count += 1
        cell.execution_count = count
        cell.outputs = [as_output(out) for out in outputs]
        for out in cell.outputs:
            if out.output_type == "execute_result":
                out.execution_count = count
    nb.metadata["bertmini"] = {
        "source_sha256": sha256_of(source),
        "executed_by": "nbval",
    }
    if widget_state:
        nb.metadata["widgets"] = {WIDGET_STATE_MIME: widget_state}
    failed = bool(run.failed or missing)
    target = destination(config, source, failed=failed)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    nbformat.write(nb, target)
    config._nbcapture_written.append((source, target, failed, missing))  # type: ignore[attr-defined]


def pytest_terminal_summary(
    terminalreporter, exitstatus, config: pytest.Config
) -> None:
    written = getattr(config, "_nbcapture_written", None)
    if not config.getoption("nbcapture_dir") or written is None:
        return
    terminalreporter.section("nbcapture")
    for source, target, failed, missing in written:
        if failed:
            why = f"cells {missing} did not run" if missing else "a cell failed"
            terminalreporter.write_line(
                f"NOT captured {source} ({why}); partial outputs: {target}"
            )
        else:
            terminalreporter.write_line(f"captured {source} -> {target}")
