"""bertviz's HTML, rewritten to work offline: libraries from a local folder first, CDNs
second.

bertviz 1.4.1 writes a `<script src=...require.min.js>` tag and a `require.config` whose
paths point at CDNs, and gives the elements of every view the same ids. `offline_view`
rewrites that HTML with regular expressions: it is tied to bertviz's output format (the
tests pin it), which is why it is kept apart from `bertmini.viz`, whose functions only
call `offline_view`.
"""

from __future__ import annotations

import json
import re

# The CDN addresses bertviz 1.4.1 uses (require.js paths have no ".js"; require.js
# appends it).
REQUIRE_JS_CDN = (
    "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js"
)
LOCAL_FILES = {"d3": "d3.min", "jquery": "jquery.min", "require": "require.min"}


def require_fallback_paths(js: str, base: str) -> str:
    """Turn bertviz's `require.config({paths: {d3: 'cdn'}})` entries into [local, cdn]
    fallbacks.

    require.js tries the next address of a path array when a script fails to load, so
    the local copy is used when it is there and the CDN otherwise. `local(...)` (defined
    by `offline_view`) resolves a relative base against the page's address, because a
    page may set require's baseUrl.
    """

    def entry(match: re.Match) -> str:
        name, url = match.group(1), match.group(3)
        if not base or name not in LOCAL_FILES:
            return match.group(0)
        return f"{name}: [local({json.dumps(base + '/' + LOCAL_FILES[name])}), {json.dumps(url)}]"

    def block(match: re.Match) -> str:
        return re.sub(
            r"""(\w+)\s*:\s*(['"])(https?://[^'"]+)\2""", entry, match.group(0)
        )

    new, n = re.subn(r"paths\s*:\s*\{[^}]*\}", block, js, count=1)
    if n != 1:
        raise RuntimeError(
            "this bertviz version's JavaScript has no require.config paths block; "
            "bertmini.viz knows bertviz 1.4.1"
        )
    return new


def unique_ids(html: str, root_id: str) -> str:
    """Prefix every element id of the view with its root id, in the HTML and in the
    inlined JS.

    bertviz gives each view a random root id, but the elements inside ("vis", "layer",
    "filter", and the SVG groups "left", "right", "attention", ...) have the same ids in
    every view: invalid HTML with several views on a page (bertviz#45), and a trap for
    any selector not scoped to the root. After this, each view's ids start with its own
    root id.
    """
    html = re.sub(
        r"""id=(['"])(vis|layer|filter)\1""",
        lambda m: f'id="{root_id}-{m.group(2)}"',
        html,
    )
    # JS selectors of those elements: `#${config.rootDivId} #vis` ->
    # `#${config.rootDivId}-vis`.
    html = re.sub(
        r"#\$\{config\.rootDivId\} #(vis|layer|filter)",
        r"#${config.rootDivId}-\1",
        html,
    )
    # Ids created by d3: .attr("id", EXPR) -> .attr("id", config.rootDivId + "-" +
    # (EXPR)) ...
    html = re.sub(
        r"""\.attr\((['"])id\1,\s*(.+?)\)(?=\s*(;|//|$))""",
        r'.attr("id", config.rootDivId + "-" + (\2))',
        html,
        flags=re.M,
    )
    # ... and the selections of them: select("#left") -> select("#" + config.rootDivId +
    # "-left").
    html = re.sub(r"""select\((['"])#""", r'select("#" + config.rootDivId + "-', html)
    return html


def compact_params(js: str) -> str:
    """Write bertviz's parameters once, without spaces.

    bertviz substitutes its JSON for the marker PYTHON_PARAMS, which also appears in the
    comment after it, so every probability is written twice; the comment goes.
    """
    start = js.find("const params = ")
    if start < 0:
        return js
    begin = start + len("const params = ")
    params, end = json.JSONDecoder().raw_decode(js, begin)
    line_end = js.find("\n", end)
    line_end = len(js) if line_end < 0 else line_end
    return (
        js[:start]
        + "const params = "
        + json.dumps(params, separators=(",", ":"))
        + ";"
        + js[line_end:]
    )


def offline_view(html: str, js_base: str) -> str:
    """Rewrite bertviz's HTML to load its libraries from `js_base` first and from the
    CDNs second.

    - the `<script src=".../require.min.js">` tag is replaced by a loader that uses the
      page's require.js if it has one, else loads ours (local copy, then CDN), once per
      page;
    - the view's code runs only when require.js is there, with `paths` fallback arrays;
    - element ids are made unique per view (`unique_ids`).
    """
    root = re.search(r'<div id="(bertviz-[0-9a-f]+)"', html)
    if root is None:
        raise RuntimeError('unexpected bertviz HTML: no root <div id="bertviz-...">')
    root_id = root.group(1)
    base = (js_base or "").rstrip("/")
    script_tag = re.search(r'<script src="(https://[^"]*require[^"]*)"></script>', html)
    require_cdn = script_tag.group(1) if script_tag else REQUIRE_JS_CDN
    if script_tag:
        html = html.replace(script_tag.group(0), "", 1)
    body = re.search(
        r'<script type="text/javascript">\n(.*)\n</script>', html, flags=re.S
    )
    if body is None:
        raise RuntimeError(
            "unexpected bertviz HTML: no inline <script> with the view's code"
        )
    view_js = require_fallback_paths(compact_params(body.group(1)), base)
    sources = ([base + "/" + LOCAL_FILES["require"] + ".js"] if base else []) + [
        require_cdn
    ]
    loader = f"""<script type="text/javascript">
(function () {{
  // bertmini: load require.js if the page has none (local copy first, then the CDN), then draw.
  var local = function (path) {{ return new URL(path, document.baseURI).href; }};
  var sources = {json.dumps(sources)}.map(local);
  function draw() {{
{view_js}
  }}
  if (typeof window.requirejs === "function") {{ draw(); return; }}
  if (!window.bertminiRequireJs) {{
    window.bertminiRequireJs = new Promise(function (resolve, reject) {{
      function load(i) {{
        if (i >= sources.length) {{ reject(new Error("could not load require.js from " + sources.join(" or "))); return; }}
        var s = document.createElement("script");
        s.src = sources[i];
        s.onload = function () {{ resolve(); }};
        s.onerror = function () {{ s.remove(); load(i + 1); }};
        document.head.appendChild(s);
      }}
      load(0);
    }});
  }}
  window.bertminiRequireJs.then(draw, function (err) {{
    var el = document.getElementById("{root_id}");
    if (el) {{ el.appendChild(document.createTextNode("bertviz view unavailable: " + err.message)); }}
  }});
}})();
</script>"""
    html = html[: body.start()] + loader + html[body.end() :]
    return unique_ids(html, root_id)
