"""Penalised iteratively reweighted least squares (PIRLS): the conditional modes of a GLMM.

For spherical random effects ``u`` (``b = Lambda(theta) u``, ``u ~ N(0, I)``) and fixed
effects ``beta`` the linear predictor is ``eta = X beta + Z Lambda u + offset`` and the
penalised deviance is

    pdev(u) = sum_i w_i d(y_i, mu_i) + ||u||^2,        mu = g^-1(eta),

with ``d`` the family's unit deviance and ``w`` the prior weights (the trials of a
binomial proportion). PIRLS minimises it by Fisher scoring: with working weights
``W = w mu_eta^2 / V(mu)`` and scores ``r = w (y - mu) mu_eta / V(mu)`` the step solves

    (Lambda' Z' W Z Lambda + I) delta = Lambda' Z' r - u,

halved while it does not lower ``pdev`` (lme4's ``pwrssUpdate``). :func:`pirls` updates
``u`` for fixed ``beta`` (the Laplace and quadrature deviances of the full fit);
:func:`pirls_joint` updates ``beta`` and ``u`` together (lme4's ``nAGQ = 0`` stage).

Two random-effects structures share one interface:

* :class:`GroupedRandom`: every random term has the same grouping factor. The system is
  block diagonal with one ``q x q`` block per group, factored for all groups at once
  (:mod:`mixnb.estimation.batched`); ``u`` is stored ``(q, J)``.
* :class:`SparseRandom`: several grouping factors (nested or crossed). ``Z`` and the
  system are sparse. Nested random intercepts are factored on their tree, leaves first,
  without fill (:class:`mixnb.estimation.quadrature.TreeFactor`, any size); otherwise the
  system is factored densely while small and by sparse LU when large.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from mixnb.design import RandomBlock
from mixnb.estimation import batched
from mixnb.estimation.covariance import CovarianceLayout
from mixnb.estimation.pls import covariance_blocks, level_positions
from mixnb.families import Family

#: Above this many random effects the sparse structure switches from dense Cholesky to LU.
DENSE_LIMIT = 400
#: PIRLS stops when the largest Newton step on ``u`` (in standard-normal units) is below
#: this. The Laplace term ``log det(L)^2`` depends on ``u`` to first order, so a tolerance
#: on the penalised deviance's decrease (second order) would leave it noisy.
STEP_TOLERANCE = 1e-10
MAX_ITERATIONS = 100


@dataclass(frozen=True)
class Response:
    """The response side of a GLMM: ``y``, prior weights, offset, ``X`` and the family."""

    y: np.ndarray
    weights: np.ndarray
    offset: np.ndarray
    x: np.ndarray
    family: Family

    def mean(self, eta: np.ndarray) -> np.ndarray:
        return self.family.link.inverse(eta)

    def deviance_terms(self, mu: np.ndarray) -> np.ndarray:
        """``w_i d(y_i, mu_i)``: the squared deviance residuals."""
        return self.weights * self.family.unit_deviance(self.y, mu)

    def working(self, eta: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Working weights ``W`` and scores ``r`` at ``eta`` (Fisher scoring)."""
        mu_eta = self.family.link.mu_eta(eta)
        var = np.maximum(self.family.variance(mu), np.finfo(float).tiny)
        return self.weights * mu_eta**2 / var, self.weights * (self.y - mu) * mu_eta / var


# --------------------------------------------------------------------------- structures


