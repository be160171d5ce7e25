"""Charts without a network: an altair renderer that turns Vega-Lite into inline SVG.

altair's default renderer loads the vega JavaScript libraries from a CDN, so charts stay
blank offline and in exported HTML opened without internet. ``vl-convert-python`` bundles
vega and renders the SVG in Python; this module registers that as altair's ``"mixnb"``
renderer. Element ids in the SVG (clip paths, gradients) get a prefix derived from the SVG
itself, so several charts on one page never share an id and the same chart always gives
byte-identical output (nbval can compare it).

Text is drawn in :data:`FONT`, a family list whose first members (Liberation Sans, Arimo,
Arial, Helvetica) share one set of glyph widths: ``vl-convert`` measures the labels with
Liberation Sans and a browser draws them with whichever of these it has, so titles and axis
labels fit where vega put them (with the generic ``sans-serif`` a browser may pick a wider
font, such as DejaVu Sans, and titles are clipped).

A chart with parameters bound to inputs (a *live* chart, ``alt.param(bind=...)``; see
:mod:`mixnb.charts.live`) is rendered as its Vega-Lite specification as well as the SVG:
JupyterLab and the tutorials site draw it with vega in the page, where its sliders work
without Python; other front ends show the SVG at the parameters' starting values.

Every rendering carries an alternative text (:func:`describe`): the chart's title, its
subtitle and what its axes show, for screen readers and the site's ``<img alt>``.
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

import altair as alt

RENDERER = "mixnb"

#: The charts' font: metric-compatible families first (see the module docstring).
FONT = "Liberation Sans, Arimo, Arial, Helvetica, sans-serif"

#: What every chart is drawn with. ``labelFlush`` off: vega shifts an x axis's end labels
#: inward to keep them over the plot, after removing overlapping labels, so a shifted end
#: label could cover its neighbour ("4,5005,000", "-2.5-2.0").
CONFIG: dict[str, Any] = {"font": FONT, "axisX": {"labelFlush": False}}

#: The Vega-Lite version a live chart names (JupyterLab 4 renders v5 in the page).
LIVE_MIMETYPE = "application/vnd.vegalite.v5+json"
LIVE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"

_ID = re.compile(r'\bid="([^"]+)"')


def _prefix_ids(svg: str) -> str:
    """Give every ``id`` and every reference to it a prefix unique to this SVG."""
    ids = set(_ID.findall(svg))
    if not ids:
        return svg
    prefix = "mixnb-" + hashlib.sha1(svg.encode()).hexdigest()[:10] + "-"
    pattern = re.compile(
        r'(\bid="|url\(#|href="#)('
        + "|".join(re.escape(i) for i in sorted(ids, key=len)[::-1])
        + r')(?=["\)])'
    )
    return pattern.sub(lambda m: m.group(1) + prefix + m.group(2), svg)


def spec_to_svg(spec: dict[str, Any]) -> str:
    """A Vega-Lite specification (``chart.to_dict()``) as a self-contained SVG string."""
    import vl_convert

    svg = _prefix_ids(vl_convert.vegalite_to_svg(spec, config=CONFIG))
    return _label(svg, describe(spec))


def _label(svg: str, text: str) -> str:
    """The SVG as an image with a name: ``role="img"``, ``aria-label`` and a ``<title>``
    (read by screen readers and shown on hover, also where the SVG is inlined, as in the
    widgets)."""
    safe = html.escape(text, quote=True)
    head, bracket, rest = svg.partition(">")
    if not head.startswith("<svg") or not bracket:
        return svg
    return f'{head} role="img" aria-label="{safe}"><title>{safe}</title>{rest}'


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("text", "")
    if isinstance(value, list | tuple):
        value = " ".join(map(str, value))
    return str(value or "").strip()


def _walk(spec: Any):
    """Every (sub)specification of a layered or concatenated chart, outermost first."""
    if not isinstance(spec, dict):
        return
    yield spec
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for part in spec.get(key, []) or []:
            yield from _walk(part)
    if isinstance(spec.get("spec"), dict):
        yield from _walk(spec["spec"])


def is_live(spec: dict[str, Any]) -> bool:
    """Whether a specification has a parameter bound to an input (a slider, a menu)."""
    return any(
        isinstance(p, dict) and p.get("bind") not in (None, "legend")
        for part in _walk(spec)
        for p in part.get("params", []) or []
    )


def describe(spec: dict[str, Any]) -> str:
    """An alternative text for a chart: its description, or its titles and axes.

    Examples
    --------
    >>> describe({"title": {"text": "Fit", "subtitle": "y ~ x"}, "mark": "point",
    ...           "encoding": {"x": {"field": "x", "title": "use"}, "y": {"field": "y"}}})
    'Chart: Fit (y ~ x). Points; x axis: use.'
    """
    if spec.get("description"):
        return str(spec["description"])
    top = spec.get("title")
    title = _text(top)
    sub = top.get("subtitle") if isinstance(top, dict) else ""
    sub = "; ".join(sub) if isinstance(sub, list | tuple) else _text(sub)
    words = [f"Chart: {title or 'untitled'}" + (f" ({sub})" if sub else "") + "."]
    panels, axes, marks = [], {}, []
    for part in _walk(spec):
        if part is not spec and _text(part.get("title")):
            panels.append(_text(part.get("title")))
        mark = part.get("mark")
        mark = mark.get("type") if isinstance(mark, dict) else mark
        if mark and mark not in marks:
            marks.append(mark)
        for channel in ("x", "y"):
            encoding = (part.get("encoding") or {}).get(channel) or {}
            if encoding.get("title") and channel not in axes:
                axes[channel] = _text(encoding["title"])
    if panels:
        words.append("Panels: " + "; ".join(dict.fromkeys(panels)) + ".")
    shown = {
        "point": "points",
        "circle": "points",
        "line": "lines",
        "bar": "bars",
        "rule": "rules",
        "area": "areas",
        "tick": "ticks",
        "text": "labels",
        "rect": "rectangles",
        "square": "points",
        "trail": "lines",
    }
    kinds = list(dict.fromkeys(shown.get(m, m) for m in marks))
    details = [", ".join(kinds).capitalize()] if kinds else []
    details += [f"{c} axis: {axes[c]}" for c in ("x", "y") if c in axes]
    if details:
        words.append("; ".join(details) + ".")
    if is_live(spec):
        words.append("Interactive: sliders below the chart change it.")
    return " ".join(words)


def to_svg(chart: alt.TopLevelMixin) -> str:
    """An altair chart as a self-contained SVG string (no JavaScript, no network).

    Examples
    --------
    >>> import altair as alt, pandas as pd
    >>> frame = pd.DataFrame({"x": [1, 2], "y": [3, 4]})
    >>> chart = alt.Chart(frame).mark_point().encode(x="x", y="y")
    >>> to_svg(chart).startswith("<svg")
    True
    """
    return spec_to_svg(chart.to_dict())


def live_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A live chart's specification as vega draws it in the page: Vega-Lite 5, the font."""
    spec = dict(spec)
    spec["$schema"] = LIVE_SCHEMA
    config = dict(spec.get("config") or {})
    for key, value in CONFIG.items():
        config.setdefault(key, value)
    spec["config"] = config
    return spec


