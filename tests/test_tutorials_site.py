"""The tutorials site: ``mixnb tutorials`` builds it offline and a chapter renders in Chromium.

One session-scoped build executes the four chapter notebooks (two kernels at a time) into a
temporary folder; the tests read the pages it wrote. The Chromium test loads a chapter from
``file://`` with background networking off and checks, from inside the page, that a chart was
drawn, the equations were typeset, the widgets were rendered from their saved state and no
script or resource failed to load. Set ``MIXNB_SCREENSHOT_DIR`` to keep the screenshots.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from mixnb.teaching import tutorials

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
CHAPTERS = [
    "01-traditional-approach",
    "02-random-intercept",
    "03-random-slope",
    "04-inference",
    "05-beyond-linear",
]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> tutorials.SiteReport:
    out = tmp_path_factory.mktemp("site")
    return tutorials.build_site(out, notebooks=NOTEBOOKS, jobs=2, log=lambda message: None)


# ------------------------------------------------------------------ what was written


def test_index_and_one_page_per_chapter(site):
    names = sorted(p.name for p in site.out.glob("*.html"))
    assert names == sorted(["index.html", *(f"{c}.html" for c in CHAPTERS)])
    index = (site.out / "index.html").read_text()
    for chapter in site.chapters:
        assert chapter.title and chapter.summary, chapter.source
        assert f'href="{chapter.href}"' in index
    assert index.count('class="mixnb-card"') == len(CHAPTERS)


def test_each_chapter_runs_in_under_a_minute(site):
    slow = {c.source.name: round(c.seconds, 1) for c in site.chapters if c.seconds >= 60}
    assert not slow, f"chapters must execute in under 60 s: {slow}"


def test_third_party_javascript_is_local(site):
    static = site.out / "_static"
    assert (static / "mathjax" / "tex-svg-full.js").stat().st_size > 1_000_000
    assert (static / "html-manager" / "embed-amd.js").stat().st_size > 1_000_000
    assert (static / "require.js").is_file()
    for page in site.pages:
        text = page.read_text()
        assert tutorials.remote_references(text) == [], page.name
        for src in re.findall(r"<script\b[^>]*\bsrc=\"([^\"]+)\"", text):
            assert (site.out / src).is_file(), (page.name, src)
        for href in re.findall(r"<link\b[^>]*\bhref=\"([^\"]+)\"", text):
            assert (site.out / href).is_file(), (page.name, href)


def test_chapter_pages_load_mathjax_and_the_widget_manager_from_static(site):
    for chapter in site.chapters:
        page = (site.out / chapter.href).read_text()
        assert re.search(r'<script[^>]*\bsrc="_static/mathjax/tex-svg-full.js"', page)
        assert "cdnjs" not in page and "unpkg.com" not in page
        assert chapter.widgets, f"{chapter.href} stores no widget state"
        assert "_static/html-manager/embed-amd.js" in page
        assert "application/vnd.jupyter.widget-state+json" in page


def test_text_outputs_are_escaped(site):
    """A ``<`` printed by a cell reaches the page as ``&lt;``, never as markup."""
    for chapter in site.chapters:
        page = (site.out / chapter.href).read_text()
        for block in re.findall(r'data-mime-type="text/plain">\s*<pre>(.*?)</pre>', page, re.S):
            assert "<script" not in block and "<svg" not in block


# ------------------------------------------------------------------ the checks themselves


def test_remote_scripts_are_rewritten_or_refused():
    page = (
        '<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js">'
        "</script>\n"
        '<script src="https://cdn.jsdelivr.net/npm/vega-lite@5"></script>'
    )
    local = tutorials.localize(page)
    assert '<script src="_static/require.js"></script>' in local
    assert "vega-lite" not in local
    assert tutorials.remote_references(local) == []

    for bad in (
        '<script src="https://example.org/x.js"></script>',
        '<script src="//example.org/x.js"></script>',
        '<link rel="stylesheet" href="https://example.org/x.css">',
        "<style>@import url('https://example.org/x.css');</style>",
        '<script>var s = document.createElement("script"); s.src = "https://example.org/x.js";'
        "</script>",
    ):
        assert tutorials.remote_references(tutorials.localize(bad)), bad
    harmless = '<script type="application/json">{"a": "https://example.org/"}</script>'
    assert tutorials.remote_references(harmless) == []


@pytest.fixture(scope="session")
def js_packages() -> Path:
    """The npm packages the pages load (installed into the user's cache once)."""
    return tutorials.ensure_js_packages(log=lambda message: None)


def test_build_fails_on_a_remote_script_in_an_output(tmp_path, js_packages):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A chapter\n\nWith a bad output."),
        nbformat.v4.new_code_cell(
            "x",
            outputs=[
                nbformat.v4.new_output(
                    "display_data",
                    data={"text/html": '<script src="https://example.org/track.js"></script>'},
                )
            ],
        ),
    ]
    nbformat.write(nb, tmp_path / "01-bad.ipynb")
    with pytest.raises(tutorials.SiteError, match="example.org/track.js"):
        tutorials.build_site(tmp_path / "out", notebooks=tmp_path, execute=False, log=print)


