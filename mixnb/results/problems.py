"""Plain words for the problem codes a fit returns: the one module that writes them.

Estimation reports what went wrong as short codes in its results' ``problems``
(``"iteration_limit"``, or with arguments ``"igls_iteration_limit:RIGLS:500:1.2e-03"``);
the results layer turns them into sentences a student can act on with :func:`describe`.
A problem that is already a sentence (from a module that does not return codes yet) is
passed through unchanged.
"""

from __future__ import annotations

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


def problem(code: str, *arguments: object) -> str:
    """A problem code with its arguments, as estimation writes it.

    Examples
    --------
    >>> problem("igls_unsolvable", "IGLS", 3)
    'igls_unsolvable:IGLS:3'
    """
    return ":".join([code, *(str(a) for a in arguments)])


def describe(code: str) -> str:
    """The sentence for one problem code (a sentence given instead of a code is kept).

    Examples
    --------
    >>> describe("igls_unsolvable:IGLS:3")[:40]
    'IGLS stopped at iteration 3: its normal '
    """
    name, *arguments = code.split(":")
    template = PROBLEMS.get(name)
    return code if template is None else template.format(*arguments)


def describe_all(codes: list[str]) -> list[str]:
    """The sentences for a fit's problem codes, in order."""
    return [describe(code) for code in codes]
