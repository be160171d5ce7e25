"""Kenward & Roger's (1997) adjusted covariance and F test, from the model's blocks.

pbkrtest (``vcovAdj``, ``KRmodcomp``) forms ``V = sum_i omega_i G_i`` and every
``G_i = dV / d omega_i`` as ``n x n`` matrices. Every quantity it needs is a sum over
groups of small products, so here nothing larger than the random effects is formed.
With ``V = sigma^2 W^-1`` and, by Woodbury, ``W = I - Z C Z'`` where
``C = Lambda (Lambda' Z'Z Lambda + I)^-1 Lambda'``, the cross-products

    S = Z'Z,   R' = I - S C,   M = Z'WZ = R'S,   B = Z'WX = R'Z'X,   B2 = Z'W^2X = R'B,
    N = Z'W^2Z = R'M,   X'W^(m+1)X = X'W^mX - (Z'W^mX)' C Z'X

give, for a random-effect entry ``G_i = Z E_i Z'`` (``E_i`` the unit pattern of one
variance or covariance) and the residual ``G = I``,

    P_i  = X'V^-1 G_i V^-1 X           = B'E_iB / sigma^4        (X'W^2X / sigma^4)
    Q_ij = X'V^-1 G_i V^-1 G_j V^-1 X   = B'E_i M E_jB / sigma^6  (B'E_iB2, X'W^3X, ...)
    K_ij = tr(V^-1 G_i V^-1 G_j)        = tr(E_iM E_jM) / sigma^4 (tr(E_iN), tr(W^2))

and pbkrtest's formulas follow unchanged:
``I_ij = K_ij - 2 tr(Phi Q_ij) + tr(Phi P_i Phi P_j)``, ``W = 2 I^-1``,
``Phi_A = Phi + 2 Phi (sum_ij W_ij (Q_ij - P_i Phi P_j)) Phi``.

With one grouping factor every matrix above is block diagonal: the blocks are stacked
(group first) and the work is O(groups) in vectorised numpy. With several grouping factors
the same algebra runs on one dense block of all random effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from mixnb.design import Design
from mixnb.errors import MixnbError
from mixnb.estimation.covariance import CovarianceLayout, entry_order
from mixnb.estimation.pls import FixedCrossproducts, GeneralSystem, GroupedSystem, make_system

#: With several grouping factors, the largest number of random effects for which the
#: dense block of all random effects is formed (its square is held in memory).
DENSE_RANDOM_EFFECTS_LIMIT = 6000


@dataclass(frozen=True)
class KenwardRogerTest:
    """Kenward-Roger's statistics for one hypothesis ``L beta = 0`` (pbkrtest's ``aux``)."""

    numdf: int
    ddf: float
    f_scaling: float
    a1: float
    a2: float


@dataclass(frozen=True)
class KenwardRoger:
    """Kenward & Roger's (1997) adjusted covariance and what their df formula needs."""

    phi: np.ndarray  # unadjusted covariance of beta, (X'V^-1X)^-1
    phi_adjusted: np.ndarray
    p_matrices: np.ndarray  # (k, p, p): X'V^-1 G_i V^-1 X
    w: np.ndarray  # (k, k): inverse expected information of the covariance parameters

    def test(self, contrasts: np.ndarray) -> KenwardRogerTest:
        """Denominator df and F scaling for ``L beta = 0`` (pbkrtest's ``.KR_adjust``)."""
        contrasts = np.atleast_2d(contrasts)
        q = int(np.linalg.matrix_rank(contrasts))
        theta = contrasts.T @ np.linalg.solve(contrasts @ self.phi @ contrasts.T, contrasts)
        u = np.einsum("ab,kbc,cd->kad", theta @ self.phi, self.p_matrices, self.phi)
        traces = np.trace(u, axis1=1, axis2=2)
        a1 = float(traces @ self.w @ traces)
        a2 = float(np.einsum("ij,iab,jba->", self.w, u, u))
        b = (a1 + 6 * a2) / (2 * q)
        g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
        denom = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
        v0 = 1 + c1 * b
        v1 = 1 - c2 * b
        v2 = 1 - c3 * b
        v0 = 0.0 if abs(v0) < 1e-10 else v0
        ratio = (1 - a2 / q) / v1 if v1 != 0 else 0.0  # pbkrtest's .divZero
        rho = (1 / q) * ratio**2 * v0 / v2
        ddf = float(4 + (q + 2) / (q * rho - 1))
        scaling = 1.0 if abs(ddf - 2) < 1e-2 else ddf * (1 - a2 / q) / (ddf - 2)
        return KenwardRogerTest(numdf=q, ddf=ddf, f_scaling=float(scaling), a1=a1, a2=a2)

    def df(self, contrasts: np.ndarray) -> float:
        """Denominator df for ``L beta`` (pbkrtest's ``ddf``)."""
        return self.test(contrasts).ddf

    def f_scaling(self, contrasts: np.ndarray) -> float:
        """Kenward-Roger's scale factor lambda for the F statistic (pbkrtest's ``F.scaling``)."""
        return self.test(contrasts).f_scaling


