"""Sphinx extension: the site serves its own JavaScript, so the course works with no
network.

By default a Jupyter Book page loads MathJax, require.js and the ipywidgets manager from
CDNs, and bertviz outputs load require.js, d3 and jQuery from cdnjs. When a CDN is
unreachable (a classroom with no internet, or a CDN that died, as in bertviz#99) math
stays raw TeX and widget and attention outputs render nothing. This extension:

1. copies the pinned npm packages (package.json / package-lock.json, installed by
   `npm ci` into node_modules/) into the site's `_static/vendor/`;
2. points `mathjax_path` and myst-nb's `nb_ipywidgets_js` at those copies;
3. puts require.js and a `require.config` on every page that maps `d3` and `jquery` to
   the local copies, with the CDN as a fallback (bertviz's own `require.config` cannot
   override a `map`);
4. removes the `<script src=".../require.min.js">` tag bertviz writes into its HTML
   output (require.js is already on the page) and the duplicated thebe configuration
   script, whose second copy throws `Identifier 'THEBE_JS_URL' has already been
   declared`.

node_modules is looked for next to this extension's repository, then from the source
folder up; the Sphinx option `offline_assets_node_modules` or the environment variable
BERTMINI_NODE_MODULES name another. Without it the build still works but loads
everything from CDNs, and says so with a warning (which fails a `-W` build such as
`make test`'s).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

# Everything lands in <outdir>/_static/vendor/. bertmini.viz (JS_BASE) looks for
# require.min.js, d3.min.js and jquery.min.js there: keep these names and this folder in
# step with it.
STATIC_SUBDIR = "vendor"


@dataclass(frozen=True)
class Asset:
    """One npm package's files to copy: `files` are paths (globs) inside the package,
    copied into the folder `dest`; "path:name" copies one file under another name.
    """

    package: str
    files: tuple[str, ...]
    dest: str
    # Where the same file lives on a CDN: used only when node_modules is missing
    cdn: str


ASSETS = (
    # MathJax 3: the combined TeX+MathML->CHTML bundle, plus the folders it loads lazily
    # from its own location (TeX extensions, fonts, the menu, the accessibility/speech
    # modules).
    Asset(
        "mathjax",
        (
            "es5/tex-mml-chtml.js",
            "es5/input",
            "es5/output",
            "es5/ui",
            "es5/a11y",
            "es5/sre",
            "es5/adaptors",
        ),
        "mathjax",
        "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js",
    ),
    Asset(
        "requirejs",
        ("require.js:require.min.js",),
        "",
        "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js",
    ),
    # ipywidgets 8's embed manager; its font files are loaded relative to the script.
    Asset(
        "@jupyter-widgets/html-manager",
        (
            "dist/embed-amd.js",
            "dist/*.woff",
            "dist/*.woff2",
            "dist/*.ttf",
            "dist/*.eot",
            "dist/*.svg",
        ),
        "html-manager",
        "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1/dist/embed-amd.js",
    ),
    Asset(
        "d3",
        ("dist/d3.min.js",),
        "",
        "https://cdnjs.cloudflare.com/ajax/libs/d3/5.7.0/d3.min",
    ),
    Asset(
        "jquery",
        ("dist/jquery.min.js",),
        "",
        "https://cdnjs.cloudflare.com/ajax/libs/jquery/2.0.0/jquery.min",
    ),
)

CDN = {asset.package: asset.cdn for asset in ASSETS}
# For third-party widget modules the bundle lacks
WIDGETS_CDN = "https://cdn.jsdelivr.net/npm/"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"

# bertviz (head_view, model_view, neuron_view) writes this tag into its HTML output.
CDN_REQUIREJS_TAG = re.compile(
    r'<script\s+src="https?://cdnjs\.cloudflare\.com/ajax/libs/require\.js/[^"]*"\s*>\s*</script>'
)


def find_node_modules(app: Sphinx) -> Path | None:
    """node_modules/ of the repository, found from this file (also when the book is a
    staged copy whose `book/` is a symlink) or from the source folder upwards; None when
    `npm ci` never ran.
    """
    configured = app.config.offline_assets_node_modules or os.environ.get(
        "BERTMINI_NODE_MODULES"
    )
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(__file__).resolve().parents[2] / "node_modules")
    src = Path(app.srcdir).resolve()
    candidates += [d / "node_modules" for d in (src, *src.parents)]
    for folder in candidates:
        if all((folder / asset.package / "package.json").is_file() for asset in ASSETS):
            return folder
    return None


def package_version(node_modules: Path, package: str) -> str:
    return json.loads((node_modules / package / "package.json").read_text())["version"]


def configure(app: Sphinx, config) -> None:
    """config-inited: decide local or CDN, and point MathJax and myst-nb at the right URLs."""
    node_modules = find_node_modules(app)
    app.offline_assets_root = node_modules  # type: ignore[attr-defined]
    local = node_modules is not None
    base = f"{STATIC_SUBDIR}/"
    if local:
        versions = ", ".join(
            f"{a.package}@{package_version(node_modules, a.package)}" for a in ASSETS
        )
        logger.info(f"offline_assets: serving {versions} from _static/{STATIC_SUBDIR}/")
        config.mathjax_path = base + "mathjax/tex-mml-chtml.js"
        require_js, embed_js = (
            base + "require.min.js",
            base + "html-manager/embed-amd.js",
        )
    else:
        logger.warning(
            "offline_assets: node_modules with the course's JavaScript (MathJax, require.js, "
            "@jupyter-widgets/html-manager, d3, jquery) not found; the site will load them from "
            "CDNs and will NOT work offline. Run `npm ci` in the repository (make does it when "
            "node and npm are installed)."
        )
        require_js, embed_js = CDN["requirejs"], CDN["@jupyter-widgets/html-manager"]
    # require.js after every other script (UMD scripts such as clipboard.min.js would
    # otherwise call its `define` anonymously and throw), then its configuration, then
    # the widget manager.
    app.add_js_file(require_js, priority=900)
    app.add_js_file(None, body=requirejs_config(local), priority=901)
    # myst-nb's default loads require.js and the widget manager from CDNs, at a priority
    # that puts them before our require.js; fix_page adds our manager instead, after
    # require.js, on the pages that carry widget state.
    config.nb_ipywidgets_js = {}
    app.offline_assets_embed_js = embed_js  # type: ignore[attr-defined]


def requirejs_config(local: bool) -> str:
    """Inline script after require.js: where d3, jQuery and the widget bundles come
    from.

    - d3 and jquery resolve to the local files first, the CDN second. A `map`, not just
      `paths`: bertviz calls `require.config({paths: {d3: <cdn>}})` itself and would
      overwrite our paths; the map renames the modules it asks for to ours.
    - The widget manager bundle finds its font files next to the URL require.js gives
      its named modules (`@jupyter-widgets/...`), page-relative unless mapped to the
      folder they are in.
    - ipywidgets' label typesetting calls MathJax 2's `MathJax.Hub.Queue`; the site has
      MathJax 3, so `Hub.Queue` is provided on top of `MathJax.typesetPromise` (a no-op
      without MathJax).
    """
    find_base = (
        "var s = document.querySelector('script[src*=\"%s/require.min.js\"]');\n"
        "  var base = s ? s.src.replace(/require\\.min\\.js(\\?.*)?$/, '') : null;"
        % STATIC_SUBDIR
        if local
        else "var base = null;"
    )
    widget_paths = "".join(
        f"\n  if (base) paths['@jupyter-widgets/{name}'] = base + 'html-manager/{name}';"
        for name in ("base", "base7", "controls", "controls7", "html-manager")
    )
    return f"""(function () {{
  {find_base}
  function localFirst(name, cdn) {{ return base ? [base + name, cdn] : [cdn]; }}
  var paths = {{'bertmini-d3': localFirst('d3.min', '{CDN["d3"]}'),
               'bertmini-jquery': localFirst('jquery.min', '{CDN["jquery"]}')}};{widget_paths}
  if (base) paths['@jupyter-widgets/html-manager/dist'] = base + 'html-manager';
  require.config({{
    map: {{'*': {{d3: 'bertmini-d3', jquery: 'bertmini-jquery'}}}},
    paths: paths,
    shim: {{'bertmini-jquery': {{exports: 'jQuery'}}}}
  }});
  document.addEventListener('DOMContentLoaded', function () {{
    var mj = window.MathJax;
    if (mj && !mj.Hub) mj.Hub = {{Queue: function () {{
      Array.prototype.forEach.call(arguments, function (job) {{
        if (Array.isArray(job) && job[0] === 'Typeset' && mj.typesetPromise) mj.typesetPromise([job[2]]);
      }});
    }}}};
  }});
}})();"""


def fix_page(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree
) -> None:
    """html-page-context: add the widget manager where needed, drop duplicate inline
    scripts and bertviz's CDN require.js tag.
    """
    scripts = context.get("script_files")
    if isinstance(scripts, list):
        if any(
            getattr(s, "attributes", {}).get("type") == WIDGET_STATE_MIME
            for s in scripts
        ):
            app.add_js_file(
                app.offline_assets_embed_js,
                priority=902,  # type: ignore[attr-defined]
                **{"data-jupyter-widgets-cdn": WIDGETS_CDN},
            )
        # Sphinx re-reads its registry after sphinx-thebe and sphinx-togglebutton added
        # their inline scripts, so they appear twice (filename None and ''); `const`
        # twice is an error.
        seen, unique = set(), []
        for script in scripts:
            key = (
                getattr(script, "filename", str(script)) or "",
                tuple(
                    sorted(
                        (k, str(v))
                        for k, v in getattr(script, "attributes", {}).items()
                    )
                ),
            )
            if key not in seen:
                seen.add(key)
                unique.append(script)
        scripts[:] = unique
    if "body" in context and context["body"]:
        context["body"] = CDN_REQUIREJS_TAG.sub(
            "<!-- require.js is loaded by the page -->", context["body"]
        )


def copy_assets(app: Sphinx, exception: Exception | None) -> None:
    """build-finished: copy the npm files into _static/vendor/ (skipping unchanged files)."""
    node_modules = getattr(app, "offline_assets_root", None)
    if exception is not None or node_modules is None or app.builder.format != "html":
        return
    target_root = Path(app.outdir) / "_static" / STATIC_SUBDIR
    copied = 0
    for asset in ASSETS:
        package = node_modules / asset.package
        for entry in asset.files:
            pattern, _, rename = entry.partition(":")
            matches = sorted(package.glob(pattern))
            if not matches:
                raise FileNotFoundError(
                    f"offline_assets: {asset.package} has no {pattern!r} in {package}; the pinned "
                    f"version changed its layout. Update ASSETS in {__file__}."
                )
            for source in matches:
                copied += copy_tree(
                    source, target_root / asset.dest / (rename or source.name)
                )
    logger.info(f"offline_assets: {copied} files updated in {target_root}")


def copy_tree(source: Path, target: Path) -> int:
    """Copy a file or folder, skipping files whose size and mtime already match. Returns a count."""
    if source.is_dir():
        return sum(copy_tree(child, target / child.name) for child in source.iterdir())
    stat = source.stat()
    if target.is_file():
        t = target.stat()
        if t.st_size == stat.st_size and int(t.st_mtime) == int(stat.st_mtime):
            return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    return 1


def setup(app: Sphinx) -> dict:
    app.add_config_value("offline_assets_node_modules", None, "env")
    # After myst-nb's own config-inited handlers; before builder-inited, when myst-nb
    # reads its config.
    app.connect("config-inited", configure, priority=900)
    # Late (priority 900): the dedupe must see the scripts every other extension added
    # to the page.
    app.connect("html-page-context", fix_page, priority=900)
    app.connect("build-finished", copy_assets)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
