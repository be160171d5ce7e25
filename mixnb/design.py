"""From a formula and a data frame to the model's numeric blocks.

This is lme4's ``lFormula`` step: check the data, drop incomplete rows, build the
response ``y``, the fixed-effects matrix ``X`` (through formulaic, which keeps a
``ModelSpec`` that rebuilds the same encoding for new data) and one random-effects
block per random term: the term's model matrix and the codes of its grouping factor.

Nothing here estimates anything.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix
from formulaic.errors import DataMismatchWarning
from formulaic.model_spec import ModelSpec

from mixnb.errors import (
    DataError,
    FormulaError,
    MissingDataWarning,
    ModelError,
    RankDeficiencyWarning,
)
from mixnb.formula import ParsedFormula, RandomTerm, parse_formula

#: Relative size of a QR diagonal below which a fixed-effect column counts as aliased
#: (lme4's default rank tolerance).
RANK_TOLERANCE = 1e-7


@dataclass(frozen=True)
class GroupingFactor:
    """The groups of a random term: one integer code per row and the level labels."""

    columns: tuple[str, ...]
    codes: np.ndarray
    levels: pd.Index

    @property
    def name(self) -> str:
        """lme4's name: the columns joined by ``:`` (e.g. ``cask:batch``)."""
        return ":".join(self.columns)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def labels_of(self, frame: pd.DataFrame) -> pd.Index:
        """Each row's group label in ``frame`` (an interaction joins labels with ``:``)."""
        return _group_labels(frame, self.columns)

    def codes_for(self, frame: pd.DataFrame) -> np.ndarray:
        """Codes of ``frame``'s rows among the fitted levels; -1 for a level not seen."""
        return np.asarray(self.levels.get_indexer(self.labels_of(frame)), dtype=np.intp)


@dataclass(frozen=True)
class RandomBlock:
    """One random-effects term ``(expr | factor)``: its model matrix and its groups."""

    term: RandomTerm
    columns: list[str]
    matrix: np.ndarray
    factor: GroupingFactor
    spec: ModelSpec

    @property
    def n_columns(self) -> int:
        return self.matrix.shape[1]


