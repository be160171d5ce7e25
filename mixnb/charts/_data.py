"""What the charts need from a fitted result, as small tidy frames with fixed column names.

Charts use internal column names (``x``, ``y``, ``group``, ...) and take their axis titles
from the data's own names, so a column called ``a.b`` or ``<b>`` needs no escaping in Vega.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mixnb.errors import ModelError

WIDTH = 420
HEIGHT = 300


def is_mixed(fit: Any) -> bool:
    return bool(getattr(fit.design, "random", None))


def model_frame(fit: Any) -> pd.DataFrame:
    """The columns the model used, for the rows it used (index as in the data)."""
    frame = fit.design.frame
    if frame is None:
        raise ModelError("This fit does not keep its data (design.frame), so it cannot be drawn.")
    return frame


def response_name(fit: Any) -> str:
    return str(fit.design.response_name)


def numeric_predictor(fit: Any, x: str | None = None) -> str | None:
    """The predictor for the x axis: ``x`` if given, else the first numeric fixed-effect column."""
    frame = model_frame(fit)
    numeric = [
        c
        for c in frame.columns
        if c != response_name(fit)
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]
    if x is not None:
        if x not in numeric:
            hint = ", ".join(map(repr, numeric)) or "none"
            raise ModelError(
                f"x={x!r} is not a numeric column the model uses; numeric columns: {hint}."
            )
        return x
    fixed = [c for c in fit.design.fixed.columns if c in numeric]
    return (fixed or [None])[0]


def factor_name(fit: Any, factor: str | None = None) -> str:
    """A grouping factor of a mixed model (the first one by default)."""
    if not is_mixed(fit):
        raise ModelError(
            "This chart needs a mixed model (mixnb.lmm) with a random effect; "
            f"got {type(fit).__name__}."
        )
    names = list(dict.fromkeys(b.factor.name for b in fit.design.random))
    if factor is None:
        return names[0]
    if factor not in names:
        raise ModelError(
            f"The model has no grouping factor {factor!r}; it has: {', '.join(names)}."
        )
    return factor


def group_labels(fit: Any, factor: str) -> pd.Series:
    """Each used row's level of a grouping factor, as text."""
    block = next(b for b in fit.design.random if b.factor.name == factor)
    labels = block.factor.levels[block.factor.codes].astype(str)
    return pd.Series(labels, index=fit.design.row_index, name=factor)


def column_labels(fit: Any, group: str) -> pd.Series:
    """Each used row's value of a data column the model uses, as text."""
    frame = model_frame(fit)
    if group not in frame.columns:
        used = ", ".join(map(repr, frame.columns))
        raise ModelError(
            f"group={group!r} is not a column the model uses (it uses {used}). Put it in the "
            "formula, e.g. as C(" + str(group) + "), to draw one line per group."
        )
    return frame[group].astype(str).rename(group)


def subtitle(fit: Any) -> str:
    method = ""
    if is_mixed(fit):
        method = " (REML)" if fit.reml else " (ML)"
    return f"{fit.formula}{method}"
