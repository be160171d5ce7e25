"""Sufficient statistics of a one-factor linear mixed model, formed chunk by chunk.

With one grouping factor the profiled deviance, its gradient, the fixed effects, their
covariance, the Satterthwaite df and the BLUPs with their conditional variances depend on
the data only through

* per group ``g``: ``Z_g'Z_g`` and ``Z_g'[X_g y_g]`` (what
  :class:`~mixnb.estimation.pls.GroupedSystem` forms once from the rows), and
* in total: ``[X y]'[X y]``, the number of rows, and the sums of ``Z``'s columns (for the
  columns' scales, :func:`~mixnb.estimation.covariance.column_scales_from_sums`).

:func:`chunk_statistics` forms them for one chunk of rows (a Dask partition) with one
``numpy.bincount`` per distinct product of two columns; :func:`combine` adds two chunks'
statistics (groups aligned by label), so that any tree of additions gives the statistics of
all the rows; :func:`finish` turns the sum into :class:`GroupCrossproducts`, and
:func:`fit_crossproducts` fits the model from them with the in-memory fit's own system and
optimiser: no formula of the fit is written twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mixnb.design import RANK_TOLERANCE
from mixnb.errors import DataError, ModelError
from mixnb.estimation.covariance import CovarianceLayout, column_scales_from_sums
from mixnb.estimation.deviance import ProfiledDeviance
from mixnb.estimation.encoding import DesignEncoding
from mixnb.estimation.lmm import LmmEstimates, estimates_at
from mixnb.estimation.optimize import minimize_deviance
from mixnb.estimation.pls import Absorbed, FixedCrossproducts, GroupedSystem

#: Integer group labels spanning at most this many times a chunk's rows (plus a margin)
#: are used as offsets directly, without hashing.
RANGE_SLACK = 4


@dataclass(frozen=True)
class GroupCrossproducts:
    """Everything a one-factor linear mixed model needs from its rows.

    This is the entry point for other engines (Spark, DuckDB, Polars, ...): form these sums
    where the data live and pass them to :func:`mixnb.from_crossproducts`.

    Attributes
    ----------
    levels
        The ``J`` group labels, sorted.
    ztz
        ``(q, q, J)``: ``Z_g'Z_g`` for every group, ``Z`` the random-effect columns of all
        the random terms side by side.
    ztxy
        ``(q, p + 1, J)``: ``Z_g'[X_g y_g]``.
    xytxy
        ``(p + 1, p + 1)``: ``[X y]'[X y]`` over all rows.
    z_sums
        ``(q,)``: the sums of ``Z``'s columns over all rows (their scales follow from these
        and the diagonals of ``ztz``).
    nobs
        The number of rows used.
    fixed_columns, random_columns
        Names of ``X``'s columns and, per random term, of its ``Z`` columns.
    factor_name, response_name
        The grouping factor's and the response's names.
    n_dropped, dropped_by_column
        Rows dropped for missing values, and missing values per column.
    """

    levels: pd.Index
    ztz: np.ndarray
    ztxy: np.ndarray
    xytxy: np.ndarray
    z_sums: np.ndarray
    nobs: int
    fixed_columns: list[str]
    random_columns: list[list[str]]
    factor_name: str
    response_name: str = "y"
    n_dropped: int = 0
    dropped_by_column: dict[str, int] = field(default_factory=dict)

    @property
    def n_groups(self) -> int:
        return len(self.levels)

    def layout(self) -> CovarianceLayout:
        """The random terms' covariance layout, with their columns' scales."""
        sums_of_squares = np.einsum("iig->i", self.ztz)
        scales = column_scales_from_sums(self.nobs, self.z_sums, sums_of_squares)
        sizes = tuple(len(c) for c in self.random_columns)
        cuts = np.cumsum(sizes)[:-1]
        return CovarianceLayout(sizes, tuple(np.split(scales, cuts)))

    def check(self) -> None:
        """A clear error when the shapes disagree or the model cannot be identified."""
        q = sum(len(c) for c in self.random_columns)
        p1 = len(self.fixed_columns) + 1
        j = self.n_groups
        expected = {"ztz": (q, q, j), "ztxy": (q, p1, j), "xytxy": (p1, p1), "z_sums": (q,)}
        for name, shape in expected.items():
            if np.shape(getattr(self, name)) != shape:
                raise DataError(
                    f"{name} has shape {np.shape(getattr(self, name))}, but {q} random-effect "
                    f"column(s), {p1 - 1} fixed-effect column(s) and {j} groups need {shape}."
                )
        if j < 2:
            only = f" (its only level is {self.levels[0]!r})" if j else ""
            raise ModelError(
                f"The grouping factor {self.factor_name!r} has {j} level{only}. A random effect "
                "describes how groups differ, so it needs at least 2 groups (in practice 5 or "
                "more): use a factor with more groups, or drop the term and fit mixnb.ols."
            )
        if j * q >= self.nobs:
            raise ModelError(
                f"The random part has {j * q} random effects ({j} levels x {q} column(s)) for "
                f"only {self.nobs} observations. With at least one random effect per "
                "observation the group variance cannot be told apart from the residual "
                "variance. Use a grouping factor with fewer levels than observations."
            )


# --------------------------------------------------------------------------- one chunk


@dataclass(frozen=True)
class ChunkStatistics:
    """The statistics of some rows; per group, one row of ``per_group`` for each distinct
    product of two columns (:func:`product_plan`; the first is the row count)."""

    keys: np.ndarray
    contiguous: bool
    per_group: np.ndarray
    xytxy: np.ndarray
    z_sums: np.ndarray
    nobs: int
    n_rows: int
    missing: np.ndarray


def group_codes(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Codes of each row's group, the sorted group labels, and whether the labels are the
    consecutive integers from the first (then the codes are offsets, with no hashing)."""
    if groups.dtype.kind in "iu" and len(groups):
        low, high = int(groups.min()), int(groups.max())
        span = high - low + 1
        if span <= RANGE_SLACK * len(groups) + 1024:
            return (groups - low).astype(np.intp, copy=False), np.arange(low, high + 1), True
    codes, uniques = pd.factorize(groups, sort=True)
    return codes.astype(np.intp), np.asarray(uniques), False


