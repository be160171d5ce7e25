"""Bryk & Raudenbush's chi-square test of random-coefficient homogeneity (as HLM reports it).

Fit the level-1 model by least squares in every group separately. The level-1 model has
the random part's columns ``Z`` and the level-1 covariates ``W``: the fixed-effect columns
that vary within groups in a way ``Z`` does not carry (``Days`` in
``Reaction ~ Days + (1 | Subject)``; not a level-2 predictor ``z``, which is constant in
each group, nor a cross-level interaction ``use:z``, which is ``z_j`` times a column of
``Z``). For group ``j`` with ``D_j = [Z_j W_j]`` this gives ``beta_j`` (the coefficients of
``Z``; those of ``W`` are estimated alongside and not tested) with sampling variances
``V_j = sigma^2 (D_j'D_j)^-1`` (``sigma^2`` pooled within groups). For coefficient ``q``,

    chisq_q = sum_j (beta_qj - gamma_qj)^2 / V_qqj,   df = J' - S_q - 1,

where ``gamma_qj`` is the coefficient the fixed part predicts for group ``j`` (its level-2
predictors included; the least-squares projection of ``X_j beta`` on ``D_j``), ``S_q``
counts those level-2 predictors and ``J'`` the groups with enough data for their own fit
(more rows than columns of ``D_j``, ``D_j`` of full rank). The reliability of the group
estimates is ``tau_qq / (tau_qq + V_qqj)``, averaged over groups (Raudenbush & Bryk 2002,
sections 3.6 and 4.3: the level-1 covariates enter every group's own regression).

Every per-group quantity is computed for all groups at once from per-group cross-products.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from mixnb.design import Design
from mixnb.errors import ModelError


@dataclass(frozen=True)
class HomogeneityResult:
    coefficients: list[str]
    chisq: np.ndarray
    df: np.ndarray
    p: np.ndarray
    reliability: np.ndarray
    n_groups_used: int
    n_groups: int
    #: fixed-effect columns that entered every group's regression as level-1 covariates
    level1_covariates: list[str] = field(default_factory=list)


def _group_sums(codes: np.ndarray, n_groups: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_i a_i b_i'`` within each group: shape ``(J, a.shape[1], b.shape[1])``."""
    out = np.empty((n_groups, a.shape[1], b.shape[1]))
    for i in range(a.shape[1]):
        for k in range(b.shape[1]):
            out[:, i, k] = np.bincount(codes, weights=a[:, i] * b[:, k], minlength=n_groups)
    return out


