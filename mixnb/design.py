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
from dataclasses import dataclass, field, replace
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
#: Relative size of the response's residual below which the fixed effects fit it exactly.
EXACT_FIT_TOLERANCE = 1e-11


@dataclass(frozen=True)
class GroupingFactor:
    """The groups of a random term: one integer code per row and the level labels."""

    columns: tuple[str, ...]
    codes: np.ndarray
    levels: pd.Index
    #: The level of each group as a tuple of the columns' values (an interaction's
    #: groups are pairs, triples, ... of values, never joined strings).
    keys: pd.MultiIndex | None = None

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
        if self.keys is None:
            return np.asarray(self.levels.get_indexer(self.labels_of(frame)), dtype=np.intp)
        rows = _group_keys(frame, self.columns)
        return np.asarray(self.keys.get_indexer(rows), dtype=np.intp)


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
        data = with_string_names(data)
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

    @property
    def fixed_predictor_columns(self) -> list[str]:
        """The columns the fixed part alone needs (predictions without random effects)."""
        named = _names_in(self.formula.fixed)
        return [c for c in self.predictor_columns if c in named]


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
    parsed = _quote_number_names(parse_formula(formula))
    data = with_string_names(data)
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
    if len(frame) == 1:
        raise DataError(
            "Only one row of data is left (after dropping rows with missing values): a model "
            "estimates how the response varies, which takes many rows. Fit it to the whole "
            "data set."
        )

    _check_finite(frame, used)
    _check_not_dates(parsed, frame, used)
    y, response_name = _response(parsed, frame, context)
    fixed = _fixed_design(parsed, frame, context)
    random = [_random_block(term, frame, context) for term in parsed.random]
    _check_enough_rows(fixed, len(y))
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


