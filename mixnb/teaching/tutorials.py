"""``mixnb tutorials``: execute the chapter notebooks and build the offline HTML site.

The site is an ``index.html`` with one card per chapter and one page per chapter notebook
(nbconvert's JupyterLab page), and a ``_static/`` folder holding everything the pages load:

- MathJax 3 (``tex-svg-full.js``: the fonts are inside the script), so the equations are
  typeset with no network;
- ``@jupyter-widgets/html-manager``'s embed bundle and require.js, so widgets show the state
  stored when the notebook ran;
- vega, vega-lite and vega-embed from the ``vl-convert-python`` package, written only when a
  page has a vega-lite chart to draw in the browser: mixnb's live charts
  (:mod:`mixnb.charts.live`, sliders bound to Vega-Lite parameters) are drawn by vega in the
  page; the other charts are SVG images, each with its alternative text.

A widget needs a Python kernel, which a static page does not have: the site shows it in the
state it had when the chapter ran, switched off (``inert``), under a note that says so and
links to the executed notebook, copied into ``notebooks/`` beside the pages.

The JavaScript comes from installed packages at build time and is never part of the
repository: the npm packages are installed once into a cache folder (``--cache-dir``, default
``~/.cache/mixnb/js``), which needs ``npm`` and the npm registry the first time only.

Every page is checked after export: a ``<script src>``, ``<link href>``, CSS ``@import`` or
dynamic ``import()`` that points off the site fails the build, after the known CDN addresses
have been rewritten to the local copies.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixnb.charts.render import describe

#: npm packages copied into ``_static/`` (exact versions: the site is reproducible).
JS_PACKAGES = {
    "mathjax": "3.2.2",
    "@jupyter-widgets/html-manager": "1.0.15",
    "requirejs": "2.3.8",
}

SITE_TITLE = "Mixed models, step by step"
SITE_INTRO = (
    "A short course on linear mixed models with mixnb, retelling R. Sturdivant's talk "
    '"My Favorite (Mixed) Models". It starts from one least-squares line through data that came '
    "from four treatment centers, shows why dummy variables for the centers break down, and "
    "builds up the random-intercept and random-slope models, their shrunken predictions and "
    "the tests used to compare them. Every chapter is a notebook that ran when this site was "
    "built: the numbers, tables and charts are mixnb's own, checked against the talk's slides."
)

#: Where the chapter pages find their scripts, relative to the page.
STATIC = "_static"
MATHJAX_URL = f"{STATIC}/mathjax/tex-svg-full.js"
REQUIRE_URL = f"{STATIC}/require.js"
WIDGETS_URL = f"{STATIC}/html-manager/embed-amd.js"
VEGA_URL = f"{STATIC}/vega-bundle.js"
CSS_URL = f"{STATIC}/mixnb-site.css"
#: Where the site keeps a copy of each executed chapter notebook (linked from widget notes).
NOTEBOOKS = "notebooks"

SITE_DIR = Path(__file__).parent / "tutorial_site"

#: Known CDN script addresses and their local replacements (``None``: drop the tag, the
#: bundle that replaces it is already on the page).
CDN_REWRITES: list[tuple[re.Pattern[str], str | None]] = [
    (re.compile(r"https?://[^\"'\s>]*require\.js/[^\"'\s>]*"), REQUIRE_URL),
    (re.compile(r"https?://[^\"'\s>]*/mathjax[/@][^\"'\s>]*"), MATHJAX_URL),
    (re.compile(r"https?://[^\"'\s>]*@jupyter-widgets/html-manager[^\"'\s>]*"), WIDGETS_URL),
    (re.compile(r"https?://[^\"'\s>]*/npm/vega@[^\"'\s>]*"), VEGA_URL),
    (re.compile(r"https?://[^\"'\s>]*/npm/vega-(?:lite|embed)@[^\"'\s>]*"), None),
]

_SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?([^\"'\s>]+)[^>]*>\s*</script>", re.I)
_REMOTE = r"(?:https?:)?//"
_REMOTE_CHECKS = [
    ("script", re.compile(rf"<script\b[^>]*\bsrc\s*=\s*[\"']?\s*{_REMOTE}[^\"'\s>]*", re.I)),
    (
        "stylesheet",
        re.compile(rf"<link\b[^>]*\bhref\s*=\s*[\"']?\s*{_REMOTE}[^\"'\s>]*", re.I),
    ),
    ("css import", re.compile(rf"@import\s+(?:url\()?\s*[\"']?\s*{_REMOTE}[^\"')\s;]*", re.I)),
    ("module import", re.compile(rf"\bimport\s*\(\s*[\"']{_REMOTE}[^\"']*", re.I)),
]

#: Inline scripts that load code at run time name an address in their text.
_INLINE_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.I | re.S)
_SCRIPT_TYPE = re.compile(r"\btype\s*=\s*[\"']?([^\"'\s>]+)", re.I)
_JS_TYPES = {"text/javascript", "module", "application/javascript"}
_NOT_FETCHED = r"www\.w3\.org/|vega\.github\.io/schema/"  # names, never loaded
_URL_IN_JS = re.compile(
    rf"(?:https?:)?//(?!{_NOT_FETCHED})[a-z0-9-]+(?:\.[a-z0-9-]+)+/[^\s\"'`)]*", re.I
)

_VEGALITE_MIME = re.compile(r"application/vnd\.vegalite\.v\d+[+.]json")


class SiteError(RuntimeError):
    """The site could not be built; the message says why and what to do."""


@dataclass
class Chapter:
    """One chapter notebook, as the site shows it."""

    source: Path
    title: str = ""
    summary: str = ""
    seconds: float = 0.0
    notebook: Any = None
    needs_vega: bool = False
    widgets: bool = False

    @property
    def href(self) -> str:
        return self.source.stem + ".html"


@dataclass
class SiteReport:
    """What ``build_site`` wrote."""

    out: Path
    chapters: list[Chapter] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def pages(self) -> list[Path]:
        return [self.out / "index.html", *(self.out / c.href for c in self.chapters)]


# ---------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("site"), help="folder to write the site into"
    )
    parser.add_argument(
        "--notebooks",
        type=Path,
        default=None,
        help="folder with the chapter notebooks (default: ./notebooks, else the repository's)",
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed for one cell")
    parser.add_argument(
        "--jobs", type=int, default=2, help="notebooks executed at once, each in its own kernel"
    )
    parser.add_argument(
        "--no-execute",
        action="store_true",
        help="render the outputs stored in the notebooks instead of running them",
    )
    parser.add_argument(
        "--save-notebooks",
        action="store_true",
        help="write the executed notebooks back (refreshes the outputs nbval compares)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where npm installs the pages' JavaScript once (default ~/.cache/mixnb/js, "
        "or $MIXNB_CACHE_DIR)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        report = build_site(
            args.out,
            notebooks=args.notebooks,
            execute=not args.no_execute,
            timeout=args.timeout,
            jobs=args.jobs,
            cache_dir=args.cache_dir,
            save_notebooks=args.save_notebooks,
        )
    except SiteError as error:
        print(f"mixnb tutorials: {error}", file=sys.stderr)
        return 1
    print(f"Wrote {len(report.pages)} pages to {report.out} in {report.seconds:.1f} s:")
    for page in report.pages:
        print(f"  {page}")
    return 0


# ---------------------------------------------------------------------- the build


def build_site(
    out: Path | str = "site",
    *,
    notebooks: Path | str | None = None,
    execute: bool = True,
    timeout: float = 300,
    jobs: int = 2,
    cache_dir: Path | str | None = None,
    save_notebooks: bool = False,
    log=None,
) -> SiteReport:
    """Execute the chapter notebooks and write the static site into ``out``.

    Returns a :class:`SiteReport`; raises :class:`SiteError` when a notebook fails, the
    JavaScript cannot be installed, or a page would load anything from the network.
    """
    import nbformat

    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    start = time.perf_counter()
    out = Path(out)
    sources = find_notebooks(notebooks)
    chapters = [Chapter(source=path) for path in sources]

    # Fetch the JavaScript first: a missing npm should fail before minutes of execution.
    node_modules = ensure_js_packages(cache_dir, log=log)

    for chapter in chapters:
        chapter.notebook = nbformat.read(chapter.source, as_version=4)
    if execute:
        execute_notebooks(chapters, timeout=timeout, jobs=jobs, log=log)
        if save_notebooks:
            for chapter in chapters:
                nbformat.write(chapter.notebook, chapter.source)
                log(f"saved {chapter.source}")

    # The executed notebooks, for readers who want to run a chapter (widgets need a kernel).
    (out / NOTEBOOKS).mkdir(parents=True, exist_ok=True)
    for chapter in chapters:
        nbformat.write(chapter.notebook, out / NOTEBOOKS / chapter.source.name)

    for chapter in chapters:
        chapter.title, chapter.summary = chapter_heading(chapter.notebook, chapter.source.stem)
        chapter.needs_vega = inline_vegalite(chapter.notebook, chapter.source.stem)
        chapter.widgets = bool(chapter.notebook.metadata.get("widgets"))

    out.mkdir(parents=True, exist_ok=True)
    static = out / STATIC
    copy_static(node_modules, static, vega=any(c.needs_vega for c in chapters))

    problems: list[str] = []
    for number, chapter in enumerate(chapters):
        nav = {
            "site_title": SITE_TITLE,
            "index": "index.html",
            "previous": _link(chapters[number - 1]) if number > 0 else None,
            "next": _link(chapters[number + 1]) if number + 1 < len(chapters) else None,
        }
        page = link_chapters(localize(export_chapter(chapter, nav)), chapters)
        problems += [f"{chapter.href}: {p}" for p in remote_references(page)]
        (out / chapter.href).write_text(page, encoding="utf-8")

    index = render_index(chapters)
    problems += [f"index.html: {p}" for p in remote_references(index)]
    (out / "index.html").write_text(index, encoding="utf-8")
    if problems:
        raise SiteError(
            "pages would load from the network (the site must work offline):\n  "
            + "\n  ".join(problems)
            + "\n(An Altair chart shown with Altair's default renderer loads vega from a CDN: "
            "use mixnb.charts, or alt.renderers.enable('mimetype') so the site draws it.)"
        )
    return SiteReport(out=out, chapters=chapters, seconds=time.perf_counter() - start)


def _link(chapter: Chapter) -> dict[str, str]:
    """A chapter as the navigation bar names it: the title up to its first colon."""
    return {"href": chapter.href, "title": chapter.title.split(":")[0].strip()}


def find_notebooks(directory: Path | str | None = None) -> list[Path]:
    """The chapter notebooks ``0*.ipynb``, in order."""
    if directory is None:
        candidates = [Path("notebooks"), Path(__file__).resolve().parents[2] / "notebooks"]
        directory = next((c for c in candidates if list(c.glob("0*.ipynb"))), candidates[0])
    directory = Path(directory)
    found = sorted(directory.glob("0*.ipynb"))
    if not found:
        raise SiteError(
            f"no chapter notebooks (0*.ipynb) in {directory.resolve()}; run the command from "
            "the repository's root or pass --notebooks DIR."
        )
    return found


# ---------------------------------------------------------------------- execution


def _current_env_kernel_manager():
    """A kernel manager class whose ``python3`` kernel is this interpreter."""
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets import CaselessStrEnum, default

    class CurrentEnvKernelSpecManager(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(
                resource_dir=ipykernel.kernelspec.RESOURCES,
                **ipykernel.kernelspec.get_kernel_dict(),
            )

    class CurrentEnvKernelManager(AsyncKernelManager):
        # local sockets rather than TCP: nothing in plain text on the network, and no
        # "Kernel is running over TCP without encryption" warning per notebook
        transport = CaselessStrEnum(
            ["tcp", "ipc"], default_value="ipc" if os.name == "posix" else "tcp", config=True
        )

        @default("ip")
        def _absolute_ipc_path(self) -> str:
            # an absolute socket path: the kernel runs in the notebook's folder, not ours
            if self.transport != "ipc":
                return "127.0.0.1"
            runtime = Path(jupyter_runtime_dir())
            runtime.mkdir(parents=True, exist_ok=True)
            return str(runtime / f"mixnb-{uuid.uuid4().hex[:12]}-ipc")

        def _kernel_spec_manager_default(self) -> KernelSpecManager:
            return CurrentEnvKernelSpecManager(data_dir=self.data_dir)

    return CurrentEnvKernelManager


def execute_notebooks(chapters: list[Chapter], *, timeout: float, jobs: int, log) -> None:
    """Run each notebook top to bottom in a fresh kernel, ``jobs`` at a time."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    manager = _current_env_kernel_manager()

    class Client(NotebookClient):
        def process_message(self, msg, cell, cell_index):
            _standard_mime_types(msg)
            return super().process_message(msg, cell, cell_index)

    async def one(chapter: Chapter, limit: asyncio.Semaphore) -> None:
        async with limit:
            client = Client(
                chapter.notebook,
                timeout=timeout,
                kernel_name="python3",
                kernel_manager_class=manager,
                store_widget_state=True,
                record_timing=False,
                resources={"metadata": {"path": str(chapter.source.parent)}},
            )
            started = time.perf_counter()
            try:
                await client.async_execute()
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
                raise SiteError(f"{chapter.source} failed to execute:\n{error}") from error
            except Exception as error:  # e.g. an output nbformat rejects
                # one line: a validation error's text holds the whole output (a data set)
                first = (str(error).splitlines() or [""])[0]
                first = first if len(first) <= 160 else first[:160] + " ..."
                raise SiteError(
                    f"{chapter.source} failed to execute: {type(error).__name__}: {first}"
                ) from error
            chapter.seconds = time.perf_counter() - started
            log(f"executed {chapter.source.name} in {chapter.seconds:.1f} s")

    async def all_of_them() -> None:
        limit = asyncio.Semaphore(max(1, jobs))
        await asyncio.gather(*(one(chapter, limit) for chapter in chapters))

    # Kernels inherit the environment: keep the chapters' matplotlib (if any) off screen.
    os.environ.setdefault("MPLBACKEND", "Agg")
    asyncio.run(all_of_them())


