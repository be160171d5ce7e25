"""``fit.summary()``: one text layout per style, returned as a :class:`Summary`.

Each result type registers its text layouts, by style name, with
``@text_layouts.register``; the first one is the default. :func:`summary` picks one
(case-insensitive), refuses an unknown style with the list of choices, and wraps the text
in a :class:`Summary`, which prints as the text and renders rich in a notebook.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import singledispatch
from typing import Any

from mixnb.display.report import build_report
from mixnb.display.rich import render_html
from mixnb.display.sas import sas_summary
from mixnb.display.text import (
    comparison_text,
    gee_summary,
    glm_summary,
    lmm_summary,
    mcmc_summary,
    ols_summary,
    plain_table_text,
    test_result_text,
)
from mixnb.errors import MixnbError
from mixnb.results.bootstrap import BootstrapIntervals, BootstrapTest
from mixnb.results.comparison import LeastSquaresComparison
from mixnb.results.crossproducts import CrossproductsResult
from mixnb.results.gee import GeeResult
from mixnb.results.glm import GlmResult
from mixnb.results.least_squares import OlsResult
from mixnb.results.mcmc import McmcResult
from mixnb.results.mixed import LmmResult

Layout = Callable[..., str]

_PRE = (
    "font-family: var(--jp-code-font-family, ui-monospace, Menlo, Consolas, monospace); "
    "font-size: 12.5px; line-height: 1.35; white-space: pre; overflow-x: auto; margin: 0; "
    "padding: 4px 0; color: var(--jp-content-font-color1, inherit); background: transparent;"
)


class Summary(str):
    """A result's summary: a ``str`` of the text layout that a notebook renders rich.

    ``print(summary)``, ``str(summary)`` and ``repr(summary)`` give the plain text (so a
    console shows the layout, not a quoted string); in a notebook it shows as HTML: the
    result's table display for its default style, the text in a monospaced block for
    the others (e.g. SAS's layout).

    Examples
    --------
    >>> import mixnb
    >>> text = mixnb.ols("Reaction ~ Days", mixnb.load_dataset("sleepstudy")).summary()
    >>> isinstance(text, str), text.splitlines()[0], text.style
    (True, 'Least-squares fit (mixnb)', 'r')
    """

    style: str

    def __new__(cls, text: str, style: str, rich: Callable[[], str]) -> Summary:
        self = super().__new__(cls, text)
        self.style = style
        self._rich = rich
        return self

    def __repr__(self) -> str:
        return str.__str__(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str.__str__(self))

    def _repr_html_(self) -> str:
        return self._rich()


@singledispatch
def text_layouts(result: Any) -> dict[str, Layout]:
    """The text layouts of a result type, by style name; the first is the default.

    Any result with a ``title``, a ``table`` and ``notes`` (the tests) gets the generic one.
    """
    return {"text": test_result_text}


text_layouts.register(LmmResult, lambda r: {"lme4": lmm_summary, "sas": sas_summary})
# SAS's layout shows the rows' structure, which a fit from cross-products does not keep
text_layouts.register(CrossproductsResult, lambda r: {"lme4": lmm_summary})
text_layouts.register(OlsResult, lambda r: {"r": ols_summary})
text_layouts.register(GeeResult, lambda r: {"geepack": gee_summary})
text_layouts.register(GlmResult, lambda r: {"r": glm_summary})
text_layouts.register(McmcResult, lambda r: {"mixnb": mcmc_summary})
text_layouts.register(LeastSquaresComparison, lambda r: {"r": comparison_text})
text_layouts.register(BootstrapIntervals, lambda r: {"text": plain_table_text})
text_layouts.register(BootstrapTest, lambda r: {"text": plain_table_text})


def choose_style(result: Any, style: str | None) -> str:
    """The style name to use: ``style`` lower-cased, checked against the result's layouts.

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    >>> choose_style(fit, None), choose_style(fit, "SAS")
    ('lme4', 'sas')
    """
    layouts = text_layouts(result)
    if style is None:
        return next(iter(layouts))
    if not isinstance(style, str) or style.strip().lower() not in layouts:
        choices = ", ".join(repr(s) for s in layouts)
        raise MixnbError(
            f"Unknown summary style {style!r} for a {type(result).__name__}: "
            f"choose one of {choices} (the default is {next(iter(layouts))!r}; "
            "upper or lower case alike)."
        )
    return style.strip().lower()


def summary(result: Any, style: str | None = None, **options: Any) -> Summary:
    """The :class:`Summary` of ``result`` in ``style`` (see :func:`choose_style`)."""
    key = choose_style(result, style)
    layouts = text_layouts(result)
    text = layouts[key](result, **options)
    if key == next(iter(layouts)):
        return Summary(text, key, lambda: render_html(build_report(result)))
    pre = f'<pre class="mixnb-summary" style="{_PRE}">{html.escape(text)}</pre>'
    return Summary(text, key, lambda: pre)
