"""Notebook hygiene, and the machinery that executes notebooks once per test run.

Committed notebooks: valid nbformat, python3 kernel, no outputs except nbval's
references, the Colab setup cell first, listed in _toc.yml, independent of each other.
Then the tools: `nbtools` cleans, `nbcapture` keeps what nbval executed (never a failed
or stale notebook), `book/stage.py` refuses an executed copy that is not of the current
source.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import io
import os
import re
import subprocess
import sys
import tokenize
import types
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests import nbtools  # noqa: E402


def _load_stage():
    spec = importlib.util.spec_from_file_location(
        "book_stage", ROOT / "book" / "stage.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stage = _load_stage()  # book/stage.py

NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))
IDS = [p.name for p in NOTEBOOKS]
HIDING_TAGS = {"remove-cell", "hide-cell"}


def read(path: Path):
    return nbformat.read(path, as_version=4)


def repository_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"][
        "url"
    ].rstrip("/")


def python_of(source: str) -> str:
    """A cell's source as plain Python (IPython magics become get_ipython() calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


# ------------------------------------------------------------------ committed notebooks


def test_there_are_notebooks():
    assert NOTEBOOKS, "chapters/ has no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_valid_nbformat_and_python3_kernel(path):
    nb = read(path)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    kernelspec = nb.metadata.get("kernelspec", {})
    assert (
        kernelspec.get("name") == "python3" and kernelspec.get("language") == "python"
    ), (
        f"{path.name}: kernelspec {kernelspec}; expected python3 (`python -m tests.nbtools clean` sets it)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_outputs_except_checked_cells(path):
    found = nbtools.problems(read(path))
    assert not found, (
        f"{path.name}:\n  "
        + "\n  ".join(found)
        + f"\nRun `python -m tests.nbtools clean {path.relative_to(ROOT)}` (or `refresh`)."
    )


def run_setup_cell(code: str, name: str, monkeypatch) -> list[tuple[str, str]]:
    """Execute a setup cell with every way of running a command replaced by a recorder."""
    import subprocess as subprocess_module

    calls: list[tuple[str, str]] = []

    def record(kind):
        def recorder(*args, **kwargs):
            command = args[0] if args else kwargs.get("args", kwargs.get("cmd", ""))
            calls.append(
                (
                    kind,
                    command
                    if isinstance(command, str)
                    else " ".join(map(str, command)),
                )
            )
            return types.SimpleNamespace(returncode=0, stdout="", stderr="")

        return recorder

    for function in ("run", "call", "check_call", "check_output", "Popen"):
        monkeypatch.setattr(subprocess_module, function, record("subprocess"))
    monkeypatch.setattr(os, "system", record("os.system"))
    shell = types.SimpleNamespace(
        run_line_magic=lambda magic, line: calls.append((f"%{magic}", line)),
        system=record("!"),
        getoutput=record("!"),
    )
    exec(compile(code, f"{name}:setup", "exec"), {"get_ipython": lambda: shell})
    return calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_cell_is_the_colab_setup_cell(path, monkeypatch):
    cell = read(path).cells[0]
    assert cell.cell_type == "code", (
        f"{path.name}: the first cell must be the Colab setup code cell"
    )
    assert HIDING_TAGS & set(cell.metadata.get("tags", [])), (
        f"{path.name}: tag the setup cell `remove-cell` (or `hide-cell`) so the website hides it"
    )
    assert '"google.colab" in sys.modules' in cell.source, (
        f"{path.name}: detect Colab with sys.modules"
    )
    code = python_of(cell.source)

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    calls = run_setup_cell(code, path.name, monkeypatch)
    assert calls == [], (
        f"{path.name}: the setup cell must do nothing outside Colab, it ran {calls}"
    )

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    calls = run_setup_cell(code, path.name, monkeypatch)
    installs = [line for _, line in calls if "pip" in line or _ == "%pip"]
    assert len(calls) == 1 and installs and "install" in installs[0], (
        f"{path.name}: on Colab the setup cell must pip-install bertmini once, it ran {calls}"
    )
    assert f"git+{repository_url()}" in installs[0], (
        f"{path.name}: install from the repository in _config.yml ({repository_url()}), not {installs[0]!r}"
    )


def test_every_chapter_page_is_in_the_toc_and_every_toc_entry_exists():
    listed = stage.toc_documents(ROOT)
    missing = [
        doc
        for doc in listed
        if not any((ROOT / f"{doc}{ext}").is_file() for ext in (".ipynb", ".md"))
    ]
    assert not missing, f"_toc.yml lists documents that do not exist: {missing}"
    in_toc = {ROOT / f"{doc}{ext}" for doc in listed for ext in (".ipynb", ".md")}
    pages = NOTEBOOKS + [
        p for p in sorted((ROOT / "chapters").glob("*.md")) if p.name != "README.md"
    ]
    unlisted = [p.name for p in pages if p not in in_toc]
    assert not unlisted, (
        f"pages in chapters/ missing from _toc.yml, so never published "
        f"(add `- file: chapters/<name>`): {unlisted}"
    )


# Math in Markdown: $...$, $$...$$ and \begin{env}...\end{env}. A control character
# there is almost always an escape gone wrong: "\t" of "\times" written through a string
# became a TAB, and the page showed "3 imes 10⁻⁵" with no error from MathJax.
MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+?\$|\\begin\{(\w+\*?)\}.+?\\end\{\1\}", re.S)
# Every C0 control but the newline, and DEL
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def control_characters_in_math(text: str) -> list[str]:
    """Each math span of a Markdown text that holds a control character, with the characters."""
    return [
        f"{sorted(set(CONTROL.findall(m.group(0))))} in {m.group(0)[:60]!r}"
        for m in MATH.finditer(text)
        if CONTROL.search(m.group(0))
    ]


def test_control_characters_in_math_are_found():
    assert control_characters_in_math("a rate of $3 \times 10^{-5}$ and $$x\ry$$")
    assert control_characters_in_math("\\begin{aligned} a &= \x08eta \\end{aligned}")
    assert not control_characters_in_math(
        "$3 \\times 10^{-5}$\n\n$$\n\\frac{a}{b}\n$$\tcode"
    )


MARKDOWN_PAGES = [
    p for p in sorted((ROOT / "chapters").glob("*.md")) if p.name != "README.md"
]


@pytest.mark.parametrize(
    "path", NOTEBOOKS + MARKDOWN_PAGES, ids=IDS + [p.name for p in MARKDOWN_PAGES]
)
def test_no_control_character_inside_math(path):
    texts = (
        [c.source for c in read(path).cells if c.cell_type == "markdown"]
        if path.suffix == ".ipynb"
        else [path.read_text(encoding="utf-8")]
    )
    found = [hit for text in texts for hit in control_characters_in_math(text)]
    assert not found, (
        f"{path.name}: control characters inside math (a TAB where `\\t` of "
        f"`\\times` was meant?):\n  " + "\n  ".join(found)
    )


def path_literals(code: str) -> set[str]:
    """String literals in code that look like relative file paths (a '/' or a file extension)."""
    found = set()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return found
    for token in tokens:
        if token.type != tokenize.STRING:
            continue
        try:
            value = ast.literal_eval(token.string)
        except (ValueError, SyntaxError):
            continue  # f-strings and the like
        if (
            isinstance(value, str)
            and value
            and " " not in value
            and "://" not in value
            and ("/" in value or re.search(r"\.[A-Za-z]\w{0,11}$", value))
        ):
            found.add(value)
    return found


def test_no_notebook_reads_another_notebooks_files():
    """Each notebook runs alone, in any order, in a fresh kernel (nbval, Colab, a reader)."""
    problems = []
    literals: dict[str, set[str]] = {}
    for path in NOTEBOOKS:
        code = "\n".join(
            python_of(c.source) for c in read(path).cells[1:] if c.cell_type == "code"
        )
        if re.search(r"\brun_line_magic\(\s*['\"]run['\"]", code) or ".ipynb" in code:
            problems.append(f"{path.name} runs or opens a notebook (%run / .ipynb)")
        for other in NOTEBOOKS:
            if other != path and other.stem in code:
                problems.append(f"{path.name} mentions {other.stem}")
        literals[path.name] = path_literals(code)
    names = sorted(literals)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            shared = literals[first] & literals[second]
            if shared:
                problems.append(
                    f"{first} and {second} both use the paths {sorted(shared)}: a notebook "
                    "must not read what another wrote (keep each one's files to itself)"
                )
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------ nbtools


def make_notebook(*cells: tuple[str, list, int | None]):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": dict(nbtools.KERNELSPEC)})
    for source, outputs, count in cells:
        cell = nbformat.v4.new_code_cell(source, execution_count=count, outputs=outputs)
        cell.metadata["execution"] = {"iopub.status.busy": "2025"}
        nb.cells.append(cell)
    return nb


def test_nbtools_clean_keeps_only_checked_outputs():
    out = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    nb = make_notebook(
        ("print(42)", out, 3),
        ("# NBVAL_CHECK_OUTPUT\nprint(42)", out, 7),
        ("x = 1", [], 9),
    )
    nb.metadata["widgets"] = {"state": {}}
    assert len(nbtools.problems(nb)) >= 4
    nbtools.clean(nb)
    assert nbtools.problems(nb) == []
    assert [c.outputs for c in nb.cells] == [[], out, []]
    assert [c.execution_count for c in nb.cells] == [None, 1, None]
    assert nb.metadata == {
        "kernelspec": nbtools.KERNELSPEC,
        "language_info": {"name": "python"},
    }


def test_nbtools_check_reports_a_checked_cell_without_reference(tmp_path, capsys):
    nb = make_notebook(("# NBVAL_CHECK_OUTPUT\nprint(1)", [], None))
    nbtools.clean(nb)
    nbformat.write(nb, tmp_path / "a.ipynb")
    assert nbtools.main(["check", str(tmp_path / "a.ipynb")]) == 1
    assert "no reference output" in capsys.readouterr().out


# -------------------------------------------------------------------- nbcapture + stage

WIDGET_NB = [
    "import ipywidgets\nslider = ipywidgets.IntSlider(value=3, max=9)\nslider",
    "# NBVAL_CHECK_OUTPUT\nprint('six', 2 * 3)",
    "# NBVAL_SKIP\nraise RuntimeError('skipped')",
    "import sys\nprint('to stderr', file=sys.stderr)\n21 * 2",
]
FAILING_NB = [
    "x = 1",
    "raise ValueError('broken on purpose')",
    "print('after the failure')",
]


def write_source_notebook(path: Path, sources: list[str]) -> None:
    nb = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3",
                "language": "python",
            }
        }
    )
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    if "NBVAL_CHECK_OUTPUT" in sources[1]:
        nb.cells[1].outputs = [
            nbformat.v4.new_output("stream", name="stdout", text="six 6\n")
        ]
        nb.cells[1].execution_count = 1
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def nbval_run(tmp_path_factory):
    """One nbval run with nbcapture over a widget notebook and a failing one (stale copies planted)."""
    root = tmp_path_factory.mktemp("book")
    (root / "chapters").mkdir()
    write_source_notebook(root / "chapters" / "good.ipynb", WIDGET_NB)
    write_source_notebook(root / "chapters" / "bad.ipynb", FAILING_NB)
    (root / "pytest.ini").write_text("[pytest]\n")
    executed = root / "_build" / "executed"
    (executed / "chapters").mkdir(parents=True)
    (executed / "chapters" / "bad.ipynb").write_text("stale copy from an earlier run")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.nbcapture",
            "--nbval-lax",
            "--nbval-current-env",
            f"--nbcapture-dir={executed}",
            "--rootdir",
            str(root),
            "-c",
            str(root / "pytest.ini"),
            "-p",
            "no:cacheprovider",
            str(root / "chapters"),
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return root, executed, result


