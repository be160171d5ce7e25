"""Build a mixed model by pointing and clicking, and watch the fit change."""

from __future__ import annotations

import html
import re
import time
import warnings
from typing import Any

import ipywidgets as widgets
import pandas as pd

from mixnb.widgets._common import CODE_STYLE, INFO_STYLE, Debouncer, chart_html, message_html

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def quote(name: str) -> str:
    """A column name as a formula needs it: plain if an identifier, else in backticks.

    Examples
    --------
    >>> quote("Days"), quote("hours slept")
    ('Days', '`hours slept`')
    """
    return name if _IDENTIFIER.match(name) else f"`{name}`"


def build_formula(
    response: str,
    fixed: list[str] | tuple[str, ...],
    groups: list[str] | tuple[str, ...] = (),
    slopes: list[str] | tuple[str, ...] = (),
    correlated: bool = True,
) -> str:
    """The lme4 formula for a choice of response, fixed predictors, groups and random slopes.

    Examples
    --------
    >>> build_formula("Reaction", ["Days"], ["Subject"], ["Days"])
    'Reaction ~ Days + (Days | Subject)'
    >>> build_formula("Reaction", ["Days"], ["Subject"], ["Days"], correlated=False)
    'Reaction ~ Days + (Days || Subject)'
    >>> build_formula("Yield", [], ["Batch"])
    'Yield ~ 1 + (1 | Batch)'
    """
    rhs = " + ".join(quote(c) for c in fixed) or "1"
    inner = " + ".join(quote(c) for c in slopes) or "1"
    bar = "||" if slopes and not correlated else "|"
    terms = [f"({inner} {bar} {quote(g)})" for g in groups]
    return " + ".join([f"{quote(response)} ~ {rhs}", *terms])


def _numeric(data: pd.DataFrame, column: str) -> bool:
    values = data[column]
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _guess_response(data: pd.DataFrame) -> str | None:
    numeric = [c for c in data.columns if _numeric(data, c)]
    floats = [c for c in numeric if pd.api.types.is_float_dtype(data[c])]
    return (floats or numeric or [None])[0]


def _guess_group(data: pd.DataFrame, response: str | None) -> list[str]:
    """A likely grouping column: text with repeated levels, else the integer one with most."""
    n = len(data)
    candidates = [c for c in data.columns if c != response and 2 <= data[c].nunique() <= n / 2]
    text = [c for c in candidates if not _numeric(data, c)]
    if text:
        return [text[0]]
    whole = [c for c in candidates if pd.api.types.is_integer_dtype(data[c])]
    return [max(whole, key=lambda c: data[c].nunique())] if whole else []


