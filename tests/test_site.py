"""The built website works in a browser with no network: every page, math, widgets,
bertviz, links.

Serves `_build/html` on 127.0.0.1 and opens every page in headless Chromium (Debian's
`chromium` and `chromium-driver`) with every request that would leave the machine
blocked: a host-resolver rule that resolves nothing but 127.0.0.1, and a proxy on a
loopback port that refuses connections (for IP literals, which skip the resolver). That
is a classroom with no internet, or a dead CDN.

Skips when the site is not built, unless BERTMINI_REQUIRE_SITE=1 (`make test` sets it
after building); skips when Chromium is not installed, unless BERTMINI_REQUIRE_BROWSER=1
(`.ci/run`). Screenshots of the landing page and a chapter go to `_build/screenshots/`.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
REQUIRE_SITE = os.environ.get("BERTMINI_REQUIRE_SITE") == "1"
REQUIRE_BROWSER = os.environ.get("BERTMINI_REQUIRE_BROWSER") == "1"
NOT_PAGES = ("_static", "_sources", "_images", "_downloads")
WAIT_S = 30  # for MathJax, the widget manager and bertviz to draw

# Errors Chromium reports for a request our flags blocked (proxy refused, or name not
# resolved).
BLOCKED_ERRORS = {
    "net::ERR_PROXY_CONNECTION_FAILED",
    "net::ERR_NAME_NOT_RESOLVED",
    "net::ERR_TUNNEL_CONNECTION_FAILED",
}


def site_pages() -> list[str]:
    if not SITE.is_dir():
        return []
    return sorted(
        p.relative_to(SITE).as_posix()
        for p in SITE.rglob("*.html")
        if p.relative_to(SITE).parts[0] not in NOT_PAGES
    )


def need_site() -> None:
    if not (SITE / "index.html").is_file():
        message = f"the website is not built ({SITE}/index.html missing): run `make book` or `make test`"
        if REQUIRE_SITE:
            pytest.fail(message + " (BERTMINI_REQUIRE_SITE=1)")
        pytest.skip(message)


def need_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if missing:
        message = (
            f"{' and '.join(missing)} not installed: `apt-get install chromium chromium-driver` "
            "(Debian) to run the browser checks"
        )
        if REQUIRE_BROWSER:
            pytest.fail(message + " (BERTMINI_REQUIRE_BROWSER=1)")
        pytest.skip(message)


def repository_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"][
        "url"
    ].rstrip("/")


# ------------------------------------------------------------------------------- server


class Server:
    """http.server in a thread on 127.0.0.1, recording (path, status) of every request."""

    def __init__(self, folder: Path):
        self.requests: list[tuple[str, int]] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_request(self, code="-", size="-"):
                server.requests.append((unquote(urlsplit(self.path).path), int(code)))

            def log_message(self, *args):  # quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def site_server():
    need_site()
    server = Server(SITE)
    yield server
    server.close()


# ------------------------------------------------------------------------------ browser


def chromium_flags(dead_port: int, profile: str) -> list[str]:
    return [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        # Nothing resolves except loopback; anything else (IP literals too) goes to a
        # dead proxy.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--proxy-server=http://127.0.0.1:{dead_port}",
        "--proxy-bypass-list=127.0.0.1",
        f"--user-data-dir={profile}",
    ]


@pytest.fixture(scope="module")
def browser():
    need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # A port we hold but never listen on: the proxy refuses every connection at once.
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    profile = tempfile.mkdtemp(prefix="bertmini-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in chromium_flags(dead.getsockname()[1], profile):
        options.add_argument(flag)
    options.set_capability(
        "goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"}
    )
    driver = webdriver.Chrome(
        service=Service(executable_path=CHROMEDRIVER), options=options
    )
    driver.set_script_timeout(WAIT_S)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    dead.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def open_page(browser, site_server):
    """Load a page; return its console errors, the URLs it tried off the machine and its failed requests."""

    def load(url: str, server: Server = site_server) -> dict:
        # Drain the previous page's logs
        (
            browser.get_log("browser"),
            browser.get_log("performance"),
        )
        server.requests.clear()
        browser.get(url)
        wait_for(
            browser, "return document.readyState === 'complete'", "the page to load"
        )
        mathjax = browser.execute_async_script("""
            const done = arguments[arguments.length - 1];
            if (window.MathJax && MathJax.startup && MathJax.startup.promise)
                MathJax.startup.promise.then(() => done('typeset'), (e) => done('error: ' + e));
            else done(null);""")
        return {
            "mathjax": mathjax,
            "logs": browser.get_log("browser"),
            "network": network_events(browser.get_log("performance")),
            "server": list(server.requests),
        }

    return load


def wait_for(driver, script: str, what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not driver.execute_script(script):
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {timeout} s waiting for {what} on {driver.current_url}"
            )
        time.sleep(0.2)


def network_events(performance_log: list[dict]) -> dict:
    """Requests the page made, and those that failed, from Chromium's DevTools performance log."""
    requested, failed = {}, {}
    for entry in performance_log:
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            requested[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed":
            failed[params["requestId"]] = params.get("errorText", "")
    return {"requested": requested, "failed": failed}


def off_machine(urls, base: str) -> list[str]:
    """Network URLs (not data:, blob:, chrome:// internals) that are not our server's."""
    return sorted(
        {
            u
            for u in urls
            if urlsplit(u).scheme in ("http", "https", "ws", "wss", "ftp")
            and not u.startswith(base)
        }
    )


# -------------------------------------------------------------------------------- tests


def test_site_is_built():
    need_site()
    assert site_pages(), f"no HTML pages under {SITE}"


@pytest.mark.parametrize("page", site_pages() or ["index.html"])
def test_page_works_offline(page, open_page, site_server, browser):
    html = (SITE / page).read_text(encoding="utf-8")
    result = open_page(site_server.url + page)
    problems = []

    served = dict(result["server"])
    if served.get("/" + page) != 200:
        problems.append(f"GET /{page} answered {served.get('/' + page)}, not 200")
    problems += [
        f"GET {path} answered {status}"
        for path, status in result["server"]
        if status >= 400
    ]
    problems += [
        f"console {e['level']}: {e['message']}"
        for e in result["logs"]
        if e["level"] == "SEVERE"
    ]
    problems += [
        f"request off the machine: {u}"
        for u in off_machine(result["network"]["requested"].values(), site_server.url)
    ]

    if 'class="math' in html:
        unrendered = browser.execute_script("""
            return Array.from(document.querySelectorAll('.math')).filter(
                e => !e.querySelector('mjx-container') || /\\\\[(\\[]/.test(e.textContent)
            ).map(e => e.textContent.slice(0, 80));""")
        rendered = browser.execute_script(
            "return document.querySelectorAll('mjx-container').length"
        )
        if result["mathjax"] != "typeset" or not rendered or unrendered:
            problems.append(
                f"MathJax did not render ({result['mathjax']}); {rendered} mjx-container, "
                f"raw TeX left: {unrendered}"
            )
        # TeX that MathJax could not parse renders as an error node, not as raw TeX; an
        # undefined macro renders as red text (its MathML copy says mathcolor="red").
        errors = browser.execute_script("""
            return Array.from(document.querySelectorAll(
                'mjx-merror, [data-mjx-error], mjx-assistive-mml mtext[mathcolor="red"]')).map(
                e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80));""")
        if errors:
            problems.append(f"MathJax error nodes: {errors}")

    if "application/vnd.jupyter.widget-view+json" in html:
        views = len(
            re.findall(
                r'<script type="application/vnd\.jupyter\.widget-view\+json">', html
            )
        )
        assert views, "widget view scripts expected"
        drawn = """return Array.from(document.querySelectorAll(
            'script[type="application/vnd.jupyter.widget-view+json"]')).filter(s => {
                const area = s.previousElementSibling;
                return area && area.classList.contains('widget-subarea')
                    && area.querySelector('[class*="jupyter-widgets"], [class*="widget-"]');
            }).length"""
        try:
            wait_for(browser, drawn + f" === {views}", f"{views} widgets to render")
        except pytest.fail.Exception as err:
            problems.append(
                f"widgets: {err}; rendered {browser.execute_script(drawn)} of {views}"
            )

    # View roots, not their parts
    containers = len(set(re.findall(r'id="(bertviz-[0-9a-f]+)"', html)))
    if containers:
        drawn = (
            "return Array.from(document.querySelectorAll('[id^=\"bertviz-\"]'))"
            ".filter(d => /^bertviz-[0-9a-f]+$/.test(d.id) && d.querySelector('svg')).length"
        )
        try:
            wait_for(
                browser,
                drawn + f" === {containers}",
                f"{containers} bertviz views to draw SVG",
            )
        except pytest.fail.Exception as err:
            problems.append(
                f"bertviz: {err}; drawn {browser.execute_script(drawn)} of {containers}"
            )

    notebook_source = (SITE / "_sources" / page).with_suffix(".ipynb")
    if notebook_source.is_file():
        expected = (
            f"https://colab.research.google.com/github/{urlsplit(repository_url()).path.strip('/')}"
            f"/blob/main/{Path(page).with_suffix('.ipynb').as_posix()}"
        )
        colab = re.findall(r'href="(https://colab\.research\.google\.com/[^"]*)"', html)
        if colab != [expected]:
            problems.append(f"Colab launch button {colab}, expected [{expected!r}]")

    if problems:
        pytest.fail(f"{page}:\n  " + "\n  ".join(problems), pytrace=False)


class LinkParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def test_no_broken_internal_links():
    need_site()
    broken = []
    # Not _static/, which holds theme templates
    for page in (SITE / p for p in site_pages()):
        parser = LinkParser()
        parser.feed(page.read_text(encoding="utf-8"))
        for link in parser.links:
            parts = urlsplit(link)
            if (
                parts.scheme
                or link.startswith(("//", "#", "mailto:", "javascript:"))
                or not parts.path
            ):
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(SITE)}: {link}")
    assert not broken, "broken internal links:\n" + "\n".join(broken)