def test_nbcapture_writes_outputs_and_widget_state(nbval_run):
    root, executed, result = nbval_run
    # bad.ipynb fails
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "captured" in result.stdout and "NOT captured" in result.stdout
    nb = read(executed / "chapters" / "good.ipynb")
    nbformat.validate(nb)
    source = root / "chapters" / "good.ipynb"
    assert (
        nb.metadata["bertmini"]["source_sha256"]
        == hashlib.sha256(source.read_bytes()).hexdigest()
    )
    slider, checked, skipped, last = nb.cells
    view = slider.outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert state[view["model_id"]]["model_name"] == "IntSliderModel"
    assert state[view["model_id"]]["state"]["value"] == 3
    assert checked.outputs[0]["text"] == "six 6\n"
    assert skipped.outputs == [] and skipped.execution_count is None
    assert [o["output_type"] for o in last.outputs] == ["stream", "execute_result"]
    assert (
        last.outputs[0]["name"] == "stderr"
        and last.outputs[1]["data"]["text/plain"] == "42"
    )
    assert [c.execution_count for c in nb.cells] == [1, 2, None, 3]
    assert last.outputs[1]["execution_count"] == 3


def test_nbcapture_never_keeps_a_failed_notebook(nbval_run):
    root, executed, result = nbval_run
    assert not (executed / "chapters" / "bad.ipynb").exists(), (
        "the stale copy survived a failing run"
    )
    partial = read(executed / "failed" / "chapters" / "bad.ipynb")
    assert partial.cells[1].outputs[0]["output_type"] == "error"
    assert "widgets" not in partial.metadata


