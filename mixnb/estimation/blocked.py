"""The blocked Cholesky factor of crossed and nested random effects.

For grouping factors ordered by number of levels, largest first (as lme4 and
MixedModels.jl order them), write ``Z = [Z_1 Z_r]`` with ``Z_1`` the largest factor and
``Z_r`` all the others. The random-effects system

    A = Lambda' Z'Z Lambda + I = [[A_11, A_r1'], [A_r1, A_rr]]

has a block-diagonal ``A_11`` (one ``q_1 x q_1`` block per level of the first factor;
diagonal for a scalar term), so its Cholesky factor ``L_11`` is a stack of tiny factors
(:mod:`mixnb.estimation.batched`), and

    L_r1 = Lambda_r' C Lambda_1 L_11^-T,        C = Z_r'Z_1 (sparse),
    L_rr L_rr' = Lambda_r'(Z_r'Z_r - G) Lambda_r + I,   G = C M_1 C',
    M_1 = blockdiag_g(Lambda_1 A_11,g^-1 Lambda_1').

The only dense factorisation is of the Schur complement of the smaller factors
(``m = sum_k levels_k q_k`` unknowns, e.g. 500 for 2000 x 500 crossed levels). ``C``'s
pattern (which levels meet in the data) is found once; per evaluation only its values
are scaled and ``G`` formed: by a dense rank-k update when ``C`` is dense enough, else by a
sparse product. This is the shape of MixedModels.jl's ``updateL!`` (Bates et al., JSS
2015, and MixedModels.jl's blocked ``L``), specialised to two kinds of block.

The analytic gradient of the profiled deviance (:meth:`BlockedSystem.deviance_gradient`)
needs, besides solves with the factor, only ``B = (L_rr L_rr')^-1`` (the rest's block of
``A^-1``) and the level-diagonal blocks ``H_g = C_g' Lambda_r B Lambda_r' C_g``; its
three parts are written out there.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.linalg import lapack
from scipy.linalg.blas import dsyrk
from threadpoolctl import ThreadpoolController

from mixnb.design import Design
from mixnb.estimation import batched
from mixnb.estimation.covariance import CovarianceLayout
from mixnb.estimation.pls import (
    Absorbed,
    FixedCrossproducts,
    GeneralSystem,
    RandomEffectsSystem,
    response_columns,
)
from mixnb.estimation.random_terms import RandomTerm, by_factor, random_terms

#: Largest Schur complement (random effects of all factors but the largest) factored
#: densely; above it :func:`mixnb.estimation.pls.make_system` falls back to sparse LU.
REST_LIMIT = 5000
#: A dense rank-k update costs about this many times less per multiply-add than the sparse
#: products (BLAS against scipy's sparse kernels and numpy's gathers; measured on the
#: benchmark shapes); it decides how ``G`` and ``H`` are formed.
DENSE_SPEEDUP = 25.0
#: Largest dense copy of ``C`` (entries) the dense path may hold.
DENSE_C_LIMIT = 2.5e7
#: Up to this many random effects outside the largest factor, the dense work runs on one
#: BLAS thread: threads cost more than they save on matrices this small, and OpenBLAS
#: threads even the LAPACK calls on tiny matrices (on a busy machine a 10 x 10 ``dpotri``
#: then takes 45 ms instead of 7 us, and a threaded 500 x 500 Cholesky 1.5 s).
ONE_THREAD_LIMIT = 2000
_CONTROLLER: ThreadpoolController | None = None
_DEPTH = 0


@contextlib.contextmanager
def one_blas_thread():
    """BLAS on one thread inside (re-entrant: nested uses cost nothing)."""
    global _CONTROLLER, _DEPTH
    if _DEPTH:
        yield
        return
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    _DEPTH += 1
    try:
        with _CONTROLLER.limit(limits=1, user_api="blas"):
            yield
    finally:
        _DEPTH -= 1


def _blas(method):
    """Run a system method on one BLAS thread unless the Schur complement is large."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self.m > ONE_THREAD_LIMIT:
            return method(self, *args, **kwargs)
        with one_blas_thread():
            return method(self, *args, **kwargs)

    return wrapper