def test_screenshots(open_page, site_server, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    chapters = [p for p in site_pages() if p.startswith("chapters/")]
    chapter = next(
        (p for p in chapters if not p.endswith("00_welcome.html")),
        chapters[0] if chapters else None,
    )
    shots = {"landing.png": "index.html"}
    if chapter:
        shots[f"chapter-{Path(chapter).stem}.png"] = chapter
    for name, page in shots.items():
        open_page(site_server.url + page)
        time.sleep(1)  # let widgets and fonts settle
        png = browser.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"captureBeyondViewport": True, "fromSurface": True},
        )
        (SCREENSHOTS / name).write_bytes(base64.b64decode(png["data"]))
        assert (SCREENSHOTS / name).stat().st_size > 10_000, f"{name} looks empty"


# A 1x1 PNG, so the control image really loads.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_browser_really_blocks_the_network(browser, tmp_path):
    """The same browser loads a local image and fails, with our blocking errors, on remote ones."""
    (tmp_path / "pixel.png").write_bytes(PIXEL)
    # An IP literal: only the proxy rule stops it
    remote = [
        "http://example.com/x.png",
        "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js",
        "http://93.184.215.14/x.png",
    ]
    (tmp_path / "probe.html").write_text(
        "<!doctype html><title>probe</title><img id='local' src='pixel.png'>"
        + "".join(f"<img class='remote' src='{u}'>" for u in remote)
    )
    server = Server(tmp_path)
    try:
        browser.get_log("performance")
        browser.get(server.url + "probe.html")
        wait_for(
            browser,
            "return Array.from(document.images).every(i => i.complete)",
            "the images to settle",
        )
        widths = browser.execute_script(
            "return Array.from(document.images).map(i => [i.id || i.src, i.naturalWidth])"
        )
        network = network_events(browser.get_log("performance"))
    finally:
        server.close()
    assert widths[0] == ["local", 1], f"the local control image did not load: {widths}"
    assert all(width == 0 for _, width in widths[1:]), (
        f"a remote image loaded: {widths}"
    )
    errors = {network["requested"][rid]: err for rid, err in network["failed"].items()}
    for url in remote:
        assert errors.get(url) in BLOCKED_ERRORS, (
            f"{url} failed with {errors.get(url)!r}, not by our block"
        )


