"""Iterative generalised least squares: IGLS (ML) and RIGLS (REML), Goldstein 1986, 1989.

The model is ``y = X beta + Z b + e`` with ``var(y) = V = sum_k Z_k (I kron Sigma_k) Z_k'
+ sigma^2 I``. ``V`` is linear in the covariance parameters

    omega = (each term's variances then covariances, ..., residual variance),

``V = sum_i omega_i V_i`` with ``V_i = dV / d omega_i``. IGLS alternates two generalised
least-squares fits:

1. given omega, the fixed effects ``beta = (X'V^-1X)^-1 X'V^-1 y``;
2. given beta, the covariance parameters: with residuals ``r = y - X beta``, regress
   ``vec(r r')`` on the ``vec(V_i)`` with weight ``V^-1 kron V^-1``, that is solve

       sum_j tr(V^-1 V_i V^-1 V_j) omega_j = r'V^-1 V_i V^-1 r  (+ c_i for RIGLS),

   where RIGLS adds the bias correction ``c_i = tr(V^-1 V_i V^-1 X (X'V^-1X)^-1 X')``
   (it regresses ``vec(r r' + X (X'V^-1X)^-1 X')`` instead).

A fixed point solves the likelihood (IGLS) or restricted likelihood (RIGLS) score
equations: IGLS converges to the ML estimates and RIGLS to REML (Goldstein 1989); each
iteration is one Fisher-scoring step.

No ``n x n`` matrix is formed. With ``V^-1 = (I - Z K Z') / sigma^2``,
``K = S (I + Z'Z S)^-1`` and ``S = Sigma / sigma^2`` (Woodbury), every trace and
quadratic form reduces to cross-products of ``Z`` with itself and with ``[X y]``:

* one grouping factor: ``V`` is block diagonal by group and all quantities are
  ``q x q`` per group, stacked with the group as the first axis and computed for all
  groups at once (numpy's stacked ``matmul``/``inv``; no loop over groups);
* several grouping factors (crossed or nested): the same formulas with one dense
  ``Z'Z`` over all random effects, allowed up to
  :data:`~mixnb.estimation.pls.DENSE_LIMIT` random effects.

References
----------
Goldstein, H. (1986). Multilevel mixed linear model analysis using iterative generalized
least squares. *Biometrika* 73, 43-56.
Goldstein, H. (1989). Restricted unbiased iterative generalized least-squares estimation.
*Biometrika* 76, 622-623.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.optimize

from mixnb.design import Design
from mixnb.errors import ModelError
from mixnb.estimation.cholesky import psd_cholesky
from mixnb.estimation.covariance import CovarianceLayout, distinct_labels, entry_order
from mixnb.estimation.deviance import ProfiledDeviance
from mixnb.estimation.information import FitParameters
from mixnb.estimation.lmm import LmmEstimates, deviance_function, estimates_at
from mixnb.estimation.optimize import BOUNDARY_TOLERANCE, OptimizationResult
from mixnb.estimation.pls import DENSE_LIMIT, GeneralSystem, GroupedSystem
from mixnb.estimation.problem_codes import problem as problem_code

#: The residual variance may shrink at most by this factor in one iteration (a safeguard
#: against the first steps from the least-squares start overshooting to a negative value;
#: inactive at a fixed point).
RESIDUAL_SHRINK = 10.0

#: Variances whose relative change is measured against at least this fraction of the
#: residual variance (a variance of 1e-12 sigma^2 is numerically zero).
SCALE_FLOOR = 1e-8


@dataclass(frozen=True)
class _Parameter:
    """One entry of omega: a variance (``row == col``) or covariance of term ``term``."""

    term: int
    row: int
    col: int

    @property
    def is_variance(self) -> bool:
        return self.row == self.col


@dataclass(frozen=True)
class _Step:
    """Everything one IGLS iteration needs at the current omega."""

    beta: np.ndarray
    information: np.ndarray
    rhs: np.ndarray


class _Kernel:
    """Traces and quadratic forms in ``V^-1`` from cross-products with ``Z``.

    ``g`` is ``(J, q, q)`` (``Z_g'Z_g`` per group) and ``c`` is ``(J, q, p + 1)``
    (``Z_g'[X y]``). For several grouping factors ``J = 1`` and ``q`` is the number of
    random effects. Random-effect coordinate ``(k, s)`` (term ``k``, its column ``s``)
    maps to the index array ``coordinates[k][s]`` along the ``q`` axis.
    """

    def __init__(self, deviance: ProfiledDeviance, layout: CovarianceLayout) -> None:
        system = deviance.system
        system = getattr(system, "general", system)  # a blocked system's sparse twin
        fixed = deviance.fixed
        self.layout = layout
        self.n, self.p = fixed.n, fixed.p
        xy = np.empty((self.p + 1, self.p + 1))
        xy[: self.p, : self.p] = fixed.xtx
        xy[: self.p, self.p] = xy[self.p, : self.p] = fixed.xty
        xy[self.p, self.p] = fixed.yty
        self.xyxy = xy
        if isinstance(system, GroupedSystem):
            self.g = np.ascontiguousarray(np.moveaxis(system.ztz, -1, 0))
            self.c = np.ascontiguousarray(np.moveaxis(system.ztxy, -1, 0))
            offsets = np.concatenate([[0], np.cumsum(layout.sizes)])
            self.coordinates = [
                [np.array([offsets[k] + s]) for s in range(q)] for k, q in enumerate(layout.sizes)
            ]
            self.levels = [1] * len(layout.sizes)
        elif isinstance(system, GeneralSystem):
            if not system.dense:
                raise ModelError(
                    f"IGLS and RIGLS handle crossed or nested grouping factors with a dense "
                    f"matrix over all random effects, and this model has {system.n_random} of "
                    f"them (the limit is {DENSE_LIMIT}). Use the default method "
                    "(method='PLS'), which gives the same estimates with sparse matrices."
                )
            self.g = system.ztz_dense[None]
            self.c = np.asarray(system.ztxy)[None]
            self.levels = [b.factor.n_levels for b in system.blocks]
            self.coordinates = [
                [system.offsets[k] + np.arange(levels) * q + s for s in range(q)]
                for k, (q, levels) in enumerate(zip(layout.sizes, self.levels))
            ]
        else:  # pragma: no cover - make_system returns one of the two
            raise TypeError(f"unknown random-effects system {type(system).__name__}")
        self.parameters = [
            _Parameter(k, int(i), int(j))
            for k, q in enumerate(layout.sizes)
            for i, j in zip(*entry_order(np.zeros((q, q))))
        ]

    def _times_s(self, m: np.ndarray, covariances: list[np.ndarray], sigma2: float) -> np.ndarray:
        """``M S`` for ``S = Sigma / sigma^2`` over the ``q`` axis, using its block structure.

        ``S`` is block diagonal: term ``k``'s ``Sigma_k`` repeated for each of its levels.
        """
        out = np.empty_like(m)
        start = 0
        for levels, cov in zip(self.levels, covariances):
            stop = start + levels * cov.shape[0]
            block = m[..., start:stop]
            shaped = block.reshape(*block.shape[:-1], levels, cov.shape[0])
            out[..., start:stop] = (shaped @ cov).reshape(block.shape)
            start = stop
        return out / sigma2

    def _pairs(self, parameter: _Parameter) -> list[tuple[np.ndarray, np.ndarray]]:
        """``dV/d omega_i = sum over pairs (a, b) of Z P_a P_b' Z'`` (``P``: selections)."""
        coords = self.coordinates[parameter.term]
        a, b = coords[parameter.row], coords[parameter.col]
        return [(a, b)] if parameter.is_variance else [(a, b), (b, a)]

    def step(self, covariances: list[np.ndarray], sigma2: float, restricted: bool) -> _Step:
        """GLS for beta at omega, then the normal equations for the new omega."""
        g, c, p = self.g, self.c, self.p
        n_groups, q = g.shape[:2]
        # R = (I + G S)^-1 = I - G K: stable even when S is singular or large.
        r = np.linalg.inv(np.eye(q) + self._times_s(g, covariances, sigma2))
        k = np.swapaxes(self._times_s(np.swapaxes(r, 1, 2), covariances, sigma2), 1, 2)  # S R
        k = 0.5 * (k + np.swapaxes(k, 1, 2))
        w = r @ g / sigma2  # Z'V^-1 Z per group
        w = 0.5 * (w + np.swapaxes(w, 1, 2))
        kc, rc = k @ c, r @ c
        ckc = np.einsum("gqa,gqb->ab", c, kc)
        ckrc = np.einsum("gqa,gqb->ab", kc, rc)
        xv1 = (self.xyxy - ckc) / sigma2  # [X y]'V^-1[X y]
        xv2 = (self.xyxy - ckc - 0.5 * (ckrc + ckrc.T)) / sigma2**2  # [X y]'V^-2[X y]
        h = rc / sigma2  # Z'V^-1 [X y] per group
        tr_v2 = (self.n - n_groups * q + np.einsum("gab,gba->", r, r)) / sigma2**2

        if p:
            xvx_inv = np.linalg.inv(xv1[:p, :p])
            xvx_inv = 0.5 * (xvx_inv + xvx_inv.T)
            beta = xvx_inv @ xv1[:p, p]
        else:
            xvx_inv, beta = np.zeros((0, 0)), np.zeros(0)
        weights = np.append(-beta, 1.0)
        u = h @ weights  # Z'V^-1 r per group, (J, q)
        hx = h[:, :, :p]

        m = len(self.parameters)
        information = np.empty((m + 1, m + 1))
        rhs = np.empty(m + 1)
        for i, pi in enumerate(self.parameters):
            pairs_i = self._pairs(pi)
            for j in range(i + 1):
                total = 0.0
                for a, b in pairs_i:
                    for cc, d in self._pairs(self.parameters[j]):
                        # tr(W P_a P_b' W P_c P_d') = tr(W[d, a] W[b, c])
                        left = w[:, d][:, :, a]
                        right = w[:, b][:, :, cc]
                        total += float(np.sum(left * np.swapaxes(right, 1, 2)))
                information[i, j] = information[j, i] = total
            # tr(E_i Z'V^-2 Z), with Z'V^-2 Z = W R' / sigma^2 per group
            information[i, m] = information[m, i] = (
                sum(float(np.sum(w[:, b, :] * r[:, a, :])) for a, b in pairs_i) / sigma2
            )
            rhs[i] = sum(float(np.sum(u[:, b] * u[:, a])) for a, b in pairs_i)
            if restricted and p:
                rhs[i] += sum(float(np.sum((hx[:, b] @ xvx_inv) * hx[:, a])) for a, b in pairs_i)
        information[m, m] = tr_v2
        rhs[m] = float(weights @ xv2 @ weights)
        if restricted and p:
            rhs[m] += float(np.sum(xvx_inv * xv2[:p, :p]))
        return _Step(beta=beta, information=information, rhs=rhs)


def fit_igls(
    design: Design, restricted: bool, tol: float = 1e-10, max_iterations: int = 500
) -> tuple[LmmEstimates, pd.DataFrame]:
    """Fit a linear mixed model by IGLS (ML) or RIGLS (REML).

    Parameters
    ----------
    design
        The model's numeric blocks (:func:`mixnb.design.build_design`).
    restricted
        RIGLS (REML estimates) if True, IGLS (ML estimates) if False.
    tol
        Convergence tolerance: iteration stops when the largest relative change of a
        covariance parameter and the relative change of the deviance are both below it.
    max_iterations
        Iterations allowed before giving up; a fit that stops there says so in
        ``problems``.

    Returns
    -------
    estimates : LmmEstimates
        Built by :func:`mixnb.estimation.lmm.estimates_at` at the converged covariance
        parameters, exactly as for the default method (fixed-effect standard errors,
        BLUPs, ...), except the variance components' standard errors: these come from the
        final GLS step's information, as MLwiN reports them (see
        :func:`_gls_parameter_covariance`).
    history : pandas.DataFrame
        One row per iteration (row 0: the starting values): ``iteration``, ``deviance``
        (``-2 log L`` for IGLS, the REML criterion for RIGLS, from
        :meth:`ProfiledDeviance.at_residual_variance`), one column per fixed effect (the
        GLS estimate given that row's covariance parameters) and one per covariance
        parameter (``"Subject: var(Intercept)"``, ``"Subject: cov(Intercept, Days)"``,
        ..., ``"Residual: var"``).

    Notes
    -----
    Start: the least-squares fit, as Goldstein does. All random-effect variances and
    covariances start at 0 and the residual variance at the OLS estimate (RSS/n for IGLS,
    RSS/(n - p) for RIGLS), so row 0 of the history is the model without random effects,
    and iteration 1 regresses the OLS residuals' cross-products on the ``V_i`` (its result
    does not depend on the starting residual variance).

    Boundary: when the normal equations give a negative variance, or a covariance matrix
    that is not positive semi-definite, the update is projected back in the metric of the
    normal equations (:func:`_solve_constrained`). For a single variance this is MLwiN's
    rule of setting it to zero, with the other parameters re-estimated while it is held
    there, so that a fixed point on the boundary is the constrained (RE)ML estimate; for a
    covariance matrix it clips eigenvalues at zero (a correlation of +/-1). A variance held
    at zero is freed again in the next iteration if the data pull it up. The residual
    variance may shrink by at most a factor :data:`RESIDUAL_SHRINK` per iteration (the
    first steps from the least-squares start can otherwise overshoot below zero when a
    random slope's variance is large); this never binds at a fixed point. Iteration stops
    after ``max_iterations``, or earlier if the normal equations cannot be solved, and the
    reason is given as a problem code in the estimates' ``problems``
    (:mod:`mixnb.results.problems` has the words).
    """
    units = CovarianceLayout.of([b.matrix for b in design.random])
    deviance = deviance_function(_in_column_units(design, units), reml=restricted)
    layout = deviance.layout
    kernel = _Kernel(deviance, layout)
    n, p = kernel.n, kernel.p
    names = _parameter_names(design, kernel.parameters)

    x, y = design.fixed.matrix, design.y
    residuals = y - x @ np.linalg.lstsq(x, y, rcond=None)[0] if p else y
    sigma2 = float(residuals @ residuals) / (n - p if restricted else n)
    if not sigma2 > 0:
        raise ModelError(
            "The fixed effects fit the response exactly (the least-squares residuals are all "
            "zero), so there is no variation left for the random effects to describe."
        )
    name = "RIGLS" if restricted else "IGLS"
    covariances = [np.zeros((q, q)) for q in layout.sizes]
    omega = _omega(layout, covariances, sigma2)
    theta = _theta(layout, covariances, sigma2)
    # history: (iteration, deviance, omega) per row; betas[t] is the GLS beta at row t's
    # omega, which is step 1 of iteration t + 1 (the last one comes from the deviance).
    records = [(0, _deviance_at(deviance, theta, sigma2), omega)]
    betas: list[np.ndarray] = []
    problems: list[str] = []
    converged = False
    change = math.inf
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        try:
            step = kernel.step(covariances, sigma2, restricted)
            new_omega = _solve_constrained(
                step.information, step.rhs, layout, kernel.parameters, sigma2 / RESIDUAL_SHRINK
            )
        except np.linalg.LinAlgError:
            problems.append(problem_code("igls_unsolvable", name, iteration))
            iteration -= 1
            break
        betas.append(step.beta)
        new_sigma2 = float(new_omega[-1])
        if not new_sigma2 > 0:
            problems.append(problem_code("igls_residual_variance", name, iteration))
            iteration -= 1
            break
        covariances = [_nearest_psd(m) for m in layout.covariances_from_entries(new_omega[:-1])]
        sigma2 = new_sigma2
        new_omega = _omega(layout, covariances, sigma2)
        theta = _theta(layout, covariances, sigma2)
        value = _deviance_at(deviance, theta, sigma2)
        change = _relative_change(omega, new_omega, kernel.parameters)
        dev_change = abs(value - records[-1][1]) / max(1.0, abs(value))
        records.append((iteration, value, new_omega))
        omega = new_omega
        if not math.isfinite(value):
            problems.append(problem_code("igls_deviance_not_finite", name, iteration))
            break
        if change <= tol and dev_change <= tol:
            converged = True
            break
    else:
        problems.append(problem_code("igls_iteration_limit", name, max_iterations, f"{change:.1e}"))
    if len(betas) < len(records):
        betas.append(deviance.state(theta).beta)
    if converged:
        problem = _boundary_problem(deviance, theta, name)
        if problem:
            problems.append(problem)
            converged = False

    # back from the scaled columns to the units of the data (theta, omega and cov(omega))
    to_data = np.append(_omega_scale(units, kernel.parameters), 1.0)
    optimum = OptimizationResult(
        theta=units.from_scaled(theta),
        objective=deviance(theta),
        converged=converged,
        n_evaluations=iteration,
        problems=problems,
    )
    estimates = estimates_at(deviance_function(design, reml=restricted), optimum)
    gls_covariance = _gls_parameter_covariance(
        kernel.step(covariances, sigma2, restricted).information,
        FitParameters(layout, theta, sigma2, estimates.singular_terms).free_omega,
    )
    estimates = dataclasses.replace(
        estimates, parameter_covariance=gls_covariance * np.outer(to_data, to_data)
    )
    history = pd.DataFrame(
        [[t, value, *beta, *(om * to_data)] for (t, value, om), beta in zip(records, betas)],
        columns=["iteration", "deviance", *design.fixed.columns, *names],
    )
    return estimates, history


# --------------------------------------------------------------------------- helpers


def _in_column_units(design: Design, units: CovarianceLayout) -> Design:
    """The design with each random-effect column divided by its scale (:func:`column_scales`).

    IGLS iterates on these columns, where the covariances of the random effects are of
    comparable size whatever the units of the predictors, so that its tolerances
    (semi-definiteness, relative change) mean the same in any units; ``V``, and with it
    the deviance and the fixed effects, are unchanged (see
    :mod:`mixnb.estimation.covariance`).
    """
    random = [
        dataclasses.replace(block, matrix=block.matrix / d)
        for block, d in zip(design.random, units.scales)
    ]
    return dataclasses.replace(design, random=random)


def _omega_scale(units: CovarianceLayout, parameters: list[_Parameter]) -> np.ndarray:
    """Factor taking each variance or covariance of the scaled columns to the data's units.

    A random effect of column ``j`` divided by ``d_j`` is ``d_j`` times larger, so an entry
    ``(i, j)`` of the scaled covariance is ``d_i d_j`` times the data's.
    """
    return np.array(
        [1.0 / (units.scales[p.term][p.row] * units.scales[p.term][p.col]) for p in parameters]
    )


def _gls_parameter_covariance(information: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Covariance of omega from the random-part GLS step, as MLwiN reports it.

    The normal-equation matrix ``A_ij = tr(V^-1 V_i V^-1 V_j)`` is twice the expected
    information in ML form, so ``cov(omega) = 2 A^-1`` (over the parameters not on the
    boundary). MLwiN reports these standard errors for RIGLS too, evaluated at the REML
    estimates; they are what the seed's slides show ("412.8 (293.6)").
    """
    out = np.full(information.shape, np.nan)
    try:
        out[np.ix_(free, free)] = 2.0 * np.linalg.inv(information[np.ix_(free, free)])
    except np.linalg.LinAlgError:
        pass
    return out


def _omega(layout: CovarianceLayout, covariances: list[np.ndarray], sigma2: float) -> np.ndarray:
    return np.append(layout.covariance_entries(covariances), sigma2)


def _theta(layout: CovarianceLayout, covariances: list[np.ndarray], sigma2: float) -> np.ndarray:
    """Theta (lme4's relative Cholesky factors) of positive semi-definite covariances."""
    parts = []
    for cov in covariances:
        low = psd_cholesky(cov / sigma2)
        if low is None:  # cannot happen: the covariances were projected to semi-definite
            raise FloatingPointError("an IGLS covariance estimate is not semi-definite")
        rows, cols = CovarianceLayout.tril_indices(cov.shape[0])
        parts.append(low[rows, cols])
    return np.concatenate(parts) if parts else np.zeros(0)


def _nearest_psd(cov: np.ndarray) -> np.ndarray:
    """Clip negative eigenvalues at zero (unchanged when already semi-definite)."""
    if cov.shape[0] == 1:
        return np.maximum(cov, 0.0)
    values, vectors = np.linalg.eigh(cov)
    if values.min() >= 0:
        return cov
    return (vectors * np.maximum(values, 0.0)) @ vectors.T


def _is_feasible(layout: CovarianceLayout, omega: np.ndarray, residual_floor: float) -> bool:
    return omega[-1] >= residual_floor and all(
        np.linalg.eigvalsh(cov).min() >= 0 for cov in layout.covariances_from_entries(omega[:-1])
    )


def _solve_constrained(
    information: np.ndarray,
    rhs: np.ndarray,
    layout: CovarianceLayout,
    parameters: list[_Parameter],
    residual_floor: float,
) -> np.ndarray:
    """The new omega: the normal equations' solution, kept positive semi-definite.

    When the solution ``omega*`` of ``T omega = rhs`` has a negative variance (or a
    covariance matrix that is not positive semi-definite), the update is its projection
    in the metric of ``T``: the semi-definite omega minimising
    ``(omega - omega*)' T (omega - omega*)``. For a single variance this sets it to zero
    and re-estimates the other parameters with it held there (MLwiN's rule, completed);
    in general it makes a fixed point satisfy the constrained score equations, so a
    boundary fixed point is the constrained (RE)ML estimate. The residual variance is kept
    at or above ``residual_floor`` (a step-size safeguard, inactive at a fixed point).
    """
    target = np.linalg.solve(information, rhs)
    if _is_feasible(layout, target, residual_floor):
        return target
    if all(q == 1 for q in layout.sizes):
        lower = np.append(np.zeros(len(target) - 1), residual_floor)
        upper = np.full(len(target), np.inf)
        root = np.linalg.cholesky(information).T  # T = root' root
        solution = scipy.optimize.lsq_linear(
            root, root @ target, bounds=(lower, upper), method="bvls", tol=1e-15
        )
        return np.maximum(solution.x, lower)
    return _project_in_metric(information, target, layout, parameters, residual_floor)


def _project_in_metric(
    information: np.ndarray,
    target: np.ndarray,
    layout: CovarianceLayout,
    parameters: list[_Parameter],
    residual_floor: float,
    max_steps: int = 20000,
) -> np.ndarray:
    """Accelerated projected gradient for the projection of :func:`_solve_constrained`.

    Each covariance matrix is rescaled by a diagonal congruence (which keeps the
    semi-definite cone) so that the variances' curvatures are 1; a gradient step is taken
    in the Frobenius metric, where the projection onto the cone clips eigenvalues at 0.
    """
    diagonal = np.diag(information)
    column_scale = {
        (par.term, par.row): diagonal[i] ** -0.25
        for i, par in enumerate(parameters)
        if par.is_variance
    }
    scale = np.array(
        [
            column_scale[(par.term, par.row)] * column_scale[(par.term, par.col)]
            for par in parameters
        ]
        + [diagonal[-1] ** -0.5]
    )
    weight = np.array([1.0 if par.is_variance else 2.0 for par in parameters] + [1.0])
    hessian = information * np.outer(scale, scale)
    center = target / scale
    floor = residual_floor / scale[-1]
    lipschitz = float(np.linalg.eigvalsh(hessian / np.sqrt(np.outer(weight, weight))).max())

    def project(z: np.ndarray) -> np.ndarray:
        covs = [_nearest_psd(cov) for cov in layout.covariances_from_entries(z[:-1])]
        return np.append(layout.covariance_entries(covs), max(z[-1], floor))

    current = project(center)
    momentum, extrapolated = 1.0, current
    for _ in range(max_steps):
        gradient = hessian @ (extrapolated - center)
        candidate = project(extrapolated - gradient / (lipschitz * weight))
        step = candidate - current
        if float((extrapolated - candidate) @ step) > 0:  # momentum overshoots: restart
            momentum = 1.0
        following = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * momentum**2))
        extrapolated = candidate + (momentum - 1.0) / following * step
        current, momentum = candidate, following
        if np.max(np.abs(step)) <= 1e-15 * float(np.max(np.abs(current))):
            break
    return current * scale


