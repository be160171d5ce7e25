"""Exceptions and warnings raised by mixnb.

Every problem with a user's formula or data is raised as a :class:`MixnbError`
subclass whose message names the problem and says how to fix it.
"""

from __future__ import annotations


class MixnbError(Exception):
    """Base class for every error mixnb raises on purpose."""


class FormulaError(MixnbError, ValueError):
    """The model formula cannot be understood (syntax, malformed random-effect term)."""


class DataError(MixnbError, ValueError):
    """The data cannot be used with this formula (missing column, non-numeric response, ...)."""


class ModelError(MixnbError, ValueError):
    """The model cannot be estimated from these data (too few groups, too many levels, ...)."""


class MixnbWarning(UserWarning):
    """Base class for mixnb's warnings: something the analyst should know about."""


class ConvergenceWarning(MixnbWarning):
    """The optimiser may not have found the best estimates."""


class SingularFitWarning(MixnbWarning):
    """A variance is estimated as zero (or a correlation as +/-1): the fit is singular."""


class RankDeficiencyWarning(MixnbWarning):
    """Some fixed-effect columns were dropped because they are linear combinations of others."""


class MissingDataWarning(MixnbWarning):
    """Rows were dropped because a variable the model uses is missing in them."""


class UnseenLevelWarning(MixnbWarning):
    """Prediction met grouping levels not seen when fitting; the population line was used."""


class McmcWarning(MixnbWarning):
    """MCMC chains have not mixed (R-hat above 1.01 or effective sample size below 400)."""


class RowsNotAvailableError(MixnbError):
    """The fit was made from sufficient statistics (per-group cross-products, e.g. on Dask)
    and what was asked for needs the individual rows, which the fit does not keep."""