def fake_book(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for folder in ("chapters", "book", "bertmini"):
        (root / folder).mkdir(parents=True)
    (root / "_config.yml").write_text(
        yaml.safe_dump({"title": "t", "execute": {"execute_notebooks": "cache"}})
    )
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: chapters/a\nchapters:\n- file: chapters/b\n"
    )
    write_source_notebook(
        root / "chapters" / "a.ipynb",
        ["1 + 1", "# NBVAL_CHECK_OUTPUT\nprint('six', 6)"],
    )
    (root / "chapters" / "b.md").write_text("# B\n")
    return root


def capture_copy(root: Path, executed: Path, name: str, sha: str | None = None) -> None:
    nb = read(root / "chapters" / name)
    nb.metadata["bertmini"] = {
        "source_sha256": sha
        or hashlib.sha256((root / "chapters" / name).read_bytes()).hexdigest()
    }
    (executed / "chapters").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, executed / "chapters" / name)


def test_stage_uses_executed_copies_with_execution_off(tmp_path):
    root = fake_book(tmp_path)
    executed, staged = tmp_path / "executed", tmp_path / "stage"
    capture_copy(root, executed, "a.ipynb")
    stage.stage(executed, staged, root)
    assert (
        yaml.safe_load((staged / "_config.yml").read_text())["execute"][
            "execute_notebooks"
        ]
        == "off"
    )
    assert read(staged / "chapters" / "a.ipynb").metadata["bertmini"]
    assert (staged / "chapters" / "b.md").is_symlink() and (
        staged / "bertmini"
    ).is_symlink()