def _relative_change(old: np.ndarray, new: np.ndarray, parameters: list[_Parameter]) -> float:
    """Largest change of a covariance parameter relative to its size.

    Variances are measured against themselves, covariances against the product of the two
    standard deviations, both floored at :data:`SCALE_FLOOR` times the residual variance.
    """
    variance = {
        (par.term, par.row): max(new[i], old[i])
        for i, par in enumerate(parameters)
        if par.is_variance
    }
    floor = SCALE_FLOOR * new[-1]
    scale = np.empty(len(new))
    for i, par in enumerate(parameters):
        if par.is_variance:
            scale[i] = variance[(par.term, par.row)]
        else:
            scale[i] = math.sqrt(variance[(par.term, par.row)] * variance[(par.term, par.col)])
    scale[-1] = max(new[-1], old[-1])
    return float(np.max(np.abs(new - old) / np.maximum(scale, floor)))


def _boundary_problem(deviance: ProfiledDeviance, theta: np.ndarray, name: str) -> str | None:
    """The problem code if moving off a boundary (zero variance, correlation +/-1) helps.

    The same check as the default method's: each theta entry held at its bound is nudged
    up; if the deviance falls, the boundary point is not the best one.
    """
    lower = deviance.layout.lower_bounds()
    at_bound = np.flatnonzero(np.isfinite(lower) & (theta <= lower + BOUNDARY_TOLERANCE * 1e-2))
    if not len(at_bound):
        return None
    base = deviance(theta)
    for i in at_bound:
        bumped = theta.copy()
        bumped[i] += 1e-3
        if deviance(bumped) < base - 1e-6:
            return problem_code("igls_boundary", name)
    return None


def _deviance_at(deviance: ProfiledDeviance, theta: np.ndarray, sigma2: float) -> float:
    """The (not profiled) deviance or REML criterion; NaN where it cannot be evaluated."""
    try:
        return float(deviance.at_residual_variance(theta, sigma2))
    except (np.linalg.LinAlgError, ValueError):
        return math.nan


def _parameter_names(design: Design, parameters: list[_Parameter]) -> list[str]:
    """``"Subject: var(Intercept)"``, ``"Subject: cov(Intercept, Days)"``, ..., made unique."""
    names = []
    for par in parameters:
        block = design.random[par.term]
        group = block.factor.name
        if par.is_variance:
            names.append(f"{group}: var({block.columns[par.row]})")
        else:
            names.append(f"{group}: cov({block.columns[par.col]}, {block.columns[par.row]})")
    names.append("Residual: var")
    return distinct_labels(names)
