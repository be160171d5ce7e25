"""The parametric bootstrap of a linear mixed model (lme4's ``bootMer``, pbkrtest's ``PBmodcomp``).

Each replicate simulates a response from the fitted model,

    y* = X beta + Z b* + e*,   b* ~ N(0, Sigma),   e* ~ N(0, sigma^2 I),

(``b* = sigma Lambda u*`` with standard normal ``u*``, as lme4's ``simulate``) and refits
the model to ``y*`` on the same design: ``dataclasses.replace(design, y=y*)``, so no
formula is parsed again. A refit only needs the optimum, so it uses the light
quasi-Newton minimiser of :mod:`mixnb.estimation.bounded`, started at the original
estimates with the original curvature, rather than the full fit with its diagnostics.

A :class:`numpy.random.Generator` built from ``seed`` makes the draws reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from mixnb.design import Design
from mixnb.estimation import numdiff
from mixnb.estimation.bounded import minimize_bounded
from mixnb.estimation.covariance import CovarianceLayout
from mixnb.estimation.deviance import ProfiledDeviance
from mixnb.estimation.lmm import LmmEstimates, deviance_function, fit_lmm
from mixnb.estimation.lrt import chisq_p
from mixnb.estimation.pls import FixedCrossproducts
from mixnb.estimation.progress import progress_bar
from mixnb.estimation.random_terms import random_terms
from mixnb.estimation.sdcor import ParameterScale

#: ``progress=None`` shows a progress bar from this many replicates on.
PROGRESS_FROM = 200


def simulate_response(
    design: Design,
    theta: np.ndarray,
    beta: np.ndarray,
    sigma: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """One response drawn from the model with parameters ``theta``, ``beta``, ``sigma``.

    Examples
    --------
    >>> import numpy as np, mixnb
    >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    >>> y = simulate_response(fit.design, fit.theta, fit.estimates.beta, fit.sigma,
    ...                       np.random.default_rng(1))
    >>> y.shape
    (30,)
    """
    mean = design.fixed.matrix @ beta
    lengths = tuple(b.n_columns for b in design.random)
    for term, lam in zip(random_terms(design), CovarianceLayout(lengths).factors(theta)):
        u = rng.standard_normal((term.n_levels, term.q))
        mean = mean + term.times(sigma * u @ lam.T)
    return mean + sigma * rng.standard_normal(design.nobs)


class Refitter:
    """Refits one model to new responses, warm-started at a fit's estimates."""

    def __init__(self, design: Design, estimates: LmmEstimates, reml: bool) -> None:
        self.design = design
        self.reml = reml
        if estimates.reml != reml:
            estimates = fit_lmm(design, reml=reml, start=estimates.theta)
        self.estimates = estimates
        deviance = deviance_function(design, reml)
        self.lower = deviance.layout.lower_bounds()
        self.upper = np.full_like(self.lower, np.inf)
        theta = estimates.theta
        self.scale = deviance.layout.typical_theta(theta, 0.05)
        h = numdiff.hessian(deviance, theta, numdiff.step_sizes(self.scale))
        self.hessian = h if np.all(np.isfinite(h)) else None

    def deviance(self, y: np.ndarray) -> ProfiledDeviance:
        design = replace(self.design, y=y)
        system = deviance_function(self.design, self.reml).system
        if hasattr(system, "with_response"):  # the blocked system keeps its symbolic set-up
            fixed = FixedCrossproducts.from_design(design)
            return ProfiledDeviance(system.with_response(design), fixed, self.reml)
        return deviance_function(design, self.reml)

    def refit(self, y: np.ndarray) -> tuple[ProfiledDeviance, np.ndarray, float]:
        """The deviance function for ``y``, its minimiser theta and its minimum."""
        deviance = self.deviance(y)
        theta, value, _ = minimize_bounded(
            deviance, self.estimates.theta, self.lower, self.upper, self.scale, self.hessian
        )
        return deviance, theta, value