def test_index_escapes_chapter_text(tmp_path, js_packages):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            '# Fish & chips for <2 "people"\n\nA <b>bold</b> start <script>alert(1)</script>.'
        )
    ]
    nbformat.write(nb, tmp_path / "01-escape.ipynb")
    tutorials.build_site(tmp_path / "out", notebooks=tmp_path, execute=False, log=print)
    index = (tmp_path / "out" / "index.html").read_text()
    assert "Fish &amp; chips for &lt;2 &#34;people&#34;" in index
    assert "A bold start alert(1)." in index
    assert "<script" not in index and "<b>" not in index


def test_index_summary_reads_inline_math_as_text():
    """The index has no MathJax: a summary's ``$t$`` or ``$\\chi^2$`` is shown as text."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Tests\n\nIs a $t$ statistic, a $\\chi^2$ or $\\hat\\sigma_0^2$ worth \\$5?"
        )
    ]
    title, summary = tutorials.chapter_heading(nb, "fallback")
    assert title == "Tests"
    assert summary == "Is a t statistic, a χ^2 or σ0^2 worth $5?"


# ------------------------------------------------------------------ in a browser

#: Injected at the top of a copy of the page: records failed loads and script errors, then
#: (after MathJax has typeset) writes what the page drew into <pre id="mixnb-probe">.
PROBE = """<script>
window.__probeErrors = [];
window.addEventListener("error", function (e) {
  var t = e.target || {};
  window.__probeErrors.push(e.message || ("failed to load " + (t.src || t.href || t.tagName)));
}, true);
window.addEventListener("unhandledrejection", function (e) {
  window.__probeErrors.push("unhandled rejection: " + e.reason);
});
window.addEventListener("load", function () {
  setTimeout(function () {
    var ready = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
    ready.then(function () {
      var images = Array.prototype.slice.call(document.images).filter(function (i) {
        return i.src.indexOf("data:image/svg+xml") === 0;
      });
      var report = {
        errors: window.__probeErrors,
        math: document.querySelectorAll("mjx-container").length,
        widgets: document.querySelectorAll(".jupyter-widgets .lm-Widget").length,
        svg_marks: document.querySelectorAll(
          "svg.marks .mark-symbol path, svg.marks .mark-line path, svg.marks .mark-rect path"
        ).length,
        svg_images_drawn: images.filter(function (i) { return i.naturalWidth > 0; }).length,
        text: document.body.innerText.slice(0, 200000)
      };
      var pre = document.createElement("pre");
      pre.id = "mixnb-probe";
      pre.textContent = JSON.stringify(report);
      document.body.appendChild(pre);
    });
  }, 1500);
});
</script>"""


def _chromium(*arguments: str, profile: Path) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--allow-file-access-from-files",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=20000",
        *arguments,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("chapter", ["01-traditional-approach", "03-random-slope"])
def test_chapter_renders_in_headless_chromium(site, tmp_path, chapter):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium for the site test: apt-get install -y chromium")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    page = (site.out / f"{chapter}.html").read_text()
    probe = site.out / f"_probe-{chapter}.html"
    probe.write_text(page.replace("<head>", "<head>\n" + PROBE, 1))

    dumped = _chromium("--dump-dom", probe.as_uri(), profile=tmp_path / "profile")
    match = re.search(r'<pre id="mixnb-probe">(.*?)</pre>', dumped.stdout, re.S)
    assert match, f"the page never finished loading:\n{dumped.stderr[-3000:]}"
    report = json.loads(html.unescape(match.group(1)))
    assert report["errors"] == [], report["errors"]
    assert report["svg_marks"] + report["svg_images_drawn"] > 0, "no chart was drawn"
    assert report["math"] > 0, "MathJax typeset nothing"
    assert report["widgets"] > 0, "no widget was rendered from its saved state"
    for failure in ("Failed to load", "Error loading script", "CDN", "Javascript Error"):
        assert failure not in report["text"], failure

    shots = Path(os.environ.get("MIXNB_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    screenshot = shots / f"{chapter}.png"
    _chromium(
        "--window-size=1280,4200",  # tall enough to include the chapter's first chart
        "--hide-scrollbars",
        f"--screenshot={screenshot}",
        (site.out / f"{chapter}.html").as_uri(),
        profile=tmp_path / "profile",
    )
    assert screenshot.stat().st_size > 20_000, "the screenshot is (nearly) blank"


# ------------------------------------------------------------------ teaching on a static page

_EMBED = re.compile(
    r'vegaEmbed\("#([^"]+)", (\{.*?\}), \{renderer: "svg", actions: false\}\);', re.S
)


def _live_specs(page: str) -> list[dict]:
    return [json.loads(spec.replace("<\\/", "</")) for _, spec in _EMBED.findall(page)]


def test_every_chapter_has_a_live_chart_with_a_bound_slider(site):
    for chapter in site.chapters:
        page = (site.out / chapter.href).read_text()
        specs = _live_specs(page)
        assert specs, f"{chapter.href} has no live chart"
        assert chapter.needs_vega and "_static/vega-bundle.js" in page
        for spec in specs:
            bound = [p for p in spec.get("params", []) if "bind" in p]
            assert bound and all(p["bind"]["input"] == "range" for p in bound)
            assert spec["description"].startswith("Chart: ")
        # the SVG rendering of the same chart is not shown beside it
        assert page.count('class="mixnb-vega"') == len(specs)


def test_kernel_widgets_are_switched_off_under_a_note(site):
    from bs4 import BeautifulSoup

    for chapter in site.chapters:
        soup = BeautifulSoup((site.out / chapter.href).read_text(), "html.parser")
        views = soup.select('script[type="application/vnd.jupyter.widget-view+json"]')
        assert views, chapter.href
        for view in views:
            wrapper = view.find_parent("div", class_="mixnb-kernel-widget")
            assert wrapper is not None and wrapper.has_attr("inert"), chapter.href
            note = wrapper.find_previous_sibling("div", class_="mixnb-needs-kernel")
            assert note is not None and note["role"] == "note"
            assert "needs a running Python kernel" in note.get_text()
            href = note.find("a")["href"]
            assert href == f"notebooks/{chapter.source.name}"
            notebook = nbformat.read(site.out / href, as_version=4)
            assert notebook.metadata.get("widgets")  # the executed notebook, widget state kept


def test_every_chart_image_has_a_real_alt_text(site):
    from bs4 import BeautifulSoup

    seen = 0
    for chapter in site.chapters:
        page = (site.out / chapter.href).read_text()
        assert "No description has been provided" not in page
        soup = BeautifulSoup(page, "html.parser")
        charts = [i for i in soup.find_all("img") if i["src"].startswith("data:image/svg+xml")]
        assert all(i["alt"].startswith("Chart: ") and len(i["alt"]) > 40 for i in charts)
        seen += len(charts)
        for live in soup.select("div.mixnb-vega"):
            assert live["role"] == "figure" and live["aria-label"].startswith("Chart: ")
    assert seen >= 10


def test_a_live_chart_responds_to_its_slider_offline_and_widgets_do_not(site, tmp_path):
    """Headless Chromium (Playwright), every request off file:// refused: moving the shrinkage
    chart's group-size slider redraws the chart and changes the factor it prints; the
    kernel-only widget on the same page is inert."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium for the site test: apt-get install -y chromium")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("MIXNB_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    refused: list[str] = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            return request_route.continue_()
        refused.append(url)
        return request_route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", route)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto((site.out / "02-random-intercept.html").as_uri())
            chart = page.locator(".mixnb-vega", has=page.locator("input[name='n']"))
            chart.locator("svg.marks").wait_for(timeout=20000)
            factor = chart.locator("svg.marks text", has_text="shrinkage factor")
            before_text = factor.text_content()
            before_svg = chart.locator("svg.marks").inner_html()
            assert "= 0.556" in before_text  # n = 5, s0 = 25, se = 100
            chart.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "live-chart-before.png"))

            chart.locator("input[type='range'][name='n']").fill("40")
            page.wait_for_function(
                "el => !el.textContent.includes('= 0.556')", arg=factor.element_handle()
            )
            after_text = factor.text_content()
            assert "= 0.909" in after_text  # 40 * 25 / (40 * 25 + 100)
            assert chart.locator("svg.marks").inner_html() != before_svg
            page.screenshot(path=str(shots / "live-chart-after.png"))

            widget = page.locator(".mixnb-kernel-widget").first
            assert widget.evaluate("el => el.inert") is True
            assert widget.locator(".lm-Widget").count() > 0
            assert errors == [] and refused == [], (errors, refused)
        finally:
            browser.close()