class ModelBuilder(widgets.VBox):
    """Pick a response, fixed predictors, grouping factors and random slopes; see the fit.

    The widget shows the formula it builds, the fitted model's summary and a chart, and
    refits whenever a choice changes (debounced, so a burst of clicks fits once). A choice
    that cannot be fitted shows a message in the widget instead of a traceback. With no
    grouping factor the model is fitted by least squares (the traditional approach).

    Parameters
    ----------
    data
        The data frame to model.
    response, fixed, groups, slopes
        Initial choices (column names); guessed from the data when not given.
    reml
        Initial estimation method (REML or ML).
    debounce
        Seconds to wait after the last change before refitting, inside a notebook.

    Attributes
    ----------
    formula : str
        The formula of the current choices.
    result
        The current fit (:class:`~mixnb.LmmResult` or :class:`~mixnb.OlsResult`), or None
        when the choices cannot be fitted (then ``error`` says why).

    Examples
    --------
    >>> import mixnb
    >>> builder = mixnb.ModelBuilder(mixnb.load_dataset("sleepstudy"))
    >>> builder.formula
    'Reaction ~ 1 + (1 | Subject)'
    >>> builder.fixed.value = ("Days",)
    >>> builder.slopes.value = ("Days",)
    >>> builder.formula, type(builder.result).__name__
    ('Reaction ~ Days + (Days | Subject)', 'LmmResult')
    """

    def __init__(
        self,
        data: pd.DataFrame,
        response: str | None = None,
        fixed: list[str] | tuple[str, ...] = (),
        groups: list[str] | tuple[str, ...] | None = None,
        slopes: list[str] | tuple[str, ...] = (),
        reml: bool = True,
        debounce: float = 0.25,
    ) -> None:
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"ModelBuilder needs a pandas DataFrame, not {type(data).__name__}.")
        # controls hold column names as text
        self.data = (
            data if all(isinstance(c, str) for c in data.columns) else data.rename(columns=str)
        )
        self.error: str | None = None
        self.fit_seconds: float | None = None
        self._result: Any = None
        self._cache: dict[tuple[str, bool], Any] = {}
        self._updating = False
        columns = list(self.data.columns)
        response = response or _guess_response(self.data)
        groups = list(_guess_group(self.data, response) if groups is None else groups)
        layout = widgets.Layout(width="190px")
        rows = max(4, min(8, len(columns)))
        self.response = widgets.Dropdown(
            options=[c for c in columns if _numeric(self.data, c)], value=response, layout=layout
        )
        self.fixed = widgets.SelectMultiple(
            options=self._others(response), value=tuple(fixed), rows=rows, layout=layout
        )
        self.groups = widgets.SelectMultiple(
            options=self._others(response), value=tuple(groups), rows=rows, layout=layout
        )
        self.slopes = widgets.SelectMultiple(
            options=self._slope_options(), value=(), rows=rows, layout=layout
        )
        self.slopes.value = tuple(s for s in slopes if s in self.slopes.options)
        self.correlated = widgets.Checkbox(
            value=True, description="correlated", indent=False, layout=widgets.Layout(width="auto")
        )
        self.method = widgets.ToggleButtons(
            options=["REML", "ML"],
            value="REML" if reml else "ML",
            tooltips=["restricted maximum likelihood", "maximum likelihood"],
            style={"button_width": "58px"},
        )
        self.formula_html = widgets.HTML()
        self.message = widgets.HTML()
        self.summary = widgets.HTML(layout=widgets.Layout(min_width="320px", flex="0 1 auto"))
        self.chart = widgets.HTML(layout=widgets.Layout(flex="0 1 auto"))

        def labelled(text: str, control: widgets.Widget, *extra: widgets.Widget) -> widgets.VBox:
            return widgets.VBox([widgets.HTML(f"<b>{html.escape(text)}</b>"), control, *extra])

        controls = widgets.HBox(
            [
                labelled("Response", self.response, widgets.HTML("<b>Method</b>"), self.method),
                labelled("Fixed effects", self.fixed),
                labelled("Grouping factors", self.groups),
                labelled("Random slopes", self.slopes, self.correlated),
            ],
            layout=widgets.Layout(flex_flow="row wrap", grid_gap="12px"),
        )
        output = widgets.HBox(
            [self.summary, self.chart],
            layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start", grid_gap="16px"),
        )
        super().__init__(
            [controls, self.formula_html, self.message, output],
            layout=widgets.Layout(grid_gap="6px"),
        )
        self.add_class("mixnb-model-builder")
        self._debounced = Debouncer(self.refresh, debounce)
        self.response.observe(self._on_response, names="value")
        self.fixed.observe(self._on_fixed, names="value")
        for control in (self.groups, self.slopes, self.correlated, self.method):
            control.observe(self._changed, names="value")
        self.refresh()

    # ------------------------------------------------------------------ state

    def _others(self, response: str | None) -> list[str]:
        return [c for c in self.data.columns if c != response]

    def _slope_options(self) -> list[str]:
        return [c for c in self.fixed.value if _numeric(self.data, c)]

    @property
    def formula(self) -> str:
        """The lme4 formula of the current choices."""
        slopes = [s for s in self.slopes.value if s in self.fixed.value]
        return build_formula(
            self.response.value or "",
            list(self.fixed.value),
            list(self.groups.value),
            slopes,
            self.correlated.value,
        )

    @property
    def reml(self) -> bool:
        return self.method.value == "REML"

    @property
    def result(self) -> Any:
        """The fit of the current choices (a pending debounced refit is run first)."""
        if self._debounced.pending:
            self.refresh()
        return self._result

    # ------------------------------------------------------------------ events

    def _on_response(self, change: dict) -> None:
        response = change["new"]
        others = self._others(response)
        # new options clear a selection, so keep what still applies and set it again
        fixed = tuple(c for c in self.fixed.value if c != response)
        groups = tuple(c for c in self.groups.value if c != response)
        self._updating = True
        try:
            self.fixed.options, self.groups.options = others, others
            self.fixed.value, self.groups.value = fixed, groups
            self._update_slopes()
        finally:
            self._updating = False
        self._changed()

    def _on_fixed(self, change: dict) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self._update_slopes()
        finally:
            self._updating = False
        self._changed()

    def _update_slopes(self) -> None:
        """Random slopes can be chosen among the numeric fixed effects."""
        kept = self.slopes.value
        self.slopes.options = self._slope_options()
        self.slopes.value = tuple(s for s in kept if s in self.slopes.options)

    def _changed(self, change: dict | None = None) -> None:
        if self._updating:  # several controls are being set together; refit once after
            return
        self.formula_html.value = self._formula_line(status="fitting…")
        self._debounced()

    def _formula_line(self, status: str = "") -> str:
        info = f' <span style="{INFO_STYLE}">{html.escape(status)}</span>' if status else ""
        return f'<code style="{CODE_STYLE}">{html.escape(self.formula)}</code>{info}'

    # ------------------------------------------------------------------ fitting

    def _problem(self) -> str | None:
        """A plain-words reason why the current choices cannot be fitted, or None."""
        if not self.response.value:
            return "Choose a numeric response."
        both = set(self.fixed.value) & set(self.groups.value)
        if both:
            return (
                f"{', '.join(sorted(both))} is chosen both as a fixed effect and as a grouping "
                "factor. A grouping factor's levels get random effects; choose one role."
            )
        return None

    def _fit(self, formula: str, reml: bool) -> Any:
        import mixnb

        key = (formula, reml)
        if key not in self._cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the notes in the summary say it in words
                if self.groups.value:
                    fit = mixnb.lmm(formula, self.data, reml=reml)
                else:
                    fit = mixnb.ols(formula, self.data)
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = fit
        return self._cache[key]

    def refresh(self) -> None:
        """Refit now with the current choices and update the display."""
        from mixnb.display.rich import to_html

        self._debounced.cancel()
        formula, reml = self.formula, self.reml
        problem = self._problem()
        fit = None
        if problem is None:
            started = time.perf_counter()
            try:
                fit = self._fit(formula, reml)
            except Exception as exc:  # every failure becomes a message, never a traceback
                problem = f"This model cannot be fitted: {exc}"
            self.fit_seconds = time.perf_counter() - started
        self._result, self.error = fit, problem
        if fit is None:
            self.formula_html.value = self._formula_line()
            self.message.value = message_html(problem or "")
            self.summary.value = ""
            self.chart.value = ""
            return
        kind = "mixed model" if self.groups.value else "least squares (no grouping factor)"
        self.formula_html.value = self._formula_line(
            f"{kind}, fitted in {1000 * self.fit_seconds:.0f} ms"
        )
        self.message.value = ""
        self.summary.value = to_html(fit)
        self.chart.value = chart_html(self._chart(fit))

    def _chart(self, fit: Any) -> Any:
        """The chart that best shows the current fit."""
        from mixnb import charts
        from mixnb.charts._data import numeric_predictor

        has_x = numeric_predictor(fit) is not None
        if self.groups.value:
            return charts.spaghetti(fit) if has_x else charts.caterpillar(fit)
        if has_x:
            return charts.scatter_with_line(fit)
        return charts.residual_diagnostics(fit)