def _lower_pairs(q: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(q) for j in range(i + 1)]


def product_plan(encoding: DesignEncoding) -> tuple[list, list[int], list[int]]:
    """The distinct products of two columns that the statistics need, each formed once.

    Returns the products (each a pair of ``("z", i)`` / ``("xy", c)`` sources; the first is
    the row count) and the product holding each entry of ``Z'Z``'s lower triangle and of
    ``Z'[X y]`` (row by row). Equal columns share products: for ``y ~ x + (x | g)``, 5
    products serve the 3 + 6 entries.
    """
    z_keys = encoding.random_keys()
    xy_keys = [*encoding.fixed_keys(), "response"]
    q, p1 = len(z_keys), len(xy_keys)
    order: dict[tuple[str, str], int] = {}
    products: list[tuple] = []

    def product(ka: str, sa: tuple, kb: str, sb: tuple) -> int:
        key = (ka, kb) if ka <= kb else (kb, ka)
        if key not in order:
            order[key] = len(products)
            products.append((sa, sb))
        return order[key]

    product("1", None, "1", None)
    ztz = [product(z_keys[i], ("z", i), z_keys[j], ("z", j)) for i, j in _lower_pairs(q)]
    ztxy = [
        product(z_keys[i], ("z", i), xy_keys[c], ("xy", c)) for i in range(q) for c in range(p1)
    ]
    return products, ztz, ztxy


def chunk_statistics(frame: pd.DataFrame, encoding: DesignEncoding) -> ChunkStatistics:
    """The statistics of one chunk of rows (its incomplete rows dropped and counted):
    per group, one ``numpy.bincount`` per distinct product (:func:`product_plan`)."""
    chunk = encoding.encode(frame)
    columns = {"z": chunk.random, "xy": [*chunk.fixed, chunk.y]}
    n = len(chunk.y)
    codes, keys, contiguous = group_codes(chunk.groups)
    products, _, _ = product_plan(encoding)
    per_group = np.empty((len(products), len(keys)))
    for row, (sa, sb) in enumerate(products):
        a = None if sa is None else columns[sa[0]][sa[1]]
        b = None if sb is None else columns[sb[0]][sb[1]]
        if a is None or b is None:
            weights = b if a is None else a
        else:
            weights = a * b
        per_group[row] = np.bincount(codes, weights=weights, minlength=len(keys))
    xy = columns["xy"]
    p1 = len(xy)
    xytxy = np.empty((p1, p1))
    for a in range(p1):
        for b in range(a + 1):
            xytxy[a, b] = xytxy[b, a] = _dot(xy[a], xy[b], n)
    z_sums = np.array([n if col is None else float(col.sum()) for col in chunk.random])
    return ChunkStatistics(
        keys=keys,
        contiguous=contiguous,
        per_group=per_group,
        xytxy=xytxy,
        z_sums=z_sums.astype(float),
        nobs=n,
        n_rows=chunk.n_rows,
        missing=chunk.missing,
    )


def _dot(a: np.ndarray | None, b: np.ndarray | None, n: int) -> float:
    if a is None and b is None:
        return float(n)
    if a is None or b is None:
        return float((b if a is None else a).sum())
    return float(a @ b)


@dataclass(frozen=True)
class ChunkCrossproducts:
    """Statistics of some chunks with the formula and encoding they were formed with."""

    formula: str
    encoding: DesignEncoding
    statistics: ChunkStatistics