# --------------------------------------------------------------- figures and code width

FIGURES = ROOT / "chapters" / "figures"

# For every `<pre>` the selector picks: its longest line in characters, how many
# characters fit in it and whether it overflows (if drawn). `capacity`: what fits in the
# first drawn block (the content column at this window size).
MEASURE_CODE = """
    const [selector] = arguments;
    const fits = pre => {  // characters that fit in a drawn <pre>; null if not drawn
        if (!pre.offsetParent || !pre.clientWidth) return null;
        const probe = document.createElement('span');
        probe.textContent = 'x'.repeat(200);
        pre.appendChild(probe);
        const char = probe.getBoundingClientRect().width / 200;
        probe.remove();
        const style = getComputedStyle(pre);
        const inner = pre.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
        return Math.floor(inner / char + 1e-6);
    };
    const blocks = Array.from(document.querySelectorAll(selector)).map(pre => {
        const lines = pre.textContent.replace(/\\n$/, '').split('\\n');
        const longest = lines.reduce((a, b) => b.length > a.length ? b : a, '');
        return {longest: longest.length, line: longest, fits: fits(pre),
                overflows: !!pre.offsetParent && pre.scrollWidth > pre.clientWidth};
    });
    const drawn = blocks.find(b => b.fits !== null);
    return {capacity: drawn ? drawn.fits : null, blocks};"""
