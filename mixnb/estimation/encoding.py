"""The design encoding of a model fitted chunk by chunk: learned once, applied to every chunk.

A data set too big for memory (a Dask DataFrame, :mod:`mixnb.estimation.dask_fit`) is seen
one partition at a time. Every partition must be encoded the same way: the same fixed-effect
and random-effect columns, the same dummy columns for a categorical predictor even when a
partition lacks some of its levels. :func:`learn_encoding` learns that encoding once, from a
sample (the first partition) whose categorical columns carry the levels gathered across all
partitions, as formulaic ``ModelSpec`` objects (the same machinery as the in-memory
:func:`mixnb.design.build_design`); :meth:`DesignEncoding.encode` applies it to a chunk.

When a block's columns are only the intercept and numeric data columns (``y ~ x + (x | g)``),
formulaic is bypassed and the columns are taken from the chunk as numpy arrays (checked
against formulaic's encoding of the sample): formulaic's per-chunk overhead would otherwise
dominate the work.

What the encoding refuses, with the reason and the fix: several grouping factors (their
random effects are not block diagonal by one factor, so per-group cross-products do not
determine the fit) and stateful transforms such as ``center(x)`` or ``scale(x)`` (their
state, learned from one chunk, would differ from the full data's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from formulaic.model_spec import ModelSpec

from mixnb.design import (
    _check_finite,
    _group_labels,
    _materialize,
    _names_in,
    _predictor_columns,
    _response,
    _used_columns,
)
from mixnb.errors import DataError, FormulaError, ModelError
from mixnb.formula import ParsedFormula, parse_formula

#: Marks the intercept (a column of ones) in a direct encoding.
INTERCEPT = "Intercept"


@dataclass(frozen=True)
class ColumnBlock:
    """How one block of model-matrix columns (``X``, or a random term's ``Z``) is built.

    ``direct`` lists, per column, the data column it is (``None`` for the intercept) when
    the block needs no formulaic encoding; otherwise it is ``None`` and ``spec`` builds it.
    """

    spec: ModelSpec
    columns: tuple[str, ...]
    direct: tuple[str | None, ...] | None

    def arrays(self, frame: pd.DataFrame) -> list[np.ndarray | None]:
        """The block's columns for the rows of ``frame``; ``None`` stands for a column of ones."""
        if self.direct is not None:
            return [
                None if name is None else frame[name].to_numpy(dtype=float) for name in self.direct
            ]
        matrix = self.spec.get_model_matrix(frame, na_action="ignore")
        values = np.asarray(matrix[list(self.columns)], dtype=float)
        return [values[:, j] for j in range(values.shape[1])]

    def keys(self, block: str) -> list[str]:
        """A name per column that is equal for equal columns (shared products are formed once)."""
        if self.direct is not None:
            return ["1" if name is None else f"column:{name}" for name in self.direct]
        return [f"{block}:{j}" for j in range(len(self.columns))]


@dataclass(frozen=True)
class EncodedChunk:
    """One chunk's complete rows, encoded: what the cross-products are formed from."""

    y: np.ndarray
    fixed: list[np.ndarray | None]
    random: list[np.ndarray | None]
    groups: np.ndarray
    n_rows: int
    #: missing values per used column, over all the chunk's rows
    missing: np.ndarray


@dataclass(frozen=True)
class DesignEncoding:
    """The encoding of one model, learned once (see the module docstring)."""

    formula: ParsedFormula
    used: tuple[str, ...]
    response_name: str
    fixed: ColumnBlock
    random: tuple[ColumnBlock, ...]
    group_columns: tuple[str, ...]
    predictor_columns: tuple[str, ...]
    context: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: the string predictors' levels across all the data
    levels: Mapping[str, tuple] = field(default_factory=dict)
    #: a categorical grouping column's dtype: its groups are ordered as its categories
    group_dtype: pd.CategoricalDtype | None = None

    @property
    def factor_name(self) -> str:
        return ":".join(self.group_columns)

    def random_keys(self) -> list[str]:
        return [key for k, block in enumerate(self.random) for key in block.keys(f"random{k}")]

    def fixed_keys(self) -> list[str]:
        return self.fixed.keys("fixed")

    def columns(self) -> tuple[tuple[str, ...], ...]:
        """The fixed-effect columns, then each random term's: equal encodings, equal names."""
        return (self.fixed.columns, *(block.columns for block in self.random))

    def with_levels(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (not modified) with its string predictors as categoricals of all the
        data's levels, as the specs were learned; a level the data never had is an error."""
        present = {k: v for k, v in self.levels.items() if k in frame.columns}
        if not present:
            return frame
        for name, values in present.items():
            column = frame[name]
            unknown = column.notna() & ~column.isin(list(values))
            if unknown.any():
                found = sorted(set(column[unknown].tolist()), key=str)
                raise DataError(
                    f"The column {name!r} has level(s) {found} that the data the model was "
                    "fitted to did not have. A fixed effect for them was never estimated: "
                    "predict only for the levels the model knows."
                )
        converted = {
            name: pd.Categorical(frame[name], categories=list(v)) for name, v in present.items()
        }
        return frame.assign(**converted)

    def encode(self, frame: pd.DataFrame) -> EncodedChunk:
        """Drop ``frame``'s incomplete rows (counting them per column) and encode the rest."""
        frame = frame.loc[:, list(self.used)]
        n_rows = len(frame)
        if _all_finite(frame):  # the usual case, in one pass over each float column
            counts = np.zeros(len(self.used), dtype=np.int64)
        else:
            missing = frame.isna()
            counts = missing.sum().to_numpy(dtype=np.int64)
            if counts.any():
                frame = frame.loc[~missing.any(axis=1).to_numpy()]
            _check_finite(frame, list(self.used))
        frame = self.with_levels(frame)
        if self.response_name in frame.columns:
            y = frame[self.response_name].to_numpy(dtype=float)
        else:
            y = _response(self.formula, frame, self.context)[0]
        if self.group_dtype is not None:  # integer codes in the categories' order
            column = frame[self.group_columns[0]]
            if column.dtype != self.group_dtype:
                column = column.astype(self.group_dtype)
            groups = column.cat.codes.to_numpy().astype(np.int64)
            if (groups < 0).any():
                raise DataError(
                    f"The grouping column {self.group_columns[0]!r} has values that are not "
                    "among its categories in the first partition: give every partition the "
                    "same categories (ddf[col] = ddf[col].astype(pd.CategoricalDtype(...)))."
                )
        elif len(self.group_columns) == 1:
            groups = frame[self.group_columns[0]].to_numpy()
        else:
            groups = np.asarray(_group_labels(frame, self.group_columns), dtype=object)
        return EncodedChunk(
            y=y,
            fixed=self.fixed.arrays(frame),
            random=[a for block in self.random for a in block.arrays(frame)],
            groups=groups,
            n_rows=n_rows,
            missing=counts,
        )


def _all_finite(frame: pd.DataFrame) -> bool:
    """Whether no value is missing or infinite (float columns are checked by isfinite)."""
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, np.dtype) and column.dtype.kind == "f":
            if not np.isfinite(column.to_numpy()).all():
                return False
        elif column.isna().any():
            return False
    return True


def check_one_factor(parsed: ParsedFormula) -> tuple[str, ...]:
    """The one grouping factor of the random terms; an error naming the fix otherwise."""
    if not parsed.has_random:
        raise FormulaError(
            f"The formula {parsed.text!r} has no random-effect term. A mixed model needs at "
            "least one, such as '(1 | group)'; for a model without random effects use mixnb.ols."
        )
    factors = list(dict.fromkeys(term.factors for term in parsed.random))
    if len(factors) > 1:
        names = ", ".join(repr(":".join(f)) for f in factors)
        raise ModelError(
            f"The formula {parsed.text!r} has several grouping factors ({names}). A fit from "
            "per-group cross-products (on Dask) needs one grouping factor: with crossed or "
            "nested factors the random effects of different factors are linked, so the rows "
            "are needed. Fit this model in memory with mixnb.lmm on a pandas DataFrame "
            "(ddf.compute(), or a sample of it), or keep one grouping factor (e.g. the "
            "interaction '(1 | a:b)' for nested groups)."
        )
    return factors[0]


def categorical_columns(meta: pd.DataFrame, used: list[str], exclude: tuple[str, ...]) -> list[str]:
    """Used columns that formulaic encodes as categorical and whose levels must be gathered:
    strings (a ``category`` column carries its levels in its dtype)."""
    out = []
    for name in used:
        if name in exclude:
            continue
        dtype = meta[name].dtype
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            if not isinstance(dtype, pd.CategoricalDtype):
                out.append(name)
    return out


def used_columns(formula: str, meta: pd.DataFrame, context: Mapping[str, Any]) -> list[str]:
    """The data columns ``formula`` uses (an error naming near matches for a missing one)."""
    return _used_columns(parse_formula(formula), meta, context)


def string_levels(
    formula: str, frame: pd.DataFrame, context: Mapping[str, Any] | None = None
) -> dict[str, list]:
    """The sorted levels of the string predictors among ``frame``'s complete rows."""
    parsed = parse_formula(formula)
    used = _used_columns(parsed, frame, dict(context or {}))
    exclude = (*check_one_factor(parsed), parsed.response)
    complete = frame.loc[:, used].dropna()
    return {
        name: sorted(complete[name].unique().tolist())
        for name in categorical_columns(frame, used, exclude)
    }


def learn_encoding(
    formula: str,
    sample: pd.DataFrame,
    levels: Mapping[str, list],
    context: Mapping[str, Any] | None = None,
) -> DesignEncoding:
    """Learn the encoding of ``formula`` from ``sample``.

    Parameters
    ----------
    formula
        An lme4-style formula with one grouping factor.
    sample
        Some rows of the data (e.g. the first partition), with every used column.
    levels
        For each string column used as a predictor, its levels across all the data (sorted,
        as the in-memory fit orders them); the sample's own levels are not enough.
    context
        Names the formula's expressions may call (``np`` for ``np.log(x)``).
    """
    parsed = parse_formula(formula)
    group_columns = check_one_factor(parsed)
    context = dict(context or {})
    used = _used_columns(parsed, sample, context)
    # only what the formula names travels to the workers
    mentioned = set().union(*(_names_in(p) for p in (parsed.response, parsed.fixed)))
    mentioned |= set().union(*(_names_in(t.expr) for t in parsed.random))
    roots = {name.split(".")[0] for name in mentioned}
    context = {name: value for name, value in context.items() if name in roots}
    frame = sample.loc[:, used].dropna()
    if len(frame) == 0:
        raise DataError(
            "The first partition has no complete rows (every row misses a value the model "
            "uses), so the encoding cannot be learned from it: drop the empty partitions or "
            "repartition the data first (ddf.dropna().repartition(...))."
        )
    frame = frame.copy()
    for name, values in levels.items():
        frame[name] = pd.Categorical(frame[name], categories=list(values))
    response_name = _response(parsed, frame, context)[1]
    fixed = _column_block(parsed.fixed, frame, context)
    random = []
    for term in parsed.random:
        block = _column_block(term.expr, frame, context)
        if not block.columns:
            raise FormulaError(
                f"The random term ({term.expr} | {term.group}) has no columns: its left side "
                "must name at least an intercept, as in (1 | group)."
            )
        random.append(block)
    return DesignEncoding(
        formula=parsed,
        used=tuple(used),
        response_name=response_name,
        fixed=fixed,
        random=tuple(random),
        group_columns=group_columns,
        predictor_columns=tuple(_predictor_columns(parsed, used)),
        context=context,
        levels={name: tuple(values) for name, values in levels.items()},
        group_dtype=_categorical_dtype(sample, group_columns),
    )


def _categorical_dtype(frame: pd.DataFrame, columns: tuple[str, ...]):
    """The dtype of a single categorical grouping column (None for any other)."""
    if len(columns) == 1 and isinstance(frame[columns[0]].dtype, pd.CategoricalDtype):
        return frame[columns[0]].dtype
    return None


def _column_block(spec_text: str, frame: pd.DataFrame, context: Mapping[str, Any]) -> ColumnBlock:
    matrix = _materialize(spec_text, frame, context)
    spec = matrix.model_spec
    if spec.transform_state:
        names = ", ".join(map(repr, spec.transform_state))
        raise FormulaError(
            f"The formula part {spec_text!r} uses the stateful transform(s) {names}, whose state "
            "(a mean, a scale, knots) formulaic learns from the data. Fitted partition by "
            "partition it would be learned from the first partition only, not from all the "
            "data. Compute the column first (e.g. ddf['x_c'] = ddf['x'] - ddf['x'].mean()) "
            "and use it in the formula."
        )
    columns = tuple(str(c) for c in matrix.columns)
    return ColumnBlock(spec=spec, columns=columns, direct=_direct_plan(columns, matrix, frame))


def _direct_plan(
    columns: tuple[str, ...], matrix: pd.DataFrame, frame: pd.DataFrame
) -> tuple[str | None, ...] | None:
    """Per column, the data column it copies (``None``: the intercept), if every column is
    the intercept or a numeric data column, checked against formulaic's encoding."""
    plan: list[str | None] = []
    for name in columns:
        if name == INTERCEPT:
            plan.append(None)
        elif (
            name in frame.columns
            and pd.api.types.is_numeric_dtype(frame[name])
            and not pd.api.types.is_bool_dtype(frame[name])
        ):
            plan.append(name)
        else:
            return None
    direct = (
        np.column_stack(
            [np.ones(len(frame)) if n is None else frame[n].to_numpy(dtype=float) for n in plan]
        )
        if plan
        else np.zeros((len(frame), 0))
    )
    if not np.array_equal(direct, np.asarray(matrix, dtype=float)):
        return None
    return tuple(plan)