@dataclass(frozen=True)
class FixedDesign:
    """The fixed-effects model matrix after aliased columns were dropped."""

    matrix: np.ndarray
    columns: list[str]
    dropped: list[str]
    spec: ModelSpec

    def for_new_data(self, data: pd.DataFrame) -> np.ndarray:
        """Rebuild ``X`` for new rows with the training encoding.

        A level of a categorical predictor that the fit never saw has no coefficient, so
        it is an error (formulaic would silently code it as the reference level).
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataMismatchWarning)
            full = self.spec.get_model_matrix(data, na_action="ignore")
        for warning in caught:
            if issubclass(warning.category, DataMismatchWarning):
                found = re.search(r"\{.*\}", str(warning.message))
                levels = found.group(0) if found else str(warning.message)
                raise DataError(
                    "The new data contain a level of a categorical predictor that was not in "
                    f"the data the model was fitted to: {levels}. A fixed effect for it was "
                    "never estimated: predict only for the levels the model knows."
                )
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        return np.asarray(full[self.columns], dtype=float)


@dataclass(frozen=True)
class Design:
    """Everything numeric a model needs, plus what was done to the data on the way."""

    formula: ParsedFormula
    y: np.ndarray
    response_name: str
    fixed: FixedDesign
    random: list[RandomBlock]
    row_index: pd.Index
    n_dropped: int
    dropped_by_column: dict[str, int] = field(default_factory=dict)
    predictor_columns: list[str] = field(default_factory=list)
    #: The used columns of the complete rows (a private copy), and the formula's namespace.
    frame: pd.DataFrame | None = field(default=None, repr=False)
    context: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def nobs(self) -> int:
        return len(self.y)


def build_design(
    formula: str,
    data: pd.DataFrame,
    *,
    context: Mapping[str, Any] | None = None,
    require_random: bool = False,
    forbid_random: bool = False,
    observation_level: bool = False,
) -> Design:
    """Check ``data`` against ``formula`` and build the model's numeric blocks.

    Parameters
    ----------
    formula
        An lme4-style formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data
        The data. It is never modified.
    context
        Names that formula expressions may call (the caller's namespace).
    require_random, forbid_random
        Whether the model must have, or must not have, random-effect terms.
    observation_level
        Allow a random term with as many effects as observations (a GLMM's
        observation-level random effect, which models overdispersion; a Gaussian model
        cannot tell it from the residual).
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"data must be a pandas DataFrame, not {type(data).__name__}; "
            "wrap it with pandas.DataFrame(...)."
        )
    parsed = parse_formula(formula)
    if require_random and not parsed.has_random:
        raise FormulaError(
            f"The formula {formula!r} has no random-effect term. A mixed model needs at least "
            "one, such as '(1 | group)'; for a model without random effects use mixnb.ols."
        )
    if forbid_random and parsed.has_random:
        raise FormulaError(
            f"The formula {formula!r} has random-effect terms, which least squares cannot fit; "
            "use mixnb.lmm for a mixed model, or remove the '( ... | group)' terms."
        )
    context = dict(context or {})
    used = _used_columns(parsed, data, context)
    frame, dropped_by_column = _complete_rows(data, used)
    n_dropped = len(data) - len(frame)
    if n_dropped:
        detail = ", ".join(f"{col!r}: {k}" for col, k in dropped_by_column.items())
        warnings.warn(
            f"{n_dropped} of {len(data)} rows were dropped because a variable the model uses "
            f"is missing in them (missing values per column: {detail}).",
            MissingDataWarning,
            stacklevel=3,
        )
    if len(frame) == 0:
        raise DataError("No rows are left after dropping rows with missing values.")

    y, response_name = _response(parsed, frame, context)
    _check_finite(frame, used)
    fixed = _fixed_design(parsed, frame, context)
    random = [_random_block(term, frame, context) for term in parsed.random]
    if not observation_level:
        _check_identifiable(random, len(y))
    return Design(
        formula=parsed,
        y=y,
        response_name=response_name,
        fixed=fixed,
        random=random,
        row_index=frame.index,
        n_dropped=n_dropped,
        dropped_by_column=dropped_by_column,
        predictor_columns=_predictor_columns(parsed, used),
        frame=frame,
        context=context,
    )


# --------------------------------------------------------------------------- columns


_IDENTIFIER = re.compile(r"`([^`]*)`|([A-Za-z_][A-Za-z0-9_.]*)")


def _names_in(text: str) -> set[str]:
    """Every identifier or backtick-quoted name in a piece of formula text."""
    without_strings = re.sub(r"\"[^\"]*\"|'[^']*'", "", text)
    return {quoted or plain for quoted, plain in _IDENTIFIER.findall(without_strings)}


def _used_columns(
    parsed: ParsedFormula, data: pd.DataFrame, context: Mapping[str, Any]
) -> list[str]:
    """The data columns the formula uses; a missing one is an error naming near matches."""
    columns = [str(c) for c in data.columns]
    pieces = [parsed.response, parsed.fixed] + [term.expr for term in parsed.random]
    needed: set[str] = set()
    for piece in pieces:
        try:
            needed |= set(Formula(piece).required_variables)
        except Exception as exc:  # formulaic's own parse errors
            raise FormulaError(f"formulaic could not read {piece!r}: {exc}") from exc
        needed |= {name for name in _names_in(piece) if name in columns}
    needed -= {name for name in needed if name in context and name not in columns}
    needed |= set(parsed.grouping_variables)
    missing = sorted(name for name in needed if name not in columns)
    if missing:
        raise DataError(_missing_columns_message(missing, columns))
    order = {name: i for i, name in enumerate(columns)}
    return sorted(needed, key=order.__getitem__)


def check_new_data(design: Design, data: pd.DataFrame) -> None:
    """Raise a :class:`DataError` naming the predictors that ``data`` lacks."""
    columns = [str(c) for c in data.columns]
    missing = [c for c in design.predictor_columns if c not in columns]
    if missing:
        raise DataError(_missing_columns_message(missing, columns))