@dataclass(frozen=True)
class _Parameter:
    """One covariance parameter: ``E`` has ones at ``(rows, cols)`` and, off the diagonal,
    at ``(cols, rows)``; ``rows is None`` marks the residual variance (``G = I``)."""

    rows: np.ndarray | None = None
    cols: np.ndarray | None = None

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``E x`` along the second-to-last axis of a stack ``(J, q, m)``."""
        out = np.zeros_like(x)
        out[:, self.rows] += x[:, self.cols]
        if not np.array_equal(self.rows, self.cols):
            out[:, self.cols] += x[:, self.rows]
        return out


@dataclass(frozen=True)
class _Blocks:
    """Stacked cross-products: ``S = Z'Z`` ``(J, q, q)``, ``Z'X`` ``(J, q, p)``, ``Lambda``."""

    s: np.ndarray
    zx: np.ndarray
    lam: np.ndarray
    parameters: list[_Parameter]


def _blocks(design: Design, theta: np.ndarray) -> _Blocks:
    system = make_system(design)
    system = getattr(system, "general", system)  # a blocked system's sparse twin
    layout: CovarianceLayout = system.layout
    p = design.fixed.matrix.shape[1]
    parameters: list[_Parameter] = []
    if isinstance(system, GroupedSystem):
        s = np.moveaxis(system.ztz, 2, 0)
        zx = np.moveaxis(system.ztxy[:, :p, :], 2, 0)
        lam = system._lambda(theta)
        offset = 0
        for q in layout.sizes:
            for a, b in zip(*entry_order(np.zeros((q, q)))):
                parameters.append(_Parameter(np.array([offset + a]), np.array([offset + b])))
            offset += q
    else:
        assert isinstance(system, GeneralSystem)
        if system.n_random > DENSE_RANDOM_EFFECTS_LIMIT:
            raise MixnbError(
                f"Kenward-Roger with several grouping factors needs a dense matrix of all "
                f"{system.n_random} random effects (limit {DENSE_RANDOM_EFFECTS_LIMIT}). "
                "Use ddf='satterthwaite', which has no such limit."
            )
        s = system.ztz.toarray()[None]
        zx = system.ztxy[None, :, :p]
        lam = system._lambda(theta).toarray()
        for k, block in enumerate(system.blocks):
            q, levels = block.n_columns, block.factor.n_levels
            base = system.offsets[k] + np.arange(levels) * q
            for a, b in zip(*entry_order(np.zeros((q, q)))):
                parameters.append(_Parameter(base + a, base + b))
    parameters.append(_Parameter())
    return _Blocks(s=s, zx=zx, lam=lam, parameters=parameters)


def _t(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


def kenward_roger(design: Design, theta: np.ndarray, sigma2: float) -> KenwardRoger:
    """Kenward-Roger quantities of a REML fit at ``theta`` and ``sigma2`` (pbkrtest's
    ``vcovAdj``), from the per-group cross-products."""
    blocks = _blocks(design, np.asarray(theta, dtype=float))
    fixed = FixedCrossproducts.from_design(design)
    s, zx, lam = blocks.s, blocks.zx, blocks.lam
    q = s.shape[1]
    a = lam.T @ s @ lam + np.eye(q)
    c = lam @ np.linalg.solve(a, np.broadcast_to(lam.T, s.shape))  # Lambda A^-1 Lambda'
    c = 0.5 * (c + _t(c))
    r_t = np.eye(q) - s @ c  # R' = I - S C
    m = r_t @ s  # Z'WZ
    m = 0.5 * (m + _t(m))
    b = r_t @ zx  # Z'WX
    b2 = r_t @ b  # Z'W^2X
    n_mat = r_t @ m  # Z'W^2Z
    czx = c @ zx
    xwx = fixed.xtx - np.einsum("gqa,gqb->ab", zx, czx)
    xw2x = xwx - np.einsum("gqa,gqb->ab", b, czx)
    xw3x = xw2x - np.einsum("gqa,gqb->ab", b2, czx)
    cs = c @ s
    tr_w2 = fixed.n - 2 * np.einsum("gaa->", cs) + np.einsum("gab,gba->", cs, cs)

    params = blocks.parameters
    k = len(params)
    e_b = [par.apply(b) if par.rows is not None else None for par in params]
    e_m = [par.apply(m) if par.rows is not None else None for par in params]
    p_mats, q_mats, ktrace = [], np.empty((k, k), dtype=object), np.empty((k, k))
    for i, par in enumerate(params):
        p_mats.append(np.einsum("gqa,gqb->ab", b, e_b[i]) if par.rows is not None else xw2x)
    for i, pi in enumerate(params):
        for j, pj in enumerate(params):
            if j < i:
                q_mats[i, j] = q_mats[j, i].T
                ktrace[i, j] = ktrace[j, i]
                continue
            if pi.rows is not None and pj.rows is not None:
                q_mats[i, j] = np.einsum("gqa,gqb->ab", e_b[i], m @ e_b[j])
                ktrace[i, j] = np.einsum("gab,gba->", e_m[i], e_m[j])
            elif pi.rows is not None:
                q_mats[i, j] = np.einsum("gqa,gqb->ab", e_b[i], b2)
                ktrace[i, j] = np.einsum("gaa->", pi.apply(n_mat))
            else:  # both residual (the residual is the last parameter)
                q_mats[i, j] = xw3x
                ktrace[i, j] = tr_w2
    # units: V^-1 = W / sigma^2
    sig2 = float(sigma2)
    phi = sig2 * np.linalg.inv(xwx)
    phi = 0.5 * (phi + phi.T)
    p_arr = np.array(p_mats) / sig2**2
    q_arr = np.array([[q_mats[i, j] for j in range(k)] for i in range(k)]) / sig2**3
    ktrace = ktrace / sig2**2
    info2 = np.empty((k, k))  # pbkrtest's IE2: twice the REML information
    for i in range(k):
        for j in range(i, k):
            info2[i, j] = info2[j, i] = (
                ktrace[i, j]
                - 2 * np.sum(phi * q_arr[i, j])
                + np.einsum("ab,bc,cd,da->", phi, p_arr[i], phi, p_arr[j])
            )
    condition = np.min(np.abs(np.linalg.eigvalsh(info2)))
    w = 2 * (np.linalg.inv(info2) if condition > 1e-10 else scipy.linalg.pinv(info2))
    w = 0.5 * (w + w.T)
    u = np.einsum("ij,ijab->ab", w, q_arr) - np.einsum(
        "ij,iab,bc,jcd->ad", w, p_arr, phi, p_arr, optimize=True
    )
    phi_adjusted = phi + 2 * phi @ u @ phi
    return KenwardRoger(
        phi=phi, phi_adjusted=0.5 * (phi_adjusted + phi_adjusted.T), p_matrices=p_arr, w=w
    )
