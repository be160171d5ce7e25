"""Bayesian estimation of the linear mixed model by a blocked Gibbs sampler (MLwiN's MCMC).

The model is ``y = X beta + Z b + e`` with ``e ~ N(0, sigma^2 I)`` and, for every random
term ``k`` and level ``j``, ``b_kj ~ N(0, Omega_k)`` (``q_k x q_k``). Each iteration draws,
in turn,

1. ``(beta, b) | Omega, sigma^2, y`` jointly, as one block:

   * one grouping factor (:class:`GroupedSampler`): ``beta`` from its distribution with
     ``b`` integrated out, ``N(beta_GLS, sigma^2 (X'V^-1X)^-1)`` (flat prior), then
     ``b_j | beta`` for all groups at once, ``N(M_j^-1 Z_j'(y_j - X_j beta), sigma^2 M_j^-1)``
     with ``M_j = Z_j'Z_j + sigma^2 Omega^-1``. The ``q x q`` Cholesky factors of all
     ``M_j`` of all chains are computed together, entry by entry over arrays of chains x
     groups, and only the per-group cross-products formed once are touched, never the
     rows;
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

Chains run side by side (stacked on the chain axis of every per-group array), each with
its own random streams from ``numpy.random.SeedSequence(seed).spawn(chains)``, drawn in
blocks of iterations (:mod:`mixnb.estimation.mcmc_streams`); chain 1 starts at the likelihood
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
from mixnb.estimation.covariance import entry_order
from mixnb.estimation.lmm import LmmEstimates
from mixnb.estimation.mcmc_streams import ChainStreams
from mixnb.estimation.pls import DENSE_LIMIT
from mixnb.estimation.progress import progress_bar

#: MLwiN's shape and rate of the Gamma prior on a precision.
EPSILON = 0.001

#: Random-walk proposals per iteration and term of the scale move, and their SD on log g.
SCALE_STEPS = 3
SCALE_STEP_SD = 1.0

#: The general sampler runs BLAS on one thread up to this many unknowns (a dense
#: Cholesky factor of 1000 unknowns took 10 ms on one thread and 67 ms on two of a busy
#: 2-core machine; at 3000 two threads win).
SINGLE_THREAD_LIMIT = 2000

#: ``progress=None`` shows a progress bar from this many iterations (burn-in included) on.
PROGRESS_FROM = 2000

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
    normals: np.ndarray,
    chisquares: np.ndarray,
) -> list[np.ndarray]:
    """``Omega_k | b`` for every term and chain: ``IW(df + J, scale + B'B)``.

    ``normals`` ``(C, sum q_k (q_k - 1) / 2)`` and ``chisquares`` ``(C, sum q_k)`` (with
    ``df + J_k - i`` degrees of freedom) are Bartlett's draws of all terms, in term order.
    """
    out = []
    n_at = c_at = 0
    for term, q, btb in zip(prior.terms, sizes, crossproducts):
        n_off = q * (q - 1) // 2
        bartlett = np.concatenate(
            [normals[:, n_at : n_at + n_off], chisquares[:, c_at : c_at + q]], axis=1
        )
        n_at, c_at = n_at + n_off, c_at + q
        out.append(draw_inverse_wishart(np.full(len(btb), term.df), term.scale + btb, bartlett))
    return out


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


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per chain, ``sum a * b`` over everything but the first axis (``(C,)``; one BLAS
    dot product per chain, no temporary)."""
    c = a.shape[0]
    return (a.reshape(c, 1, -1) @ b.reshape(c, -1, 1))[:, 0, 0]


def _gram(b: np.ndarray) -> np.ndarray:
    """Per chain ``B'B`` for effects ``(C, q, J)``: ``(C, q, q)``."""
    q = b.shape[1]
    out = np.empty((b.shape[0], q, q))
    for i in range(q):
        for k in range(i + 1):
            out[:, i, k] = out[:, k, i] = _dot(b[:, i], b[:, k])
    return out


class GroupedSampler:
    """All random terms share one grouping factor: batched over chains and groups.

    Per-group quantities are arrays ``(C, J)`` (chain, group), one per entry of a small
    matrix; the random effects are ``(C, q, J)``. The per-group cross-products
    ``Z_j'Z_j`` and ``Z_j'[X_j y_j]`` are formed once, so an iteration never touches the
    rows; it makes a few dozen vectorised passes over ``C x J`` numbers, all into
    work arrays allocated once (fresh megabyte-sized temporaries cost more than the
    arithmetic):

    * ``M_j = Z_j'Z_j + sigma^2 Omega^-1 = L_j L_j'``: the Cholesky factor entry by entry
      (:meth:`_factor`);
    * ``W_j = L_j^-1 Z_j'[X_j y_j]``; ``sum_j W_j'W_j`` (a dot product per entry and
      chain) gives ``X'V^-1X`` and ``X'V^-1y`` in units of ``sigma^2``, and so ``beta``;
    * ``u_j = L_j^-1 Z_j'(y_j - X_j beta) = W_j [-beta; 1]`` (no second solve), and
      ``b_j = L_j^-T (u_j + sigma z_j)``, ``z_j`` standard normal: an exact draw from
      ``N(M_j^-1 Z_j'(y_j - X_j beta), sigma^2 M_j^-1)``.

    With one random term, everything the scale move and the residual's draw need follows
    from ``h_j = u_j + sigma z_j = L_j' b_j`` without another pass over the groups:
    ``b_j' Z_j'(y_j - X_j beta) = h_j' u_j`` and
    ``b_j' Z_j'Z_j b_j = |h_j|^2 - sigma^2 b_j' Omega^-1 b_j``.
    """

    name = "grouped"
    single_threaded = True

    def __init__(self, design: Design, beta_ref: np.ndarray, n_chains: int) -> None:
        blocks = design.random
        self.sizes = [b.n_columns for b in blocks]
        self.q = q = sum(self.sizes)
        factor = blocks[0].factor
        self.n_levels = [factor.n_levels] * len(blocks)
        self.j = j = factor.n_levels
        z = np.column_stack([b.matrix for b in blocks])
        x = design.fixed.matrix
        y = design.y - x @ beta_ref  # the fixed part removed: cross-products stay small
        self.n, self.p = x.shape
        p = self.p
        self.xtx, self.xty, self.yty = x.T @ x, x.T @ y, float(y @ y)
        xy = np.column_stack([x, y])
        codes = factor.codes
        self.ztxy = np.empty((q, p + 1, j))  # Z_j'[X_j y_j]
        self.ztz = np.empty((q, q, j))
        for a in range(q):
            for c in range(p + 1):
                self.ztxy[a, c] = np.bincount(codes, weights=z[:, a] * xy[:, c], minlength=j)
            for c in range(a + 1):
                self.ztz[a, c] = self.ztz[c, a] = np.bincount(
                    codes, weights=z[:, a] * z[:, c], minlength=j
                )
        self.n_chains = n_chains
        self.n_normals = q * j + p
        offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.slices = [slice(offsets[k], offsets[k + 1]) for k in range(len(blocks))]
        # work arrays, reused every iteration
        self._low = np.zeros((q, q, n_chains, j))  # L_j, lower triangle
        self._inverse = np.empty((q, n_chains, j))  # 1 / diag(L_j)
        self._w = np.empty((n_chains, p + 1, q, j))
        self._acc = np.empty((n_chains, p + 1, j))
        self._tmp = np.empty((n_chains, p + 1, j))
        self._u = np.empty((n_chains, q, j))
        self._h = np.empty((n_chains, q, j))
        self._b = np.empty((n_chains, q, j))
        self._scratch = np.empty((n_chains, j))
        # set by step(): what scale_moves(), crossproducts() and rss() reuse
        self._zty = self._gram = self._linear = self._quadratic = None
        self._beta_part = np.zeros(n_chains)

    def _factor(self, sigma2: np.ndarray, omegas: list[np.ndarray]) -> None:
        """``L_j`` of every ``M_j`` into ``self._low`` (``[i, k]`` for ``k <= i``, each
        ``(C, J)``) and the reciprocals of its diagonal into ``self._inverse``."""
        q, low, inverse, tmp = self.q, self._low, self._inverse, self._scratch
        penalty = np.zeros((self.n_chains, q, q))
        for sl, om in zip(self.slices, omegas):
            penalty[:, sl, sl] = np.linalg.inv(om) * sigma2[:, None, None]
        for col in range(q):
            pivot = low[col, col]
            np.add(self.ztz[col, col], penalty[:, col, col, None], out=pivot)
            for k in range(col):
                pivot -= np.multiply(low[col, k], low[col, k], out=tmp)
            np.sqrt(pivot, out=pivot)
            np.divide(1.0, pivot, out=inverse[col])
            for i in range(col + 1, q):
                entry = low[i, col]
                np.add(self.ztz[i, col], penalty[:, i, col, None], out=entry)
                for k in range(col):
                    entry -= np.multiply(low[i, k], low[col, k], out=tmp)
                entry *= inverse[col]

    def step(self, sigma2: np.ndarray, omegas: list[np.ndarray], normals: np.ndarray) -> tuple:
        """One draw of ``(beta, b)`` given the variances (``beta`` relative to the fit's);
        ``normals`` ``(C, n_normals)`` standard normals. ``b`` ``(C, q, J)`` is a work
        array: valid until the next call."""
        c, j, q, p = self.n_chains, self.j, self.q, self.p
        self._factor(sigma2, omegas)
        low, inverse, w, acc, tmp = self._low, self._inverse, self._w, self._acc, self._tmp
        for i in range(q):  # W_j = L_j^-1 Z_j'[X_j y_j], row by row
            if i == 0:
                np.multiply(self.ztxy[0], inverse[0][:, None, :], out=w[:, :, 0, :])
                continue
            np.multiply(low[i, 0][:, None, :], w[:, :, 0, :], out=acc)
            for k in range(1, i):
                acc += np.multiply(low[i, k][:, None, :], w[:, :, k, :], out=tmp)
            np.subtract(self.ztxy[i], acc, out=acc)
            np.multiply(acc, inverse[i][:, None, :], out=w[:, :, i, :])
        flat = w.reshape(c, p + 1, q * j)
        s = np.empty((c, p, p + 1))  # sum over groups of W_j'W_j, per chain (X rows)
        for a in range(p):
            for k in range(a, p + 1):
                s[:, a, k] = _dot(flat[:, a], flat[:, k])
                if k < p:
                    s[:, k, a] = s[:, a, k]
        gls = self.xtx[None] - s[:, :, :p]  # X'V^-1X in units of sigma^2
        rhs = self.xty[None] - s[:, :, p]
        chol = np.linalg.cholesky(gls)
        mean = np.linalg.solve(gls, rhs[:, :, None])[:, :, 0]
        root = np.sqrt(sigma2)
        noise = np.linalg.solve(chol.transpose(0, 2, 1), normals[:, q * j :, None])[:, :, 0]
        beta = mean + root[:, None] * noise
        # b | beta, all groups and chains at once
        u = self._u.reshape(c, q * j)  # L^-1 Z'(y - X beta) = W [-beta; 1]
        h = self._h.reshape(c, q * j)  # L'b = u + sigma z
        scratch = self._b.reshape(c, q * j)
        np.multiply(flat[:, 0], beta[:, :1], out=u)
        for a in range(1, p):
            u += np.multiply(flat[:, a], beta[:, a : a + 1], out=scratch)
        np.subtract(flat[:, p], u, out=u)
        np.multiply(normals[:, : q * j], root[:, None], out=h)
        h += u
        b, tmp = self._b, self._scratch
        for i in reversed(range(q)):  # b_j = L_j^-T h_j
            if i == q - 1:
                np.multiply(self._h[:, i], inverse[i], out=b[:, i])
                continue
            np.multiply(low[i + 1, i], b[:, i + 1], out=b[:, i])
            for k in range(i + 2, q):
                b[:, i] += np.multiply(low[k, i], b[:, k], out=tmp)
            np.subtract(self._h[:, i], b[:, i], out=b[:, i])
            b[:, i] *= inverse[i]
        # |y - X beta|^2 from the fit's cross-products
        self._beta_part = (
            self.yty - 2.0 * beta @ self.xty + np.einsum("cp,pk,ck->c", beta, self.xtx, beta)
        )
        if len(self.slices) == 1:
            self._gram = _gram(b)
            penalty = np.einsum("cab,cba->c", np.linalg.inv(omegas[0]), self._gram)
            self._linear = _dot(h, u)  # sum_j b_j'Z_j'(y_j - X_j beta)
            self._quadratic = _dot(h, h) - sigma2 * penalty  # sum_j b_j'Z_j'Z_j b_j
        else:
            self._zty = self._l_times_u()
        return beta, b

    def _l_times_u(self) -> np.ndarray:
        """``Z_j'(y_j - X_j beta) = L_j u_j`` for every group and chain: ``(C, q, J)``
        (only needed with several terms)."""
        out = np.zeros_like(self._u)
        for i in range(self.q):
            for k in range(i + 1):
                out[:, i] += self._low[i, k] * self._u[:, k]
        return out

    def _ztz_times(self, b: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
        """``(Z_j'Z_j)[rows, cols] b_j[cols]`` for every group and chain: ``(C, r, J)``."""
        r, cs = range(self.q)[rows], range(self.q)[cols]
        out = np.zeros((b.shape[0], len(r), b.shape[2]))
        for i, a in enumerate(r):
            for k in cs:
                out[:, i] += self.ztz[a, k] * b[:, k]
        return out

    def rss(self, beta: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``|y - X beta - Z b|^2`` per chain, from the cross-products (no rows touched);
        ``beta`` must be the last one :meth:`step` drew, ``b`` that draw after the scale
        moves."""
        if len(self.slices) == 1:
            return self._beta_part + self._quadratic - 2.0 * self._linear
        everything = slice(None)
        zb = self._ztz_times(b, everything, everything)
        return self._beta_part + _dot(b, zb - 2.0 * self._zty)

    def scale_moves(self, prior, beta, b, sigma2, omegas, normals, uniforms) -> tuple:
        """:func:`scale_factor` moves for every term, from the per-group cross-products
        (``b`` is scaled in place); ``normals`` and ``uniforms`` ``(C, terms, steps)``."""
        omegas = list(omegas)
        if len(self.slices) == 1:
            g = scale_factor(
                prior.terms[0], self.q, self._quadratic, self._linear, sigma2, omegas[0],
                normals[:, 0], uniforms[:, 0],
            )  # fmt: skip
            b *= g[:, None, None]
            self._quadratic = self._quadratic * g * g
            self._linear = self._linear * g
            self._gram = self._gram * (g * g)[:, None, None]
            omegas[0] = omegas[0] * (g * g)[:, None, None]
            return b, omegas
        for k, sl in enumerate(self.slices):
            own = self._ztz_times(b, sl, sl)
            ze = self._zty[:, sl] - self._ztz_times(b, sl, slice(None))  # Z_k'e
            a = _dot(b[:, sl], own)
            bb = _dot(b[:, sl], ze) + a
            g = scale_factor(
                prior.terms[k], self.sizes[k], a, bb, sigma2, omegas[k],
                normals[:, k], uniforms[:, k],
            )  # fmt: skip
            b[:, sl] *= g[:, None, None]
            omegas[k] = omegas[k] * (g * g)[:, None, None]
        return b, omegas

    def crossproducts(self, b: np.ndarray) -> list[np.ndarray]:
        """Per term, ``B'B`` per chain ``(C, q_k, q_k)``."""
        if len(self.slices) == 1:
            return [self._gram]
        return [_gram(b[:, sl]) for sl in self.slices]

    def per_term(self, b: np.ndarray) -> list[np.ndarray]:
        """Per term, the random effects ``(C, J, q_k)``."""
        return [b[:, sl].transpose(0, 2, 1) for sl in self.slices]


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
        self.n_normals = self.n + n_random
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
        self.ct = self.c.T.tocsr()
        self.ctc = (self.ct @ self.c).tocsc()
        self.cty = self.ct @ self.y
        self.yty = float(self.y @ self.y)
        self.ctc_blocks = [
            self.ctc[
                self.p + sl.start : self.p + sl.stop, self.p + sl.start : self.p + sl.stop
            ].tocsr()
            for sl in self.term_slices
        ]
        self.size = self.p + n_random
        self.dense = self.size <= DENSE_LIMIT
        self.single_threaded = self.size <= SINGLE_THREAD_LIMIT
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
            factor = scipy.linalg.cho_factor(k, lower=True, check_finite=False)
            return scipy.linalg.cho_solve(factor, rhs, check_finite=False)
        k = (self.ctc + sp.csc_matrix((vals, (rows, cols)), shape=self.ctc.shape)).tocsc()
        lu = spla.splu(
            k, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
        )
        return lu.solve(rhs)

    def step(self, sigma2: np.ndarray, omegas: list[np.ndarray], normals: np.ndarray) -> tuple:
        """One draw of ``(beta, b)`` per chain; ``normals`` ``(C, n + random effects)``."""
        betas, bs = [], []
        for ch in range(self.n_chains):
            om = [o[ch] for o in omegas]
            s2 = float(sigma2[ch])
            penalty = self._penalty(s2, om)
            scaled = penalty[3]
            rhs = self.cty + np.sqrt(s2) * (self.ct @ normals[ch, : self.n])
            for k, (lt, levels) in enumerate(zip(scaled, self.n_levels)):
                start = self.offsets[k]
                eta = normals[ch, self.n + start : self.n + self.offsets[k + 1]]
                rhs[self.p + start : self.p + self.offsets[k + 1]] += (
                    eta.reshape(levels, lt.shape[0]) @ lt.T
                ).ravel()
            sol = self._solve(penalty, rhs)
            betas.append(sol[: self.p])
            bs.append(sol[self.p :])
        return np.array(betas), np.array(bs)

    def _times_ctc(self, theta: np.ndarray) -> np.ndarray:
        """``[X Z]'[X Z] theta`` for every chain's ``theta`` ``(C, P)``."""
        if self.dense:
            return theta @ self.ctc_dense
        return (self.ctc @ theta.T).T

    def rss(self, beta: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``|y - X beta - Z b|^2`` per chain, from the cross-products ``[X Z]'[X Z]`` and
        ``[X Z]'y`` (no rows touched)."""
        theta = np.hstack([beta, b])
        return (
            self.yty - 2.0 * theta @ self.cty + np.einsum("cp,cp->c", theta, self._times_ctc(theta))
        )

    def scale_moves(self, prior, beta, b, sigma2, omegas, normals, uniforms) -> tuple:
        """:func:`scale_factor` moves for every term, from the cross-products; ``normals``
        and ``uniforms`` ``(C, terms, steps)``.

        With ``theta = [beta; b]``, ``v = [X Z]'[X Z] theta`` and term ``k``'s rows ``s``
        of it, ``a = |Z_k b_k|^2 = b_k' (Z_k'Z_k) b_k`` and
        ``r_k'Z_k b_k = b_k'(Z_k'y) - b_k' v_s + a``.
        """
        theta = np.hstack([beta, b])
        omegas = list(omegas)
        for k, sl in enumerate(self.term_slices):
            rows = slice(self.p + sl.start, self.p + sl.stop)
            bk = theta[:, rows]
            own = (self.ctc_blocks[k] @ bk.T).T
            a = np.einsum("cp,cp->c", bk, own)
            v = self._times_ctc(theta)[:, rows]
            bb = bk @ self.cty[rows] - np.einsum("cp,cp->c", bk, v) + a
            g = scale_factor(
                prior.terms[k], self.sizes[k], a, bb, sigma2, omegas[k],
                normals[:, k], uniforms[:, k],
            )  # fmt: skip
            theta[:, rows] *= g[:, None]
            omegas[k] = omegas[k] * (g * g)[:, None, None]
        return theta[:, self.p :], omegas

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
    normals: np.ndarray,
    uniforms: np.ndarray,
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
    measure ``dg / g``). One random-walk proposal on ``log g`` with SD
    :data:`SCALE_STEP_SD` per column of ``normals`` ``(C, steps)`` is accepted or rejected
    by this ratio against ``uniforms`` ``(C, steps)``, so the posterior is left exactly
    unchanged; only the mixing improves.
    """
    t = np.einsum("ab,cba->c", term.scale, np.linalg.inv(omega))
    coefficients = (a, bb, sigma2, q * term.df, t)
    h = np.zeros(len(a))
    current = _log_scale_density(h, *coefficients)
    for i in range(normals.shape[1]):
        proposal = h + SCALE_STEP_SD * normals[:, i]
        value = _log_scale_density(proposal, *coefficients)
        accept = np.log(uniforms[:, i]) < value - current
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

    Chain ``c``'s random numbers come from the ``c``-th child of
    ``numpy.random.SeedSequence(seed)`` (its start, and three streams of
    :class:`~mixnb.estimation.mcmc_streams.ChainStreams`), so the same seed gives the same
    draws, and a shorter run is the start of a longer one.

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
    seeds = np.random.SeedSequence(seed).spawn(chains)
    sigma2, omegas = _starts(estimates, [np.random.default_rng(s) for s in seeds])
    start = np.column_stack(
        [np.tile(estimates.beta, (chains, 1)), _entries(omegas), sigma2[:, None]]
    )
    # what one iteration draws: the effects' normals, the scale moves' normals and
    # uniforms, Bartlett's normals and chi-squares per term, the residual's gamma (as a
    # chi-square with twice its shape)
    steps, n_terms, n_effects = SCALE_STEPS, len(sampler.sizes), sampler.n_normals
    n_moves = n_terms * steps
    df = [
        term.df + levels - np.arange(q, dtype=float)
        for term, levels, q in zip(prior_.terms, sampler.n_levels, sampler.sizes)
    ]
    df.append(np.array([2.0 * (prior_.residual_shape + sampler.n / 2.0)]))
    n_bartlett = sum(q * (q - 1) // 2 for q in sampler.sizes)
    streams = ChainStreams(seeds, n_effects + n_moves + n_bartlett, np.concatenate(df), n_moves)
    rate = prior_.residual_rate

    n_par = start.shape[1]
    out = np.empty((chains, iterations, n_par))
    totals = squares = None
    total = burn_in + iterations
    bar = progress_bar(total, progress, "MCMC", PROGRESS_FROM)
    # element-wise arithmetic, tiny matrices and dense factorisations of up to
    # SINGLE_THREAD_LIMIT unknowns: multi-threaded BLAS only adds overhead there (as in
    # the optimiser), and much more on a busy machine
    limits = (
        threadpool_limits(limits=1, user_api="blas") if sampler.single_threaded else nullcontext()
    )
    with limits:
        try:
            for it in range(total):
                normals, chisquares, uniforms = streams.next()
                beta, b = sampler.step(sigma2, omegas, normals[:, :n_effects])
                b, omegas = sampler.scale_moves(
                    prior_,
                    beta,
                    b,
                    sigma2,
                    omegas,
                    normals[:, n_effects : n_effects + n_moves].reshape(chains, n_terms, steps),
                    uniforms.reshape(chains, n_terms, steps),
                )
                omegas = _draw_covariances(
                    prior_,
                    sampler.sizes,
                    sampler.crossproducts(b),
                    normals[:, n_effects + n_moves :],
                    chisquares[:, :-1],
                )
                rss = np.maximum(sampler.rss(beta, b), 0.0)
                sigma2 = (rate + rss / 2.0) / (chisquares[:, -1] / 2.0)
                if it >= burn_in:
                    row = it - burn_in
                    out[:, row, : sampler.p] = beta + estimates.beta
                    out[:, row, sampler.p : -1] = _entries(omegas)
                    out[:, row, -1] = sigma2
                    if totals is None:
                        totals, squares = np.zeros(b.shape[1:]), np.zeros(b.shape[1:])
                        work = np.empty(b.shape[1:])
                    totals += np.add.reduce(b, axis=0, out=work)
                    squares += np.einsum("c...,c...->...", b, b, out=work)
                if bar is not None and (it % 50 == 49 or it == total - 1):
                    bar.update(it + 1 - bar.n)
        finally:
            if bar is not None:
                bar.close()
    count = chains * iterations
    means = [t[0] / count for t in sampler.per_term(totals[None])]
    second = [s[0] / count for s in sampler.per_term(squares[None])]
    sds = [
        np.sqrt(np.maximum(s - m**2, 0.0) * count / max(count - 1, 1))
        for s, m in zip(second, means)
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