def linear_predictor(design: Design, data: pd.DataFrame, beta: np.ndarray) -> np.ndarray:
    """``X beta`` for new rows, encoded as in fitting; NaN where a predictor is missing."""
    check_new_data(design, data)
    complete = data[design.predictor_columns].notna().all(axis=1).to_numpy()
    out = np.full(len(data), np.nan)
    out[complete] = design.fixed.for_new_data(data.loc[complete]) @ beta
    return out


def _predictor_columns(parsed: ParsedFormula, used: list[str]) -> list[str]:
    """Used columns that predictions need (the response only if a predictor uses it too)."""
    pieces = [parsed.fixed] + [term.expr for term in parsed.random]
    named = set().union(*(_names_in(p) for p in pieces)) | set(parsed.grouping_variables)
    return [c for c in used if c in named]


def _missing_columns_message(missing: list[str], columns: list[str]) -> str:
    lines = []
    for name in missing:
        near = difflib.get_close_matches(name, columns, n=3, cutoff=0.6)
        near += [c for c in columns if c.lower() == name.lower() and c not in near]
        hint = f" Did you mean {', '.join(repr(c) for c in near)}?" if near else ""
        lines.append(f"The formula uses a column {name!r} that is not in the data.{hint}")
    shown = ", ".join(repr(c) for c in columns[:20]) + (" ..." if len(columns) > 20 else "")
    lines.append(f"The data have the columns: {shown}.")
    lines.append("Names with spaces or odd characters must be quoted with backticks: `my column`.")
    return "\n".join(lines)