@dataclass
class _Factor:
    """The numeric factor at one theta (see the module for the symbols)."""

    theta: np.ndarray
    lam1: np.ndarray
    lams: list[np.ndarray]
    l11: np.ndarray  # (q1, q1, n1)
    t1t: np.ndarray  # L_11^-1 Lambda_1' per level, (q1, q1, n1)
    m1: np.ndarray  # Lambda_1 A_11^-1 Lambda_1' per level, (q1, q1, n1)
    cs: object  # C Lambda_1 L_11^-T: dense (m, n1 q1) or CSR
    g: np.ndarray  # C M_1 C'
    l22: np.ndarray  # (m, m) lower
    w1: np.ndarray  # L_11^-1 Lambda_1' Z_1'[X y], (q1, p + 1, n1)
    w2: np.ndarray  # the rest's rows of L^-1 Lambda' Z'[X y], (m, p + 1)
    logdet: float


class BlockedSystem(RandomEffectsSystem):
    """Several grouping factors, crossed or nested: the blocked factor of the module."""

    def __init__(self, design: Design) -> None:
        self.layout = CovarianceLayout.of([b.matrix for b in design.random])
        self.terms = random_terms(design)
        merged = by_factor(self.terms)
        #: the factors in design order (for outputs) and blocked order (largest first)
        self.design_factors = merged
        self.factors = sorted(merged, key=lambda t: -t.n_levels)
        self.first, self.rest = self.factors[0], self.factors[1:]
        self.p = design.fixed.matrix.shape[1]
        self.d = self.first.gram()  # (q1, q1, n1)
        sizes = [t.n_random for t in self.rest]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
        self.m = int(self.offsets[-1])
        self._zr = sp.hstack([t.z for t in self.rest], format="csc")
        self.rzz = np.asarray((self._zr.T @ self._zr).toarray())
        self._set_response(design)
        self._all_scalar = all(t.q == 1 for t in self.rest)
        self._build_c(self.first)
        self._cache: _Factor | None = None

    def with_response(self, design: Design) -> BlockedSystem:
        """The same system for ``design`` with another response (a bootstrap replicate):
        the symbolic set-up (``C``'s pattern, the sparse map, ``Z_r'Z_r``) is shared, only
        the response's cross-products are formed again."""
        other = copy.copy(self)
        other.__dict__.pop("general", None)
        other._cache = None
        other._set_response(design)
        return other

    def single_threaded(self):
        """A context holding BLAS to one thread for a whole fit when the Schur complement
        is small enough (see :data:`ONE_THREAD_LIMIT`); the methods then skip their own."""
        return one_blas_thread() if self.m <= ONE_THREAD_LIMIT else contextlib.nullcontext()

    @cached_property
    def general(self) -> GeneralSystem:
        """The same model as one sparse system over all random effects (lme4's order), for
        the methods that work on ``Z'Z`` as a whole (IGLS, Kenward-Roger)."""
        return GeneralSystem(self._design)

    def _set_response(self, design: Design) -> None:
        """Everything that depends on ``y``: the shift and the response's cross-products."""
        self._design = design
        x = design.fixed.matrix
        # The response enters shifted by its least-squares fit, y - X b0: the profiled
        # deviance and the fixed effects' covariance are unchanged (beta = beta' + b0), but
        # y'y is then the residual sum of squares, so pwrss = y'y - ... loses far fewer
        # digits to cancellation (with y'y of the raw response the deviance is noisy at
        # 1e-12 relative, which stalls a quasi-Newton line search near the optimum).
        self.response_shift = np.linalg.lstsq(x, design.y, rcond=None)[0] if self.p else np.zeros(0)
        shifted = replace(design, y=design.y - x @ self.response_shift)
        self.shifted_fixed = FixedCrossproducts.from_design(shifted)
        xy = response_columns(shifted)
        self.zxy1 = self.first.crossproducts(xy)  # (q1, p + 1, n1)
        self.rzxy = np.asarray(self._zr.T @ xy)

    # ------------------------------------------------------------------ symbolic set-up

    def _build_c(self, first: RandomTerm) -> None:
        """``C = Z_r'Z_1``: its pattern by level of the first factor, values per column."""
        m, n1, q1 = self.m, first.n_levels, first.q
        keys, vals = [], []
        for term, offset in zip(self.rest, self.offsets):
            for b in range(term.q):
                keys.append(first.codes * m + offset + term.codes * term.q + b)
                vals.append(term.matrix[:, b][:, None] * first.matrix)
        ukeys, inverse = np.unique(np.concatenate(keys), return_inverse=True)
        allvals = np.concatenate(vals)
        cvals = np.column_stack(
            [np.bincount(inverse, weights=allvals[:, a], minlength=len(ukeys)) for a in range(q1)]
        )
        self.e_g = (ukeys // m).astype(np.intp)  # level of the first factor
        self.e_r = (ukeys % m).astype(np.intp)  # row of the rest
        self.cvals = cvals  # (nnz, q1)
        nnz = len(ukeys)
        counts = np.bincount(self.e_g, minlength=n1)
        n_pairs = int(np.sum(counts.astype(np.float64) * (counts + 1) / 2))
        dense_cost = float(m) * m * n1 * q1
        self.dense = dense_cost < DENSE_SPEEDUP * n_pairs * q1 * q1 and m * n1 * q1 <= DENSE_C_LIMIT
        if self.dense:
            cd = np.zeros((m, n1, q1))
            cd[self.e_r, self.e_g, :] = cvals
            self.cd = cd
            return
        # CSR template of C (m x n1 q1) and where each (entry, column) value goes in it
        rows = np.repeat(self.e_r, q1)
        cols = (self.e_g[:, None] * q1 + np.arange(q1)).ravel()
        order = sp.csr_matrix(
            (np.arange(1, nnz * q1 + 1, dtype=float), (rows, cols)), shape=(m, n1 * q1)
        )
        self.perm = order.data.astype(np.intp) - 1
        self.c_csr = order.copy()
        self.c_csr.data = cvals.ravel()[self.perm]
        # pairs (e1 <= e2) of entries in the same level of the first factor: G and H_g are
        # sums over them, each pair standing for itself and its mirror
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rep = starts[self.e_g] + counts[self.e_g] - np.arange(nnz)  # partners at or after e
        e1 = np.repeat(np.arange(nnz), rep)
        offset = np.arange(len(e1)) - np.repeat(np.cumsum(rep) - rep, rep)
        e2 = e1 + offset
        mirrored = offset > 0
        if q1 == 1:
            sym = (cvals[e1, 0] * cvals[e2, 0] * (1.0 + mirrored))[:, None, None]
        else:
            sym = np.einsum("pa,pb->pab", cvals[e1], cvals[e2])
            sym = np.where(mirrored[:, None, None], sym + sym.transpose(0, 2, 1), sym)
        # sym: c1 c2' + c2 c1' (c1 c1' for a pair of an entry with itself). G's upper half
        # and every H_g are then linear maps of the per-level M_1 and of B's entries at the
        # pairs' positions: one fixed sparse matrix K, (positions) x (entries (a, b) of the
        # q1 x q1 blocks, level), with G_half = K m_1 and H = K' b (numeric work O(pairs)).
        position = self.e_r[e1] * m + self.e_r[e2]
        used = np.zeros(m * m, dtype=bool)
        used[position] = True
        self.positions = np.flatnonzero(used)
        lookup = np.cumsum(used) - 1
        row = lookup[position]
        ab = [(a, b) for a in range(q1) for b in range(a + 1)]
        # the pairs come ordered by level, so K is built column by column (CSC) unsorted
        per_level = np.bincount(self.e_g[e1], minlength=n1)
        indptr = np.concatenate([[0], np.cumsum(np.tile(per_level, len(ab)))])
        vals = np.concatenate([sym[:, a, b] * (1.0 if a != b else 0.5) for a, b in ab])
        self.ab = ab
        self.k_mat = sp.csc_matrix(
            (vals, np.tile(row, len(ab)), indptr), shape=(len(self.positions), len(ab) * n1)
        )
        self.k_mat_t = self.k_mat.T  # CSR view

    # ------------------------------------------------------------------ Lambda_r products

    def _scalar_rest(self, lams: list[np.ndarray]) -> np.ndarray | None:
        """``diag(Lambda_r)`` when every other factor is a scalar term, else ``None``."""
        if not self._all_scalar:
            return None
        return np.repeat([lam[0, 0] for lam in lams], [t.n_levels for t in self.rest])

    def _rest_left(self, mat: np.ndarray, lams: list[np.ndarray], transpose: bool) -> np.ndarray:
        """``Lambda_r' M`` (``transpose``) or ``Lambda_r M`` for ``M`` with ``m`` rows."""
        diag = self._scalar_rest(lams)
        if diag is not None:
            return diag.reshape((-1,) + (1,) * (mat.ndim - 1)) * mat
        out = np.empty_like(mat)
        for term, offset, lam in zip(self.rest, self.offsets, lams):
            sl = slice(offset, offset + term.n_random)
            if term.q == 1:
                out[sl] = lam[0, 0] * mat[sl]
                continue
            blk = mat[sl].reshape(term.n_levels, term.q, -1)
            small = lam.T if transpose else lam
            out[sl] = np.einsum("ab,nbc->nac", small, blk).reshape(mat[sl].shape)
        return out

    def _congruence(self, mat: np.ndarray, lams: list[np.ndarray], transpose: bool) -> np.ndarray:
        """``Lambda_r' M Lambda_r`` (``transpose``) or ``Lambda_r M Lambda_r'``."""
        diag = self._scalar_rest(lams)
        if diag is not None:
            return mat * np.outer(diag, diag)
        left = self._rest_left(mat, lams, transpose)
        return self._rest_left(np.ascontiguousarray(left.T), lams, transpose).T

    # ------------------------------------------------------------------ numeric factor

    def _factor(self, theta: np.ndarray) -> _Factor:
        theta = np.asarray(theta, dtype=float)
        cached = self._cache
        if cached is not None and np.array_equal(cached.theta, theta):
            return cached
        first = self.first
        lam1 = first.factor(theta)
        lams = [t.factor(theta) for t in self.rest]
        q1, n1 = first.q, first.n_levels
        l11 = batched.cholesky(batched.congruence(lam1, self.d) + np.eye(q1)[:, :, None])
        t1t = batched.solve_lower(l11, np.broadcast_to(lam1.T[:, :, None], l11.shape).copy())
        m1 = np.einsum("cag,cbg->abg", t1t, t1t)
        if self.dense:
            if q1 == 1:
                cs = self.cd[:, :, 0] * t1t[0, 0]
            else:  # Cs[:, g, b] = sum_a C[:, g, a] (Lambda_1 L^-T)[a, b] = t1t[b, a]
                cs = np.einsum("mga,bag->mgb", self.cd, t1t).reshape(self.m, n1 * q1)
            g = dsyrk(1.0, cs.T, trans=1, lower=1)  # cs cs' (cs.T is Fortran-ordered)
            g = g + np.tril(g, -1).T
        else:
            tvals = np.einsum("ea,bae->eb", self.cvals, t1t[:, :, self.e_g])
            cs = self.c_csr.copy()
            cs.data = tvals.ravel()[self.perm]
            m1_stack = np.concatenate([m1[a, b] for a, b in self.ab])
            half = np.zeros(self.m * self.m)
            half[self.positions] = self.k_mat @ m1_stack
            half = half.reshape(self.m, self.m)
            g = half + half.T
        schur = self._congruence(self.rzz - g, lams, transpose=True)
        schur[np.diag_indices(self.m)] += 1.0
        l22, info = lapack.dpotrf(schur, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("the Schur complement is not positive definite")
        w1 = batched.solve_lower(l11, batched.left_multiply(lam1.T, self.zxy1))
        csw1 = cs @ w1.transpose(2, 0, 1).reshape(n1 * q1, -1)
        w2 = scipy.linalg.solve_triangular(
            l22, self._rest_left(self.rzxy - csw1, lams, True), lower=True, check_finite=False
        )
        logdet = batched.log_determinant(l11) + 2.0 * float(np.log(np.diag(l22)).sum())
        fac = _Factor(theta.copy(), lam1, lams, l11, t1t, m1, cs, g, l22, w1, w2, logdet)
        self._cache = fac
        return fac

    @_blas
    def absorb(self, theta: np.ndarray) -> Absorbed:
        fac = self._factor(theta)
        return Absorbed(logdet=fac.logdet, s=batched.gram(fac.w1) + fac.w2.T @ fac.w2)

    # ------------------------------------------------------------------ solves

    def _solutions(self, fac: _Factor):
        """``U = L^-T W`` (spherical effects for each column of [X y]), ``Lambda U`` and
        ``Z'V^-1 [X y] = Z'[X y] - Z'Z Lambda U`` (``V`` in units of sigma^2), by block."""
        n1, q1 = self.first.n_levels, self.first.q
        u2 = scipy.linalg.solve_triangular(
            fac.l22, fac.w2, lower=True, trans="T", check_finite=False
        )
        b2 = self._rest_left(u2, fac.lams, transpose=False)
        back = np.asarray(fac.cs.T @ b2).reshape(n1, q1, -1).transpose(1, 2, 0)
        u1 = batched.solve_lower_transposed(fac.l11, fac.w1 - back)
        b1 = batched.left_multiply(fac.lam1, u1)  # (q1, p + 1, n1)
        b1flat = b1.transpose(2, 0, 1).reshape(n1 * q1, -1)
        c_mat = self.cd.reshape(self.m, n1 * q1) if self.dense else self.c_csr
        ct_b2 = np.asarray(c_mat.T @ b2).reshape(n1, q1, -1).transpose(1, 2, 0)
        zv1 = self.zxy1 - np.einsum("abg,bcg->acg", self.d, b1) - ct_b2
        zvr = self.rzxy - np.asarray(c_mat @ b1flat) - self.rzz @ b2
        return u1, u2, b1, b2, zv1, zvr

    def _rest_blocks(self, vec: np.ndarray) -> list[np.ndarray]:
        """The rest's rows split by factor, each ``(levels, q, ...)``."""
        return [
            vec[o : o + t.n_random].reshape((t.n_levels, t.q) + vec.shape[1:])
            for t, o in zip(self.rest, self.offsets)
        ]

    def _level_h(self, fac: _Factor, b_inv: np.ndarray) -> np.ndarray:
        """``H_g = C_g' Lambda_r B Lambda_r' C_g`` for every level ``g``: ``(q1, q1, n1)``."""
        n1, q1 = self.first.n_levels, self.first.q
        bt = self._congruence(b_inv, fac.lams, transpose=False)
        if self.dense:
            bc = (bt @ self.cd.reshape(self.m, n1 * q1)).reshape(self.m, n1, q1)
            return np.einsum("mga,mgb->abg", self.cd, bc)
        stacked = (self.k_mat_t @ bt.ravel()[self.positions]).reshape(len(self.ab), n1)
        out = np.empty((q1, q1, n1))
        for k, (a, b) in enumerate(self.ab):
            out[a, b] = out[b, a] = stacked[k] * (1.0 if a != b else 2.0)
        return out

    def _rest_inverse(self, fac: _Factor) -> np.ndarray:
        """``B = (L_rr L_rr')^-1``, the rest's block of ``A^-1``."""
        inv, info = lapack.dpotri(fac.l22, lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("the Schur complement could not be inverted")
        return inv + np.tril(inv, -1).T

    # ------------------------------------------------------------------ gradient

    def deviance_gradient(
        self, theta: np.ndarray, beta: np.ndarray, pwrss: float, dof: float, xtvx_inv
    ) -> np.ndarray:
        """Gradient of the profiled deviance (ML) or REML criterion in theta:
        ``d log|A| + dof d pwrss / pwrss (+ d log|X'V^-1X|)`` (:meth:`gradient_parts`)."""
        logdet, dpwrss, reml = self.gradient_parts(theta, beta, xtvx_inv)
        return logdet + dof * dpwrss / pwrss + reml

    @_blas
    def gradient_parts(
        self, theta: np.ndarray, beta: np.ndarray, xtvx_inv: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Derivatives in theta of ``log|A|``, of ``pwrss`` (at its optimum in ``u`` and
        ``beta``) and, when ``xtvx_inv`` is given, of ``log|X'V^-1X|``.

        For factor ``k`` and its ``q_k x q_k`` factor, the derivatives along the entry
        ``(i, j)`` of ``Lambda_k`` are entry ``(i, j)`` of

            2 T_k',    -2 sum_l z_l u_l',    -2 (Lambda_k' sum_l N_l)'

        with sums over the factor's levels ``l``: ``T_k = sum_l (A^-1 Lambda'Z'Z)_ll``,
        ``z = Z'(y - X beta - Z Lambda u)`` with ``u`` the spherical modes, and
        ``N_l = B_l C B_l'`` with ``B = Z'V^-1 X`` and ``C = (X'V^-1 X)^-1``. By block,

            T_1 = sum_g A_g^-1 Lambda_1'(D_g + H_g (M_1,g D_g - I)),   D_g = Z_1g'Z_1g,
            T_k = level-diagonal blocks of B Lambda_r'(Z_r'Z_r - G), summed.
        """
        fac = self._factor(theta)
        p = len(beta)
        u1, u2, _, _, zv1, zvr = self._solutions(fac)
        weights = np.append(self.response_shift - beta, 1.0)
        b_inv = self._rest_inverse(fac)
        parts = np.zeros((3, self.layout.n_theta))
        reml = xtvx_inv is not None and p > 0

        # the first factor
        first, q1 = self.first, self.first.q
        h = self._level_h(fac, b_inv)
        f = np.einsum("abg,bcg->acg", fac.m1, self.d) - np.eye(q1)[:, :, None]
        a_inv_lam = batched.solve_lower_transposed(fac.l11, fac.t1t)  # A_g^-1 Lambda_1'
        inner = self.d + np.einsum("abg,bcg->acg", h, f)
        t1 = np.einsum("abg,bcg->ac", a_inv_lam, inner)
        z1 = np.einsum("qcg,c->qg", zv1, weights)  # (q1, n1)
        uu1 = np.einsum("qcg,c->qg", u1, weights)
        index = first.theta_index
        parts[0, index] = first.structure.entries(2.0 * t1.T)
        parts[1, index] = first.structure.entries(-2.0 * (z1 @ uu1.T))
        if reml:
            bz = zv1[:, :p, :]
            flat = bz.transpose(0, 2, 1).reshape(q1 * first.n_levels, p)  # (a g, p)
            n_mat = np.einsum(
                "agp,bgp->ab",
                (flat @ xtvx_inv).reshape(q1, first.n_levels, p),
                flat.reshape(q1, first.n_levels, p),
            )
            parts[2, index] = first.structure.entries(-2.0 * (fac.lam1.T @ n_mat).T)

        # the other factors
        x_mat = self._rest_left(self.rzz - fac.g, fac.lams, transpose=True)
        zr_blocks = self._rest_blocks(zvr @ weights)
        u_blocks = self._rest_blocks(u2 @ weights)
        bz_blocks = self._rest_blocks(zvr[:, :p])
        for k, (term, offset, lam) in enumerate(zip(self.rest, self.offsets, fac.lams)):
            qk = term.q
            sl = slice(offset, offset + term.n_random)
            t_k = np.einsum(
                "naj,jnb->ab",
                b_inv[sl].reshape(term.n_levels, qk, -1),
                x_mat[:, sl].reshape(-1, term.n_levels, qk),
            )
            index = term.theta_index
            parts[0, index] = term.structure.entries(2.0 * t_k.T)
            parts[1, index] = term.structure.entries(-2.0 * (zr_blocks[k].T @ u_blocks[k]))
            if reml:
                bz = bz_blocks[k]
                n_mat = np.einsum("nap,nbp->ab", bz @ xtvx_inv, bz)
                parts[2, index] = term.structure.entries(-2.0 * (lam.T @ n_mat).T)
        return parts[0], parts[1], parts[2]

    @_blas
    def fixed_information_derivatives(self, theta: np.ndarray) -> np.ndarray:
        """``d(X'V^-1X) / d theta_i`` (``V`` in units of sigma^2): ``(n_theta, p, p)``.

        With ``B = Z'V^-1X`` and the entry ``(i, j)`` of factor ``k``'s ``Lambda_k``, the
        derivative is ``-(Q + Q')`` with ``Q = sum_l B_l[i]' (Lambda_k' B_l)[j]`` over the
        factor's levels (``dV = Z (E_ij Lambda' + Lambda E_ji) Z'``).
        """
        fac = self._factor(theta)
        p = self.p
        _, _, _, _, zv1, zvr = self._solutions(fac)
        out = np.zeros((self.layout.n_theta, p, p))
        bz1 = np.moveaxis(zv1[:, :p, :], 2, 0)  # (n1, q1, p)
        blocks = [(self.first, fac.lam1, bz1)] + [
            (term, lam, bz)
            for term, lam, bz in zip(self.rest, fac.lams, self._rest_blocks(zvr[:, :p]))
        ]
        for term, lam, bz in blocks:
            lam_bz = np.einsum("ba,nbp->nap", lam, bz)  # Lambda_k' B_l
            q_all = np.einsum("nip,njr->ijpr", bz, lam_bz)
            rows, cols = term.structure.positions
            q_theta = q_all[rows, cols]
            out[term.theta_index] = -(q_theta + np.swapaxes(q_theta, 1, 2))
        return out

    # ------------------------------------------------------------------ modes, covariances

    @_blas
    def conditional_modes(self, theta: np.ndarray, beta: np.ndarray) -> list[np.ndarray]:
        fac = self._factor(theta)
        _, _, b1, b2, _, _ = self._solutions(fac)
        weights = np.append(self.response_shift - beta, 1.0)
        by_name = {self.first.name: np.einsum("qcg,c->gq", b1, weights)}
        for term, blk in zip(self.rest, self._rest_blocks(b2 @ weights)):
            by_name[term.name] = blk
        out: list[np.ndarray] = [np.empty(0)] * len(self.terms)
        for factor in self.design_factors:
            modes, start = by_name[factor.name], 0
            for k in factor.terms:
                q = self.terms[k].q
                out[k] = modes[:, start : start + q]
                start += q
        return out

    @_blas
    def conditional_covariances(self, theta: np.ndarray, sigma2: float) -> dict[str, np.ndarray]:
        """Per factor, ``sigma^2`` times the level-diagonal blocks of ``Lambda A^-1 Lambda'``:
        ``M_1,g + M_1,g H_g M_1,g`` for the first factor, ``Lambda_k B_hh Lambda_k'`` else."""
        fac = self._factor(theta)
        b_inv = self._rest_inverse(fac)
        h = self._level_h(fac, b_inv)
        m1 = fac.m1
        first = m1 + np.einsum("abg,bcg,cdg->adg", m1, h, m1)
        blocks = {self.first.name: sigma2 * np.moveaxis(first, 2, 0)}
        for term, offset, lam in zip(self.rest, self.offsets, fac.lams):
            idx = offset + np.arange(term.n_levels)[:, None] * term.q + np.arange(term.q)
            diag = b_inv[idx[:, :, None], idx[:, None, :]]  # (levels, q, q)
            blocks[term.name] = sigma2 * np.einsum("ab,nbc,dc->nad", lam, diag, lam)
        return {factor.name: blocks[factor.name] for factor in self.design_factors}
