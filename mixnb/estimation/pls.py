"""Penalised least squares for the random effects, given theta.

For a relative covariance factor ``Lambda(theta)`` the random-effects system matrix is

    A = Lambda' Z'Z Lambda + I,

and everything the profiled deviance needs from the random effects is ``log|A|`` and

    S = [X y]' Z Lambda A^-1 Lambda' Z' [X y],

the part of the cross-products of ``[X y]`` that the random effects absorb (lme4's
``RZX'RZX``, ``RZX'cu`` and ``cu'cu``; Bates et al., JSS 2015, section 3).
The data enter only through cross-products formed once, in the constructors.

Two implementations share that interface:

* :class:`GroupedSystem`: every random term has the same grouping factor. ``A`` is
  block diagonal with one small ``q x q`` block per group; all blocks are factored
  at once (``mixnb.estimation.batched``), so one evaluation costs O(groups) in
  vectorised numpy and never touches the rows.
* :class:`~mixnb.estimation.blocked.BlockedSystem`: several grouping factors (crossed or
  nested). The blocked Cholesky factor: the largest factor's block stays block diagonal
  and only the Schur complement of the other factors is factored densely.
* :class:`GeneralSystem`: several grouping factors whose Schur complement is too large
  for a dense factor (more than :data:`~mixnb.estimation.blocked.REST_LIMIT` random
  effects outside the largest factor). ``A`` is sparse; it is factored densely while small
  and by sparse LU when large.

``Z`` comes from :mod:`mixnb.estimation.random_terms`, the one place it is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from mixnb.design import Design
from mixnb.estimation import batched
from mixnb.estimation.covariance import CovarianceLayout
from mixnb.estimation.random_terms import by_factor, random_design_matrix, random_terms

#: Above this many random effects the general system switches to sparse LU.
DENSE_LIMIT = 3000


@dataclass(frozen=True)
class Absorbed:
    """What the random effects absorb at one theta: ``log|A|`` and the matrix ``S``."""

    logdet: float
    s: np.ndarray


@dataclass(frozen=True)
class FixedCrossproducts:
    """``X'X``, ``X'y`` and ``y'y``, formed once."""

    xtx: np.ndarray
    xty: np.ndarray
    yty: float
    n: int
    p: int

    @classmethod
    def from_design(cls, design: Design) -> FixedCrossproducts:
        x, y = design.fixed.matrix, design.y
        return cls(xtx=x.T @ x, xty=x.T @ y, yty=float(y @ y), n=len(y), p=x.shape[1])


class RandomEffectsSystem:
    """Interface of the two implementations below."""

    layout: CovarianceLayout

    def absorb(self, theta: np.ndarray) -> Absorbed:  # pragma: no cover - interface
        raise NotImplementedError

    def conditional_modes(self, theta: np.ndarray, beta: np.ndarray) -> list[np.ndarray]:
        """Per term, ``(levels, columns)`` conditional modes ``b = Lambda u``."""
        raise NotImplementedError  # pragma: no cover - interface

    def conditional_covariances(self, theta: np.ndarray, sigma2: float) -> dict[str, np.ndarray]:
        """Per grouping factor, ``(levels, q, q)`` covariances of ``b`` given ``y``."""
        raise NotImplementedError  # pragma: no cover - interface


def make_system(design: Design) -> RandomEffectsSystem:
    """The cheapest implementation that fits the design's random terms."""
    from mixnb.estimation.blocked import REST_LIMIT, BlockedSystem

    names = {block.factor.name for block in design.random}
    if len(names) == 1:
        return GroupedSystem(design)
    factors = by_factor(random_terms(design))
    sizes = sorted((t.n_levels for t in factors), reverse=True)
    rest = sum(t.n_random for t in factors) - max(
        t.n_random for t in factors if t.n_levels == sizes[0]
    )
    if rest <= REST_LIMIT:
        return BlockedSystem(design)
    return GeneralSystem(design)