_VEGALITE_DOT_JSON = re.compile(r"application/vnd\.vegalite\.v\d+\.json")


def _standard_mime_types(msg: dict) -> None:
    """Rename altair's ``application/vnd.vegalite.v6.json`` output to ``...v6+json``.

    Altair 6's 'mimetype' renderer names its output with ``.json``, under which nbformat
    accepts only text, so the notebook fails validation; vega-lite's registered type ends
    in ``+json``, which nbformat accepts and the site draws (:func:`inline_vegalite`).
    """
    data = msg.get("content", {}).get("data")
    if isinstance(data, dict):
        for key in [k for k in data if _VEGALITE_DOT_JSON.fullmatch(k)]:
            data[key[: -len(".json")] + "+json"] = data.pop(key)


# ---------------------------------------------------------------------- JavaScript


def default_cache_dir() -> Path:
    if os.environ.get("MIXNB_CACHE_DIR"):
        return Path(os.environ["MIXNB_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mixnb" / "js"


def ensure_js_packages(cache_dir: Path | str | None = None, *, log=print) -> Path:
    """``node_modules`` with :data:`JS_PACKAGES`, installed by npm into the cache once."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    tag = "-".join(f"{name.split('/')[-1]}{version}" for name, version in JS_PACKAGES.items())
    prefix = cache / tag
    node_modules = prefix / "node_modules"
    if all(_installed_version(node_modules, n) == v for n, v in JS_PACKAGES.items()):
        return node_modules
    npm = shutil.which("npm")
    if npm is None:
        raise SiteError(
            "npm is needed once, to fetch MathJax and the Jupyter widget manager into "
            f"{cache}. Install Node.js and npm (Debian/Ubuntu: apt-get install -y npm) or "
            "pass --cache-dir to a folder where they are already installed."
        )
    prefix.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}@{version}" for name, version in JS_PACKAGES.items()]
    log(f"npm install {' '.join(specs)} (once, into {prefix})")
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
    command += ["--ignore-scripts", "--no-save", "--loglevel=error", *specs]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SiteError(f"npm install failed ({' '.join(command)}):\n{done.stderr.strip()}")
    missing = [n for n, v in JS_PACKAGES.items() if _installed_version(node_modules, n) != v]
    if missing:
        raise SiteError(f"npm did not install {', '.join(missing)} into {prefix}")
    return node_modules


def _installed_version(node_modules: Path, name: str) -> str | None:
    package = node_modules / name / "package.json"
    try:
        return json.loads(package.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def copy_static(node_modules: Path, static: Path, *, vega: bool) -> None:
    """Fill ``_static/``: MathJax, the widget manager, require.js, the CSS (and vega)."""
    static.mkdir(parents=True, exist_ok=True)
    (static / "mathjax").mkdir(exist_ok=True)
    shutil.copy2(node_modules / "mathjax" / "es5" / "tex-svg-full.js", static / "mathjax")
    shutil.copy2(node_modules / "mathjax" / "LICENSE", static / "mathjax" / "LICENSE")
    manager = node_modules / "@jupyter-widgets" / "html-manager" / "dist"
    target = static / "html-manager"
    target.mkdir(exist_ok=True)
    for path in manager.iterdir():
        # embed-amd.js and the font files it refers to (no source maps, no other bundles)
        if path.name == "embed-amd.js" or path.suffix in {
            ".woff",
            ".woff2",
            ".ttf",
            ".eot",
            ".svg",
        }:
            shutil.copy2(path, target / path.name)
    shutil.copy2(node_modules / "requirejs" / "require.js", static / "require.js")
    shutil.copy2(SITE_DIR / "site.css", static / "mixnb-site.css")
    if vega:
        (static / "vega-bundle.js").write_text(vega_bundle(), encoding="utf-8")


def vega_bundle() -> str:
    """vega, vega-lite and vega-embed as one script (from vl-convert-python), loadable twice."""
    import vl_convert

    bundle = vl_convert.javascript_bundle()
    # The bundle declares top-level constants: wrap it so a second copy is harmless.
    return "if (!window.vegaEmbed) {\n(function () {\n" + bundle + "\n})();\n}\n"


# ---------------------------------------------------------------------- pages


def chapter_heading(nb, fallback: str) -> tuple[str, str]:
    """The first Markdown heading and the paragraph after it, as plain text."""
    title, summary = "", ""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for block in re.split(r"\n\s*\n", cell.source.strip()):
            block = block.strip()
            if not title:
                match = re.match(r"#+\s+(.*)", block)
                if match:
                    title = _plain(match.group(1).splitlines()[0])
                    rest = block.split("\n", 1)[1].strip() if "\n" in block else ""
                    if rest and not rest.startswith("#"):
                        summary = _plain(rest)
                continue
            if block and not block.startswith(("#", "$$", "|", "```", "<", "-", "*", ">")):
                summary = summary or _plain(block)
            if summary:
                return title, summary
    return title or fallback, summary


#: TeX commands an index summary may contain, as the characters a reader expects.
_TEX_SYMBOLS = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "epsilon": "ε",
    "theta": "θ",
    "lambda": "λ",
    "mu": "μ",
    "rho": "ρ",
    "sigma": "σ",
    "tau": "τ",
    "chi": "χ",
    "Omega": "Ω",
    "times": "×",
    "le": "≤",
    "ge": "≥",
    "ne": "≠",
    "pm": "±",
    "cdot": "·",
}


def _plain_math(tex: str) -> str:
    """Inline TeX to readable text: ``$\\chi^2$`` -> ``χ^2``, ``$t$`` -> ``t``."""
    text = re.sub(r"\\([A-Za-z]+)", lambda m: _TEX_SYMBOLS.get(m.group(1), ""), tex)
    return re.sub(r"[{}]", "", text)


def _plain(markdown: str) -> str:
    """Markdown inline text to plain text (links, emphasis, code marks and the dollar signs
    of inline math removed)."""
    text = re.sub(r"(?<!\\)\$([^$]+)\$", lambda m: _plain_math(m.group(1)), markdown)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"</?[A-Za-z][^>]*>", "", text)  # inline HTML tags
    text = re.sub(r"[*_`]+", "", text).replace("\\$", "$")
    return " ".join(text.split())


def inline_vegalite(nb, stem: str) -> bool:
    """Replace vega-lite outputs by HTML that vega-embed draws; True if there were any."""
    found = False
    for c, cell in enumerate(nb.cells):
        for o, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            mime = next((m for m in data if _VEGALITE_MIME.fullmatch(m)), None)
            if mime is None or "text/html" in data:
                continue
            found = True
            spec = data[mime] if isinstance(data[mime], dict) else json.loads(data[mime])
            element = f"mixnb-vega-{stem}-{c}-{o}"
            alt_text = ((output.get("metadata") or {}).get(mime) or {}).get("alt")
            alt_text = alt_text or describe(spec)
            spec = {"description": alt_text, **spec}
            payload = json.dumps(spec).replace("</", "<\\/")
            data["text/html"] = (
                f'<div id="{element}" class="mixnb-vega" role="figure" '
                f'aria-label="{html.escape(alt_text, quote=True)}"></div>\n<script>\n'
                f'vegaEmbed("#{element}", {payload}, {{renderer: "svg", actions: false}});\n'
                "</script>"
            )
            del data[mime]
            # the SVG beside it is the same chart at the sliders' start, for other viewers
            data.pop("image/svg+xml", None)
    return found


def export_chapter(chapter: Chapter, nav: dict) -> str:
    """One chapter page: nbconvert's JupyterLab page with the site's template and scripts."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="mixnb",
        extra_template_basedirs=[str(SITE_DIR / "templates")],
        require_js_url=REQUIRE_URL,
        mathjax_url=MATHJAX_URL,
        widget_renderer_url=WIDGETS_URL,
        jupyter_widgets_base_url=f"{STATIC}/",
    )
    resources = {
        "metadata": {"name": chapter.title},
        "mixnb_nav": nav,
        "mixnb_css_url": CSS_URL,
        "mixnb_vega_url": VEGA_URL if chapter.needs_vega else "",
        "mixnb_notebook_href": f"{NOTEBOOKS}/{chapter.source.name}",
    }
    body, _ = exporter.from_notebook_node(chapter.notebook, resources=resources)
    return body


def localize(page: str) -> str:
    """Point known CDN ``<script src>`` addresses at the local copies in ``_static/``."""

    def replace(match: re.Match[str]) -> str:
        tag, url = match.group(0), match.group(1)
        for pattern, local in CDN_REWRITES:
            if pattern.fullmatch(url):
                return "" if local is None else tag.replace(url, local)
        return tag

    return _SCRIPT_SRC.sub(replace, page)


def link_chapters(page: str, chapters: list[Chapter]) -> str:
    """Links between chapter notebooks (``02-x.ipynb#part``) point at their pages."""
    stems = {c.source.stem for c in chapters}

    def replace(match: re.Match[str]) -> str:
        stem, anchor = match.group(1), match.group(2) or ""
        return f'href="{stem}.html{anchor}"' if stem in stems else match.group(0)

    return re.sub(r'href="(?:\./)?([^"/:#]+)\.ipynb(#[^"]*)?"', replace, page)


def remote_references(page: str) -> list[str]:
    """Every script, stylesheet or import in ``page`` that would load from the network."""
    found = []
    for kind, pattern in _REMOTE_CHECKS:
        for match in pattern.finditer(page):
            found.append(f"{kind} {match.group(0)[:160]!r}")
    for match in _INLINE_SCRIPT.finditer(page):
        attributes, body = match.groups()
        script_type = _SCRIPT_TYPE.search(attributes)
        if "src" in attributes.lower() or (
            script_type and script_type.group(1).lower() not in _JS_TYPES
        ):
            continue
        for url in _URL_IN_JS.findall(body):
            found.append(f"inline script loading {url[:160]!r}")
    return found


def render_index(chapters: list[Chapter]) -> str:
    """The index page: title, introduction and a card per chapter (every string escaped)."""
    import jinja2

    import mixnb

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(SITE_DIR)), autoescape=True, keep_trailing_newline=True
    )
    return env.get_template("index.html.j2").render(
        title=SITE_TITLE,
        intro=SITE_INTRO,
        css_url=CSS_URL,
        version=mixnb.__version__,
        chapters=[{"href": c.href, "title": c.title, "summary": c.summary or ""} for c in chapters],
    )


__all__ = ["SiteError", "SiteReport", "add_arguments", "build_site", "run"]
