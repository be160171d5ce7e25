"""Parametric bootstrap of a GLMM: simulate responses from the fit, refit each.

A replicate draws spherical random effects ``u* ~ N(0, I)``, forms
``eta* = X beta + Z Lambda(theta) u* + offset``, draws the response from the family at
``mu* = g^-1(eta*)`` (binomial: successes out of the row's trials, reported as the
proportion; Poisson: counts) and refits the model by the same estimator (warm-started at
the fit). The replicates' estimates give percentile intervals (lme4's
``bootMer`` / ``confint(method = "boot")``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mixnb.estimation.glmm import GlmmProblem, fit_glmm
from mixnb.estimation.pirls import Response


def simulate(resp: Response, structure, theta: np.ndarray, beta: np.ndarray, rng) -> np.ndarray:
    """One response vector from the fitted model (proportions for a binomial)."""
    u = rng.standard_normal(structure.shape)
    zl = structure.z_lambda(theta)
    mu = resp.mean(resp.x @ beta + resp.offset + structure.linear(zl, u))
    if resp.family.name == "binomial":
        trials = np.round(resp.weights).astype(np.int64)
        if np.any(np.abs(trials - resp.weights) > 1e-8):
            raise ValueError("the binomial bootstrap needs whole numbers of trials")
        successes = rng.binomial(trials, mu)
        return np.where(trials > 0, successes / np.maximum(trials, 1), 0.0)
    return rng.poisson(mu).astype(float)


def bootstrap_estimates(
    resp: Response,
    structure,
    nagq: int,
    theta: np.ndarray,
    beta: np.ndarray,
    n: int,
    seed: int | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``n`` replicates' ``(theta, beta)`` (rows), and how many refits did not converge."""
    rng = np.random.default_rng(seed)
    thetas, betas, failed = [], [], 0
    for _ in range(n):
        y = simulate(resp, structure, theta, beta, rng)
        problem = GlmmProblem(replace(resp, y=y), structure, nagq)
        est = fit_glmm(problem)
        failed += not est.converged
        thetas.append(est.theta)
        betas.append(est.beta)
    return np.array(thetas), np.array(betas), failed