class _BatchedFactor:
    """Cholesky factors of ``Lambda' Z_g' W Z_g Lambda + I``, one per group."""

    def __init__(self, low: np.ndarray) -> None:
        self.low = low

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``H^-1 rhs`` for ``rhs`` of shape ``(q, J)`` or ``(q, m, J)``."""
        flat = rhs.ndim == 2
        stack = rhs[:, None, :] if flat else rhs
        out = batched.solve_lower_transposed(self.low, batched.solve_lower(self.low, stack))
        return out[:, 0, :] if flat else out

    def logdet(self) -> float:
        return batched.log_determinant(self.low)

    def inverse_diagonal_blocks(self) -> np.ndarray:
        """``(J, q, q)``: the blocks of ``H^-1``."""
        q, _, n = self.low.shape
        eye = np.broadcast_to(np.eye(q)[:, :, None], (q, q, n)).copy()
        k = batched.solve_lower(self.low, eye)
        return np.einsum("aig,ajg->gij", k, k)


class GroupedRandom:
    """Random terms that share one grouping factor (``u`` stored ``(q, J)``)."""

    grouped = True

    def __init__(self, blocks: list[RandomBlock]) -> None:
        self.blocks = blocks
        self.layout = CovarianceLayout.of([b.matrix for b in blocks])
        self.factor = blocks[0].factor
        self.z = np.column_stack([b.matrix for b in blocks])
        self.codes = self.factor.codes
        self.n_groups = self.factor.n_levels
        self.q = self.z.shape[1]
        rows, cols, offset = [], [], 0
        for size in self.layout.sizes:
            r, c = CovarianceLayout.tril_indices(size)
            rows.append(r + offset)
            cols.append(c + offset)
            offset += size
        self._lam_index = (np.concatenate(rows), np.concatenate(cols))
        self.scalar = self.q == 1
        self.eye = np.eye(self.q)[:, :, None]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.q, self.n_groups)

    def zeros(self) -> np.ndarray:
        return np.zeros(self.shape)

    def lam(self, theta: np.ndarray) -> np.ndarray:
        out = np.zeros((self.q, self.q))
        out[self._lam_index] = theta
        return out

    def z_lambda(self, theta: np.ndarray) -> np.ndarray:
        """The rows of ``Z Lambda`` within their group, ``(n, q)``."""
        return self.z * theta[0] if self.scalar else self.z @ self.lam(theta)

    def linear(self, zl: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``Z Lambda u`` per row."""
        if self.scalar:
            return zl[:, 0] * u[0, self.codes]
        return np.einsum("nq,qn->n", zl, u[:, self.codes])

    def project(self, zl: np.ndarray, r: np.ndarray) -> np.ndarray:
        """``Lambda' Z' r``: ``(q, J)`` for a vector ``r``, ``(q, m, J)`` for ``(n, m)``."""
        j = self.n_groups
        if r.ndim == 1:
            return np.stack([np.bincount(self.codes, zl[:, a] * r, j) for a in range(self.q)])
        return np.stack(
            [
                np.stack(
                    [np.bincount(self.codes, zl[:, a] * r[:, c], j) for c in range(r.shape[1])]
                )
                for a in range(self.q)
            ]
        )

    def factorize(self, zl: np.ndarray, w: np.ndarray) -> _BatchedFactor:
        q, j = self.q, self.n_groups
        m = np.empty((q, q, j))
        for a in range(q):
            for b in range(a + 1):
                m[a, b] = m[b, a] = np.bincount(self.codes, w * zl[:, a] * zl[:, b], j)
        return _BatchedFactor(batched.cholesky(m + self.eye))

    @staticmethod
    def inner(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``A' B`` for stacked ``(q, m, J)`` arrays: the sum over groups and effects."""
        return np.einsum("qag,qbg->ab", a, b)

    @staticmethod
    def transpose_times(a: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``A' v`` for stacked ``A`` ``(q, m, J)`` and ``v`` ``(q, J)``."""
        return np.einsum("qag,qg->a", a, v)

    @staticmethod
    def times(a: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``A x`` for stacked ``A`` ``(q, m, J)``: a ``(q, J)`` vector of effects."""
        return np.einsum("qag,a->qg", a, x)

    # -- what the Laplace deviance's gradient needs (mixnb.estimation.laplace)
    has_gradient = True

    def z_transpose(self, v: np.ndarray) -> np.ndarray:
        """``Z' v`` in the effects' layout ``(q, J)`` (no Lambda)."""
        return np.stack(
            [np.bincount(self.codes, self.z[:, a] * v, self.n_groups) for a in range(self.q)]
        )

    def pair_sums(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """For each theta entry at Lambda's ``(a, b)``: ``sum_g left[a, g] right[b, g]``."""
        rows, cols = self._lam_index
        return np.einsum("kg,kg->k", left[rows], right[cols])

    def leverages(self, zl: np.ndarray, fact: _BatchedFactor) -> np.ndarray:
        """``diag(Z Lambda H^-1 Lambda' Z')`` per row."""
        if self.scalar:
            low = fact.low[0, 0]
            return zl[:, 0] ** 2 / (low**2)[self.codes]
        blocks = fact.inverse_diagonal_blocks()[self.codes]
        return np.einsum("na,nab,nb->n", zl, blocks, zl)

    def trace_terms(self, theta: np.ndarray, w: np.ndarray, fact: _BatchedFactor) -> np.ndarray:
        """``tr(H^-1 Lambda' Z' W Z E_k)`` for each theta entry ``k`` (``E_k`` its unit
        pattern in Lambda): ``sum_g (H_g^-1 Lambda' Z_g' W Z_g)[b, a]``."""
        q, j = self.q, self.n_groups
        g = np.empty((q, q, j))
        for a in range(q):
            for b in range(a + 1):
                g[a, b] = g[b, a] = np.bincount(self.codes, w * self.z[:, a] * self.z[:, b], j)
        m = fact.solve(batched.left_multiply(self.lam(theta).T, g))  # H^-1 Lambda' G
        rows, cols = self._lam_index
        return m[cols, rows].sum(axis=-1)

    def modes(self, theta: np.ndarray, u: np.ndarray) -> list[np.ndarray]:
        """Per term, ``(levels, columns)`` conditional modes ``b = Lambda u``."""
        b = (self.lam(theta) @ u).T
        return np.split(b, np.cumsum(self.layout.sizes)[:-1], axis=1)

    def conditional_covariances(self, theta: np.ndarray, fact) -> dict[str, np.ndarray]:
        """``Lambda H^-1 Lambda'`` per group: the covariance of ``b`` given ``y``."""
        lam = self.lam(theta)
        blocks = fact.inverse_diagonal_blocks()
        return {self.factor.name: np.einsum("ia,gab,jb->gij", lam, blocks, lam)}


class _DenseFactor:
    def __init__(self, h: np.ndarray) -> None:
        self.low = scipy.linalg.cholesky(h, lower=True)
        self._inverse = None

    def inverse(self) -> np.ndarray:
        """``H^-1`` from the Cholesky factor (LAPACK's potri), computed once."""
        if self._inverse is None:
            inv, info = scipy.linalg.lapack.dpotri(self.low, lower=1)
            if info != 0:
                raise np.linalg.LinAlgError("potri failed")
            self._inverse = np.tril(inv) + np.tril(inv, -1).T
        return self._inverse

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return scipy.linalg.cho_solve((self.low, True), rhs)

    def logdet(self) -> float:
        return 2.0 * float(np.log(np.diag(self.low)).sum())

    def inverse_columns(self, cols: np.ndarray) -> np.ndarray:
        e = np.zeros((self.low.shape[0], len(cols)))
        e[cols, np.arange(len(cols))] = 1.0
        return self.solve(e)


class _SparseFactor:
    def __init__(self, h: sp.csc_matrix) -> None:
        self.lu = spla.splu(
            h, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
        )
        self.n = h.shape[0]

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return self.lu.solve(np.asarray(rhs, dtype=float))

    def logdet(self) -> float:
        return float(np.log(np.abs(self.lu.U.diagonal())).sum())

    def inverse(self) -> np.ndarray:
        return self.solve(np.eye(self.n))

    def inverse_columns(self, cols: np.ndarray) -> np.ndarray:
        e = np.zeros((self.n, len(cols)))
        e[cols, np.arange(len(cols))] = 1.0
        return self.solve(e)


class SparseRandom:
    """Several grouping factors (nested or crossed): sparse ``Z``, ``u`` a vector.

    Random effects are ordered by term, then level, then column within the level (lme4's
    order).
    """

    grouped = False

    def __init__(self, blocks: list[RandomBlock], n: int) -> None:
        self.blocks = blocks
        self.layout = CovarianceLayout.of([b.matrix for b in blocks])
        sizes = [b.factor.n_levels * b.n_columns for b in blocks]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.n_random = int(self.offsets[-1])
        rows, cols, vals, lam_rows, lam_cols, lam_index = [], [], [], [], [], []
        slices = self.layout.slices()
        for k, block in enumerate(blocks):
            q, levels = block.n_columns, block.factor.n_levels
            for c in range(q):
                rows.append(np.arange(n))
                cols.append(self.offsets[k] + block.factor.codes * q + c)
                vals.append(block.matrix[:, c])
            tr, tc = CovarianceLayout.tril_indices(q)
            base = self.offsets[k] + np.arange(levels)[:, None] * q
            lam_rows.append((base + tr).ravel())
            lam_cols.append((base + tc).ravel())
            lam_index.append(np.tile(np.arange(slices[k].start, slices[k].stop), levels))
        self.zmat = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n, self.n_random),
        )
        self._lam = (np.concatenate(lam_rows), np.concatenate(lam_cols), np.concatenate(lam_index))
        self.dense = self.n_random <= DENSE_LIMIT
        self.eye = sp.identity(self.n_random, format="csc")
        from mixnb.estimation.quadrature import NestedTree  # imports this module

        #: nested random intercepts: H is factored on the tree (no fill), any size
        self.tree = NestedTree.detect(self)

    @property
    def shape(self) -> tuple[int]:
        return (self.n_random,)

    def zeros(self) -> np.ndarray:
        return np.zeros(self.n_random)

    def lam(self, theta: np.ndarray) -> sp.csc_matrix:
        rows, cols, index = self._lam
        return sp.csc_matrix((theta[index], (rows, cols)), shape=(self.n_random,) * 2)

    def z_lambda(self, theta: np.ndarray) -> sp.csr_matrix:
        return (self.zmat @ self.lam(theta)).tocsr()

    @staticmethod
    def linear(zl: sp.csr_matrix, u: np.ndarray) -> np.ndarray:
        return zl @ u

    @staticmethod
    def project(zl: sp.csr_matrix, r: np.ndarray) -> np.ndarray:
        return np.asarray(zl.T @ r)

    def _tree_lambda(self, zl: sp.csr_matrix) -> list[float]:
        """Each tree level's theta, read off ``Z Lambda`` (intercepts: the entries)."""
        tree = self.tree
        return [float(zl[0, tree.columns[d][tree.obs_nodes[d][0]]]) for d in range(tree.depth)]

    def factorize(self, zl: sp.csr_matrix, w: np.ndarray):
        if self.tree is not None:
            from mixnb.estimation.quadrature import TreeFactor

            return TreeFactor(self.tree, self._tree_lambda(zl), w, self.n_random)
        h = (zl.T @ sp.diags(w) @ zl).tocsc() + self.eye
        if self.dense:
            return _DenseFactor(h.toarray())
        return _SparseFactor(h.tocsc())

    @staticmethod
    def inner(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a.T @ b

    @staticmethod
    def transpose_times(a: np.ndarray, v: np.ndarray) -> np.ndarray:
        return a.T @ v

    @staticmethod
    def times(a: np.ndarray, x: np.ndarray) -> np.ndarray:
        return a @ x

    # -- what the Laplace deviance's gradient needs. With a sparse LU factor the many
    # right-hand sides of the leverages cost more than differencing the deviance (whose
    # factorisations are cheap), so the gradient is offered for the dense factor only.
    @property
    def has_gradient(self) -> bool:
        return self.dense or self.tree is not None

    def z_transpose(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(self.zmat.T @ v)

    def pair_sums(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        rows, cols, index = self._lam
        return np.bincount(index, left[rows] * right[cols], minlength=self.layout.n_theta)

    def leverages(self, zl, fact) -> np.ndarray:
        """``diag(Z Lambda H^-1 Lambda' Z')``: from ``H^-1`` when dense, from the selected
        inverse on a tree, else from ``H^-1 Lambda' Z'`` (one sparse solve per row block)."""
        if self.tree is not None:
            tree, lam, z = self.tree, fact.lam, fact.selected_inverse()
            lev = np.zeros(zl.shape[0])
            for d in range(tree.depth):
                for a in range(d + 1):
                    term = lam[d] * lam[a] * z[d][a][tree.obs_nodes[d]]
                    lev += term if a == d else 2 * term
            return lev
        if isinstance(fact, _DenseFactor):
            hinv = fact.inverse()
            counts = np.diff(zl.indptr)
            k = int(counts[0]) if len(counts) else 0
            if k and np.all(counts == k):
                # every row has k entries (one per scalar term): sum_ab v_a v_b Hinv[c_a, c_b]
                idx = zl.indices.reshape(-1, k)
                val = zl.data.reshape(-1, k)
                return np.einsum("na,nb,nab->n", val, val, hinv[idx[:, :, None], idx[:, None, :]])
            return np.asarray(zl.multiply(zl @ hinv).sum(axis=1)).ravel()
        out = np.empty(zl.shape[0])
        for start in range(0, zl.shape[0], 2048):
            rows = zl[start : start + 2048]
            solved = fact.solve(rows.T.toarray())  # (N, rows)
            out[start : start + rows.shape[0]] = np.asarray(
                rows.multiply(solved.T).sum(axis=1)
            ).ravel()
        return out

    def trace_terms(self, theta: np.ndarray, w: np.ndarray, fact: _DenseFactor) -> np.ndarray:
        """``tr(H^-1 Lambda' Z' W Z E_k)``: the entries ``(H^-1 Lambda' G)[b, a]`` of each
        theta entry's positions ``(a, b)``, each a row of ``H^-1`` times a column of
        ``Lambda' G`` (``G = Z' W Z``, sparse)."""
        if self.tree is not None:
            # per observation: w_i sum_a theta_a Z[node_a(i), node_k(i)] for level k's entry
            tree, z = self.tree, fact.selected_inverse()
            out = np.zeros(self.layout.n_theta)
            for k in range(tree.depth):
                acc = np.zeros(len(w))
                for a in range(tree.depth):
                    hi, lo = max(a, k), min(a, k)
                    acc += fact.lam[a] * z[hi][lo][tree.obs_nodes[hi]]
                out[tree.term[k]] += float(w @ acc)
            return out
        g = (self.zmat.T @ sp.diags(w) @ self.zmat).tocsc()
        lg = (self.lam(theta).T @ g).tocsc()  # sparse
        rows, cols, index = self._lam
        hinv = fact.inverse()
        entries = np.einsum("ij,ji->i", hinv[cols], lg[:, rows].toarray())
        return np.bincount(index, entries, minlength=self.layout.n_theta)

    def modes(self, theta: np.ndarray, u: np.ndarray) -> list[np.ndarray]:
        b = self.lam(theta) @ u
        return [
            b[self.offsets[k] : self.offsets[k + 1]].reshape(block.factor.n_levels, -1)
            for k, block in enumerate(self.blocks)
        ]

    def conditional_covariances(self, theta: np.ndarray, fact) -> dict[str, np.ndarray]:
        """Per grouping factor, ``(levels, q, q)`` blocks of ``Lambda H^-1 Lambda'``."""
        lam = self.lam(theta)
        return {
            name: covariance_blocks(lam, fact, index)
            for name, index in level_positions(self.blocks, self.offsets)
        }


def make_random(blocks: list[RandomBlock], n: int) -> GroupedRandom | SparseRandom:
    """The batched structure for one grouping factor, the sparse one otherwise."""
    if len({b.factor.name for b in blocks}) == 1:
        return GroupedRandom(blocks)
    return SparseRandom(blocks, n)


# --------------------------------------------------------------------------- iterations


@dataclass
class Mode:
    """The conditional modes at one ``(theta, beta)`` and what the deviances need there."""

    u: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    deviance_terms: np.ndarray
    #: factor of ``Lambda' Z' W Z Lambda + I`` with ``W`` at the mode
    factor: object
    zl: object
    weights: np.ndarray
    converged: bool
    iterations: int

    @property
    def penalized_deviance(self) -> float:
        return float(self.deviance_terms.sum() + np.sum(self.u**2))


def _evaluate(resp: Response, structure, zl, fixed_eta: np.ndarray, u: np.ndarray):
    eta = fixed_eta + structure.linear(zl, u)
    mu = resp.mean(eta)
    terms = resp.deviance_terms(mu)
    return eta, mu, terms, float(terms.sum() + np.sum(u**2))


def pirls(
    resp: Response,
    structure,
    theta: np.ndarray,
    beta: np.ndarray,
    u0: np.ndarray | None = None,
    tol: float = STEP_TOLERANCE,
) -> Mode:
    """The conditional modes ``u`` for fixed ``theta`` and ``beta``, from ``u0`` (warm start)."""
    zl = structure.z_lambda(theta)
    fixed_eta = resp.x @ beta + resp.offset
    u = structure.zeros() if u0 is None else u0.copy()
    eta, mu, terms, pdev = _evaluate(resp, structure, zl, fixed_eta, u)
    converged = False
    for iteration in range(1, MAX_ITERATIONS + 1):  # noqa: B007 (reported after the loop)
        w, r = resp.working(eta, mu)
        fact = structure.factorize(zl, w)
        grad = structure.project(zl, r) - u
        delta = fact.solve(grad)
        if np.max(np.abs(delta), initial=0.0) < tol:
            converged = True
            break
        step = 1.0
        while step > 1e-10:
            new = u + step * delta
            e2, m2, t2, p2 = _evaluate(resp, structure, zl, fixed_eta, new)
            if p2 <= pdev + 1e-12 * abs(pdev):
                break
            step /= 2
        else:
            break  # no step lowers the penalised deviance: stop where we are
        u, eta, mu, terms, pdev = new, e2, m2, t2, p2
    else:
        w, _ = resp.working(eta, mu)
        fact = structure.factorize(zl, w)
    return Mode(u, beta, eta, mu, terms, fact, zl, w, converged, iteration)


def pirls_joint(
    resp: Response,
    structure,
    theta: np.ndarray,
    beta0: np.ndarray,
    u0: np.ndarray | None = None,
    tol: float = STEP_TOLERANCE,
) -> tuple[Mode, np.ndarray]:
    """Conditional modes and fixed effects together, for fixed ``theta`` (``nAGQ = 0``).

    Returns the mode and ``R_X' R_X``, the Schur complement
    ``X'WX - X'W Z Lambda H^-1 Lambda' Z' W X`` whose inverse is lme4's ``vcov`` of
    ``beta`` at this stage.
    """
    zl = structure.z_lambda(theta)
    x = resp.x
    u = structure.zeros() if u0 is None else u0.copy()
    beta = beta0.copy()

    def state(u, beta):
        return _evaluate(resp, structure, zl, x @ beta + resp.offset, u)

    eta, mu, terms, pdev = state(u, beta)
    converged = False
    for iteration in range(1, MAX_ITERATIONS + 1):  # noqa: B007 (reported after the loop)
        w, r = resp.working(eta, mu)
        fact = structure.factorize(zl, w)
        grad_u = structure.project(zl, r) - u
        grad_b = x.T @ r
        cross = structure.project(zl, w[:, None] * x)  # Lambda' Z' W X
        solved = fact.solve(cross)
        schur = x.T @ (w[:, None] * x) - structure.inner(cross, solved)
        h_u = fact.solve(grad_u)
        try:
            d_beta = np.linalg.solve(schur, grad_b - structure.transpose_times(cross, h_u))
        except np.linalg.LinAlgError:  # separated: the fixed effects run off to infinity
            break
        d_u = h_u - structure.times(solved, d_beta)
        if max(np.max(np.abs(d_u), initial=0.0), np.max(np.abs(d_beta), initial=0.0)) < tol:
            converged = True
            break
        step = 1.0
        while step > 1e-10:
            nu, nb = u + step * d_u, beta + step * d_beta
            e2, m2, t2, p2 = state(nu, nb)
            if p2 <= pdev + 1e-12 * abs(pdev):
                break
            step /= 2
        else:
            break
        u, beta, eta, mu, terms, pdev = nu, nb, e2, m2, t2, p2
    else:
        w, _ = resp.working(eta, mu)
        fact = structure.factorize(zl, w)
        cross = structure.project(zl, w[:, None] * x)
        schur = x.T @ (w[:, None] * x) - structure.inner(cross, fact.solve(cross))
    return Mode(u, beta, eta, mu, terms, fact, zl, w, converged, iteration), schur
