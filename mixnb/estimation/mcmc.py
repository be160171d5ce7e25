"""Bayesian estimation of the linear mixed model by a blocked Gibbs sampler (MLwiN's MCMC).

The model is ``y = X beta + Z b + e`` with ``e ~ N(0, sigma^2 I)`` and, for every random
term ``k`` and level ``j``, ``b_kj ~ N(0, Omega_k)`` (``q_k x q_k``). Each iteration draws,
in turn,

1. ``(beta, b) | Omega, sigma^2, y`` jointly, as one block:

   * one grouping factor (:class:`GroupedSampler`): ``beta`` from its distribution with
     ``b`` integrated out, ``N(beta_GLS, sigma^2 (X'V^-1X)^-1)`` (flat prior), then
     ``b_j | beta`` for all groups at once, ``N(M_j^-1 Z_j'(y_j - X_j beta), sigma^2 M_j^-1)``
     with ``M_j = Z_j'Z_j + sigma^2 Omega^-1``. The ``q x q`` Cholesky factors of all
     ``M_j`` of all chains are computed together (:mod:`mixnb.estimation.batched`, groups on
     the last axis), and only the per-group cross-products formed once are touched, never
     the rows;
   * several grouping factors, crossed or nested (:class:`GeneralSampler`): the joint
     system ``K [beta; b] = [X Z]'y`` with ``K = [X Z]'[X Z] + blockdiag(0, sigma^2
     Omega^-1)`` is solved once per iteration and chain with a perturbed right-hand side
     ``[X Z]'(y + sigma eps) + [0; sigma^2 L_Omega^-T eta]`` (``eps``, ``eta`` standard
     normal; Papandreou and Yuille's perturb-and-solve), which is an exact draw from
     ``N(K^-1 [X Z]'y, sigma^2 K^-1)`` and needs no Cholesky factor of ``K``: a dense
     Cholesky solve up to :data:`~mixnb.estimation.pls.DENSE_LIMIT` unknowns, sparse LU
     beyond;

2. ``Omega_k | b`` for every term: inverse-Wishart ``IW(nu_k + J_k, Psi_k + B_k'B_k)``
   (``B_k``: the term's ``J_k x q_k`` random effects; for ``q_k = 1`` this is the
   inverse-gamma ``IG((nu_k + J_k) / 2, (Psi_k + sum b^2) / 2)``);
3. ``sigma^2 | beta, b``: inverse-gamma ``IG(a + n/2, c + RSS/2)``.

Drawing ``beta`` and ``b`` together avoids the slow mixing of a separate ``beta | b``
step when the intercept and the random intercepts are strongly correlated a posteriori.

Priors (:class:`Prior`) are MLwiN's defaults (Browne, *MCMC Estimation in MLwiN*, v3.03,
2019, section 1.3): flat on ``beta``; ``Gamma(0.001, 0.001)`` on the precision of every
scalar variance (so ``IG(0.001, 0.001)`` on the variance, the residual included); for a
``q x q`` covariance matrix a Wishart prior on its inverse with ``q`` degrees of freedom
and expectation ``S^-1``, ``S`` the likelihood estimate the sampler starts from (MLwiN uses
its IGLS estimate): ``Omega ~ IW(q, q S)``. ``prior="uniform"`` is MLwiN's alternative,
flat on the variance scale: ``p(Omega) = const`` (``IW(-(q + 1), 0)``) and
``p(sigma^2) = const``.

Chains run side by side (stacked on the group axis), each with its own random stream from
``numpy.random.SeedSequence(seed).spawn(chains)``; chain 1 starts at the likelihood
estimates, the others at their variances multiplied by ``exp(z)``, ``z ~ N(0, 1)`` per term
(over-dispersed starts, so that R-hat can see a chain that has not forgotten its start).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from threadpoolctl import threadpool_limits

from mixnb.design import Design
from mixnb.estimation import batched
from mixnb.estimation.bootstrap import _progress
from mixnb.estimation.covariance import entry_order
from mixnb.estimation.lmm import LmmEstimates
from mixnb.estimation.pls import DENSE_LIMIT

#: MLwiN's shape and rate of the Gamma prior on a precision.
EPSILON = 0.001

#: Random-walk proposals per iteration and term of the scale move, and their SD on log g.
SCALE_STEPS = 3
SCALE_STEP_SD = 1.0

#: Problem codes the sampler returns (the results layer turns them into words).
IMPROPER_POSTERIOR = "improper_posterior"


@dataclass(frozen=True)
class InverseWishart:
    """``IW(df, scale)``: density ``|Omega|^-(df+q+1)/2 exp(-tr(scale Omega^-1) / 2)``.

    For ``q = 1`` it is the inverse-gamma ``IG(df / 2, scale / 2)``; ``df = -(q + 1)`` with a
    zero scale is the flat prior ``p(Omega) = const``.
    """

    df: float
    scale: np.ndarray


@dataclass(frozen=True)
class Prior:
    """Priors of one model: per random term an inverse-Wishart, and the residual's
    inverse-gamma ``IG(shape, rate)``; fixed effects are always flat."""

    name: str
    terms: list[InverseWishart]
    residual_shape: float
    residual_rate: float

    def describe(self) -> list[str]:
        """The priors as short formulas (for the result's notes)."""
        out = ["beta: flat"]
        for k, term in enumerate(self.terms):
            q = term.scale.shape[0]
            if self.name == "uniform":
                out.append(f"term {k + 1}: flat on the variance scale")
            elif q == 1:
                out.append(f"term {k + 1}: IG({term.df / 2:g}, {term.scale[0, 0] / 2:g})")
            else:
                out.append(f"term {k + 1}: IW({term.df:g}, {q:d} x estimate)")
        if self.name == "uniform":
            out.append("residual: flat on the variance scale")
        else:
            out.append(f"residual: IG({self.residual_shape:g}, {self.residual_rate:g})")
        return out


def make_prior(name: str, covariances: list[np.ndarray]) -> Prior:
    """MLwiN's default priors (``"mlwin"``) or flat ones on the variance scale (``"uniform"``).

    ``covariances`` are the likelihood estimates of each term's covariance matrix, used as
    the prior guess of MLwiN's Wishart prior for ``q > 1``.

    Examples
    --------
    >>> import numpy as np
    >>> prior = make_prior("mlwin", [np.array([[2.0]]), np.eye(2)])
    >>> prior.terms[0].df, prior.terms[0].scale.tolist(), prior.terms[1].df
    (0.002, [[0.002]], 2.0)
    """
    terms = []
    for cov in covariances:
        q = cov.shape[0]
        if name == "uniform":
            terms.append(InverseWishart(-(q + 1.0), np.zeros((q, q))))
        elif q == 1:
            terms.append(InverseWishart(2.0 * EPSILON, np.full((1, 1), 2.0 * EPSILON)))
        else:
            terms.append(InverseWishart(float(q), q * positive_definite(cov)))
    if name == "uniform":
        return Prior(name, terms, residual_shape=-1.0, residual_rate=0.0)
    return Prior(name, terms, residual_shape=EPSILON, residual_rate=EPSILON)


def positive_definite(cov: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """``cov`` with eigenvalues raised to at least ``floor`` times the largest (or to
    ``floor`` when all are zero): a singular estimate made usable as a start or a prior."""
    values, vectors = np.linalg.eigh((cov + cov.T) / 2.0)
    top = max(float(values.max()), 0.0)
    lowest = floor * top if top > 0 else floor
    return (vectors * np.maximum(values, lowest)) @ vectors.T


def draw_inverse_wishart(df: np.ndarray, scale: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Draws from ``IW(df_c, scale_c)`` for stacked ``scale`` ``(C, q, q)`` (Bartlett).

    ``normals`` holds, per chain, ``q (q - 1) / 2`` standard normals and ``q`` chi-square
    draws (``(C, q (q - 1) / 2 + q)``; the chi-squares, with ``df_c - i`` degrees of
    freedom, are drawn by the caller so that each chain uses its own stream).
    With ``scale = U U'`` and Bartlett's lower-triangular ``A`` (``A_ii^2 ~ chi2(df - i)``,
    ``A_ij ~ N(0, 1)`` below), ``Omega = (U A^-T)(U A^-T)'``.
    """
    c, q, _ = scale.shape
    if q == 1:  # the inverse gamma: scale / chi2(df)
        return scale / normals[:, :1, None]
    n_off = q * (q - 1) // 2
    a = np.zeros((c, q, q))
    rows, cols = np.tril_indices(q, -1)
    a[:, rows, cols] = normals[:, :n_off]
    a[:, np.arange(q), np.arange(q)] = np.sqrt(normals[:, n_off:])
    upper = np.linalg.cholesky(scale)
    g = upper @ np.linalg.inv(a).transpose(0, 2, 1)
    return g @ g.transpose(0, 2, 1)


@dataclass
class Draws:
    """What a run of the sampler returns (plain arrays; the results layer names them).

    ``parameters`` is ``(chains, draws, k)`` with columns: the fixed effects, then each
    term's variances and covariances (the order of ``LmmResult.variance_components``), then
    the residual variance. ``random_mean`` and ``random_sd`` are, per term, the posterior
    mean and SD of each level's random effects ``(levels, q)`` over all chains' draws.
    """

    parameters: np.ndarray
    random_mean: list[np.ndarray]
    random_sd: list[np.ndarray]
    start: np.ndarray
    prior: Prior
    seed: int | None
    burn_in: int
    sampler: str
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- starts


def _starts(
    estimates: LmmEstimates, rngs: list[np.random.Generator]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per chain: the residual variance ``(C,)`` and each term's covariance ``(C, q, q)``."""
    n_chains = len(rngs)
    spread = np.array([rng.standard_normal(len(estimates.covariances) + 1) for rng in rngs])
    spread[0] = 0.0  # chain 1 starts at the estimates
    sigma2 = estimates.sigma2 * np.exp(spread[:, -1])
    omegas = []
    for k, cov in enumerate(estimates.covariances):
        base = positive_definite(cov) if np.any(np.diag(cov) > 0) else None
        if base is None:  # a zero variance estimate: start at a small fraction of sigma^2
            base = 1e-2 * estimates.sigma2 * np.eye(cov.shape[0])
        omegas.append(base[None] * np.exp(spread[:, k])[:, None, None] * np.ones((n_chains, 1, 1)))
    return sigma2, omegas


def _entries(omegas: list[np.ndarray]) -> np.ndarray:
    """Each term's variances then covariances, per chain: ``(C, n_entries)``."""
    parts = []
    for om in omegas:
        rows, cols = entry_order(om[0])
        parts.append(om[:, rows, cols])
    return np.concatenate(parts, axis=1)


def _draw_covariances(
    prior: Prior,
    sizes: list[int],
    crossproducts: list[np.ndarray],
    n_levels: list[int],
    rngs: list[np.random.Generator],
) -> list[np.ndarray]:
    """``Omega_k | b`` for every term and chain: ``IW(df + J, scale + B'B)``."""
    out = []
    for term, q, btb, levels in zip(prior.terms, sizes, crossproducts, n_levels):
        df = term.df + levels
        n_off = q * (q - 1) // 2
        normals = np.array(
            [
                np.concatenate(
                    [rng.standard_normal(n_off), rng.chisquare(df - np.arange(q, dtype=float))]
                )
                for rng in rngs
            ]
        )
        out.append(draw_inverse_wishart(np.full(len(rngs), df), term.scale + btb, normals))
    return out


def _draw_residual(prior: Prior, n: int, rss: np.ndarray, rngs) -> np.ndarray:
    shape = prior.residual_shape + n / 2.0
    gammas = np.array([rng.standard_gamma(shape) for rng in rngs])
    return (prior.residual_rate + np.maximum(rss, 0.0) / 2.0) / gammas


def posterior_problems(design: Design, prior: Prior) -> list[str]:
    """Problem codes, before sampling: ``IMPROPER_POSTERIOR:k`` when term ``k`` (or
    ``Residual``) has too few groups (rows) for a proper posterior under this prior
    (the inverse-Wishart needs ``df + J > q - 1``, the inverse-gamma a positive shape)."""
    problems = []
    for k, (term, block) in enumerate(zip(prior.terms, design.random)):
        if term.df + block.factor.n_levels <= block.n_columns - 1:
            problems.append(f"{IMPROPER_POSTERIOR}:{k}")
    if prior.residual_shape + (design.nobs - design.fixed.matrix.shape[1]) / 2.0 <= 0:
        problems.append(f"{IMPROPER_POSTERIOR}:Residual")
    return problems


def hpd_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """The shortest interval holding a fraction ``level`` of the draws (highest density,
    for a unimodal posterior).

    Examples
    --------
    >>> import numpy as np
    >>> hpd_interval(np.arange(101.0), 0.5)
    (0.0, 50.0)
    """
    x = np.sort(np.asarray(values, dtype=float).ravel())
    n = len(x)
    width = max(int(np.floor(level * n)), 1)
    if width >= n:
        return float(x[0]), float(x[-1])
    lengths = x[width:] - x[: n - width]
    i = int(np.argmin(lengths))
    return float(x[i]), float(x[i + width])


# --------------------------------------------------------------------------- one factor


class GroupedSampler:
    """All random terms share one grouping factor: batched over chains and groups.

    Arrays of per-group quantities have the group as the last axis and the chain just
    before it, ``(q, ..., C, J)``; for the batched factorisations they are viewed as
    ``(q, ..., C * J)``.
    """

    name = "grouped"

    def __init__(self, design: Design, beta_ref: np.ndarray, n_chains: int) -> None:
        blocks = design.random
        self.sizes = [b.n_columns for b in blocks]
        self.q = sum(self.sizes)
        factor = blocks[0].factor
        self.n_levels = [factor.n_levels] * len(blocks)
        j = factor.n_levels
        z = np.column_stack([b.matrix for b in blocks])
        x = design.fixed.matrix
        y = design.y - x @ beta_ref  # the fixed part removed: cross-products stay small
        self.n, self.p = x.shape
        self.xtx, self.xty, self.yty = x.T @ x, x.T @ y, float(y @ y)
        xy = np.column_stack([x, y])
        codes = factor.codes
        ztxy = np.empty((self.q, self.p + 1, j))
        ztz = np.empty((self.q, self.q, j))
        for a in range(self.q):
            for c in range(self.p + 1):
                ztxy[a, c] = np.bincount(codes, weights=z[:, a] * xy[:, c], minlength=j)
            for c in range(a + 1):
                ztz[a, c] = ztz[c, a] = np.bincount(codes, weights=z[:, a] * z[:, c], minlength=j)
        self.n_chains, self.j = n_chains, j
        self.ztz = np.ascontiguousarray(
            np.broadcast_to(ztz[:, :, None, :], (*ztz.shape[:2], n_chains, j))
        )
        self.ztxy = np.ascontiguousarray(
            np.broadcast_to(ztxy[:, :, None, :], (*ztxy.shape[:2], n_chains, j))
        ).reshape(self.q, self.p + 1, n_chains * j)
        self.ztx = self.ztxy.reshape(self.q, self.p + 1, n_chains, j)[:, : self.p]
        self.zty = self.ztxy.reshape(self.q, self.p + 1, n_chains, j)[:, self.p]
        offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.slices = [slice(offsets[k], offsets[k + 1]) for k in range(len(blocks))]
        self._resid = np.zeros((self.q, n_chains, j))

    def step(self, sigma2: np.ndarray, omegas: list[np.ndarray], rngs) -> tuple:
        """One draw of ``(beta, b)`` given the variances (``beta`` relative to the fit's)."""
        c, j, q, p = self.n_chains, self.j, self.q, self.p
        penalty = np.zeros((c, q, q))
        for sl, om in zip(self.slices, omegas):
            penalty[:, sl, sl] = np.linalg.inv(om) * sigma2[:, None, None]
        m = self.ztz + penalty.transpose(1, 2, 0)[:, :, :, None]
        low = batched.cholesky(m.reshape(q, q, c * j))
        w = batched.solve_lower(low, self.ztxy)  # L^-1 Z'[X y]
        w4 = w.reshape(q, p + 1, c, j)
        s = np.einsum("qacj,qbcj->cab", w4, w4)  # sum over groups of W_g'W_g, per chain
        gls = self.xtx[None] - s[:, :p, :p]  # X'V^-1X in units of sigma^2
        rhs = self.xty[None] - s[:, :p, p]
        chol = np.linalg.cholesky(gls)
        mean = np.linalg.solve(gls, rhs[:, :, None])[:, :, 0]
        z_beta = np.array([rng.standard_normal(p) for rng in rngs])
        noise = np.linalg.solve(chol.transpose(0, 2, 1), z_beta[:, :, None])[:, :, 0]
        beta = mean + np.sqrt(sigma2)[:, None] * noise
        # b | beta, all groups and chains at once
        resid = self.zty.copy()  # Z'(y - X beta), kept for rss() and scale_moves()
        for a in range(p):
            resid -= self.ztx[:, a] * beta[None, :, a, None]
        self._resid = resid
        z_b = np.stack([rng.standard_normal((q, j)) for rng in rngs], axis=1)  # (q, C, J)
        half = batched.solve_lower(low, resid.reshape(q, 1, c * j))[:, 0, :]
        half += (z_b * np.sqrt(sigma2)[None, :, None]).reshape(q, c * j)
        b = batched.solve_lower_transposed(low, half[:, None, :])[:, 0, :].reshape(q, c, j)
        return beta, b

    def _ztz_times(self, b: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
        """``(Z_j'Z_j)[rows, cols] b_j[cols]`` for every group and chain."""
        r, cs = range(self.q)[rows], range(self.q)[cols]
        out = np.zeros((len(r), *b.shape[1:]))
        for i, a in enumerate(r):
            for k in cs:
                out[i] += self.ztz[a, k] * b[k]
        return out

    def rss(self, beta: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``|y - X beta - Z b|^2`` per chain, from the cross-products (no rows touched);
        ``beta`` must be the last one :meth:`step` drew."""
        everything = slice(None)
        return (
            self.yty
            - 2.0 * beta @ self.xty
            + np.einsum("cp,pk,ck->c", beta, self.xtx, beta)
            + (b * (self._ztz_times(b, everything, everything) - 2.0 * self._resid)).sum(
                axis=(0, 2)
            )
        )

    def scale_moves(self, prior, beta, b, sigma2, omegas, rngs) -> tuple:
        """:func:`scale_factor` moves for every term, from the per-group cross-products."""
        b = b.copy()
        omegas = list(omegas)
        for k, sl in enumerate(self.slices):
            own = self._ztz_times(b, sl, sl)
            ze = self._resid[sl] - self._ztz_times(b, sl, slice(None))  # Z_k'e
            a = (b[sl] * own).sum(axis=(0, 2))
            bb = (b[sl] * ze).sum(axis=(0, 2)) + a
            g = scale_factor(prior.terms[k], self.sizes[k], a, bb, sigma2, omegas[k], rngs)
            b[sl] *= g[None, :, None]
            omegas[k] = omegas[k] * (g * g)[:, None, None]
        return b, omegas

    def crossproducts(self, b: np.ndarray) -> list[np.ndarray]:
        """Per term, ``B'B`` per chain ``(C, q_k, q_k)``."""
        return [np.einsum("acj,bcj->cab", b[sl], b[sl]) for sl in self.slices]

    def per_term(self, b: np.ndarray) -> list[np.ndarray]:
        """Per term, the random effects ``(C, J, q_k)``."""
        return [b[sl].transpose(1, 2, 0) for sl in self.slices]


# --------------------------------------------------------------------------- many factors


class GeneralSampler:
    """Crossed or nested grouping factors: one joint draw of ``(beta, b)`` per chain by
    perturb-and-solve (dense Cholesky while small, sparse LU beyond)."""

    name = "general"

    def __init__(self, design: Design, beta_ref: np.ndarray, n_chains: int) -> None:
        blocks = design.random
        self.sizes = [b.n_columns for b in blocks]
        self.n_levels = [b.factor.n_levels for b in blocks]
        x = design.fixed.matrix
        self.y = design.y - x @ beta_ref
        self.n, self.p = x.shape
        lengths = [lv * q for lv, q in zip(self.n_levels, self.sizes)]
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(int)
        n_random = int(self.offsets[-1])
        rows, cols, vals = [], [], []
        for k, block in enumerate(blocks):
            for col in range(block.n_columns):
                rows.append(np.arange(self.n))
                cols.append(self.offsets[k] + block.factor.codes * block.n_columns + col)
                vals.append(block.matrix[:, col])
        z = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(self.n, n_random),
        )
        self.c = sp.hstack([sp.csr_matrix(x), z]).tocsr()
        self.term_slices = [slice(self.offsets[k], self.offsets[k + 1]) for k in range(len(blocks))]
        self.z = [z[:, sl].tocsr() for sl in self.term_slices]
        self.ct = self.c.T.tocsr()
        self.ctc = (self.ct @ self.c).tocsc()
        self.cty = self.ct @ self.y
        self.size = self.p + n_random
        self.dense = self.size <= DENSE_LIMIT
        if self.dense:
            self.ctc_dense = self.ctc.toarray()
        self.n_chains = n_chains
        # positions of each term's q x q blocks on the diagonal of K
        self._block_index = []
        for k, (q, levels) in enumerate(zip(self.sizes, self.n_levels)):
            start = self.p + self.offsets[k] + np.arange(levels)[:, None, None] * q
            r = start + np.arange(q)[None, :, None]
            cidx = start + np.arange(q)[None, None, :]
            self._block_index.append((r + 0 * cidx, cidx + 0 * r))

    def _penalty(self, sigma2: float, omegas: list[np.ndarray]) -> tuple:
        """Entries of ``sigma^2 Omega^-1`` on the diagonal blocks, and ``sigma^2 L^-T``."""
        rows, cols, vals, scaled = [], [], [], []
        for (r, cidx), om, levels in zip(self._block_index, omegas, self.n_levels):
            inv = np.linalg.inv(om) * sigma2
            rows.append(r.ravel())
            cols.append(cidx.ravel())
            vals.append(np.broadcast_to(inv, (levels, *inv.shape)).ravel())
            low = np.linalg.cholesky(om)
            scaled.append(sigma2 * np.linalg.inv(low).T)  # sigma^2 L^-T
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), scaled

    def _solve(self, penalty: tuple, rhs: np.ndarray) -> np.ndarray:
        rows, cols, vals, _ = penalty
        if self.dense:
            k = self.ctc_dense.copy()
            k[rows, cols] += vals
            return scipy.linalg.cho_solve(scipy.linalg.cho_factor(k, lower=True), rhs)
        k = (self.ctc + sp.csc_matrix((vals, (rows, cols)), shape=self.ctc.shape)).tocsc()
        lu = spla.splu(
            k, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
        )
        return lu.solve(rhs)

    def step(self, sigma2: np.ndarray, omegas: list[np.ndarray], rngs) -> tuple:
        betas, bs = [], []
        for ch, rng in enumerate(rngs):
            om = [o[ch] for o in omegas]
            s2 = float(sigma2[ch])
            penalty = self._penalty(s2, om)
            scaled = penalty[3]
            rhs = self.cty + np.sqrt(s2) * (self.ct @ rng.standard_normal(self.n))
            for k, (lt, levels) in enumerate(zip(scaled, self.n_levels)):
                eta = rng.standard_normal((levels, lt.shape[0]))
                start = self.p + self.offsets[k]
                rhs[start : start + lt.shape[0] * levels] += (eta @ lt.T).ravel()
            sol = self._solve(penalty, rhs)
            betas.append(sol[: self.p])
            bs.append(sol[self.p :])
        return np.array(betas), np.array(bs)

    def _residuals(self, beta: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``y - X beta - Z b`` per chain ``(C, n)``."""
        return self.y[None] - (self.c @ np.hstack([beta, b]).T).T

    def rss(self, beta: np.ndarray, b: np.ndarray) -> np.ndarray:
        e = self._residuals(beta, b)
        return np.einsum("cn,cn->c", e, e)

    def scale_moves(self, prior, beta, b, sigma2, omegas, rngs) -> tuple:
        """:func:`scale_moves` for every term, on the fitted parts ``Z_k b_k`` of the rows."""
        b = b.copy()
        omegas = list(omegas)
        zb = [(self.z[k] @ b[:, sl].T).T for k, sl in enumerate(self.term_slices)]
        e = self.y[None] - (self.c[:, : self.p] @ beta.T).T - sum(zb)
        for k, sl in enumerate(self.term_slices):
            a = np.einsum("cn,cn->c", zb[k], zb[k])
            bb = np.einsum("cn,cn->c", e, zb[k]) + a
            g = scale_factor(prior.terms[k], self.sizes[k], a, bb, sigma2, omegas[k], rngs)
            e = e - (g - 1.0)[:, None] * zb[k]
            zb[k] = zb[k] * g[:, None]
            b[:, sl] *= g[:, None]
            omegas[k] = omegas[k] * (g * g)[:, None, None]
        return b, omegas

    def per_term(self, b: np.ndarray) -> list[np.ndarray]:
        """Per term, the random effects ``(C, J_k, q_k)``."""
        return [
            b[:, self.offsets[k] : self.offsets[k + 1]].reshape(b.shape[0], levels, q)
            for k, (q, levels) in enumerate(zip(self.sizes, self.n_levels))
        ]

    def crossproducts(self, b: np.ndarray) -> list[np.ndarray]:
        return [np.einsum("cja,cjb->cab", t, t) for t in self.per_term(b)]


def make_sampler(design: Design, beta_ref: np.ndarray, n_chains: int):
    """The batched sampler for one grouping factor, the general one otherwise."""
    if len({b.factor.name for b in design.random}) == 1:
        return GroupedSampler(design, beta_ref, n_chains)
    return GeneralSampler(design, beta_ref, n_chains)


# --------------------------------------------------------------------------- scale moves


def _log_scale_density(h, a, bb, sigma2, power, t) -> np.ndarray:
    """``log p(g)`` of the scale move at ``g = exp(h)`` (see :func:`scale_factor`)."""
    g2 = np.exp(2.0 * h)
    return -(g2 * a - 2.0 * np.exp(h) * bb) / (2.0 * sigma2) - power * h - t / (2.0 * g2)


def scale_factor(
    term: InverseWishart,
    q: int,
    a: np.ndarray,
    bb: np.ndarray,
    sigma2: np.ndarray,
    omega: np.ndarray,
    rngs,
    steps: int | None = None,
) -> np.ndarray:
    """The factor ``g`` per chain of a move ``(b_k, Omega_k) -> (g b_k, g^2 Omega_k)``.

    The Gibbs steps ``b | Omega`` and ``Omega | b`` move slowly when a variance's posterior
    reaches towards zero (few groups, a diffuse prior): small ``Omega`` shrinks ``b``, and
    small ``b`` keeps ``Omega`` small. Rescaling both together (Liu and Sabatti's
    generalised Gibbs, 2000; the move behind parameter expansion) crosses that funnel in a
    few steps. Along the move the posterior is, with ``a = |Z_k b_k|^2``, ``bb = r'Z_k b_k``
    (``r`` the residual without term ``k``) and ``t = tr(Psi Omega^-1)``,

        log p(g) = -(g^2 a - 2 g bb) / (2 sigma^2) - q nu log g - t / (2 g^2)

    (likelihood, random effects' density, prior and the move's Jacobian, in the Haar
    measure ``dg / g``). ``steps`` (default :data:`SCALE_STEPS`) random-walk proposals on
    ``log g`` with SD :data:`SCALE_STEP_SD` are accepted or rejected by this ratio, so the
    posterior is left exactly unchanged; only the mixing improves.
    """
    steps = SCALE_STEPS if steps is None else steps
    t = np.einsum("ab,cba->c", term.scale, np.linalg.inv(omega))
    coefficients = (a, bb, sigma2, q * term.df, t)
    randoms = np.array(
        [np.concatenate([rng.standard_normal(steps), rng.random(steps)]) for rng in rngs]
    )
    h = np.zeros(len(rngs))
    current = _log_scale_density(h, *coefficients)
    for i in range(steps):
        proposal = h + SCALE_STEP_SD * randoms[:, i]
        value = _log_scale_density(proposal, *coefficients)
        accept = np.log(randoms[:, steps + i]) < value - current
        h = np.where(accept, proposal, h)
        current = np.where(accept, value, current)
    return np.exp(h)


# --------------------------------------------------------------------------- driver


def run_gibbs(
    design: Design,
    estimates: LmmEstimates,
    *,
    iterations: int = 5000,
    burn_in: int = 500,
    chains: int = 4,
    seed: int | None = None,
    prior: str = "mlwin",
    progress: bool | None = None,
) -> Draws:
    """Run ``chains`` Gibbs chains of ``burn_in + iterations`` iterations, keep the last
    ``iterations`` of each.

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    >>> draws = run_gibbs(fit.design, fit.estimates, iterations=200, burn_in=50, chains=2,
    ...                   seed=1, progress=False)
    >>> draws.parameters.shape
    (2, 200, 3)
    """
    prior_ = make_prior(prior, list(estimates.covariances))
    problems = posterior_problems(design, prior_)
    if problems:
        return Draws(
            np.empty((chains, 0, 0)),
            [],
            [],
            np.empty((chains, 0)),
            prior_,
            seed,
            burn_in,
            "none",
            problems,
        )
    sampler = make_sampler(design, estimates.beta, chains)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(chains)]
    sigma2, omegas = _starts(estimates, rngs)
    start = np.column_stack(
        [np.tile(estimates.beta, (chains, 1)), _entries(omegas), sigma2[:, None]]
    )
    n_par = start.shape[1]
    out = np.empty((chains, iterations, n_par))
    totals = [np.zeros((lv, q)) for lv, q in zip(sampler.n_levels, sampler.sizes)]
    squares = [np.zeros_like(t) for t in totals]
    total = burn_in + iterations
    bar = _progress(total, progress if progress is not None else total >= 2000, "MCMC")
    # the grouped sampler's work is element-wise arithmetic and tiny matrices, where
    # multi-threaded BLAS only adds overhead (as in the optimiser)
    one_thread = sampler.name == "grouped"
    limits = threadpool_limits(limits=1, user_api="blas") if one_thread else nullcontext()
    with limits:
        try:
            for it in range(total):
                beta, b = sampler.step(sigma2, omegas, rngs)
                b, omegas = sampler.scale_moves(prior_, beta, b, sigma2, omegas, rngs)
                omegas = _draw_covariances(
                    prior_, sampler.sizes, sampler.crossproducts(b), sampler.n_levels, rngs
                )
                sigma2 = _draw_residual(prior_, sampler.n, sampler.rss(beta, b), rngs)
                if it >= burn_in:
                    row = it - burn_in
                    out[:, row, : sampler.p] = beta + estimates.beta
                    out[:, row, sampler.p : -1] = _entries(omegas)
                    out[:, row, -1] = sigma2
                    for k, effects in enumerate(sampler.per_term(b)):
                        totals[k] += effects.sum(axis=0)
                        squares[k] += (effects**2).sum(axis=0)
                if bar is not None and (it % 50 == 49 or it == total - 1):
                    bar.update(it + 1 - bar.n)
        finally:
            if bar is not None:
                bar.close()
    count = chains * iterations
    means = [t / count for t in totals]
    sds = [
        np.sqrt(np.maximum(s / count - m**2, 0.0) * count / max(count - 1, 1))
        for s, m in zip(squares, means)
    ]
    return Draws(
        parameters=out,
        random_mean=means,
        random_sd=sds,
        start=start,
        prior=prior_,
        seed=seed,
        burn_in=burn_in,
        sampler=sampler.name,
        problems=problems,
    )
