"""The names of a mixed model's variance parameters, built in one place.

``Subject: sd(Intercept)``, ``Subject: cor(Intercept, Days)``, ``Residual: sd`` on lme4's
sdcor scale (profiles, intervals, bootstrap) and ``Subject: var(Intercept)``,
``Subject: cov(Intercept, Days)``, ``Residual: var`` on the variance scale (the sampler).
"""

from __future__ import annotations

#: The group name of the residual (a model with a dispersion parameter).
RESIDUAL = "Residual"


def sd(group: str, term: str) -> str:
    """``group: sd(term)``, or ``Residual: sd`` for the residual."""
    return f"{group}: sd" if group == RESIDUAL else f"{group}: sd({term})"


def cor(group: str, first: str, second: str) -> str:
    """``group: cor(first, second)``."""
    return f"{group}: cor({first}, {second})"


def var(group: str, term: str) -> str:
    """``group: var(term)``, or ``Residual: var`` for the residual."""
    return f"{group}: var" if group == RESIDUAL else f"{group}: var({term})"


def cov(group: str, first: str, second: str) -> str:
    """``group: cov(first, second)``."""
    return f"{group}: cov({first}, {second})"


def residual_sd() -> str:
    """The residual SD's name, ``Residual: sd``."""
    return sd(RESIDUAL, "")