#: Run in a page holding one chart's SVG inline: text that leaves the SVG, and axis labels
#: that overlap their neighbours, as the browser measures them with the fonts it has.
_TEXT_FIT = """() => {
  const svg = document.querySelector('svg');
  const box = svg.getBoundingClientRect();
  const outside = [];
  for (const t of svg.querySelectorAll('text')) {
    const r = t.getBoundingClientRect();
    if (!t.textContent.trim() || r.width === 0) continue;
    if (r.left < box.left - 1 || r.right > box.right + 1) outside.push(t.textContent);
  }
  const collisions = [];
  for (const axis of svg.querySelectorAll('g.role-axis-label')) {
    // vega hides the labels it drops for overlapping with opacity 0
    const r = [...axis.querySelectorAll('text')]
      .filter(t => t.textContent.trim() && getComputedStyle(t).opacity !== '0')
      .map(t => [t.textContent, t.getBoundingClientRect()]);
    for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) {
      const [a, p] = r[i], [b, q] = r[j];
      const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (w > 1 && h > 1) collisions.push(a + ' / ' + b);
    }
  }
  return {outside, collisions};
}"""


def test_chart_text_fits_as_the_browser_draws_it(site, tmp_path):
    """Every chart image of every chapter, inlined into a page at 1280 px in Chromium: no
    title or label runs past the chart's edge, no two axis labels overlap."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium for the site test: apt-get install -y chromium")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    import base64

    from playwright.sync_api import sync_playwright

    svgs = []
    for chapter in site.chapters:
        page = (site.out / chapter.href).read_text()
        for data in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page):
            svgs.append((chapter.href, base64.b64decode(data).decode()))
    assert len(svgs) >= 10
    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for k, (href, svg) in enumerate(svgs):
                path = tmp_path / f"chart-{k}.html"
                path.write_text(f'<!doctype html><body style="margin:20px">{svg}</body>')
                page.goto(path.as_uri())
                found = page.evaluate(_TEXT_FIT)
                if found["outside"] or found["collisions"]:
                    problems.append((href, k, found))
        finally:
            browser.close()
    assert problems == [], problems