# --------------------------------------------------------------------------- reduction


def combine(a: ChunkStatistics, b: ChunkStatistics) -> ChunkStatistics:
    """The statistics of the rows of ``a`` and ``b`` together (groups aligned by label)."""
    if not len(a.keys) or not len(b.keys):
        keys, contiguous = (b.keys, b.contiguous) if not len(a.keys) else (a.keys, a.contiguous)
        per_group = b.per_group if not len(a.keys) else a.per_group
    elif a.contiguous and b.contiguous:
        low = min(a.keys[0], b.keys[0])
        keys = np.arange(low, max(a.keys[-1], b.keys[-1]) + 1)
        per_group = np.zeros((a.per_group.shape[0], len(keys)))
        for part in (a, b):
            start = part.keys[0] - low
            per_group[:, start : start + len(part.keys)] += part.per_group
        contiguous = True
    else:
        try:
            keys = np.union1d(a.keys, b.keys)
        except TypeError as exc:
            raise DataError(
                f"The grouping column holds labels of different types in different partitions "
                f"({a.keys.dtype} and {b.keys.dtype}): convert it to one type first, e.g. "
                "ddf['g'] = ddf['g'].astype(str)."
            ) from exc
        per_group = np.zeros((a.per_group.shape[0], len(keys)))
        for part in (a, b):
            per_group[:, np.searchsorted(keys, part.keys)] += part.per_group
        contiguous = False
    return ChunkStatistics(
        keys=keys,
        contiguous=contiguous,
        per_group=per_group,
        xytxy=a.xytxy + b.xytxy,
        z_sums=a.z_sums + b.z_sums,
        nobs=a.nobs + b.nobs,
        n_rows=a.n_rows + b.n_rows,
        missing=a.missing + b.missing,
    )


