"""Confidence intervals and likelihood profiles of a mixed-model fit, as pandas tables.

:meth:`LmmResult.confint <mixnb.results.mixed.LmmResult.confint>` and
:meth:`LmmResult.profile <mixnb.results.mixed.LmmResult.profile>` delegate here; the
statistics are in :mod:`mixnb.estimation.profile` and :mod:`mixnb.estimation.bootstrap`.

Parameters are named on lme4's "sdcor" scale, in lme4's order: per random term its
standard deviations and correlations (``Subject: sd(Intercept)``,
``Subject: cor(Intercept, Days)``, ``Subject: sd(Days)``), the residual SD
(``Residual: sd``), then the fixed effects under their formulaic names. Random terms
come in the order of the formula (lme4 sorts them by number of levels, so for nested or
crossed models its ``.sig01``, ``.sig02`` may list the same terms in another order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from mixnb.errors import MixnbError
from mixnb.estimation.profile import LikelihoodProfile
from mixnb.estimation.sdcor import ParameterScale
from mixnb.estimation.wald import wald_intervals

if TYPE_CHECKING:
    from mixnb.results.mixed import LmmResult

#: Extra reach, in zeta units, of a profile walked only to answer ``confint``.
_REACH = 0.25

METHODS = {"wald": "wald", "profile": "profile", "bootstrap": "bootstrap", "boot": "bootstrap"}


def interval_frame(
    names: list[str],
    lower: np.ndarray,
    upper: np.ndarray,
    level: float,
    method: str,
    notes: list[str] | None = None,
) -> pd.DataFrame:
    """lme4's ``confint`` layout: index ``parameter``, columns ``lower`` and ``upper``.

    ``.attrs`` records ``level``, ``method``, a ``title`` and plain-words ``notes``.

    Examples
    --------
    >>> frame = interval_frame(["a"], [0.0], [1.0], 0.95, "wald")
    >>> frame.attrs["title"]
    'Wald 95% confidence intervals'
    """
    table = pd.DataFrame(
        {"lower": np.asarray(lower, dtype=float), "upper": np.asarray(upper, dtype=float)},
        index=pd.Index(list(names), name="parameter"),
    )
    label = {"wald": "Wald", "profile": "Profile-likelihood", "bootstrap": "Parametric bootstrap"}
    table.attrs.update(
        level=float(level),
        method=method,
        title=f"{label.get(method, method)} {_percent(level)} confidence intervals",
        notes=list(notes or []),
    )
    return table


def _percent(level: float) -> str:
    return f"{100 * level:g}%"


def _check_level(level: float) -> float:
    if not isinstance(level, (int, float)) or not 0 < level < 1:
        raise MixnbError(f"level must be a number between 0 and 1 (such as 0.95), not {level!r}.")
    return float(level)


def likelihood_profile(fit: LmmResult, zeta_max: float | None = None) -> LikelihoodProfile:
    """The fit's profile, walked at least to ``zeta_max`` (computed once, then cached).

    ``zeta_max=None`` asks for lme4's cutoff ``sqrt(qchisq(0.99, n_parameters))``.
    """
    cache: dict[float, LikelihoodProfile] = fit.__dict__.setdefault("_profile_cache", {})
    wanted = _lme4_cutoff(fit) if zeta_max is None else float(zeta_max)
    for reach, prof in cache.items():
        if reach >= wanted:
            return prof
    prof = LikelihoodProfile(fit.design, fit.estimates, zeta_max=wanted)
    cache[wanted] = prof
    return prof


def _lme4_cutoff(fit: LmmResult) -> float:
    """lme4's profile cutoff, ``sqrt(qchisq(0.99, n_parameters))``."""
    return float(np.sqrt(stats.chi2.ppf(0.99, len(ParameterScale.of(fit.design).names))))


def profile_table(fit: LmmResult, zeta_max: float | None = None) -> pd.DataFrame:
    """Tidy profile traces (``parameter``, ``value``, ``zeta``) with notes in ``.attrs``."""
    prof = likelihood_profile(fit, zeta_max)
    table = prof.table()
    notes = list(prof.notes)
    if prof.refitted:
        notes.insert(0, _REML_NOTE)
    table.attrs.update(
        title="Likelihood profiles (signed square root of the deviance change)",
        notes=notes,
        zeta_max=prof.zeta_max,
        estimates=dict(zip(prof.scale.names, prof.hat.tolist())),
    )
    return table


_REML_NOTE = (
    "The model was fitted by REML; as lme4 does, the profiles use the ML deviance of the "
    "ML refit, so they are centred on the ML estimates."
)


def confidence_intervals(
    fit: LmmResult, method: str = "profile", level: float = 0.95, **options: Any
) -> pd.DataFrame:
    """Confidence intervals of every parameter of ``fit`` (lme4's ``confint``).

    See :meth:`mixnb.results.mixed.LmmResult.confint` for the methods and options.
    """
    key = METHODS.get(str(method).lower())
    if key is None:
        raise MixnbError(f"Unknown method {method!r}: use 'profile', 'wald' or 'bootstrap'.")
    level = _check_level(level)
    if key == "wald":
        if options:
            raise MixnbError(f"method='wald' takes no options, got {sorted(options)}.")
        scale = ParameterScale.of(fit.design)
        lower, upper = wald_intervals(scale, fit.estimates, level)
        notes = [
            "Wald intervals (estimate +- z * standard error) are given for the fixed effects "
            "only; use method='profile' or 'bootstrap' for the variance parameters."
        ]
        return interval_frame(scale.names, lower, upper, level, "wald", notes)
    if key == "profile":
        unknown = set(options) - {"zeta_max"}
        if unknown:
            raise MixnbError(f"method='profile' takes only zeta_max, got {sorted(unknown)}.")
        z = float(stats.norm.ppf(0.5 + level / 2.0))
        reach = options.get("zeta_max")
        if reach is None and z + _REACH <= _lme4_cutoff(fit):
            prof = likelihood_profile(fit)  # the one fit.profile() shows
        else:
            prof = likelihood_profile(fit, max(reach or 0.0, z + _REACH))
        lower, upper = prof.intervals(level)
        notes = list(prof.notes)
        if prof.refitted:
            notes.insert(0, _REML_NOTE)
        for name, trace in prof.traces.items():
            if trace.incomplete:
                notes.append(f"The profile of {name} did not reach the {level} limit.")
        return interval_frame(list(prof.traces), lower, upper, level, "profile", notes)
    from mixnb.results.bootstrap import bootstrap

    unknown = set(options) - {"nsim", "seed", "progress"}
    if unknown:
        raise MixnbError(
            f"method='bootstrap' takes nsim, seed and progress, got {sorted(unknown)}."
        )
    options.setdefault("nsim", 500)
    return bootstrap(fit, level=level, **options).intervals(level)
