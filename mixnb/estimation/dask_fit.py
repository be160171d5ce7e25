"""The cross-products of a Dask DataFrame: where the data live, summed by a tree.

1. The columns the formula uses are checked against the DataFrame's metadata (no data
   read); a formula with several grouping factors is refused before any work.
2. String predictors' levels are gathered across partitions from their complete rows (one
   pass over the used columns, only when the formula has such predictors).
3. The encoding is learned from the first partition with a complete row
   (:mod:`mixnb.estimation.encoding`).
4. Every partition's statistics are formed where it lives
   (:func:`~mixnb.estimation.crossproducts.chunk_statistics`) and added in a tree of
   :func:`~mixnb.estimation.crossproducts.combine` calls, ``split_every`` at a time: never
   a ``groupby`` (a shuffle of the rows), and each worker holds one partition plus
   O(groups) sums at a time.

Everything runs on Dask's current scheduler: a ``dask.distributed`` client's cluster (local
or many machines) when one is active, threads otherwise.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd

from mixnb.errors import DataError, MissingDataWarning, RankDeficiencyWarning
from mixnb.estimation.crossproducts import (
    GroupCrossproducts,
    chunk_statistics,
    combine_all,
    finish,
)
from mixnb.estimation.encoding import (
    DesignEncoding,
    categorical_columns,
    check_one_factor,
    learn_encoding,
    used_columns,
)
from mixnb.formula import parse_formula

#: How many partitions' statistics one reduction task adds.
SPLIT_EVERY = 8


def is_dask_dataframe(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame (checked without importing Dask)."""
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(
        data, "map_partitions"
    )


def dask_crossproducts(
    formula: str,
    ddf: Any,
    context: Mapping[str, Any] | None = None,
    split_every: int = SPLIT_EVERY,
) -> tuple[GroupCrossproducts, DesignEncoding, int]:
    """The cross-products of ``formula`` over the rows of ``ddf``, its encoding, and the
    number of partitions."""
    import dask

    context = dict(context or {})
    parsed = parse_formula(formula)
    group_columns = check_one_factor(parsed)
    meta = ddf._meta
    used = used_columns(formula, meta, context)
    data = ddf[used]
    strings = categorical_columns(meta, used, exclude=(*group_columns, parsed.response))
    levels = {}
    if strings:
        found = [dask.delayed(_levels)(part, strings) for part in data.to_delayed()]
        levels = dask.compute(_tree(found, _union_levels, split_every))[0]
        levels = {name: sorted(values) for name, values in levels.items()}
    parts = data.to_delayed()
    encoding = learn_encoding(formula, _sample(parts, used), levels, context)
    stats = [dask.delayed(chunk_statistics)(part, encoding) for part in parts]
    total = dask.compute(_tree(stats, combine_all, split_every))[0]
    crossproducts = finish(total, encoding)
    _warn_dropped(crossproducts, total.n_rows)
    return crossproducts, encoding, len(parts)


def _sample(parts: list, used: list[str]) -> pd.DataFrame:
    """The first partition with a complete row (the encoding is learned from it)."""
    for part in parts:
        frame = part.compute()
        if len(frame.loc[:, used].dropna()):
            return frame
    raise DataError("No rows are left after dropping rows with missing values.")


def _tree(items: list, combine, split_every: int):
    """A tree of delayed ``combine(list)`` calls, ``split_every`` inputs each."""
    import dask

    step = max(int(split_every), 2)
    while len(items) > 1:
        items = [dask.delayed(combine)(items[i : i + step]) for i in range(0, len(items), step)]
    return items[0]


def _levels(frame: pd.DataFrame, columns: list[str]) -> dict[str, set]:
    complete = frame.dropna()
    return {name: set(complete[name].unique().tolist()) for name in columns}


def _union_levels(parts: list[dict[str, set]]) -> dict[str, set]:
    return {name: set().union(*(p[name] for p in parts)) for name in parts[0]}


def _warn_dropped(cp: GroupCrossproducts, n_total: int) -> None:
    if cp.n_dropped:
        detail = ", ".join(f"{col!r}: {k}" for col, k in cp.dropped_by_column.items())
        warnings.warn(
            f"{cp.n_dropped} of {n_total} rows were dropped because a variable the model uses "
            f"is missing in them (missing values per column: {detail}).",
            MissingDataWarning,
            stacklevel=5,  # the caller of mixnb.lmm
        )


def warn_dropped_columns(dropped: list[str]) -> None:
    """The in-memory fit's warning for aliased fixed-effect columns."""
    if dropped:
        warnings.warn(
            f"The fixed-effect columns {', '.join(map(repr, dropped))} are linear combinations "
            "of earlier columns (every value they could take is already explained), so they "
            "were dropped, as lme4 does. Check for duplicated or redundant predictors.",
            RankDeficiencyWarning,
            stacklevel=4,
        )