def _complete_rows(data: pd.DataFrame, used: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """A copy of the used columns restricted to rows where none of them is missing."""
    frame = data.loc[:, used].copy()
    missing = frame.isna()
    counts = {col: int(k) for col, k in missing.sum().items() if k}
    return frame.loc[~missing.any(axis=1)], counts


def _check_finite(frame: pd.DataFrame, used: list[str]) -> None:
    for col in used:
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            n_inf = int(np.isinf(values.to_numpy(dtype=float)).sum())
            if n_inf:
                raise DataError(
                    f"Column {col!r} has {n_inf} infinite value(s) (inf or -inf). A model cannot "
                    "use them: replace them with a finite value or with NaN (rows with NaN are "
                    "dropped and reported)."
                )


# --------------------------------------------------------------------------- response


def _strip_backticks(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] == "`" else text


def _response(
    parsed: ParsedFormula, frame: pd.DataFrame, context: Mapping[str, Any]
) -> tuple[np.ndarray, str]:
    name = _strip_backticks(parsed.response)
    if name in frame.columns:
        values = frame[name]
        if pd.api.types.is_bool_dtype(values):
            return values.to_numpy(dtype=float), name
        if not pd.api.types.is_numeric_dtype(values):
            examples = ", ".join(repr(v) for v in values.drop_duplicates().head(3))
            raise DataError(
                f"The response {name!r} must be numeric, but it holds {values.dtype} values "
                f"such as {examples}. A linear (mixed) model needs a number to predict: convert "
                f"it with pandas.to_numeric(data[{name!r}]), or pick a numeric column."
            )
        return values.to_numpy(dtype=float), name
    lhs = _materialize(parsed.response, frame, context)
    if lhs.shape[1] != 1:
        raise DataError(
            f"The response {parsed.response!r} must be a single numeric column, but it expands "
            f"to {lhs.shape[1]} columns ({', '.join(map(str, lhs.columns))})."
        )
    return np.asarray(lhs.iloc[:, 0], dtype=float), name


# --------------------------------------------------------------------------- fixed part


def _materialize(spec: str, frame: pd.DataFrame, context: Mapping[str, Any]) -> pd.DataFrame:
    try:
        return model_matrix(spec, frame, context=context, na_action="raise")
    except Exception as exc:
        raise FormulaError(f"Could not build the model matrix for {spec!r}: {exc}") from exc


def _fixed_design(
    parsed: ParsedFormula, frame: pd.DataFrame, context: Mapping[str, Any]
) -> FixedDesign:
    full = _materialize(parsed.fixed, frame, context)
    matrix = np.asarray(full, dtype=float)
    keep = estimable_columns(matrix)
    names = [str(c) for c in full.columns]
    dropped = [name for name, k in zip(names, keep) if not k]
    if dropped:
        warnings.warn(
            f"The fixed-effect columns {', '.join(map(repr, dropped))} are linear combinations "
            "of earlier columns (every value they could take is already explained), so they "
            "were dropped, as lme4 does. Check for duplicated or redundant predictors.",
            RankDeficiencyWarning,
            stacklevel=4,
        )
    return FixedDesign(
        matrix=np.ascontiguousarray(matrix[:, keep]),
        columns=[name for name, k in zip(names, keep) if k],
        dropped=dropped,
        spec=full.model_spec,
    )


def estimable_columns(matrix: np.ndarray, tol: float = RANK_TOLERANCE) -> np.ndarray:
    """Which columns to keep so that the kept ones have full rank (earlier columns win)."""
    if matrix.shape[1] == 0:
        return np.zeros(0, dtype=bool)
    scale = np.linalg.norm(matrix, axis=0)
    scale[scale == 0] = 1.0
    r = np.linalg.qr(matrix / scale, mode="r")
    diag = np.abs(np.diag(r))
    keep = diag > tol * max(diag.max(), 1.0)
    if keep.all():
        return keep
    # QR without pivoting flags a dependent column, but once one is dropped the
    # later diagonals are relative to a different basis: confirm greedily.
    kept: list[int] = []
    for j in range(matrix.shape[1]):
        trial = matrix[:, kept + [j]] / scale[kept + [j]]
        d = np.abs(np.diag(np.linalg.qr(trial, mode="r")))
        if d[-1] > tol * max(d.max(), 1.0):
            kept.append(j)
    out = np.zeros(matrix.shape[1], dtype=bool)
    out[kept] = True
    return out


# --------------------------------------------------------------------------- random part


def _group_labels(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.Index:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"The grouping column(s) {', '.join(map(repr, missing))} are not in the data."
        )
    if len(columns) == 1:
        return pd.Index(frame[columns[0]])
    labels = frame[columns[0]].astype(str)
    for col in columns[1:]:
        labels = labels + ":" + frame[col].astype(str)
    return pd.Index(labels)


def grouping_factor(frame: pd.DataFrame, columns: tuple[str, ...]) -> GroupingFactor:
    """Integer codes and level labels of the (interaction of the) grouping columns."""
    labels = _group_labels(frame, columns)
    codes, levels = pd.factorize(labels, sort=True)
    levels = pd.Index(levels, name=":".join(columns))
    if len(levels) < 2:
        name = levels.name
        only = f" (its only level is {levels[0]!r})" if len(levels) else ""
        raise ModelError(
            f"The grouping factor {name!r} has {len(levels)} level{only}. A random effect "
            "describes how groups differ, so it needs at least 2 groups (in practice 5 or "
            "more): use a factor with more groups, or drop the term and fit mixnb.ols."
        )
    return GroupingFactor(columns=columns, codes=codes.astype(np.intp), levels=levels)


def _random_block(term: RandomTerm, frame: pd.DataFrame, context: Mapping[str, Any]) -> RandomBlock:
    matrix = _materialize(term.expr, frame, context)
    if matrix.shape[1] == 0:
        raise FormulaError(
            f"The random term ({term.expr} | {term.group}) has no columns: its left side must "
            "name at least an intercept, as in (1 | group)."
        )
    return RandomBlock(
        term=term,
        columns=[str(c) for c in matrix.columns],
        matrix=np.ascontiguousarray(np.asarray(matrix, dtype=float)),
        factor=grouping_factor(frame, term.factors),
        spec=matrix.model_spec,
    )


def _check_identifiable(blocks: list[RandomBlock], nobs: int) -> None:
    for block in blocks:
        n_effects = block.factor.n_levels * block.n_columns
        if n_effects >= nobs:
            raise ModelError(
                f"The term ({block.term.expr} | {block.factor.name}) has {n_effects} random "
                f"effects ({block.factor.n_levels} levels x {block.n_columns} column(s)) for only "
                f"{nobs} observations. With at least one random effect per observation the "
                "group variance cannot be told apart from the residual variance. Use a grouping "
                "factor with fewer levels than observations (each group needs repeated rows)."
            )
