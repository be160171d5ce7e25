"""Response families for generalised models: a link and a variance function.

A :class:`Family` is what a generalised model needs to know about its response: the link
``g`` with ``eta = g(mu)``, its inverse and derivative ``dmu/deta``, the variance function
``V(mu)`` (the response's variance is ``phi V(mu)``), the deviance, and the
quasi-likelihood used by QIC. GEE (:mod:`mixnb.estimation.gee`) uses it now; the GLMM
(PIRLS, Laplace) is meant to use the same objects. All functions are vectorised numpy
expressions; nothing here loops or fits.

Families: Gaussian (identity), binomial (logit, probit, cloglog) and Poisson (log).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from mixnb.errors import DataError, MixnbError

#: Fitted probabilities are kept this far from 0 and 1, and means from 0, so that
#: variances and logarithms stay finite (R's ``binomial()$linkinv`` uses the same bound).
EPSILON = np.finfo(float).eps


@dataclass(frozen=True)
class Link:
    """A link function ``eta = g(mu)``, its inverse ``mu = g^-1(eta)`` and ``dmu/deta``."""

    name: str
    link: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    mu_eta: Callable[[np.ndarray], np.ndarray]


def _logit_inverse(eta: np.ndarray) -> np.ndarray:
    return np.clip(special.expit(eta), EPSILON, 1 - EPSILON)


def _logit_mu_eta(eta: np.ndarray) -> np.ndarray:
    p = special.expit(eta)
    return np.maximum(p * (1 - p), EPSILON)


def _probit_inverse(eta: np.ndarray) -> np.ndarray:
    return np.clip(special.ndtr(eta), EPSILON, 1 - EPSILON)


def _probit_mu_eta(eta: np.ndarray) -> np.ndarray:
    return np.maximum(stats.norm.pdf(eta), EPSILON)


def _cloglog_inverse(eta: np.ndarray) -> np.ndarray:
    return np.clip(-np.expm1(-np.exp(eta)), EPSILON, 1 - EPSILON)


def _cloglog_mu_eta(eta: np.ndarray) -> np.ndarray:
    eta = np.minimum(eta, 700.0)
    return np.maximum(np.exp(eta - np.exp(eta)), EPSILON)


def _log_inverse(eta: np.ndarray) -> np.ndarray:
    return np.maximum(np.exp(np.minimum(eta, 700.0)), EPSILON)


LINKS = {
    "identity": Link("identity", lambda mu: mu, lambda eta: eta, np.ones_like),
    "logit": Link("logit", special.logit, _logit_inverse, _logit_mu_eta),
    "probit": Link("probit", special.ndtri, _probit_inverse, _probit_mu_eta),
    "cloglog": Link(
        "cloglog", lambda mu: np.log(-np.log1p(-mu)), _cloglog_inverse, _cloglog_mu_eta
    ),
    "log": Link("log", np.log, _log_inverse, _log_inverse),
}


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return special.xlogy(x, y)


@dataclass(frozen=True)
class Family:
    """A response distribution's mean-variance relation and its link.

    Attributes
    ----------
    name : str
        ``"gaussian"``, ``"binomial"`` or ``"poisson"``.
    link : Link
        The link in use.
    variance : callable
        ``V(mu)``; the response variance is ``phi V(mu)``.
    unit_deviance : callable
        ``d(y, mu)``, so that the deviance is ``sum d(y, mu)``.
    quasi : callable
        The quasi-likelihood terms ``Q(y; mu)`` (unscaled, as geepack's ``QIC``):
        Gaussian ``-(y - mu)^2 / 2``, binomial ``y log(mu / (1 - mu)) + log(1 - mu)``,
        Poisson ``y log(mu) - mu``.
    scale_fixed : bool
        Whether likelihood theory fixes the dispersion at 1 (binomial, Poisson).
    """

    name: str
    link: Link
    variance: Callable[[np.ndarray], np.ndarray]
    unit_deviance: Callable[[np.ndarray, np.ndarray], np.ndarray]
    quasi: Callable[[np.ndarray, np.ndarray], np.ndarray]
    scale_fixed: bool

    def start(self, y: np.ndarray) -> np.ndarray:
        """Starting means for the first iteration (R's ``mustart``)."""
        if self.name == "binomial":
            return (y + 0.5) / 2
        if self.name == "poisson":
            return y + 0.1
        return y.astype(float)

    def check_response(self, y: np.ndarray, name: str) -> None:
        """Raise a :class:`DataError` if ``y`` is impossible for this family."""
        if self.name == "binomial":
            bad = (y < 0) | (y > 1)
            if bad.any():
                raise DataError(
                    f"A binomial model needs the response {name!r} coded 0/1 (or proportions "
                    f"between 0 and 1), but {int(bad.sum())} value(s) lie outside [0, 1], "
                    f"e.g. {y[bad][0]:g}. Recode it, e.g. (data[{name!r}] == 'yes')."
                )
        if self.name == "poisson":
            bad = y < 0
            if bad.any():
                raise DataError(
                    f"A Poisson model needs non-negative counts, but the response {name!r} "
                    f"has {int(bad.sum())} negative value(s), e.g. {y[bad][0]:g}."
                )

    def log_likelihood(
        self, y: np.ndarray, mu: np.ndarray, weights: np.ndarray | None = None
    ) -> float:
        """The log-likelihood of ``y`` at means ``mu``, as R's ``logLik.glm``.

        Binomial: ``y`` proportions out of ``weights`` trials (1 when not given);
        Poisson: ``weights`` multiply each row's log-probability; Gaussian: the normal
        log-likelihood at the ML variance ``sum w (y - mu)^2 / n``.
        """
        w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
        if self.name == "binomial":
            return float(np.sum(stats.binom.logpmf(np.round(w * y), np.round(w), mu)))
        if self.name == "poisson":
            return float(np.sum(w * stats.poisson.logpmf(y, mu)))
        n = len(y)
        rss = float(np.sum(w * (y - mu) ** 2))
        return float(-0.5 * (n * (np.log(2 * np.pi * rss / n) + 1) - np.sum(np.log(w))))

    def residuals(
        self, kind: str, y: np.ndarray, mu: np.ndarray, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """``"response"`` (``y - mu``), ``"pearson"`` (``(y - mu) sqrt(w / V(mu))``) or
        ``"deviance"`` (``sign(y - mu) sqrt(w d(y, mu))``, R's default) residuals, ``w``
        the prior weights."""
        w = np.ones(len(y)) if weights is None else weights
        if kind == "response":
            return y - mu
        if kind == "pearson":
            return (y - mu) * np.sqrt(w / self.variance(mu))
        if kind == "deviance":
            return np.sign(y - mu) * np.sqrt(np.maximum(w * self.unit_deviance(y, mu), 0.0))
        raise MixnbError(
            f"Unknown residual kind {kind!r}: use 'deviance', 'pearson' or 'response'."
        )

    def deviance(self, y: np.ndarray, mu: np.ndarray) -> float:
        return float(np.sum(self.unit_deviance(y, mu)))

    def quasi_likelihood(self, y: np.ndarray, mu: np.ndarray) -> float:
        return float(np.sum(self.quasi(y, mu)))

    @property
    def label(self) -> str:
        return f"{self.name} ({self.link.name} link)"


def _gaussian(link: Link) -> Family:
    return Family(
        "gaussian",
        link,
        variance=np.ones_like,
        unit_deviance=lambda y, mu: (y - mu) ** 2,
        quasi=lambda y, mu: -((y - mu) ** 2) / 2,
        scale_fixed=False,
    )


def _binomial(link: Link) -> Family:
    return Family(
        "binomial",
        link,
        variance=lambda mu: mu * (1 - mu),
        unit_deviance=lambda y, mu: 2 * (_xlogy(y, y / mu) + _xlogy(1 - y, (1 - y) / (1 - mu))),
        quasi=lambda y, mu: y * np.log(mu / (1 - mu)) + np.log1p(-mu),
        scale_fixed=True,
    )


def _poisson(link: Link) -> Family:
    return Family(
        "poisson",
        link,
        variance=lambda mu: mu,
        unit_deviance=lambda y, mu: 2 * (_xlogy(y, y / mu) - (y - mu)),
        quasi=lambda y, mu: y * np.log(mu) - mu,
        scale_fixed=True,
    )


_FAMILIES = {
    "gaussian": (_gaussian, "identity", ("identity",)),
    "binomial": (_binomial, "logit", ("logit", "probit", "cloglog")),
    "poisson": (_poisson, "log", ("log",)),
}


def get_family(family: str | Family, link: str | None = None) -> Family:
    """The :class:`Family` for a name such as ``"binomial"`` (and an optional link).

    Examples
    --------
    >>> get_family("binomial", "probit").label
    'binomial (probit link)'
    """
    if isinstance(family, Family):
        return family
    if not isinstance(family, str) or family.lower() not in _FAMILIES:
        raise MixnbError(
            f"Unknown family {family!r}: use one of {', '.join(map(repr, _FAMILIES))}."
        )
    make, default, allowed = _FAMILIES[family.lower()]
    link = default if link is None else str(link).lower()
    if link not in allowed:
        raise MixnbError(
            f"The {family} family takes the link {', '.join(map(repr, allowed))}, not {link!r}."
        )
    return make(LINKS[link])
