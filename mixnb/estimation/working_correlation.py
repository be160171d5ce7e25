"""GEE working correlations: small pluggable classes over a :class:`ClusterLayout`.

Axis convention (stated once): the ``N`` rows are sorted by cluster, then by time, so
cluster ``i`` owns the contiguous rows ``start[i] : start[i] + size[i]``; ``wave`` is each
row's time index ``0 .. T-1`` (the rank of its time value, or its position in the cluster
when no time is given; geepack's ``waves``). Nothing loops over clusters: sums over
clusters use ``np.add.reduceat``, pairs of rows in a cluster are visited by their offset
(``1 .. max size - 1``), and unstructured clusters are grouped by their pattern of
observed time points.

Each class has the shape of statsmodels' ``genmod/cov_struct.py``: ``update`` estimates
the parameters from standardised Pearson residuals ``e = (y - mu) / sqrt(phi V(mu))``
(geepack's moment equations, below), ``matrix`` is the correlation over the time points,
``cluster_matrix`` one cluster's ``R_i``, and ``whiten`` applies, to every cluster at once,
a matrix ``W_i`` with ``W_i' W_i = R_i^-1`` (so ``D' R^-1 D`` is ``(WD)' (WD)``).

geepack's estimators (``update_alpha`` in its gee2.cc), with ``z_ijk = e_ij e_ik`` over the
pairs ``j < k`` of a cluster: exchangeable, ``alpha`` = the mean of all ``z``; AR(1), the
least-squares fit of ``z_ijk ~ alpha^|t_j - t_k|`` over all pairs (not only lag 1);
unstructured, ``alpha_st`` = the mean of ``z`` over the clusters that have both time points
``s`` and ``t``. No degrees-of-freedom correction, as geepack. With prior weights ``w`` the
means and the least-squares fit weight each pair by ``w_ij w_ik`` (geepack's
``genzi(Wi)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class ClusterLayout:
    """Where each cluster's rows are, and each row's time index."""

    cluster: np.ndarray  # (N,) cluster code of each row, non-decreasing
    wave: np.ndarray  # (N,) time index of each row, increasing within a cluster
    n_waves: int  # T

    @cached_property
    def starts(self) -> np.ndarray:
        return np.flatnonzero(np.r_[True, np.diff(self.cluster) != 0])

    @cached_property
    def sizes(self) -> np.ndarray:
        return np.diff(np.r_[self.starts, len(self.cluster)])

    @property
    def n_clusters(self) -> int:
        return len(self.starts)

    @property
    def max_size(self) -> int:
        return int(self.sizes.max())

    @cached_property
    def row_size(self) -> np.ndarray:
        """The size of each row's cluster."""
        return np.repeat(self.sizes, self.sizes)

    def cluster_sums(self, x: np.ndarray) -> np.ndarray:
        """Sum of the rows of ``x`` within each cluster: shape ``(K,) + x.shape[1:]``."""
        return np.add.reduceat(x, self.starts, axis=0)

    def pairs(self):
        """``(first, second)`` row indices of every pair of rows in a cluster, by offset."""
        for offset in range(1, self.max_size):
            first = np.flatnonzero(self.cluster[offset:] == self.cluster[:-offset])
            yield first, first + offset

    @cached_property
    def mask(self) -> np.ndarray:
        """``(K, T)``: which time points each cluster has."""
        out = np.zeros((self.n_clusters, self.n_waves), dtype=bool)
        out[self.cluster, self.wave] = True
        return out

    def size_groups(self):
        """``(size, rows)`` with ``rows`` of shape ``(clusters of that size, size)``."""
        for s in np.unique(self.sizes):
            which = np.flatnonzero(self.sizes == s)
            yield int(s), self.starts[which, None] + np.arange(s)


