"""Parametric bootstrap results: percentile intervals and a likelihood-ratio test.

:func:`bootstrap` is the user's entry point (``mixnb.bootstrap``); the simulation and the
refits are in :mod:`mixnb.estimation.bootstrap`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixnb.errors import MixnbError, ModelError
from mixnb.estimation.bootstrap import (
    BootstrapLikelihoodRatio,
    BootstrapSample,
    bootstrap_likelihood_ratio,
    bootstrap_parameters,
)
from mixnb.results.base import Displayable
from mixnb.results.intervals import interval_frame
from mixnb.results.mixed import LmmResult


class BootstrapIntervals(Displayable):
    """Parameter estimates of ``nsim`` parametric-bootstrap refits and their percentiles.

    Attributes
    ----------
    table : pandas.DataFrame
        Per parameter (lme4's order): ``estimate``, ``std_error`` (SD of the bootstrap
        estimates) and the percentile interval ``lower``, ``upper`` at ``level``.
    replicates : pandas.DataFrame
        One row per replicate, one column per parameter (NaN where a refit failed).
    level : float
    nsim : int
        Number of successful refits.
    """

    def __init__(self, sample: BootstrapSample, level: float, formula: str) -> None:
        self.sample = sample
        self.level = float(level)
        self.formula = formula
        self.nsim = sample.nsim
        self.replicates = pd.DataFrame(sample.replicates, columns=sample.names)
        self.replicates.index.name = "replicate"
        lower, upper = sample.percentile_intervals(level)
        self.table = pd.DataFrame(
            {
                "estimate": sample.estimate,
                "std_error": np.nanstd(sample.replicates, axis=0, ddof=1),
                "lower": lower,
                "upper": upper,
            },
            index=pd.Index(sample.names, name="parameter"),
        )
        fitted = "REML" if sample.reml else "ML"
        self.title = (
            f"Parametric bootstrap: {100 * level:g}% percentile intervals "
            f"({self.nsim} refits by {fitted})"
        )
        self.notes = [
            f"Responses simulated from the fitted model of {formula!r} (random effects and "
            f"residuals drawn anew) and the model refitted by {fitted} to each"
            + (f"; seed {sample.seed}." if sample.seed is not None else "; no seed given.")
        ]
        if sample.n_failed:
            self.notes.append(f"{sample.n_failed} refit(s) failed and were left out.")

    def intervals(self, level: float | None = None) -> pd.DataFrame:
        """Percentile intervals in lme4's ``confint`` layout (``lower``, ``upper``).

        Examples
        --------
        >>> import mixnb
        >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
        >>> boot = mixnb.bootstrap(fit, nsim=20, seed=1, progress=False)
        >>> boot.intervals(0.9).columns.tolist()
        ['lower', 'upper']
        """
        level = self.level if level is None else float(level)
        lower, upper = self.sample.percentile_intervals(level)
        return interval_frame(self.sample.names, lower, upper, level, "bootstrap", self.notes)


class BootstrapTest(Displayable):
    """A likelihood-ratio test with a parametric-bootstrap p-value (pbkrtest's PBmodcomp).

    Attributes
    ----------
    table : pandas.DataFrame
        Rows ``chi-square`` and ``parametric bootstrap``: ``statistic``, ``df``, ``p``.
    statistic : float
        The observed LRT, ``2 (logLik_big - logLik_small)`` of the ML fits.
    p_value : float
        ``(1 + #{LRT* >= LRT}) / (1 + nsim)``.
    p_value_chisq : float
        The chi-square reference on ``df`` degrees of freedom.
    p_value_pbkrtest : float
        pbkrtest's variant, ``(1 + #{LRT* > LRT}) / (1 + #{LRT* > 0})``.
    statistics : numpy.ndarray
        The simulated statistics (NaN where a refit failed).
    nsim : int
        Number of replicates used.
    """

    def __init__(self, test: BootstrapLikelihoodRatio, formulas: list[str]) -> None:
        self.test = test
        self.formulas = formulas
        self.statistic = test.statistic
        self.df = test.df
        self.p_value = test.p_value
        self.p_value_chisq = test.p_value_chisq
        self.p_value_pbkrtest = test.p_value_pbkrtest
        self.statistics = test.statistics
        self.nsim = test.nsim
        self.table = pd.DataFrame(
            {
                "statistic": [test.statistic, test.statistic],
                "df": [float(test.df), np.nan],
                "p": [self.p_value_chisq, self.p_value],
            },
            index=pd.Index(["chi-square", "parametric bootstrap"], name="reference"),
        )
        self.title = f"Parametric bootstrap likelihood-ratio test ({self.nsim} simulations)"
        self.notes = [
            f"Small model: {formulas[0]}; big model: {formulas[1]}.",
            "Responses were simulated from the small model's ML fit and both models "
            "refitted by ML to each; p = (1 + #{LRT* >= LRT}) / (1 + nsim)"
            + (f"; seed {test.seed}." if test.seed is not None else "; no seed given."),
        ]
        if any(test.refitted_ml):
            self.notes.append(
                "REML fits were refitted by ML for the test, as lme4's anova and pbkrtest do."
            )
        if test.n_failed:
            self.notes.append(f"{test.n_failed} simulation(s) failed to refit and were left out.")

    @property
    def p(self) -> float:
        """The bootstrap p-value."""
        return self.p_value


def bootstrap(
    model: LmmResult,
    other: LmmResult | None = None,
    *,
    nsim: int = 1000,
    seed: int | None = None,
    level: float = 0.95,
    progress: bool | None = None,
) -> BootstrapIntervals | BootstrapTest:
    """The parametric bootstrap: percentile intervals, or a likelihood-ratio test.

    ``bootstrap(fit)`` simulates ``nsim`` responses from the fitted model
    (``y* = X beta + Z b* + e*``), refits the model to each (REML fits by REML, as lme4's
    ``bootMer``) and gives percentile intervals for every parameter.
    ``bootstrap(small, big)`` tests nested models (pbkrtest's ``PBmodcomp``): responses
    are simulated from the small model and both are refitted by ML (REML fits are
    refitted by ML, as lme4's ``anova`` does); the p-value is
    ``(1 + #{LRT* >= LRT}) / (1 + nsim)``.

    Parameters
    ----------
    model, other
        A mixed-model fit; with ``other``, the two nested fits (in either order).
    nsim
        Number of simulated data sets.
    seed
        Seed of the random-number generator (:func:`numpy.random.default_rng`): the same
        seed gives the same result.
    level
        Level of the percentile intervals.
    progress
        Show a progress bar (tqdm; notebooks and terminals). Default: from 200 replicates.

    Returns
    -------
    BootstrapIntervals or BootstrapTest

    Examples
    --------
    >>> import mixnb
    >>> data = mixnb.load_dataset("sleepstudy")
    >>> ri = mixnb.lmm("Reaction ~ Days + (1 | Subject)", data)
    >>> rs = mixnb.lmm("Reaction ~ Days + (Days | Subject)", data)
    >>> test = mixnb.bootstrap(ri, rs, nsim=20, seed=1, progress=False)
    >>> test.p_value < 0.05
    True
    """
    if not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise MixnbError(f"nsim must be a positive whole number, not {nsim!r}.")
    if not isinstance(model, LmmResult) or (other is not None and not isinstance(other, LmmResult)):
        raise MixnbError("bootstrap() takes mixed-model fits from mixnb.lmm.")
    if other is None:
        sample = bootstrap_parameters(model.design, model.estimates, int(nsim), seed, progress)
        return BootstrapIntervals(sample, level, model.formula)
    small, big = _order(model, other)
    test = bootstrap_likelihood_ratio(
        (small.design, small.estimates),
        (big.design, big.estimates),
        int(nsim),
        seed,
        progress,
    )
    return BootstrapTest(test, [small.formula, big.formula])


def _order(a: LmmResult, b: LmmResult) -> tuple[LmmResult, LmmResult]:
    if a.nobs != b.nobs or not a.design.row_index.equals(b.design.row_index):
        raise ModelError(
            "The two models were fitted to different rows (different data, or different rows "
            "dropped for missing values), so they cannot be compared. Fit both to the same rows."
        )
    if not np.array_equal(a.design.y, b.design.y):
        raise ModelError("The two models have different responses; they cannot be compared.")
    if a.n_parameters == b.n_parameters:
        raise ModelError(
            "The two models have the same number of parameters, so neither is nested in the "
            "other; a likelihood-ratio test needs a smaller model inside a bigger one."
        )
    return (a, b) if a.n_parameters < b.n_parameters else (b, a)