def _replicates(
    nsim: int, progress: bool | None, description: str, one: Callable[[], np.ndarray]
) -> Iterator[np.ndarray]:
    bar = progress_bar(nsim, progress, description, PROGRESS_FROM)
    try:
        for _ in range(nsim):
            yield one()
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class BootstrapSample:
    """Parameter estimates from ``nsim`` parametric-bootstrap refits.

    ``replicates`` has one row per replicate and one column per parameter (lme4's order:
    SDs and correlations, the residual SD, the fixed effects); a failed refit is a row
    of NaN.
    """

    names: list[str]
    estimate: np.ndarray
    replicates: np.ndarray
    reml: bool
    seed: int | None
    n_failed: int

    @property
    def nsim(self) -> int:
        """Number of successful refits."""
        return int(self.replicates.shape[0] - self.n_failed)

    def percentile_intervals(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval of every parameter (NaN replicates ignored)."""
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, not {level!r}.")
        alpha = (1.0 - level) / 2.0
        q = np.nanquantile(self.replicates, [alpha, 1.0 - alpha], axis=0)
        return q[0], q[1]


def bootstrap_parameters(
    design: Design,
    estimates: LmmEstimates,
    nsim: int = 1000,
    seed: int | None = None,
    progress: bool | None = None,
) -> BootstrapSample:
    """Simulate ``nsim`` responses from a fit and refit it (REML fits by REML) to each.

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    >>> sample = bootstrap_parameters(fit.design, fit.estimates, nsim=20, seed=1)
    >>> sample.replicates.shape
    (20, 3)
    """
    scale = ParameterScale.of(design)
    rng = np.random.default_rng(seed)
    refitter = Refitter(design, estimates, estimates.reml)
    sigma = math.sqrt(estimates.sigma2)

    def one() -> np.ndarray:
        y = simulate_response(design, estimates.theta, estimates.beta, sigma, rng)
        try:
            deviance, theta, _ = refitter.refit(y)
            state = deviance.state(theta)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return np.full(len(scale.names), np.nan)
        params = scale.variance_parameters(theta, math.sqrt(state.sigma2))
        return np.concatenate([params, state.beta])

    rows = list(_replicates(nsim, progress, "bootstrap refits", one))
    replicates = np.array(rows).reshape(nsim, len(scale.names))
    failed = int(np.sum(~np.all(np.isfinite(replicates), axis=1)))
    return BootstrapSample(
        names=list(scale.names),
        estimate=scale.estimates(estimates),
        replicates=replicates,
        reml=estimates.reml,
        seed=seed,
        n_failed=failed,
    )


# --------------------------------------------------------------------------- LRT


@dataclass(frozen=True)
class BootstrapLikelihoodRatio:
    """A likelihood-ratio test of nested models with a parametric-bootstrap reference.

    ``statistic`` is ``2 (logLik_big - logLik_small)`` of the ML fits; ``statistics`` the
    same on each simulated response (NaN where a refit failed). ``p_value`` is
    ``(1 + #{LRT* >= LRT}) / (1 + nsim)``; ``p_value_pbkrtest`` is pbkrtest's variant,
    which counts only positive simulated statistics (``(1 + #{LRT* > LRT}) /
    (1 + #{LRT* > 0})``); ``p_value_chisq`` is the chi-square reference on ``df``.
    """

    statistic: float
    df: int
    statistics: np.ndarray
    seed: int | None
    loglik_small: float
    loglik_big: float
    refitted_ml: list[bool] = field(default_factory=list)

    @property
    def valid(self) -> np.ndarray:
        return self.statistics[np.isfinite(self.statistics)]

    @property
    def nsim(self) -> int:
        """Number of replicates whose refits both succeeded."""
        return int(self.valid.size)

    @property
    def n_failed(self) -> int:
        return int(self.statistics.size - self.valid.size)

    @property
    def p_value(self) -> float:
        return float((1 + np.sum(self.valid >= self.statistic)) / (1 + self.nsim))

    @property
    def p_value_pbkrtest(self) -> float:
        positive = self.valid[self.valid > 0]
        return float((1 + np.sum(positive > self.statistic)) / (1 + positive.size))

    @property
    def p_value_chisq(self) -> float:
        return chisq_p(self.statistic, self.df)


def bootstrap_likelihood_ratio(
    small: tuple[Design, LmmEstimates],
    big: tuple[Design, LmmEstimates],
    nsim: int = 1000,
    seed: int | None = None,
    progress: bool | None = None,
) -> BootstrapLikelihoodRatio:
    """Parametric-bootstrap LRT of ``small`` (the null) within ``big`` (pbkrtest's PBmodcomp).

    Both models are used as ML fits (a REML fit is refitted by ML, as lme4's ``anova``
    and pbkrtest do). Responses are simulated from the ML fit of the small model and
    both models are refitted by ML to each.

    Examples
    --------
    >>> import mixnb
    >>> data = mixnb.load_dataset("sleepstudy")
    >>> ri = mixnb.lmm("Reaction ~ Days + (1 | Subject)", data, reml=False)
    >>> rs = mixnb.lmm("Reaction ~ Days + (Days | Subject)", data, reml=False)
    >>> test = bootstrap_likelihood_ratio((ri.design, ri.estimates), (rs.design, rs.estimates),
    ...                                   nsim=10, seed=1, progress=False)
    >>> round(test.statistic, 2), test.p_value
    (42.14, 0.09090909090909091)
    """
    small_fit = Refitter(small[0], small[1], reml=False)
    big_fit = Refitter(big[0], big[1], reml=False)
    loglik_small = small_fit.estimates.loglik
    loglik_big = big_fit.estimates.loglik
    statistic = max(2.0 * (loglik_big - loglik_small), 0.0)
    df = big_fit.estimates.n_parameters - small_fit.estimates.n_parameters
    null = small_fit.estimates
    sigma = math.sqrt(null.sigma2)
    rng = np.random.default_rng(seed)

    def one() -> np.ndarray:
        y = simulate_response(small[0], null.theta, null.beta, sigma, rng)
        try:
            _, _, dev_small = small_fit.refit(y)
            _, _, dev_big = big_fit.refit(y)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return np.array(np.nan)
        value = dev_small - dev_big
        return np.array(value if np.isfinite(value) else np.nan)

    stats = np.array(list(_replicates(nsim, progress, "bootstrap LRT", one)), dtype=float)
    return BootstrapLikelihoodRatio(
        statistic=statistic,
        df=int(df),
        statistics=stats,
        seed=seed,
        loglik_small=loglik_small,
        loglik_big=loglik_big,
        refitted_ml=[bool(small[1].reml), bool(big[1].reml)],
    )