NOTEBOOK_CODE = ".cell_input div.highlight pre"  # code cells, shown or behind a toggle
# literalinclude and fenced code in the prose
PROSE_CODE = "div.highlight pre:not(.cell_input pre):not(.cell_output pre)"


def pages_with(text: str) -> list[str]:
    return [p for p in site_pages() if text in (SITE / p).read_text(encoding="utf-8")]


def too_wide(measured: dict, capacity: int) -> list[str]:
    """Blocks that overflow, or hold a line longer than fits (`capacity` if hidden)."""
    wide = []
    for b in measured["blocks"]:
        fits = capacity if b["fits"] is None else b["fits"]
        if b["overflows"] or b["longest"] > fits:
            wide.append(f"{b['longest']} characters, {fits} fit: {b['line'].strip()!r}")
    return wide


@pytest.fixture(scope="module")
def code_capacity(open_page, site_server, browser) -> int:
    """Characters of code that fit in the content column at a 1280-pixel window."""
    page = next(p for p in pages_with("cell_input") if p.startswith("chapters/"))
    open_page(site_server.url + page)
    capacity = browser.execute_script(MEASURE_CODE, NOTEBOOK_CODE)["capacity"]
    assert capacity, f"no drawn code cell on {page} to measure the column with"
    return capacity


def test_code_column_holds_the_line_length(code_capacity):
    """The column holds a line of the length pyproject.toml's [tool.ruff] allows."""
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    limit = pyproject["tool"]["ruff"]["line-length"]
    print(f"the code column holds {code_capacity} characters; limit {limit}")
    assert code_capacity >= limit, (
        f"the content column holds {code_capacity} characters of code, but lines may "
        f"be {limit} long (pyproject.toml [tool.ruff]; the code font is set in "
        "book/_ext/static/bertmini.css)"
    )


