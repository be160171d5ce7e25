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

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

from mixnb.design import plain_message
from mixnb.errors import DataError, FormulaError, MissingDataWarning, MixnbError

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
    for expr in expressions:
        total = total + evaluate_expression(expr, data, context, f"offset({expr})").to_numpy()
    return total


def evaluate_expression(
    expr: str, data: pd.DataFrame, context: Mapping[str, Any], what: str
) -> pd.Series:
    """One number per row of ``data`` from a Python expression of its columns (NaN where a
    column is missing); ``what`` names the expression in error messages."""
    columns = [str(c) for c in data.columns]
    try:
        needed = Formula("{" + expr + "}").required_variables
    except Exception as exc:  # formulaic's own parse errors
        raise FormulaError(f"formulaic could not read {what}: {plain_message(exc)}") from exc
    missing = sorted(n for n in needed if n not in columns and n not in context)
    if missing:
        raise DataError(
            f"{what} uses {', '.join(map(repr, missing))}, which is not a column "
            f"of the data (columns: {', '.join(map(repr, columns[:20]))})."
        )
    try:
        values = model_matrix("0 + {" + expr + "}", data, context=context, na_action="ignore")
    except Exception as exc:
        raise FormulaError(
            f"{what} could not be evaluated on the data: {plain_message(exc)}. It must give "
            "one number "
            "per row, e.g. offset(np.log(exposure)) for an exposure column."
        ) from exc
    array = np.asarray(values, dtype=float)
    if array.ndim != 2 or array.shape[1] != 1:
        raise FormulaError(
            f"{what} gives {array.shape[1]} columns; it must be one number per "
            "row (a categorical column cannot be used)."
        )
    return pd.Series(array[:, 0], index=data.index)


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


@dataclass(frozen=True)
class PreparedRows:
    """The rows a generalised model fits, with their offsets and prior weights.

    Attributes
    ----------
    formula : str
        The formula without its ``offset()`` terms.
    offset_terms : list of str
        The expressions of those terms.
    data : pandas.DataFrame
        The rows kept (a view of the caller's rows; never modified).
    offsets, weights : pandas.Series or None
        Per row of ``data``: the summed offset and the prior weights.
    notes : list of str
        One sentence per reason rows were dropped (also warned).
    """

    formula: str
    offset_terms: list[str]
    data: pd.DataFrame
    offsets: pd.Series | None
    weights: pd.Series | None
    notes: list[str]


def prepare_rows(
    formula: str,
    data: pd.DataFrame,
    context: Mapping[str, Any],
    *,
    offset: Any = None,
    weights: Any = None,
    keys: tuple[str, ...] = (),
) -> PreparedRows:
    """Take the offsets out of ``formula``, read ``offset=`` and ``weights=``, and drop
    (counting, with a :class:`~mixnb.errors.MissingDataWarning`) the rows that miss a
    ``keys`` column (the clusters, the time), their offset or their weight.

    Weights must be positive: a row of weight 0 carries no information.
    """
    mean_formula, offset_terms = split_offset(formula)
    offsets = evaluate_offset(offset_terms, data, context) if offset_terms else None
    given = row_values(offset, data, "offset")
    if given is not None:
        offsets = given if offsets is None else offsets + given
    prior_weights = row_values(weights, data, "weights")
    if prior_weights is not None:
        bad = prior_weights.notna() & (prior_weights <= 0)
        if bad.any():
            raise DataError(
                f"weights= must be positive, but {int(bad.sum())} of them are zero or "
                f"negative (e.g. {float(prior_weights[bad].iloc[0]):g}). A row of weight 0 "
                "carries no information: drop those rows instead."
            )
    reasons = {}
    if keys:
        reasons[f"their {' or '.join(keys)} value"] = data[list(keys)].isna().any(axis=1)
    if offsets is not None:
        reasons["their offset"] = offsets.isna()
    if prior_weights is not None:
        reasons["their weight"] = prior_weights.isna()
    notes = []
    dropped = pd.Series(False, index=data.index)
    for reason, mask in reasons.items():
        new = mask & ~dropped
        if new.any():
            notes.append(
                f"{int(new.sum())} of {len(data)} rows were dropped because {reason} is missing."
            )
            warnings.warn(notes[-1], MissingDataWarning, stacklevel=3)
        dropped |= mask
    if dropped.any():
        data = data.loc[~dropped]
        offsets = None if offsets is None else offsets.loc[data.index]
        prior_weights = None if prior_weights is None else prior_weights.loc[data.index]
    return PreparedRows(mean_formula, offset_terms, data, offsets, prior_weights, notes)


@dataclass(frozen=True)
class OffsetSpec:
    """How a fit's offset was given, so that new rows get theirs the same way.

    ``terms`` are the formula's ``offset()`` expressions, ``argument`` the ``offset=``
    argument (a column name, numbers, or ``None``).
    """

    terms: tuple[str, ...] = ()
    argument: Any = None

    @property
    def label(self) -> str | None:
        """The offset as written (``"offset(np.log(t)) + exposure"``), or ``None``."""
        parts = [f"offset({t})" for t in self.terms]
        if self.argument is not None:
            parts.append(self.argument if isinstance(self.argument, str) else "offset= values")
        return " + ".join(parts) or None

    def for_new_rows(
        self, newdata: pd.DataFrame, context: Mapping[str, Any], offset: Any = None
    ) -> np.ndarray:
        """The offset of new rows: the formula's terms evaluated on ``newdata`` plus the
        ``offset=`` column read from it, or ``offset`` (a column name or one number per
        new row) in its place, which a fit whose offset was numbers needs."""
        total = np.zeros(len(newdata))
        if self.terms:
            total = total + evaluate_offset(list(self.terms), newdata, context).to_numpy()
        if offset is None and self.argument is not None:
            if not isinstance(self.argument, str):
                raise MixnbError(
                    "This fit's offset was given as numbers (offset=...), so new rows need "
                    "theirs: predict(newdata, offset=...)."
                )
            offset = self.argument
        extra = row_values(offset, newdata, "offset")
        return total if extra is None else total + extra.to_numpy()