def combine_all(parts: list[ChunkStatistics]) -> ChunkStatistics:
    """:func:`combine` over a list (on one machine; Dask builds the tree itself)."""
    while len(parts) > 1:
        parts = [
            combine(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


def finish(total: ChunkStatistics, encoding: DesignEncoding) -> GroupCrossproducts:
    """The summed chunk statistics as :class:`GroupCrossproducts` (groups without rows left
    out, as the in-memory fit never sees them)."""
    seen = total.per_group[0] > 0
    values = total.per_group[:, seen]
    q = sum(len(block.columns) for block in encoding.random)
    p1 = len(encoding.fixed.columns) + 1
    n_groups = int(seen.sum())
    _, ztz_rows, ztxy_rows = product_plan(encoding)
    ztz = np.empty((q, q, n_groups))
    for r, (i, j) in zip(ztz_rows, _lower_pairs(q)):
        ztz[i, j] = ztz[j, i] = values[r]
    ztxy = values[ztxy_rows].reshape(q, p1, n_groups)
    counts = {name: int(k) for name, k in zip(encoding.used, total.missing) if k}
    return GroupCrossproducts(
        levels=_levels(total.keys[seen], encoding),
        ztz=ztz,
        ztxy=np.ascontiguousarray(ztxy),
        xytxy=total.xytxy,
        z_sums=total.z_sums,
        nobs=total.nobs,
        fixed_columns=list(encoding.fixed.columns),
        random_columns=[list(block.columns) for block in encoding.random],
        factor_name=encoding.factor_name,
        response_name=encoding.response_name,
        n_dropped=total.n_rows - total.nobs,
        dropped_by_column=counts,
    )


def _levels(keys: np.ndarray, encoding: DesignEncoding) -> pd.Index:
    """The group labels (for a categorical grouping column, its categories in their order)."""
    if encoding.group_dtype is not None:
        values = pd.Categorical.from_codes(keys, dtype=encoding.group_dtype)
        return pd.CategoricalIndex(values, name=encoding.factor_name)
    return pd.Index(keys, name=encoding.factor_name)


# --------------------------------------------------------------------------- the fit


def estimable_from_crossproducts(xtx: np.ndarray, tol: float = RANK_TOLERANCE) -> np.ndarray:
    """:func:`mixnb.design.estimable_columns` from ``X'X`` alone (earlier columns win).

    The diagonal of ``R`` in ``X = QR`` is that of the Cholesky factor of ``X'X``; a column
    is kept when its part orthogonal to the kept columns, relative to its norm, exceeds
    ``tol`` (resolved to about 1e-8, the square root of the rounding of ``X'X``).
    """
    p = xtx.shape[0]
    scale = np.sqrt(np.diag(xtx))
    scale = np.where(scale > 0, scale, 1.0)
    c = xtx / np.outer(scale, scale)
    kept: list[int] = []
    diag: list[float] = []
    for j in range(p):
        if kept:
            block = c[np.ix_(kept, kept)]
            rest = c[j, j] - c[j, kept] @ np.linalg.solve(block, c[kept, j])
        else:
            rest = c[j, j]
        d = float(np.sqrt(max(rest, 0.0)))
        if d > tol * max(max(diag + [d]), 1.0):
            kept.append(j)
            diag.append(d)
    out = np.zeros(p, dtype=bool)
    out[kept] = True
    return out


#: Groups per slice of the system evaluated in parallel threads (numpy releases the GIL in
#: its loops); fewer groups are one slice, as in memory.
SLICE_GROUPS = 250_000


class SlicedSystem:
    """A one-factor system cut into slices of groups, each a
    :class:`~mixnb.estimation.pls.GroupedSystem`, evaluated in parallel threads.

    Every quantity the deviance needs is a sum over groups (``log|A|``, the absorbed
    cross-products, each term of the gradient) or a list of per-group values (the
    conditional modes and covariances), so the slices' results are added or joined: the
    math is the grouped system's own. Only the order of the sums over groups changes.
    """

    def __init__(self, slices: list[GroupedSystem], threads: int) -> None:
        self.slices = slices
        self.layout = slices[0].layout
        self.factor = slices[0].factor
        self._threads = threads

    def _map(self, method: str, *args) -> list:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self._threads) as pool:
            return list(pool.map(lambda s: getattr(s, method)(*args), self.slices))

    def absorb(self, theta: np.ndarray) -> Absorbed:
        parts = self._map("absorb", theta)
        return Absorbed(logdet=sum(p.logdet for p in parts), s=sum(p.s for p in parts))

    def deviance_gradient(self, theta, beta, pwrss, dof, xtvx_inv) -> np.ndarray:
        return sum(self._map("deviance_gradient", theta, beta, pwrss, dof, xtvx_inv))

    def conditional_modes(self, theta: np.ndarray, beta: np.ndarray) -> list[np.ndarray]:
        parts = self._map("conditional_modes", theta, beta)
        return [np.concatenate(terms, axis=0) for terms in zip(*parts)]

    def conditional_covariances(self, theta: np.ndarray, sigma2: float) -> dict[str, np.ndarray]:
        parts = self._map("conditional_covariances", theta, sigma2)
        return {name: np.concatenate([p[name] for p in parts], axis=0) for name in parts[0]}


def grouped_system(
    cp: GroupCrossproducts, ztxy: np.ndarray, slice_groups: int = SLICE_GROUPS
) -> GroupedSystem | SlicedSystem:
    """The in-memory fit's grouped system from ``cp``'s sums, in slices of
    ``slice_groups`` groups evaluated in parallel when there are more groups."""
    layout = cp.layout()
    threads = min(os.cpu_count() or 1, -(-cp.n_groups // slice_groups))
    if threads < 2:
        return GroupedSystem.from_crossproducts(layout, cp.factor_name, cp.ztz, ztxy)
    cuts = np.linspace(0, cp.n_groups, threads + 1).astype(int)
    slices = [
        GroupedSystem.from_crossproducts(
            layout,
            cp.factor_name,
            np.ascontiguousarray(cp.ztz[:, :, a:b]),
            np.ascontiguousarray(ztxy[:, :, a:b]),
        )
        for a, b in zip(cuts[:-1], cuts[1:])
    ]
    return SlicedSystem(slices, threads)


@dataclass(frozen=True)
class CrossproductsFit:
    """A fit from cross-products: the estimates, the deviance they optimise (the
    Satterthwaite df differentiate it) and the fixed-effect columns kept."""

    estimates: LmmEstimates
    deviance: ProfiledDeviance
    kept: np.ndarray


def fit_crossproducts(
    cp: GroupCrossproducts, reml: bool = True, slice_groups: int = SLICE_GROUPS
) -> CrossproductsFit:
    """Fit the model from its cross-products, as :func:`mixnb.estimation.lmm.fit_lmm` fits
    it from the rows (the same system, deviance, optimiser and reported quantities; with
    more than ``slice_groups`` groups the system is evaluated in slices in parallel)."""
    cp.check()
    p = len(cp.fixed_columns)
    kept = estimable_from_crossproducts(cp.xytxy[:p, :p])
    index = np.append(np.flatnonzero(kept), p)
    xytxy = cp.xytxy[np.ix_(index, index)]
    fixed = FixedCrossproducts(
        xtx=xytxy[:-1, :-1],
        xty=xytxy[:-1, -1],
        yty=float(xytxy[-1, -1]),
        n=cp.nobs,
        p=len(index) - 1,
    )
    system = grouped_system(cp, np.ascontiguousarray(cp.ztxy[:, index, :]), slice_groups)
    deviance = ProfiledDeviance(system, fixed, reml)
    estimates = estimates_at(deviance, minimize_deviance(deviance))
    return CrossproductsFit(estimates, deviance, kept)