@dataclass
class WorkingCorrelation:
    """Base class: the independence working correlation ``R_i = I``."""

    name: str = "independence"
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: Problem codes met by ``update`` (explained in :mod:`mixnb.results.explain`).
    problems: list[str] = field(default_factory=list)

    def setup(self, layout: ClusterLayout, weights: np.ndarray | None = None) -> None:
        """Bind to the clusters; ``weights`` are the rows' prior weights (``None``: all 1)."""
        self.layout = layout
        self.weights = weights

    def _pair_weight(self, a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
        """The weights ``w_a w_b`` of the row pairs ``(a, b)`` (1 without prior weights)."""
        if self.weights is None:
            return 1.0
        return self.weights[a] * self.weights[b]

    def update(self, e: np.ndarray) -> bool:
        """Re-estimate ``alpha`` from standardised residuals; False if it is unusable."""
        return True

    def whiten(self, x: np.ndarray) -> np.ndarray:
        return x

    def matrix(self) -> np.ndarray:
        """The working correlation over the time points ``0 .. T-1``."""
        return np.eye(self.layout.n_waves)

    def cluster_matrix(self, waves: np.ndarray) -> np.ndarray:
        """``R_i`` for a cluster with these time indices."""
        return self.matrix()[np.ix_(waves, waves)]

    @property
    def parameter_names(self) -> list[str]:
        return []


class Independence(WorkingCorrelation):
    pass


@dataclass
class Exchangeable(WorkingCorrelation):
    """``corr(y_ij, y_ik) = alpha`` for every pair; closed-form ``R^-1/2`` per cluster size."""

    name: str = "exchangeable"
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(1))

    def update(self, e: np.ndarray) -> bool:
        lay = self.layout
        w = np.ones(len(e)) if self.weights is None else self.weights
        sums = lay.cluster_sums(w * e)
        squares = lay.cluster_sums((w * e) ** 2)
        # sum over pairs j < k of w_j w_k, per cluster
        n_pairs = ((lay.cluster_sums(w) ** 2 - lay.cluster_sums(w * w)) / 2).sum()
        if (lay.sizes * (lay.sizes - 1)).sum() == 0:
            self.problems.append("no_pairs")
            return False
        a = float(((sums**2 - squares) / 2).sum() / n_pairs)
        if not (-1 / max(lay.max_size - 1, 1) < a < 1):
            self.problems.append("correlation_not_positive_definite")
            return False
        self.alpha = np.array([a])
        return True

    def whiten(self, x: np.ndarray) -> np.ndarray:
        # R = (1-a) I + a 11' has R^-1/2 = (I - b_n 11') / sqrt(1-a),
        # b_n = (1 - sqrt((1-a) / (1-a+n a))) / n.
        a = float(self.alpha[0])
        n = self.layout.row_size
        b = (1 - np.sqrt((1 - a) / (1 - a + n * a))) / n
        sums = np.repeat(self.layout.cluster_sums(x), self.layout.sizes, axis=0)
        b = b.reshape((-1,) + (1,) * (x.ndim - 1))
        return (x - b * sums) / np.sqrt(1 - a)

    def matrix(self) -> np.ndarray:
        t = self.layout.n_waves
        return np.full((t, t), float(self.alpha[0])) + (1 - float(self.alpha[0])) * np.eye(t)

    @property
    def parameter_names(self) -> list[str]:
        return ["alpha"]


@dataclass
class AR1(WorkingCorrelation):
    """``corr(y_ij, y_ik) = alpha^|t_j - t_k|`` in time-index units (gaps allowed).

    Whitening is the AR(1) innovation transform, which stays exact with gaps:
    ``(x_j - rho_j x_{j-1}) / sqrt(1 - rho_j^2)`` with ``rho_j = alpha^(t_j - t_{j-1})``.
    """

    name: str = "ar1"
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(1))

    def setup(self, layout: ClusterLayout, weights: np.ndarray | None = None) -> None:
        super().setup(layout, weights)
        first = np.zeros(len(layout.cluster), dtype=bool)
        first[layout.starts] = True
        self._follows = np.flatnonzero(~first)
        self._gap = layout.wave[self._follows] - layout.wave[self._follows - 1]
        self._pair_lags = [layout.wave[b] - layout.wave[a] for a, b in layout.pairs()]

    def update(self, e: np.ndarray) -> bool:
        t = self.layout.n_waves
        s = np.zeros(t)
        n = np.zeros(t)
        for (a, b), lag in zip(self.layout.pairs(), self._pair_lags):
            w = self._pair_weight(a, b)
            s += np.bincount(lag, weights=w * e[a] * e[b], minlength=t)
            n += np.bincount(lag, weights=np.broadcast_to(w, lag.shape), minlength=t)
        if n.sum() == 0:
            self.problems.append("no_pairs")
            return False
        d = np.arange(t, dtype=float)
        used = n > 0
        d, s, n = d[used], s[used], n[used]
        a = float(self.alpha[0])
        # Gauss-Newton for sum over pairs of w_j w_k (z - alpha^d)^2, to convergence (geepack takes
        # one such step per outer iteration; the fixed point is the same).
        # A full step can jump past 1 when the pairs' products barely decay with the lag
        # (e.g. weighted growth data): it is halved until it stays inside (-1, 1).
        for _ in range(200):
            w = np.where(d == 1, 1.0, d * np.power(a, d - 1))
            step = float(np.sum(w * (s - n * a**d)) / np.sum(n * w * w))
            for _halving in range(60):
                if np.isfinite(a + step) and abs(a + step) < 1:
                    break
                step /= 2
            a += step
            if not np.isfinite(a) or abs(a) >= 1 - 1e-12:
                self.problems.append("correlation_not_positive_definite")
                return False
            if abs(step) < 1e-15:
                break
        self.alpha = np.array([a])
        return True

    def whiten(self, x: np.ndarray) -> np.ndarray:
        a = float(self.alpha[0])
        rho = np.power(a, self._gap).reshape((-1,) + (1,) * (x.ndim - 1))
        out = x.copy()
        out[self._follows] = (x[self._follows] - rho * x[self._follows - 1]) / np.sqrt(1 - rho**2)
        return out

    def matrix(self) -> np.ndarray:
        t = np.arange(self.layout.n_waves)
        return float(self.alpha[0]) ** np.abs(t[:, None] - t[None, :]).astype(float)

    @property
    def parameter_names(self) -> list[str]:
        return ["alpha"]