def response_columns(design: Design) -> np.ndarray:
    """``[X y]``: the columns whose cross-products with ``Z`` the system needs."""
    return np.column_stack([design.fixed.matrix, design.y])


# --------------------------------------------------------------------------- one factor


class GroupedSystem(RandomEffectsSystem):
    """All random terms share one grouping factor: ``A`` is block diagonal by group.

    Per-group cross-products are stacked with the group as the last axis:
    ``ztz`` is ``(q, q, J)`` and ``ztxy`` is ``(q, p + 1, J)``.
    """

    def __init__(self, design: Design) -> None:
        blocks = design.random
        self.factor = blocks[0].factor
        (term,) = by_factor(random_terms(design))
        self._set_crossproducts(
            CovarianceLayout.of([b.matrix for b in blocks]),
            term.gram(),  # (q, q, J)
            term.crossproducts(response_columns(design)),  # (q, p + 1, J)
        )

    @classmethod
    def from_crossproducts(
        cls, layout: CovarianceLayout, factor_name: str, ztz: np.ndarray, ztxy: np.ndarray
    ) -> GroupedSystem:
        """The system from per-group cross-products formed elsewhere (e.g. summed over the
        partitions of a data set too big for memory: :mod:`mixnb.estimation.crossproducts`).

        ``ztz`` is ``(q, q, J)`` and ``ztxy`` ``(q, p + 1, J)``, as the constructor forms
        them; ``layout`` carries the random-effect columns' scales.
        """
        system = cls.__new__(cls)
        system.factor = _NamedFactor(factor_name)
        system._set_crossproducts(layout, ztz, ztxy)
        return system

    def _set_crossproducts(self, layout: CovarianceLayout, ztz: np.ndarray, ztxy: np.ndarray):
        self.layout = layout
        self.ztz, self.ztxy = ztz, ztxy
        q = ztz.shape[0]
        # where each theta entry sits in the block-diagonal q x q factor
        rows, cols, offset = [], [], 0
        for size in self.layout.sizes:
            r, c = CovarianceLayout.tril_indices(size)
            rows.append(r + offset)
            cols.append(c + offset)
            offset += size
        self._lam_index = (np.concatenate(rows), np.concatenate(cols))
        self._q = q

    def _lambda(self, theta: np.ndarray) -> np.ndarray:
        lam = np.zeros((self._q, self._q))
        lam[self._lam_index] = theta
        return lam

    def _factor(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``Lambda`` and the stacked Cholesky factors of ``Lambda' Z_g'Z_g Lambda + I``."""
        lam = self._lambda(theta)
        system = batched.congruence(lam, self.ztz)
        for i in range(self._q):  # + I, in place (one pass over the groups fewer)
            system[i, i] += 1.0
        return lam, batched.cholesky(system)

    def absorb(self, theta: np.ndarray) -> Absorbed:
        lam, low = self._factor(theta)
        w = batched.solve_lower(low, batched.left_multiply(lam.T, self.ztxy))
        return Absorbed(logdet=batched.log_determinant(low), s=batched.gram(w))

    def deviance_gradient(
        self, theta: np.ndarray, beta: np.ndarray, pwrss: float, dof: float, xtvx_inv
    ) -> np.ndarray:
        """Gradient of the profiled deviance in theta, for all groups at once.

        With ``M_g = A_g^-1 Lambda' Z_g'Z_g``, residual cross-products
        ``z_g = Z_g'(y - X beta - Z_g Lambda u_g)`` and ``B_g = X_g'V_g^-1 Z_g`` (``V`` in
        units of ``sigma^2``), the derivative along the Lambda entry ``(i, j)`` is

            2 (sum_g M_g)_ji - 2 dof (sum_g z_g u_g')_ij / pwrss
            - 2 (Lambda' sum_g B_g' C B_g)_ji        (REML only; C = (X'V^-1X)^-1)

        (the first term from ``log|A|``, the second from ``pwrss`` at its optimum, the last
        from ``log|X'V^-1X|``). ``xtvx_inv`` is ``C`` for REML and ``None`` for ML.
        """
        lam, low = self._factor(theta)
        p = len(beta)
        ztx, zty = self.ztxy[:, :p, :], self.ztxy[:, p, :]
        m = batched.solve_lower_transposed(
            low, batched.solve_lower(low, batched.left_multiply(lam.T, self.ztz))
        )
        resid = zty - np.einsum("qcg,c->qg", ztx, beta)  # Z'(y - X beta)
        u = batched.solve_lower_transposed(
            low, batched.solve_lower(low, batched.left_multiply(lam.T, resid)[:, None, :])
        )[:, 0, :]
        z_resid = resid - np.einsum("qkg,kg->qg", self.ztz, lam @ u)
        grad = 2.0 * m.sum(axis=2).T - 2.0 * dof * (z_resid @ u.T) / pwrss
        if xtvx_inv is not None and p:
            b_t = ztx - np.einsum("kag,kcg->acg", batched.left_multiply(lam, m), ztx)
            n_mat = np.einsum("acg,cd,bdg->ab", b_t, xtvx_inv, b_t, optimize=True)
            grad -= 2.0 * (lam.T @ n_mat).T
        return grad[self._lam_index]

    def conditional_modes(self, theta: np.ndarray, beta: np.ndarray) -> list[np.ndarray]:
        lam, low = self._factor(theta)
        weights = np.append(-beta, 1.0)
        rhs = batched.left_multiply(lam.T, np.einsum("qmg,m->qg", self.ztxy, weights))
        u = batched.solve_lower_transposed(low, batched.solve_lower(low, rhs[:, None, :]))
        b = (lam @ u[:, 0, :]).T  # (J, q)
        return np.split(b, np.cumsum(self.layout.sizes)[:-1], axis=1)

    def conditional_covariances(self, theta: np.ndarray, sigma2: float) -> dict[str, np.ndarray]:
        lam, low = self._factor(theta)
        lam_t = np.broadcast_to(lam.T[:, :, None], low.shape).copy()
        k = batched.solve_lower(low, lam_t)  # L^-1 Lambda'
        return {self.factor.name: sigma2 * np.einsum("aig,ajg->gij", k, k)}


@dataclass(frozen=True)
class _NamedFactor:
    """The grouping factor of a system built from cross-products: its name is all it needs."""

    name: str


# --------------------------------------------------------------------------- many factors


class GeneralSystem(RandomEffectsSystem):
    """Crossed or nested grouping factors: ``Z`` and ``A`` are sparse.

    Random effects are ordered by term, then level, then column within the level
    (lme4's order).
    """

    def __init__(self, design: Design) -> None:
        blocks = design.random
        self.blocks = blocks
        self.layout = CovarianceLayout.of([b.matrix for b in blocks])
        terms = random_terms(design)
        sizes = [t.n_random for t in terms]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.n_random = int(self.offsets[-1])
        lam_rows, lam_cols, lam_index = [], [], []
        theta_slices = self.layout.slices()
        for k, term in enumerate(terms):
            q, levels = term.q, term.n_levels
            # Lambda's block for this term: the q x q factor repeated for every level.
            tr, tc = CovarianceLayout.tril_indices(q)
            base = self.offsets[k] + np.arange(levels)[:, None] * q
            lam_rows.append((base + tr).ravel())
            lam_cols.append((base + tc).ravel())
            lam_index.append(
                np.tile(np.arange(theta_slices[k].start, theta_slices[k].stop), levels)
            )
        z = random_design_matrix(terms)
        xy = response_columns(design)
        self.ztz = (z.T @ z).tocsc()
        self.ztxy = np.asarray(z.T @ xy)
        self._lam_rows = np.concatenate(lam_rows)
        self._lam_cols = np.concatenate(lam_cols)
        self._lam_index = np.concatenate(lam_index)
        self.dense = self.n_random <= DENSE_LIMIT
        if self.dense:
            self.ztz_dense = self.ztz.toarray()

    def _lambda(self, theta: np.ndarray) -> sp.csc_matrix:
        return sp.csc_matrix(
            (theta[self._lam_index], (self._lam_rows, self._lam_cols)),
            shape=(self.n_random, self.n_random),
        )

    def _factor(self, theta: np.ndarray):
        """``Lambda`` and a factorisation of ``A`` with ``solve`` and ``logdet``."""
        lam = self._lambda(theta)
        if self.dense:
            lam_d = lam.toarray()
            a = lam_d.T @ self.ztz_dense @ lam_d + np.eye(self.n_random)
            low = scipy.linalg.cholesky(a, lower=True)
            return lam, _DenseCholesky(low)
        a = (lam.T @ self.ztz @ lam + sp.identity(self.n_random, format="csc")).tocsc()
        lu = spla.splu(
            a, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
        )
        return lam, _SparseLU(lu)

    def absorb(self, theta: np.ndarray) -> Absorbed:
        lam, fact = self._factor(theta)
        lam_p = np.asarray(lam.T @ self.ztxy)
        return Absorbed(logdet=fact.logdet(), s=lam_p.T @ fact.solve(lam_p))

    def conditional_modes(self, theta: np.ndarray, beta: np.ndarray) -> list[np.ndarray]:
        lam, fact = self._factor(theta)
        rhs = np.asarray(lam.T @ (self.ztxy @ np.append(-beta, 1.0)))
        b = lam @ fact.solve(rhs)
        return [
            b[self.offsets[k] : self.offsets[k + 1]].reshape(block.factor.n_levels, -1)
            for k, block in enumerate(self.blocks)
        ]

    def conditional_covariances(self, theta: np.ndarray, sigma2: float) -> dict[str, np.ndarray]:
        lam, fact = self._factor(theta)
        return {
            name: sigma2 * covariance_blocks(lam, fact, index)
            for name, index in level_positions(self.blocks, self.offsets)
        }


def level_positions(blocks, offsets) -> list[tuple[str, np.ndarray]]:
    """Per grouping factor, ``index[level, j]``: the position in ``b`` of the factor's
    ``j``-th column at that level (terms sharing a factor side by side)."""
    out = []
    for name in dict.fromkeys(b.factor.name for b in blocks):
        ks = [k for k, b in enumerate(blocks) if b.factor.name == name]
        n_levels = blocks[ks[0]].factor.n_levels
        index = np.column_stack(
            [
                offsets[k] + np.arange(n_levels) * blocks[k].n_columns + c
                for k in ks
                for c in range(blocks[k].n_columns)
            ]
        )
        out.append((name, index))
    return out


def covariance_blocks(lam, fact, index: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Blocks ``(Lambda A^-1 Lambda')[index[l], index[l]]`` for every level ``l``, solving
    ``chunk`` levels' columns at a time (``fact.solve`` solves with ``A``)."""
    n_levels, q = index.shape
    out = np.empty((n_levels, q, q))
    lam_t = lam.T.tocsr()
    for start in range(0, n_levels, chunk):
        idx = index[start : start + chunk]
        cols = idx.ravel()
        solved = lam @ fact.solve(lam_t[:, cols].toarray())
        rows = np.asarray(solved)[idx]  # (levels, q, len(cols))
        pos = np.arange(len(cols)).reshape(idx.shape)
        out[start : start + len(idx)] = np.take_along_axis(
            rows, pos[:, None, :].repeat(q, axis=1), axis=2
        )
    return out


class _DenseCholesky:
    def __init__(self, low: np.ndarray) -> None:
        self.low = low

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return scipy.linalg.cho_solve((self.low, True), rhs)

    def logdet(self) -> float:
        return 2.0 * float(np.log(np.diag(self.low)).sum())


class _SparseLU:
    def __init__(self, lu) -> None:
        self.lu = lu

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return self.lu.solve(np.asarray(rhs, dtype=float))

    def logdet(self) -> float:
        return float(np.log(np.abs(self.lu.U.diagonal())).sum())
