"""Offsets: ``offset(expr)`` terms of a formula and ``offset=`` / ``weights=`` arguments.

An offset is a known part of the linear predictor, ``eta = X beta + offset``, with no
coefficient: the log of an exposure for counts (``offset(np.log(years))``), a baseline
the model is relative to. As in R, ``offset()`` terms are taken out of the formula's fixed
part before it is turned into a model matrix, their expressions (Python, evaluated by
formulaic with the formula's namespace) are summed, and an ``offset=`` argument adds to
them.

:func:`row_values` turns an ``offset=`` or ``weights=`` argument (a column name or one
number per row) into a Series aligned with the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

from mixnb.design import plain_message
from mixnb.errors import DataError, FormulaError

_CALL = "offset("


def _top_level_terms(rhs: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each ``+``-separated term of ``rhs`` outside brackets."""
    spans, depth, start, quote = [], 0, 0, None
    for i, ch in enumerate(rhs):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "+" and depth == 0:
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(rhs)))
    return spans


def split_offset(formula: str) -> tuple[str, list[str]]:
    """The formula without its ``offset(...)`` terms, and their expressions.

    Examples
    --------
    >>> split_offset("y ~ x + offset(np.log(t)) + (1 | g)")
    ('y ~ x + (1 | g)', ['np.log(t)'])
    >>> split_offset("y ~ offset(z)")
    ('y ~ 1', ['z'])
    """
    if "~" not in formula or _CALL not in formula.replace(" ", ""):
        return formula, []
    lhs, rhs = formula.split("~", 1)
    kept, offsets = [], []
    for start, end in _top_level_terms(rhs):
        term = rhs[start:end].strip()
        compact = term.replace(" ", "")
        if compact.startswith(_CALL) and compact.endswith(")"):
            inner = term[term.index("(") + 1 : term.rindex(")")].strip()
            if not inner:
                raise FormulaError(
                    f"The formula {formula!r} has an empty offset(): put the offset's values "
                    "inside, e.g. offset(np.log(exposure))."
                )
            offsets.append(inner)
        elif _CALL in compact:
            raise FormulaError(
                f"In {formula!r}, offset() must be a term of its own, added with '+' "
                f"(e.g. 'y ~ x + offset(np.log(t))'), not part of {term!r}."
            )
        else:
            kept.append(term)
    new_rhs = " + ".join(t for t in kept if t) or "1"
    return f"{lhs.strip()} ~ {new_rhs}", offsets


def evaluate_offset(
    expressions: list[str], data: pd.DataFrame, context: Mapping[str, Any]
) -> pd.Series:
    """The sum of the offset expressions for every row of ``data`` (NaN where one is
    missing), aligned with ``data``'s index."""
    total = pd.Series(0.0, index=data.index)
    columns = [str(c) for c in data.columns]
    for expr in expressions:
        try:
            needed = Formula("{" + expr + "}").required_variables
        except Exception as exc:  # formulaic's own parse errors
            raise FormulaError(
                f"formulaic could not read offset({expr}): {plain_message(exc)}"
            ) from exc
        missing = sorted(n for n in needed if n not in columns and n not in context)
        if missing:
            raise DataError(
                f"offset({expr}) uses {', '.join(map(repr, missing))}, which is not a column "
                f"of the data (columns: {', '.join(map(repr, columns[:20]))})."
            )
        try:
            values = model_matrix("0 + {" + expr + "}", data, context=context, na_action="ignore")
        except Exception as exc:
            raise FormulaError(
                f"offset({expr}) could not be evaluated on the data: {plain_message(exc)}. "
                "An offset is one number per row, e.g. offset(np.log(exposure)) for an "
                "exposure column."
            ) from exc
        array = np.asarray(values, dtype=float)
        if array.ndim != 2 or array.shape[1] != 1:
            raise FormulaError(
                f"offset({expr}) gives {array.shape[1]} columns; an offset is one number per "
                "row (a categorical column cannot be an offset)."
            )
        total = total + array[:, 0]
    return total


def row_values(value: Any, data: pd.DataFrame, what: str) -> pd.Series | None:
    """An ``offset=`` or ``weights=`` argument as numbers aligned with ``data``.

    ``value`` is ``None``, the name of a column of ``data``, or one number per row
    (a sequence, array or Series of ``len(data)``; a Series is taken in row order).
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value not in data.columns:
            raise DataError(
                f"{what}={value!r} names no column of the data (columns: "
                f"{', '.join(map(repr, map(str, data.columns[:20])))})."
            )
        column = data[value]
    else:
        column = np.asarray(value.to_numpy() if isinstance(value, pd.Series) else value)
        if column.ndim != 1 or len(column) != len(data):
            raise DataError(
                f"{what}= needs one number per row of the data ({len(data)}), or a column "
                f"name; got an array of shape {column.shape}."
            )
    numbers = pd.to_numeric(pd.Series(np.asarray(column), index=data.index), errors="coerce")
    if numbers.isna().sum() > pd.Series(np.asarray(column), index=data.index).isna().sum():
        raise DataError(f"{what}= must be numbers; some values are not.")
    if np.isinf(numbers.to_numpy(dtype=float)).any():
        raise DataError(f"{what}= has infinite values; {what} must be finite numbers.")
    return numbers.astype(float)