def svg_renderer(spec: dict[str, Any], **metadata: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """altair renderer: the chart as ``image/svg+xml`` with its alternative text (and a
    one-line ``text/plain``); a live chart also as its Vega-Lite specification."""
    title = _text(spec.get("title"))
    alt_text = describe(spec)
    bundle: dict[str, Any] = {
        "image/svg+xml": spec_to_svg(spec),
        "text/plain": f"<mixnb chart{': ' + title if title else ''}>",
    }
    meta: dict[str, Any] = {"image/svg+xml": {"alt": alt_text}}
    if is_live(spec):
        bundle[LIVE_MIMETYPE] = live_spec(spec)
        # JupyterLab's vega renderer: SVG (text a screen reader and a test can read), and
        # no actions menu (its links go to online editors)
        embed = {"renderer": "svg", "actions": False}
        meta[LIVE_MIMETYPE] = {"alt": alt_text, "embed_options": embed}
    return bundle, meta


def enable_offline() -> None:
    """Render altair charts as inline SVG made in Python (no CDN, no network).

    Importing :mod:`mixnb.charts` does this already unless another altair renderer was
    chosen. ``altair.renderers.enable("default")`` returns to altair's interactive
    (CDN-loaded) renderer.

    Examples
    --------
    >>> import altair as alt
    >>> enable_offline()
    >>> alt.renderers.active
    'mixnb'
    """
    alt.renderers.register(RENDERER, svg_renderer)
    alt.renderers.enable(RENDERER)


def _enable_unless_chosen() -> None:
    alt.renderers.register(RENDERER, svg_renderer)
    if alt.renderers.active == "default":
        alt.renderers.enable(RENDERER)