def test_stage_refuses_missing_failed_or_stale_copies(tmp_path):
    root = fake_book(tmp_path)
    executed, staged = tmp_path / "executed", tmp_path / "stage"
    with pytest.raises(stage.StaleNotebookError, match="nbval did not run it"):
        stage.stage(executed, staged, root)
    (executed / "failed" / "chapters").mkdir(parents=True)
    (executed / "failed" / "chapters" / "a.ipynb").write_text("{}")
    with pytest.raises(stage.StaleNotebookError, match="failed under nbval"):
        stage.stage(executed, staged, root)
    capture_copy(root, executed, "a.ipynb", sha="0" * 64)
    with pytest.raises(stage.StaleNotebookError, match="another version"):
        stage.stage(executed, staged, root)
    assert not staged.exists()


def test_stage_strips_nbval_markers_from_the_site_not_the_notebooks(tmp_path):
    root = fake_book(tmp_path)
    write_source_notebook(
        root / "chapters" / "a.ipynb",
        [
            "# NBVAL_CHECK_OUTPUT\nprint('six', 6)",
            "x = 1\n  #NBVAL_IGNORE_OUTPUT  \nx",
            "s = '# NBVAL_SKIP is a marker'  # in a string: kept\ns",
        ],
    )
    executed, staged = tmp_path / "executed", tmp_path / "stage"
    capture_copy(root, executed, "a.ipynb")
    stage.stage(executed, staged, root)
    shown = [
        c.source
        for c in read(staged / "chapters" / "a.ipynb").cells
        if c.cell_type == "code"
    ]
    assert shown == [
        "print('six', 6)",
        "x = 1\nx",
        "s = '# NBVAL_SKIP is a marker'  # in a string: kept\ns",
    ]
    kept = [
        c.source
        for c in read(root / "chapters" / "a.ipynb").cells
        if c.cell_type == "code"
    ]
    assert kept[0].startswith("# NBVAL_CHECK_OUTPUT\n"), (
        "the source notebook must keep its markers"
    )


def test_package_code_the_book_includes_fits_the_column():
    """Every `literalinclude` with `:pyobject:` shows lines of at most 88 characters:
    the site's code column holds 88 (tests/test_site.py measures it), and the package is
    formatted at that width ([tool.ruff] in pyproject.toml).
    """
    import ast

    wide = []
    for path in NOTEBOOKS:
        for cell in read(path).cells:
            for m in re.finditer(
                r"\{literalinclude\} \.\./(\S+)\n:pyobject: (\S+)", cell.source
            ):
                source = (ROOT / m.group(1)).read_text()
                body, node = ast.parse(source).body, None
                for part in m.group(2).split("."):
                    node = next(n for n in body if getattr(n, "name", None) == part)
                    body = getattr(node, "body", [])
                first = node.lineno - len(getattr(node, "decorator_list", []))
                lines = source.split("\n")[first - 1 : node.end_lineno]
                wide += [
                    f"{m.group(1)}:{first + i}"
                    for i, line in enumerate(lines)
                    if len(line) > 88
                ]
    assert not wide, (
        "lines the book shows that are wider than 88 characters: " + ", ".join(wide)
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_cells_fit_the_column(path):
    """The site's code column holds 88 characters (85 inside a solution box or a
    toggle): tests/test_site.py measures it in a browser; this catches a long line
    without one.
    """
    hidden = ("solution", "hide-input", "hide-cell", "hide-output")
    wide = []
    for cell in read(path).cells:
        if cell.cell_type != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        limit = 85 if any(t in tags for t in hidden) else 88
        wide += [
            f"{len(line)}: {line.strip()[:60]}"
            for line in cell.source.split("\n")
            if len(line) > limit
        ]
    assert not wide, f"{path.name}: code lines wider than the column:\n" + "\n".join(
        wide
    )