@pytest.mark.parametrize("page", pages_with("cell_input") or ["index.html"])
def test_notebook_code_fits_the_column(
    page, open_page, site_server, browser, code_capacity
):
    """No code cell is clipped at the column's edge, nor one behind a toggle."""
    open_page(site_server.url + page)
    measured = browser.execute_script(MEASURE_CODE, NOTEBOOK_CODE)
    wide = too_wide(measured, code_capacity)
    assert not wide, f"{page}: code cells wider than the column:\n  " + "\n  ".join(
        wide
    )


@pytest.mark.xfail(
    strict=False,
    reason="the package code the book includes fits (tests/test_notebooks.py checks it "
    "without a browser); some fenced examples in the prose may still run past the column",
)
def test_code_in_the_prose_fits_the_column(
    open_page, site_server, browser, code_capacity
):
    """literalinclude'd package code and fenced blocks are not clipped either."""
    wide = []
    for page in site_pages():
        open_page(site_server.url + page)
        measured = browser.execute_script(MEASURE_CODE, PROSE_CODE)
        wide += [f"{page}: {w}" for w in too_wide(measured, code_capacity)]
    assert not wide, "code blocks wider than the column:\n  " + "\n  ".join(wide)


def test_no_nbval_markers_on_the_site():
    """`# NBVAL_CHECK_OUTPUT` and the like are test machinery: book/stage.py strips them
    from the site.
    """
    need_site()
    shown = [
        f"{page}: {marker}"
        for page in site_pages()
        for block in re.findall(r"<pre>(.*?)</pre>", (SITE / page).read_text(), re.S)
        for marker in re.findall(r"NBVAL_[A-Z_]+", block)
    ]
    assert not shown, "nbval markers shown to readers:\n" + "\n".join(shown)


class ImageParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))


def test_every_figure_is_on_the_site_with_alt_text():
    need_site()
    figures = sorted(p.name for p in FIGURES.glob("*.svg"))
    assert figures, f"no figures in {FIGURES}"
    alts: dict[str, list[str]] = {}  # file name -> the alt texts it is shown with
    for page in site_pages():
        parser = ImageParser()
        parser.feed((SITE / page).read_text(encoding="utf-8"))
        for image in parser.images:
            name = Path(unquote(image.get("src") or "")).name
            alts.setdefault(name, []).append(image.get("alt") or "")
    missing = [f for f in figures if f not in alts]
    assert not missing, f"figures on no page of the site: {missing}"
    no_alt = [f for f in figures if not all(len(alt) > 40 for alt in alts[f])]
    assert not no_alt, f"figures without a real alt text: {no_alt}"


@pytest.mark.parametrize("page", pages_with("<img") or ["index.html"])
def test_every_image_loads(page, open_page, site_server, browser):
    """Each figure (and every other image) on the page is fetched and decoded."""
    open_page(site_server.url + page)
    wait_for(
        browser,
        "return Array.from(document.images).every(i => i.complete)",
        "the images to load",
    )
    images = browser.execute_script(
        "return Array.from(document.images)"
        ".map(i => [i.getAttribute('src'), i.naturalWidth])"
    )
    assert images, f"{page}: no images"
    broken = [src for src, width in images if not width]
    assert not broken, f"{page}: images that did not load (naturalWidth 0): {broken}"


def test_chapter5_step_slider_works_on_the_site(open_page, site_server, browser):
    """The 'watch it learn' slider is plain HTML and JavaScript: no kernel needed."""
    page = "chapters/05_pretraining.html"
    if page not in site_pages():
        pytest.skip("chapter 5 is not on the site")
    open_page(site_server.url + page)
    shown = browser.execute_script("""
        const slider = document.querySelector('input[type=range][data-tables]');
        if (!slider) return null;
        const before = slider.nextElementSibling.textContent;
        slider.value = slider.max;
        slider.dispatchEvent(new Event('input'));
        return [before, slider.nextElementSibling.textContent];""")
    assert shown is not None, "no step slider on the page"
    before, after = shown
    assert before.startswith("step ") and after.startswith("step ") and before != after