def homogeneity_test(
    design: Design, beta: np.ndarray, factor: str, random_variances: dict[str, float]
) -> HomogeneityResult:
    """Chi-square tests that each random coefficient of ``factor`` is the same in every group.

    Parameters
    ----------
    design, beta
        The model's design and fixed-effect estimates.
    factor
        The grouping factor whose random coefficients are tested.
    random_variances
        The estimated variance ``tau_qq`` of each random coefficient (for reliabilities).
    """
    blocks = [b for b in design.random if b.factor.name == factor]
    if not blocks:
        names = ", ".join(dict.fromkeys(b.factor.name for b in design.random))
        raise ModelError(f"{factor!r} is not a grouping factor of this model (it has: {names}).")
    codes, n_groups = blocks[0].factor.codes, blocks[0].factor.n_levels
    columns = [c for b in blocks for c in b.columns]
    z = np.column_stack([b.matrix for b in blocks])
    y, x = design.y, design.fixed.matrix
    q = z.shape[1]
    covariates = _level1_covariates(codes, n_groups, z, x)
    d = np.column_stack([z, x[:, covariates]])
    k = d.shape[1]

    dtd = _group_sums(codes, n_groups, d, d)
    dty = _group_sums(codes, n_groups, d, y[:, None])[:, :, 0]
    dtx = _group_sums(codes, n_groups, d, x)
    yty = np.bincount(codes, weights=y * y, minlength=n_groups)
    sizes = np.bincount(codes, minlength=n_groups)
    usable = (sizes > k) & _full_rank(dtd)
    n_used = int(usable.sum())
    if n_used < 2:
        raise ModelError(
            f"Fewer than 2 groups of {factor!r} have enough rows to fit the level-1 model "
            f"({k} coefficient(s)) on their own, so the homogeneity test cannot be computed."
        )
    dtd, dty, dtx, yty, sizes = dtd[usable], dty[usable], dtx[usable], yty[usable], sizes[usable]
    inverse = np.linalg.inv(dtd)
    own = np.einsum("gab,gb->ga", inverse, dty)  # each group's own least-squares coefficients
    rss = yty - np.einsum("ga,ga->g", own, dty)
    sigma2 = rss.sum() / (sizes - k).sum()
    sampling_var = sigma2 * np.diagonal(inverse, axis1=1, axis2=2)[:, :q]  # (J', q)
    # The fixed part regressed on each group's level-1 design: the coefficients it predicts.
    projection = np.einsum("gab,gbc->gac", inverse, dtx)[:, :q, :]  # (J', q, p)
    predicted = projection @ beta  # (J', q)
    chisq = ((own[:, :q] - predicted) ** 2 / sampling_var).sum(axis=0)
    # level-2 predictors of coefficient q: fixed columns whose projection varies by group
    varies = np.ptp(projection, axis=0) > 1e-8 * (1 + np.abs(projection).max(axis=0))
    n_level2 = varies.sum(axis=1)
    df = (n_used - n_level2 - 1).astype(float)
    tau = np.array([random_variances[c] for c in columns])
    reliability = (tau / (tau + sampling_var)).mean(axis=0)
    return HomogeneityResult(
        coefficients=columns,
        chisq=chisq,
        df=df,
        p=stats.chi2.sf(chisq, df),
        reliability=reliability,
        n_groups_used=n_used,
        n_groups=n_groups,
        level1_covariates=[design.fixed.columns[c] for c in covariates],
    )


def _full_rank(gram: np.ndarray) -> np.ndarray:
    """Which of the stacked ``(J, k, k)`` cross-product matrices are of full rank."""
    diag = np.sqrt(np.clip(np.diagonal(gram, axis1=1, axis2=2), 0.0, None))
    ok = np.all(diag > 0, axis=1)
    safe = np.where(diag > 0, diag, 1.0)
    scaled = gram / np.einsum("ga,gb->gab", safe, safe)
    eigen = np.linalg.eigvalsh(scaled)
    return ok & (eigen[:, 0] > 1e-10)


def _level1_covariates(codes: np.ndarray, n_groups: int, z: np.ndarray, x: np.ndarray) -> list[int]:
    """Fixed columns that vary within groups beyond the span of ``z`` (level-1 covariates).

    A column is one when its least-squares residual on ``z``, group by group, keeps more
    than ``1e-10`` of its within-group sum of squares; the kept columns are taken greedily
    so that none is a within-group combination of ``z`` and the earlier ones.
    """
    chosen: list[int] = []
    for c in range(x.shape[1]):
        basis = np.column_stack([z, x[:, chosen]]) if chosen else z
        gram = _group_sums(codes, n_groups, basis, basis)
        cross = _group_sums(codes, n_groups, basis, x[:, [c]])[:, :, 0]
        total = np.bincount(codes, weights=x[:, c] ** 2, minlength=n_groups)
        fitted = np.einsum("ga,ga->g", cross, _solve_each(gram, cross))
        if (total - fitted).sum() > 1e-10 * max(total.sum(), 1e-300):
            chosen.append(c)
    return chosen


def _solve_each(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``gram_g^+ rhs_g`` for every group (pseudo-inverse: a group may lack a column)."""
    return np.einsum("gab,gb->ga", np.linalg.pinv(gram, hermitian=True), rhs)
