"""Charts without a network: an altair renderer that turns Vega-Lite into inline SVG.

altair's default renderer loads the vega JavaScript libraries from a CDN, so charts stay
blank offline and in exported HTML opened without internet. ``vl-convert-python`` bundles
vega and renders the SVG in Python; this module registers that as altair's ``"mixnb"``
renderer. Element ids in the SVG (clip paths, gradients) get a prefix derived from the SVG
itself, so several charts on one page never share an id and the same chart always gives
byte-identical output (nbval can compare it).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import altair as alt

RENDERER = "mixnb"

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

    return _prefix_ids(vl_convert.vegalite_to_svg(spec))


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


def svg_renderer(spec: dict[str, Any], **metadata: Any) -> dict[str, str]:
    """altair renderer: the chart as ``image/svg+xml`` (and a one-line ``text/plain``)."""
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(map(str, title))
    return {
        "image/svg+xml": spec_to_svg(spec),
        "text/plain": f"<mixnb chart{': ' + str(title) if title else ''}>",
    }


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
