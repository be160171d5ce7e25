"""A GLMM's response as lme4 takes it: 0/1, ``cbind(successes, failures)``, proportions.

A binomial response is stored as a proportion ``y`` with its number of trials as the
prior weight (R's ``glm`` convention):

* 0/1 (or ``True``/``False``, or a column with two labels: the first in sorted order is
  the failure, as R's factor levels): ``y`` as given, one trial per row;
* ``cbind(successes, failures)`` on the left of ``~`` (each side a column or an
  expression such as ``size - incidence``): ``y = s / (s + f)`` with ``s + f`` trials;
* proportions with ``weights=`` the numbers of trials.

:func:`prepare_response` rewrites the formula's left side to a private column of a copy
of the data holding the proportion (or count), and returns the trials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixnb.errors import DataError, FormulaError
from mixnb.offset import evaluate_expression

#: The private column of the copied data that holds the response.
RESPONSE_COLUMN = "_mixnb_glmm_response_"


@dataclass(frozen=True)
class PreparedResponse:
    """The formula with its left side replaced, the data copy, and what was done."""

    formula: str
    data: pd.DataFrame
    label: str
    #: trials per row from ``cbind`` (None when the response is 0/1 or a count)
    trials: pd.Series | None
    note: str | None = None


def _split_cbind(lhs: str) -> tuple[str, str] | None:
    text = lhs.strip()
    if not (text.replace(" ", "").startswith("cbind(") and text.endswith(")")):
        return None
    inner = text[text.index("(") + 1 : -1]
    depth, parts, start = 0, [], 0
    for i, ch in enumerate(inner):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise FormulaError(
            f"cbind() on the left of '~' takes two arguments, the successes and the failures "
            f"(e.g. 'cbind(incidence, size - incidence) ~ period'), not {lhs.strip()!r}."
        )
    return parts[0].strip(), parts[1].strip()


def prepare_response(
    formula: str, data: pd.DataFrame, family_name: str, context: Mapping[str, Any]
) -> PreparedResponse:
    """Turn the left side of ``formula`` into a numeric column of a copy of ``data``."""
    if "~" not in formula:
        raise FormulaError(
            f"The formula {formula!r} has no '~': write the response on the left and the "
            "predictors on the right, e.g. 'y ~ x + (1 | group)'."
        )
    lhs, rhs = formula.split("~", 1)
    pair = _split_cbind(lhs)
    label = lhs.strip()
    if pair is not None:
        if family_name != "binomial":
            raise FormulaError(
                f"cbind(successes, failures) is a binomial response; the {family_name} "
                "family takes one count per row."
            )
        successes = evaluate_expression(pair[0], data, context, "the successes of cbind()")
        failures = evaluate_expression(pair[1], data, context, "the failures of cbind()")
        bad = (successes < 0) | (failures < 0)
        if bad.any():
            raise DataError(
                f"cbind({pair[0]}, {pair[1]}) has {int(bad.sum())} row(s) with a negative "
                "number of successes or failures; both must be counts (0, 1, 2, ...)."
            )
        trials = successes + failures
        with np.errstate(invalid="ignore", divide="ignore"):
            # no trials: no information (weight 0); a missing count stays missing
            y = (successes / trials).where(trials != 0, 0.0)
        frame = data.assign(**{RESPONSE_COLUMN: y})
        return PreparedResponse(f"{RESPONSE_COLUMN} ~{rhs}", frame, label, trials)
    name = label[1:-1] if label.startswith("`") and label.endswith("`") else label
    if name in data.columns and family_name == "binomial":
        column = data[name]
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            levels = sorted(column.dropna().unique(), key=str)
            if len(levels) != 2:
                shown = ", ".join(repr(v) for v in levels[:5])
                raise DataError(
                    f"A binomial response needs two outcomes, but {name!r} has "
                    f"{len(levels)} distinct values ({shown}). Code it 0/1, e.g. "
                    f"(data[{name!r}] == 'yes').astype(int)."
                )
            y = (column == levels[1]).astype(float).where(column.notna())
            note = (
                f"The response {name!r} has two labels: {levels[1]!r} counts as a success (1) "
                f"and {levels[0]!r} as a failure (0)."
            )
            frame = data.assign(**{RESPONSE_COLUMN: y})
            return PreparedResponse(f"{RESPONSE_COLUMN} ~{rhs}", frame, label, None, note)
    return PreparedResponse(formula, data, label, None)