@dataclass
class Unstructured(WorkingCorrelation):
    """A free correlation for every pair of time points; clusters grouped by pattern."""

    name: str = "unstructured"

    def setup(self, layout: ClusterLayout, weights: np.ndarray | None = None) -> None:
        super().setup(layout, weights)
        t = layout.n_waves
        self.alpha = np.zeros(t * (t - 1) // 2)
        self._patterns, self._pattern_of = np.unique(layout.mask, axis=0, return_inverse=True)
        self._pattern_of = np.ravel(self._pattern_of)
        counts = np.zeros((t, t))
        weighted = np.zeros((t, t))
        for a, b in layout.pairs():
            cell = layout.wave[a] * t + layout.wave[b]
            counts += np.bincount(cell, minlength=t * t).reshape(t, t)
            w = np.broadcast_to(self._pair_weight(a, b), cell.shape)
            weighted += np.bincount(cell, weights=w, minlength=t * t).reshape(t, t)
        self._counts = counts + counts.T
        self._weighted_counts = weighted + weighted.T
        self._whiteners: list[tuple[np.ndarray, np.ndarray]] = []

    @property
    def never_together(self) -> list[tuple[int, int]]:
        """Pairs of time indices that no cluster has both of (their correlation is unknown)."""
        t = self.layout.n_waves
        return [(j, k) for j in range(t) for k in range(j + 1, t) if self._counts[j, k] == 0]

    def update(self, e: np.ndarray) -> bool:
        t = self.layout.n_waves
        s = np.zeros((t, t))
        wave = self.layout.wave
        for a, b in self.layout.pairs():
            z = self._pair_weight(a, b) * e[a] * e[b]
            s += np.bincount(wave[a] * t + wave[b], weights=z, minlength=t * t).reshape(t, t)
        s = s + s.T
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(self._counts > 0, s / self._weighted_counts, 0.0)
        np.fill_diagonal(r, 1.0)
        whiteners = []
        for k, pattern in enumerate(self._patterns):
            waves = np.flatnonzero(pattern)
            sub = r[np.ix_(waves, waves)]
            try:
                lower = np.linalg.cholesky(sub)
            except np.linalg.LinAlgError:
                self.problems.append("correlation_not_positive_definite")
                return False
            which = np.flatnonzero(self._pattern_of == k)
            rows = self.layout.starts[which, None] + np.arange(len(waves))
            whiteners.append((rows, np.linalg.inv(lower)))
        self._whiteners = whiteners
        self.alpha = r[np.triu_indices(t, 1)]
        return True

    def whiten(self, x: np.ndarray) -> np.ndarray:
        if not self._whiteners:
            return x
        out = np.empty_like(x)
        for rows, w in self._whiteners:
            out[rows] = np.einsum("ab,kb...->ka...", w, x[rows])
        return out

    def matrix(self) -> np.ndarray:
        t = self.layout.n_waves
        r = np.eye(t)
        r[np.triu_indices(t, 1)] = self.alpha
        return np.triu(r) + np.triu(r, 1).T

    @property
    def parameter_names(self) -> list[str]:
        t = self.layout.n_waves
        return [f"alpha.{j + 1}:{k + 1}" for j, k in zip(*np.triu_indices(t, 1))]


CORRELATIONS = {
    "independence": Independence,
    "exchangeable": Exchangeable,
    "ar1": AR1,
    "unstructured": Unstructured,
}


@dataclass(frozen=True)
class Clusters:
    """Rows sorted into clusters: the order, the layout, and the labels of both axes."""

    order: np.ndarray  # rows of the model frame, in cluster-then-time order
    layout: ClusterLayout
    labels: np.ndarray  # cluster labels, one per cluster
    times: np.ndarray | None  # the distinct time values (None: positions in the cluster)
    duplicated_times: int  # rows whose cluster already has a row at the same time


def make_clusters(groups: np.ndarray, time: np.ndarray | None) -> Clusters:
    """Sort rows by cluster (then time) and number the time points, as geepack's waves.

    Without ``time`` the rows keep their order within a cluster and a row's time index is
    its position. With ``time`` the index is the rank of the row's value among all
    distinct time values, so a missing time point leaves a gap.
    """
    codes, labels = _factorize(groups)
    if time is None:
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, np.diff(sorted_codes) != 0])
        sizes = np.diff(np.r_[starts, len(order)])
        wave = np.arange(len(order)) - np.repeat(starts, sizes)
        return Clusters(order, ClusterLayout(sorted_codes, wave, int(sizes.max())), labels, None, 0)
    waves, times = _factorize(time)
    order = np.lexsort((waves, codes))
    sorted_codes, sorted_waves = codes[order], waves[order]
    same = (np.diff(sorted_codes) == 0) & (np.diff(sorted_waves) == 0)
    layout = ClusterLayout(sorted_codes, sorted_waves, len(times))
    return Clusters(order, layout, labels, times, int(same.sum()))


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(values), sort=True)
    return codes.astype(np.intp), np.asarray(uniques)
