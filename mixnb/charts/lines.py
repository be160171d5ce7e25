"""Data and fitted lines: one line for everyone, one line per group, and group trajectories."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from mixnb.charts._data import (
    HEIGHT,
    WIDTH,
    column_labels,
    factor_name,
    group_labels,
    is_mixed,
    model_frame,
    numeric_predictor,
    response_name,
    subtitle,
)
from mixnb.charts._limits import MAX_LINES, add_notes, sample_groups, sample_rows
from mixnb.errors import ModelError

#: Above this many groups the colour legend is left out (colours only separate the lines).
MAX_LEGEND = 12


def _need_x(fit: Any, x: str | None, chart: str) -> str:
    name = numeric_predictor(fit, x)
    if name is None:
        raise ModelError(
            f"{chart} needs a numeric predictor for the x axis, and the model {fit.formula!r} "
            "has none. Add one to the formula or pass x=... naming a numeric column it uses."
        )
    return name


def _group_colour(title: str, levels: list[str]) -> alt.Color:
    many = len(levels) > MAX_LEGEND
    return alt.Color(
        "group:N",
        title=title,
        sort=levels,
        scale=alt.Scale(scheme="category20" if len(levels) > 10 else "tableau10"),
        legend=None if many else alt.Legend(orient="right"),
    )


def _levels(labels: pd.Series) -> list[str]:
    """Group labels in a natural order (numbers by value)."""
    unique = list(dict.fromkeys(labels))
    numeric = pd.to_numeric(pd.Series(unique), errors="coerce")
    if numeric.notna().all():
        return [u for _, u in sorted(zip(numeric, unique, strict=True))]
    return sorted(unique)


def scatter_with_line(fit: Any, x: str | None = None) -> alt.LayerChart:
    """The data with the pooled least-squares line: the seed's first picture.

    For a mixed model the line is the population line (fixed effects only). The line joins
    the model's fitted values, a straight line when ``x`` is the only predictor.

    Parameters
    ----------
    fit
        A fitted result (:func:`mixnb.ols` or :func:`mixnb.lmm`).
    x
        The numeric predictor on the x axis; the first numeric fixed effect by default.

    Examples
    --------
    >>> import mixnb, mixnb.charts
    >>> fit = mixnb.ols("Reaction ~ Days", mixnb.load_dataset("sleepstudy"))
    >>> chart = mixnb.charts.scatter_with_line(fit)
    >>> chart.title.text
    'Reaction against Days: one least-squares line'
    """
    xname, yname = _need_x(fit, x, "scatter_with_line"), response_name(fit)
    mixed = is_mixed(fit)
    fitted = fit.fitted(include_random=False) if mixed else fit.fitted()
    data = pd.DataFrame(
        {
            "x": model_frame(fit)[xname].to_numpy(dtype=float),
            "y": fit.design.y,
            "fitted": fitted.to_numpy(),
        }
    )
    data, note = sample_rows(data)
    base = alt.Chart(data)
    points = base.mark_circle(size=40, opacity=0.55, color="#4c78a8").encode(
        x=alt.X("x:Q", title=xname, scale=alt.Scale(zero=False)),
        y=alt.Y("y:Q", title=yname, scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip("x:Q", title=xname), alt.Tooltip("y:Q", title=yname)],
    )
    line = base.mark_line(color="#d62728", strokeWidth=2.5).encode(
        x="x:Q", y=alt.Y("fitted:Q", title=yname)
    )
    kind = "population line (fixed effects)" if mixed else "one least-squares line"
    title = alt.Title(f"{yname} against {xname}: {kind}", subtitle=subtitle(fit))
    return alt.layer(points, line).properties(
        width=WIDTH, height=HEIGHT, title=add_notes(title, [note])
    )


def group_lines(fit: Any, group: str, x: str | None = None) -> alt.LayerChart:
    """One fitted line per group: the traditional approach (dummies, interactions).

    Parameters
    ----------
    fit
        A fitted result whose formula uses ``group``, e.g. ``"return ~ use + C(center)"``.
    group
        The column whose groups get their own colour and line (a column the model uses, or a
        grouping factor of a mixed model).
    x
        The numeric predictor on the x axis; the first numeric fixed effect by default.

    Examples
    --------
    >>> import mixnb, mixnb.charts
    >>> fit = mixnb.ols("angle ~ temp + recipe", mixnb.load_dataset("cake"))
    >>> mixnb.charts.group_lines(fit, "recipe").title.text
    'angle against temp: one line per recipe'
    """
    xname, yname = _need_x(fit, x, "group_lines"), response_name(fit)
    mixed_factors = [b.factor.name for b in fit.design.random] if is_mixed(fit) else []
    labels = group_labels(fit, group) if group in mixed_factors else column_labels(fit, group)
    levels = _levels(labels)
    data = pd.DataFrame(
        {
            "x": model_frame(fit)[xname].to_numpy(dtype=float),
            "y": fit.design.y,
            "group": labels.to_numpy(),
            "fitted": fit.fitted().to_numpy(),
        }
    )
    data, note = sample_rows(data)
    colour = _group_colour(group, levels)
    base = alt.Chart(data)
    points = base.mark_circle(size=36, opacity=0.5).encode(
        x=alt.X("x:Q", title=xname, scale=alt.Scale(zero=False)),
        y=alt.Y("y:Q", title=yname, scale=alt.Scale(zero=False)),
        color=colour,
        tooltip=[
            alt.Tooltip("group:N", title=group),
            alt.Tooltip("x:Q", title=xname),
            alt.Tooltip("y:Q", title=yname),
        ],
    )
    lines = base.mark_line(strokeWidth=2.2).encode(
        x="x:Q", y=alt.Y("fitted:Q", title=yname), color=colour, detail="group:N"
    )
    title = alt.Title(f"{yname} against {xname}: one line per {group}", subtitle=subtitle(fit))
    return alt.layer(points, lines).properties(
        width=WIDTH, height=HEIGHT, title=add_notes(title, [note])
    )


def spaghetti(
    fit: Any, factor: str | None = None, x: str | None = None, facet: bool = False
) -> alt.TopLevelMixin:
    """Each group's observed trajectory with the model's line for that group.

    Thin lines and dots: the data of each group; solid lines: the mixed model's per-group
    lines (fixed plus that group's random effects); dashed black: the population line. With
    no numeric predictor, each group's observations are shown side by side with the model's
    group value. With more than 30 groups a seeded random sample of 30 is drawn, and at most
    4000 rows of theirs; the subtitle says so.

    Parameters
    ----------
    fit
        A fitted mixed model (:func:`mixnb.lmm`).
    factor
        The grouping factor; the first one by default.
    x
        The numeric predictor on the x axis; the first numeric fixed effect by default.
    facet
        One small panel per group (lme4's lattice plot) instead of one shared panel.

    Examples
    --------
    >>> import mixnb, mixnb.charts
    >>> fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", mixnb.load_dataset("sleepstudy"))
    >>> mixnb.charts.spaghetti(fit).title.text
    'Reaction against Days by Subject: data and the model’s lines'
    """
    name = factor_name(fit, factor)
    xname, yname = numeric_predictor(fit, x), response_name(fit)
    labels = group_labels(fit, name)
    levels = _levels(labels)
    data = pd.DataFrame(
        {
            "y": fit.design.y,
            "group": labels.to_numpy(),
            "fitted": fit.fitted().to_numpy(),
            "population": fit.fitted(include_random=False).to_numpy(),
        }
    )
    if xname is not None:
        data.insert(0, "x", model_frame(fit)[xname].to_numpy(dtype=float))
    levels, group_note = sample_groups(levels, MAX_LINES)
    if group_note:
        data = data[data["group"].isin(levels)].reset_index(drop=True)
    data, row_note = sample_rows(data)
    notes = [group_note, row_note]
    if xname is None:
        return _strip(fit, data, name, yname, levels, notes)
    title = alt.Title(
        f"{yname} against {xname} by {name}: data and the model’s lines", subtitle=subtitle(fit)
    )
    title = add_notes(title, notes)
    x_enc = alt.X("x:Q", title=xname, scale=alt.Scale(zero=False))
    y_enc = alt.Y("y:Q", title=yname, scale=alt.Scale(zero=False))
    if facet:
        base = alt.Chart()
        panel = alt.layer(
            base.mark_circle(size=16, opacity=0.6, color="#4c78a8").encode(x=x_enc, y=y_enc),
            base.mark_line(strokeWidth=1.8, color="#d62728").encode(x="x:Q", y="fitted:Q"),
            base.mark_line(strokeWidth=1, strokeDash=[4, 3], color="#555").encode(
                x="x:Q", y="population:Q"
            ),
            data=data,
        ).properties(width=120, height=110)
        return panel.facet(
            facet=alt.Facet("group:N", title=name, sort=levels), columns=6
        ).properties(title=title)
    colour = _group_colour(name, levels)
    base = alt.Chart(data)
    observed = base.mark_line(strokeWidth=1, opacity=0.35).encode(
        x=x_enc, y=y_enc, color=colour, detail="group:N"
    )
    dots = base.mark_circle(size=14, opacity=0.45).encode(
        x="x:Q",
        y="y:Q",
        color=colour,
        tooltip=[alt.Tooltip("group:N", title=name), alt.Tooltip("y:Q", title=yname)],
    )
    model = base.mark_line(strokeWidth=2).encode(
        x="x:Q", y=alt.Y("fitted:Q", title=yname), color=colour, detail="group:N"
    )
    population = base.mark_line(color="black", strokeWidth=3, strokeDash=[7, 4]).encode(
        x="x:Q", y=alt.Y("population:Q", title=yname)
    )
    return alt.layer(observed, dots, model, population).properties(
        width=WIDTH, height=HEIGHT, title=title
    )


def _strip(
    fit: Any,
    data: pd.DataFrame,
    name: str,
    yname: str,
    levels: list[str],
    notes: list[str | None],
) -> alt.LayerChart:
    """Observations per group with each group's fitted value (models without a numeric x)."""
    base = alt.Chart(data)
    short = max(len(level) for level in levels) <= 4
    x_enc = alt.X("group:N", title=name, sort=levels, axis=alt.Axis(labelAngle=0 if short else -45))
    dots = base.mark_circle(size=30, opacity=0.55, color="#4c78a8").encode(
        x=x_enc,
        y=alt.Y("y:Q", title=yname, scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip("group:N", title=name), alt.Tooltip("y:Q", title=yname)],
    )
    model = base.mark_tick(color="#d62728", thickness=2.5, size=18).encode(
        x=x_enc, y=alt.Y("mean(fitted):Q", title=yname)
    )
    population = base.mark_rule(color="black", strokeDash=[7, 4]).encode(
        y=alt.Y("mean(population):Q", title=yname)
    )
    return alt.layer(dots, model, population).properties(
        width=max(WIDTH, 24 * len(levels)),
        height=HEIGHT,
        title=add_notes(
            alt.Title(
                f"{yname} by {name}: data (dots) and the model’s group values (red)",
                subtitle=subtitle(fit),
            ),
            notes,
        ),
    )