def with_string_names(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with every column name a string (``0`` becomes ``"0"``, as ModelBuilder does).

    The caller's frame is not modified: renaming returns a new frame.
    """
    if isinstance(data.columns, pd.MultiIndex):
        first = data.columns[0]
        flat = "_".join(map(str, first))
        raise DataError(
            f"The data have MultiIndex columns (such as {first!r}), which a formula cannot "
            "name. Flatten them first, e.g. "
            "data.columns = ['_'.join(map(str, c)) for c in data.columns], "
            f"and then write {flat!r} in the formula."
        )
    if all(isinstance(c, str) for c in data.columns):
        return data
    return data.rename(columns=str)


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
            raise FormulaError(f"formulaic could not read {piece!r}: {plain_message(exc)}") from exc
        needed |= {name for name in _names_in(piece) if name in columns}
    needed -= {name for name in needed if name in context and name not in columns}
    needed |= set(parsed.grouping_variables)
    missing = sorted(name for name in needed if name not in columns)
    if missing:
        raise DataError(_missing_columns_message(missing, columns))
    repeated = sorted(name for name in needed if columns.count(name) > 1)
    if repeated:
        raise DataError(
            f"The data have more than one column named {', '.join(map(repr, repeated))}, so "
            "the formula's name is ambiguous. Rename the copies (or drop them, e.g. "
            "data.loc[:, ~data.columns.duplicated()] keeps the first of each name)."
        )
    order = {name: i for i, name in enumerate(columns)}
    return sorted(needed, key=order.__getitem__)


def _reads_as_number(name: str) -> bool:
    try:
        float(name)
    except ValueError:
        return False
    return True


_QUOTED = re.compile(r"(?<!\{)`([^`]*)`(?!\})")


def _quote_number_names(parsed: ParsedFormula) -> ParsedFormula:
    """Wrap a backticked column named like a number in braces: `` `1` `` -> ``{`1`}``.

    formulaic reads `` `1` `` as the number 1 (the intercept); in braces it is a Python
    expression that looks the column up, so a column named ``1`` (or ``0``, ``2.5``) works
    as a predictor, its coefficient labelled `` `1` ``.
    """

    def quote(piece: str) -> str:
        return _QUOTED.sub(
            lambda m: f"{{{m.group(0)}}}" if _reads_as_number(m.group(1)) else m.group(0), piece
        )

    terms = tuple(replace(term, expr=quote(term.expr)) for term in parsed.random)
    return replace(parsed, fixed=quote(parsed.fixed), random=terms)


def check_new_data(design: Design, data: pd.DataFrame, *, fixed_only: bool = False) -> None:
    """Raise a :class:`DataError` naming the predictors that ``data`` lacks.

    With ``fixed_only`` only the fixed part's columns are needed (no grouping columns).
    """
    columns = [str(c) for c in data.columns]
    needed = design.fixed_predictor_columns if fixed_only else design.predictor_columns
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DataError(_missing_columns_message(missing, columns))


def linear_predictor(design: Design, data: pd.DataFrame, beta: np.ndarray) -> np.ndarray:
    """``X beta`` for new rows, encoded as in fitting; NaN where a predictor is missing."""
    data = with_string_names(data)
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


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain_message(exc: BaseException) -> str:
    """Another library's error message without terminal colour codes or marker glyphs."""
    return _ANSI.sub("", str(exc)).replace("\u29db", "").replace("\u29da", "")


#: ``C(...)`` (one level of nested brackets): a categorical use of a column.
_CATEGORICAL_CALL = re.compile(r"\bC\((?:[^()]|\([^()]*\))*\)")


def _check_not_dates(parsed: ParsedFormula, frame: pd.DataFrame, used: list[str]) -> None:
    """Refuse datetime or timedelta columns used as numbers (as groups or in ``C()`` fine)."""
    pieces = [parsed.response, parsed.fixed] + [term.expr for term in parsed.random]
    named = set().union(*(_names_in(_CATEGORICAL_CALL.sub("", p)) for p in pieces))
    for col in used:
        values = frame[col]
        if col in named and (
            pd.api.types.is_datetime64_any_dtype(values)
            or pd.api.types.is_timedelta64_dtype(values)
        ):
            kind = "dates/times" if pd.api.types.is_datetime64_any_dtype(values) else "durations"
            how = (
                f"(data[{col!r}] - data[{col!r}].min()).dt.days"
                if kind == "dates/times"
                else f"data[{col!r}].dt.days"
            )
            raise DataError(
                f"Column {col!r} holds {kind}, which a model cannot use as a number directly. "
                f"Convert it to a number first, e.g. the number of days: "
                f"data = data.assign({col}_days={how}), and use {col + '_days'!r} in the "
                f"formula (as a grouping factor or as C({col}), a category, dates are fine)."
            )


def _check_finite(frame: pd.DataFrame, used: list[str]) -> None:
    for col in used:
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            n_inf = int(np.isinf(values.to_numpy()).sum())
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


#: Largest magnitude a value may have: its square (a sum of squares) must stay finite.
LARGEST_VALUE = 1e150
#: Smallest spread of the response relative to its largest magnitude: below it, sums
#: of squares cancel (sleepstudy's Reaction + 1e7 loses 0.04 of its REML criterion).
SMALLEST_SPREAD = 1e-4


def _response(
    parsed: ParsedFormula, frame: pd.DataFrame, context: Mapping[str, Any]
) -> tuple[np.ndarray, str]:
    y, name = _response_values(parsed, frame, context)
    _check_column(y, name, "response")
    if np.ptp(y) == 0:
        raise DataError(
            f"The response {name!r} takes the same value ({y[0]:g}) in every row, so there "
            "is nothing to model: no variance between or within groups can be estimated. "
            "Check that you picked the right column (and the right rows)."
        )
    spread = float(np.ptp(y)) / float(np.max(np.abs(y)))
    if spread < SMALLEST_SPREAD:
        raise DataError(
            f"The response {name!r} varies only in its 5th significant digit or beyond (values "
            f"around {float(np.median(y)):.10g}, spread {float(np.ptp(y)):.3g}), so floating-point "
            "sums of squares lose the variation. Subtract a constant first, e.g. "
            f"data[{name!r}] - data[{name!r}].mean(): every estimate except the intercept "
            "stays the same."
        )
    return y, name


def _check_column(values: np.ndarray, name: str, role: str) -> None:
    """Refuse non-finite values (after a transformation) and values too large to square."""
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(
            f"The {role} {name!r} is not finite (inf, -inf or NaN) in {int(bad.sum())} of "
            f"{len(values)} rows, after evaluating the formula: e.g. np.log(0) is -inf and "
            "1/0 is inf. Change the transformation (e.g. np.log(x + 1)) or drop those rows "
            "first."
        )
    largest = float(np.max(np.abs(values))) if len(values) else 0.0
    if largest > LARGEST_VALUE:
        raise DataError(
            f"The {role} {name!r} has values as large as {largest:.3g}; their squares "
            "overflow in floating point. Change its units (divide it by a power of ten) "
            "before fitting."
        )


def _as_real(values: Any, name: str, role: str) -> np.ndarray:
    """``values`` as a float array; a complex one is an error (its imaginary part would go)."""
    array = np.asarray(values)
    if np.iscomplexobj(array):
        raise DataError(
            f"The {role} {name!r} holds complex numbers. A model needs real numbers: use "
            "their real part (np.real), modulus (np.abs) or another real quantity."
        )
    return np.asarray(array, dtype=float)


def _response_values(
    parsed: ParsedFormula, frame: pd.DataFrame, context: Mapping[str, Any]
) -> tuple[np.ndarray, str]:
    name = _strip_backticks(parsed.response)
    if name in frame.columns:
        values = frame[name]
        if pd.api.types.is_bool_dtype(values):
            return values.to_numpy(dtype=float), name
        if pd.api.types.is_complex_dtype(values):
            return _as_real(values.to_numpy(), name, "response"), name
        if not pd.api.types.is_numeric_dtype(values):
            examples = ", ".join(repr(v) for v in values.drop_duplicates().head(3))
            raise DataError(
                f"The response {name!r} must be numeric, but it holds {values.dtype} values "
                f"such as {examples}. A linear (mixed) model needs a number to predict: convert "
                f"it with pandas.to_numeric(data[{name!r}]), or pick a numeric column."
            )
        return values.to_numpy(dtype=float), name
    # "0 + ..." so that formulaic adds no intercept column to a transformed response
    lhs = _materialize(f"0 + {parsed.response}", frame, context)
    if lhs.shape[1] != 1:
        raise DataError(
            f"The response {parsed.response!r} must be a single numeric column, but it expands "
            f"to {lhs.shape[1]} columns ({', '.join(map(str, lhs.columns))})."
        )
    return _as_real(lhs.iloc[:, 0].to_numpy(), name, "response"), name


# --------------------------------------------------------------------------- fixed part


def _materialize(spec: str, frame: pd.DataFrame, context: Mapping[str, Any]) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            # a transformation's own numpy warnings (np.log(0)) become the error below
            warnings.simplefilter("ignore", RuntimeWarning)
            return model_matrix(spec, frame, context=context, na_action="ignore")
    except Exception as exc:
        raise FormulaError(
            f"Could not build the model matrix for {spec!r}: {plain_message(exc)}"
        ) from exc


def _numeric_matrix(matrix: pd.DataFrame, what: str) -> np.ndarray:
    """The model matrix as floats, each column checked to be finite and of sane size."""
    values = _as_real(np.asarray(matrix), what, "model matrix")
    for j, column in enumerate(matrix.columns):
        _check_column(values[:, j], str(column), "column")
    return values


def _fixed_design(
    parsed: ParsedFormula, frame: pd.DataFrame, context: Mapping[str, Any]
) -> FixedDesign:
    full = _materialize(parsed.fixed, frame, context)
    matrix = _numeric_matrix(full, parsed.fixed)
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
    # with fewer rows than columns the trailing columns have no diagonal: rank <= rows
    diag = np.zeros(matrix.shape[1])
    diag[: min(r.shape)] = np.abs(np.diag(r))
    keep = diag > tol * max(diag.max(), 1.0)
    if keep.all():
        return keep
    # QR without pivoting flags a dependent column, but once one is dropped the
    # later diagonals are relative to a different basis: confirm greedily.
    kept: list[int] = []
    for j in range(matrix.shape[1]):
        trial = matrix[:, kept + [j]] / scale[kept + [j]]
        d = np.abs(np.diag(np.linalg.qr(trial, mode="r")))
        if len(d) == len(kept) + 1 and d[-1] > tol * max(d.max(), 1.0):
            kept.append(j)
    out = np.zeros(matrix.shape[1], dtype=bool)
    out[kept] = True
    return out


# --------------------------------------------------------------------------- random part


def _group_keys(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.MultiIndex:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"The grouping column(s) {', '.join(map(repr, missing))} are not in the data."
        )
    return pd.MultiIndex.from_arrays([frame[c] for c in columns], names=list(columns))


def _join_labels(keys: pd.MultiIndex) -> pd.Index:
    """lme4's labels of interaction groups: the values joined with ``:``.

    When joining would make two groups look alike (``("a:b", "c")`` and ``("a", "b:c")``),
    each label is written as the tuple of values instead, so labels stay unique.
    """
    joined = pd.Index([":".join(map(str, key)) for key in keys])
    if joined.is_unique:
        return joined
    return pd.Index([str(tuple(map(str, key))) for key in keys])


def _group_labels(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.Index:
    keys = _group_keys(frame, columns)
    if len(columns) == 1:
        return pd.Index(keys.get_level_values(0))
    return pd.Index([":".join(map(str, key)) for key in keys])


def grouping_factor(frame: pd.DataFrame, columns: tuple[str, ...]) -> GroupingFactor:
    """Integer codes and level labels of the (interaction of the) grouping columns.

    An interaction's groups are the distinct tuples of the columns' values (the codes
    of the pair, never of joined strings, which could merge different groups).
    """
    keys: pd.MultiIndex | None = None
    if len(columns) == 1:
        codes, levels = pd.factorize(pd.Index(frame[columns[0]]), sort=True)
    else:
        codes, keys = pd.factorize(_group_keys(frame, columns), sort=True)
        keys = pd.MultiIndex.from_tuples(list(keys), names=list(columns))
        levels = _join_labels(keys)
    levels = pd.Index(levels, name=":".join(columns))
    if len(levels) < 2:
        name = levels.name
        only = f" (its only level is {levels[0]!r})" if len(levels) else ""
        raise ModelError(
            f"The grouping factor {name!r} has {len(levels)} level{only}. A random effect "
            "describes how groups differ, so it needs at least 2 groups (in practice 5 or "
            "more): use a factor with more groups, or drop the term and fit mixnb.ols."
        )
    return GroupingFactor(columns=columns, codes=codes.astype(np.intp), levels=levels, keys=keys)


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
        matrix=np.ascontiguousarray(_numeric_matrix(matrix, term.expr)),
        factor=grouping_factor(frame, term.factors),
        spec=matrix.model_spec,
    )


def _check_enough_rows(fixed: FixedDesign, nobs: int) -> None:
    p = len(fixed.columns)
    if nobs <= p:
        raise ModelError(
            f"The model has {p} fixed-effect coefficient(s) but only {nobs} rows: at least one "
            "more row than coefficients is needed to estimate the residual variance. Use "
            "more data or fewer predictors."
        )


def check_residual_left(design: Design) -> None:
    """Refuse a response that the fixed effects reproduce exactly (``y ~ y``, ``y ~ 2 * y``).

    For a Gaussian model (``ols``, ``lmm``): with no residual there is no residual
    variance and the likelihood is unbounded. (A binomial model calls the same thing
    separation, and says so itself.)
    """
    fixed, y, response = design.fixed, design.y, design.response_name
    if not estimable_columns(np.column_stack([fixed.matrix, y]), tol=EXACT_FIT_TOLERANCE)[-1]:
        raise ModelError(
            f"The fixed effects reproduce the response {response!r} exactly (no residual "
            "is left, to 11 significant digits), so there is no variance to estimate. Is the "
            "response, or a transformation of it, also a predictor? Remove it from the "
            "right-hand side. (A response of huge values that vary little, such as times "
            "in nanoseconds, needs its mean subtracted first.)"
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
