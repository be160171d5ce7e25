"""Plain words for the problem codes a fit returns: the one module that writes them.

Estimation reports what went wrong as short codes in its results' ``problems``
(``"iteration_limit"``, or with arguments written by
:func:`mixnb.estimation.problem_codes.problem`);
the results layer turns them into sentences a student can act on with :func:`describe`.
A problem that is already a sentence (from a module that does not return codes yet) is
passed through unchanged.
"""

from __future__ import annotations

from mixnb.estimation.problem_codes import problem, split

__all__ = ["PROBLEMS", "describe", "describe_all", "problem"]

#: Each code's sentence; ``{0}``, ``{1}``, ... are the code's arguments (``code:arg0:arg1``).
PROBLEMS = {
    # ---- IGLS / RIGLS (mixnb.estimation.igls); argument 0 is the method's name
    "igls_unsolvable": (
        "{0} stopped at iteration {1}: its normal equations could not be solved, so the "
        "variance parameters are not identified by these data"
    ),
    "igls_residual_variance": (
        "{0} stopped at iteration {1}: the residual variance became zero or negative"
    ),
    "igls_deviance_not_finite": "{0} stopped at iteration {1}: the deviance is not finite",
    "igls_iteration_limit": (
        "{0} did not converge in {1} iterations: the variance parameters were still changing "
        "by up to {2} (relative) between the last two, so the estimates may not be the best "
        "ones; the default method (method='PLS') is more robust"
    ),
    "igls_boundary": (
        "{0} stopped with a variance at zero (or a correlation at +/-1) although moving away "
        "from that boundary fits better, so these are not the best estimates; the default "
        "method (method='PLS') finds them"
    ),
    # ---- the optimiser's check of an optimum (mixnb.estimation.optimize); these are
    # clauses that a convergence note joins with "; "
    "optimizer_iteration_limit": "the optimiser stopped after {0} iterations",
    "likelihood_flat": (
        "the likelihood is flat or curved the wrong way at the estimates, so some "
        "variance parameters are not well determined by these data"
    ),
    "likelihood_still_changing": (
        "the likelihood was still changing where the optimiser stopped, so the "
        "estimates may not be the best ones"
    ),
    "variance_held_at_zero": "a variance was held at zero although a positive value fits better",
    # ---- Satterthwaite df (mixnb.estimation.wald); {0} names the grouping factor(s)
    "ddf_boundary": (
        "Satterthwaite df are unreliable here: the {0} random effects are on the "
        "boundary (a variance of zero or a correlation of +/-1), where the likelihood "
        "says nothing about how precisely they are known, so they count as known "
        "and the df can grow towards the residual df ({1}) although there are only {2} "
        "groups. Kenward-Roger (ddf='kenward-roger', REML fits) or a simpler random part "
        "is safer."
    ),
    "ddf_flat": (
        "Satterthwaite df are unreliable here: the likelihood is flat or curved the "
        "wrong way in {0} direction(s) of the covariance parameters (smallest "
        "curvature {1}); as in lmerTest those directions are left out, which treats them "
        "as known and can make the df too large."
    ),
    "ddf_curvature_not_finite": (
        "Satterthwaite df could not be computed: the likelihood's curvature in the "
        "covariance parameters is not finite at these estimates."
    ),
    "ddf_near_boundary": (
        "The {0} random effects are almost perfectly correlated (correlation {1}): the "
        "Satterthwaite df rest on the curvature of the likelihood right next to the "
        "boundary and are a rough guide; with {2} groups expect few df, and compare "
        "ddf='kenward-roger'."
    ),
    # ---- GEE (mixnb.estimation.gee, mixnb.estimation.working_correlation)
    "iteration_limit": (
        "The estimating equations were not solved within the iteration limit: the "
        "coefficients were still changing. Try max_iterations=500; if the estimates keep "
        "moving, the working correlation may be a poor fit (try 'exchangeable' or "
        "'independence', whose coefficients are just as consistent)."
    ),
    "correlation_not_positive_definite": (
        "The estimated working correlation is not a valid correlation matrix (it is not "
        "positive definite), so the iteration stopped at the last valid estimates. geepack's "
        "moment estimator divides covariances by one overall scale, so when the variance "
        "changes much over time (e.g. growth data) the 'correlations' can exceed 1. Use a "
        "simpler structure ('exchangeable', 'ar1'), or model the change in spread (e.g. a "
        "log response): with GEE the coefficients stay consistent under any working "
        "correlation and the robust standard errors stay valid."
    ),
    "stopped_at_independence": (
        "No valid working correlation was reached at all: the estimates, standard errors and "
        "the matrix shown are those of the independence working correlation."
    ),
    "no_pairs": (
        "Every cluster has a single observation, so there are no pairs to estimate a "
        "correlation from: the fit is the independence one. Check the groups argument."
    ),
    "diverged": (
        "The coefficients diverged to infinity. Check for a predictor that separates the "
        "outcomes perfectly, or rescale predictors."
    ),
    "fitted_probability_boundary": (
        "Some fitted probabilities are numerically 0 or 1: a predictor (or combination) "
        "separates the outcomes completely or almost, and the coefficients for it drift "
        "towards infinity. Their estimates and standard errors are not to be trusted."
    ),
}


def describe(code: str) -> str:
    """The sentence for one problem code (a sentence given instead of a code is kept).

    Examples
    --------
    >>> describe("igls_unsolvable:IGLS:3")[:40]
    'IGLS stopped at iteration 3: its normal '
    """
    name, arguments = split(code)
    template = PROBLEMS.get(name)
    return code if template is None else template.format(*arguments)


def describe_all(codes: list[str]) -> list[str]:
    """The sentences for a fit's problem codes, in order."""
    return [describe(code) for code in codes]
