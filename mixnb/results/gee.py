"""The result of a GEE fit (a marginal model), as tidy pandas tables."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixnb.design import Design, linear_predictor
from mixnb.errors import MixnbError
from mixnb.estimation import gee as gee_estimation
from mixnb.estimation.gee import VARIANCES, GeeEstimates
from mixnb.estimation.working_correlation import Clusters
from mixnb.families import Family
from mixnb.offset import OffsetSpec
from mixnb.results.base import Displayable
from mixnb.results.explain import design_notes
from mixnb.results.problems import describe_all

#: Names of the standard-error kinds, as the tables show them.
SE_LABELS = {
    "robust": "robust (sandwich)",
    "naive": "naive (model-based)",
    "df-adjusted": "robust x K/(K-p)",
    "mancl-derouen": "Mancl-DeRouen",
    "kauermann-carroll": "Kauermann-Carroll",
}


class GeeResult(Displayable):
    """A marginal model fitted by generalised estimating equations.

    The coefficients are population-averaged: how the mean response (on the link scale)
    changes with a predictor across the whole population, not within one cluster. The
    working correlation is a nuisance: the coefficients are consistent and the robust
    standard errors valid whichever structure is chosen, if there are enough clusters.

    Attributes
    ----------
    coefficients : pandas.DataFrame
        ``estimate``, ``std_error`` (of the kind ``se``), ``df``, ``t``, ``p``,
        ``ci_lower``, ``ci_upper``; t on ``K - p`` df (``df="clusters"``) or z
        (``df="normal"``, as geepack's Wald tests).
    standard_errors : pandas.DataFrame
        Every kind of standard error side by side.
    working_correlation : pandas.DataFrame
        The estimated working correlation over the time points.
    scale : float
        geepack's scale ``phi = sum r^2 / N`` of the Pearson residuals ``r``
        (``sum w r^2 / sum w`` with prior weights ``w``).
    weights, offset : pandas.Series or None
        The prior weights and the offset of every row used (``None`` without them).
    qic : pandas.Series
        ``QIC``, ``QICu``, ``quasi_likelihood``, ``CIC``, ``parameters``.
    """

    def __init__(
        self,
        design: Design,
        estimates: GeeEstimates,
        formula: str,
        family: Family,
        clusters: Clusters,
        groups: str,
        time: str | None,
        se: str = "robust",
        df: str = "clusters",
        extra_notes: list[str] | None = None,
        independence: Callable[[], GeeEstimates] | None = None,
        offset_terms: list[str] | None = None,
        offset_argument: Any = None,
        weights_argument: Any = None,
    ) -> None:
        if se not in VARIANCES:
            raise MixnbError(f"Unknown se={se!r}: use one of {', '.join(map(repr, VARIANCES))}.")
        if df not in ("clusters", "normal"):
            raise MixnbError(f"Unknown df={df!r}: use 'clusters' (K - p) or 'normal' (z).")
        self.design = design
        self.estimates = estimates
        self.formula = formula
        self.family = family
        self.clusters = clusters
        self.groups = groups
        self.time = time
        self.se = se
        self.df = df
        self._extra_notes = list(extra_notes or [])
        self._independence = independence
        self.offset_terms = list(offset_terms or [])
        self.offset_spec = OffsetSpec(tuple(self.offset_terms), offset_argument)
        self._weights_argument = weights_argument

    # ------------------------------------------------------------------ counts
    @property
    def nobs(self) -> int:
        return self.design.nobs

    @property
    def n_clusters(self) -> int:
        return self.estimates.layout.n_clusters

    @property
    def cluster_sizes(self) -> pd.Series:
        """Number of observations in each cluster."""
        return pd.Series(
            self.estimates.layout.sizes,
            index=pd.Index(self.clusters.labels, name=self.groups),
            name="size",
        )

    @property
    def n_missing_times(self) -> int:
        """Cluster-by-time combinations without an observation (when ``time`` is given)."""
        if self.clusters.times is None:
            return 0
        return int(self.n_clusters * self.estimates.layout.n_waves - self.nobs)

    @property
    def correlation(self) -> str:
        return self.estimates.correlation.name

    @property
    def converged(self) -> bool:
        return self.estimates.converged

    @property
    def iterations(self) -> int:
        return self.estimates.iterations

    @property
    def problems(self) -> list[str]:
        return list(self.estimates.problems)

    @property
    def df_resid(self) -> float:
        """Degrees of freedom of the t tests: clusters minus coefficients (or inf)."""
        if self.df == "normal":
            return np.inf
        return float(self.n_clusters - len(self.estimates.beta))

    @property
    def scale(self) -> float:
        return float(self.estimates.scale)

    @property
    def alpha(self) -> pd.Series:
        """The working-correlation parameters with geepack's names."""
        working = self.estimates.correlation
        return pd.Series(working.alpha, index=working.parameter_names, name="alpha")

    @cached_property
    def working_correlation(self) -> pd.DataFrame:
        """The working correlation over the time points (labelled by their values)."""
        labels = (
            self.clusters.times
            if self.clusters.times is not None
            else np.arange(1, self.estimates.layout.n_waves + 1)
        )
        index = pd.Index(labels, name=self.time or "position")
        return pd.DataFrame(self.estimates.correlation.matrix(), index=index, columns=index)

    # ------------------------------------------------------------------ inference
    def vcov(self, kind: str | None = None) -> pd.DataFrame:
        """The covariance matrix of the coefficients, of a kind in ``standard_errors``."""
        kind = kind or self.se
        if kind not in VARIANCES:
            raise MixnbError(
                f"Unknown variance kind {kind!r}: use one of {', '.join(map(repr, VARIANCES))}."
            )
        names = self.design.fixed.columns
        return pd.DataFrame(self._vcov(kind), index=names, columns=names)

    def _vcov(self, kind: str) -> np.ndarray:
        cache = self.__dict__.setdefault("_vcov_cache", {})
        if kind not in cache:
            cache[kind] = VARIANCES[kind](self.estimates)
        return cache[kind]

    @cached_property
    def standard_errors(self) -> pd.DataFrame:
        """Every kind of standard error, one column each."""
        return pd.DataFrame(
            {kind: np.sqrt(np.diag(self._vcov(kind))) for kind in VARIANCES},
            index=pd.Index(self.design.fixed.columns, name="term"),
        )

    def coefficient_table(
        self, se: str | None = None, df: str | None = None, level: float = 0.95
    ) -> pd.DataFrame:
        """Estimates with t (or z) tests and confidence intervals for a kind of SE."""
        se = se or self.se
        df = df or self.df
        beta = self.estimates.beta
        err = np.sqrt(np.diag(self._vcov(se)))
        stat = beta / err
        dof = self.n_clusters - len(beta) if df == "clusters" else np.inf
        dist = stats.t(dof) if np.isfinite(dof) else stats.norm()
        q = dist.ppf(0.5 + level / 2)
        name = "t" if np.isfinite(dof) else "z"
        table = {"estimate": beta, "std_error": err}
        if np.isfinite(dof):
            table["df"] = np.full(len(beta), float(dof))
        table[name] = stat
        table["p"] = 2 * dist.sf(np.abs(stat))
        table["ci_lower"] = beta - q * err
        table["ci_upper"] = beta + q * err
        return pd.DataFrame(table, index=pd.Index(self.design.fixed.columns, name="term"))

    @cached_property
    def coefficients(self) -> pd.DataFrame:
        return self.coefficient_table()

    def wald_test(self, hypothesis, se: str | None = None):
        """Wald test of ``H0: L beta = 0`` with the chosen variance (default: the fit's).

        Parameters
        ----------
        hypothesis
            Term names (all columns of each term, e.g. ``"Cu"``), coefficient names, or a
            contrast matrix (array or DataFrame with coefficient columns).
        se
            The variance kind (see :attr:`standard_errors`).

        Returns
        -------
        WaldTest
            ``F = chisq / q`` on ``(q, K - p)`` df and the chi-square on ``q`` df (geepack's
            ``anova`` reports the chi-square).
        """
        from mixnb.estimation.wald import contrast_matrix, wald_f_test
        from mixnb.results.inference import WaldTest

        se = se or self.se
        matrix, labels = contrast_matrix(self.design, hypothesis)
        dendf = self.df_resid
        result = wald_f_test(matrix, self.estimates.beta, self._vcov(se), dendf)
        q = result.numdf
        table = pd.DataFrame(
            {
                "F": [result.f],
                "numdf": [q],
                "dendf": [dendf],
                "p": [result.p],
                "chisq": [result.chisq],
                "chisq_df": [q],
                "chisq_p": [result.chisq_p],
            },
            index=pd.Index(["L beta = 0"], name="hypothesis"),
        )
        contrasts = pd.DataFrame(matrix, index=labels, columns=self.design.fixed.columns)
        return WaldTest(
            f"Wald test ({SE_LABELS[se]} variance; F on {q} and {dendf:g} df)",
            table,
            contrasts,
            "clusters" if np.isfinite(dendf) else "normal",
            notes=[f"{len(labels)} restriction(s): " + ", ".join(labels) + "."],
        )

    # ------------------------------------------------------------------ QIC
    @cached_property
    def qic(self) -> pd.Series:
        """Pan's QIC, QICu and the CIC penalty, with geepack's definitions.

        ``quasi_likelihood`` is ``sum Q(y; mu)`` unscaled (Gaussian ``-sum (y-mu)^2/2``);
        ``CIC = trace(Omega_I V_R)`` with ``Omega_I`` the inverse of the naive variance of
        the independence fit and ``V_R`` this fit's robust variance;
        ``QIC = -2 Q + 2 CIC`` and ``QICu = -2 Q + 2 p``.
        """
        y = self.design.y[self.clusters.order]
        quasi = self.family.quasi_likelihood(y, self.estimates.mu)
        independence = self._independence() if self._independence else self.estimates
        omega = np.linalg.inv(gee_estimation.naive(independence))
        cic = float(np.trace(omega @ self._vcov("robust")))
        p = len(self.estimates.beta)
        return pd.Series(
            {
                "QIC": -2 * quasi + 2 * cic,
                "QICu": -2 * quasi + 2 * p,
                "quasi_likelihood": quasi,
                "CIC": cic,
                "parameters": p,
            },
            name="qic",
        )

    # ------------------------------------------------------------------ values
    def _in_data_order(self, values: np.ndarray, name: str) -> pd.Series:
        out = np.empty(len(values))
        out[self.clusters.order] = values
        return pd.Series(out, index=self.design.row_index, name=name)

    @property
    def weights(self) -> pd.Series | None:
        w = self.estimates.weights
        return None if w is None else self._in_data_order(w, "weights")

    @property
    def offset(self) -> pd.Series | None:
        o = self.estimates.offset
        return None if o is None else self._in_data_order(o, "offset")

    @property
    def weights_label(self) -> str | None:
        """How the prior weights were given (a column name or "given"), or ``None``."""
        if self._weights_argument is None:
            return None
        return self._weights_argument if isinstance(self._weights_argument, str) else "given"

    @property
    def offset_label(self) -> str | None:
        """The offset as written: its formula terms and the ``offset=`` column, or ``None``."""
        return self.offset_spec.label

    def fitted(self) -> pd.Series:
        """Fitted means (response scale), in the data's row order."""
        return self._in_data_order(self.estimates.mu, "fitted")

    def residuals(self, kind: str = "response") -> pd.Series:
        """``"response"`` (y - mu) or ``"pearson"`` ((y - mu) sqrt(w) / sqrt(phi V(mu)),
        ``w`` the prior weights)."""
        if kind == "response":
            y = self.design.y[self.clusters.order]
            return self._in_data_order(y - self.estimates.mu, "residual")
        if kind == "pearson":
            values = self.estimates.pearson / np.sqrt(self.scale)
            if self.estimates.weights is not None:
                values = values * np.sqrt(self.estimates.weights)
            return self._in_data_order(values, "pearson")
        raise MixnbError(f"Unknown residual kind {kind!r}: use 'response' or 'pearson'.")

    def predict(
        self, newdata: pd.DataFrame, scale: str = "response", offset: Any = None
    ) -> pd.Series:
        """Population-averaged predictions for new rows (``scale="link"`` for eta).

        The formula's ``offset()`` terms are evaluated on ``newdata``; an ``offset=``
        column of the fit is read from ``newdata``; ``offset`` (a column name or one
        number per new row) replaces that column, and is needed when the fit's offset
        was given as numbers.
        """
        if scale not in ("response", "link"):
            raise MixnbError(f"Unknown scale {scale!r}: use 'response' or 'link'.")
        eta = linear_predictor(self.design, newdata, self.estimates.beta)
        eta = eta + self.offset_spec.for_new_rows(newdata, self.design.context, offset)
        out = eta if scale == "link" else self.family.link.inverse(eta)
        return pd.Series(out, index=newdata.index, name="predicted")

    # ------------------------------------------------------------------ words
    @property
    def notes(self) -> list[str]:
        notes = design_notes(self.design) + self._extra_notes
        if self.estimates.weights is not None:
            w = self.estimates.weights
            notes.append(
                f"Prior weights ({self.weights_label}) from {w.min():.4g} to {w.max():.4g}: "
                "they weight the estimating equations, the scale and the working "
                "correlation's moments (geepack's weights); QIC's quasi-likelihood is "
                "unweighted, as geepack's."
            )
        if self.n_missing_times:
            notes.append(
                f"{self.n_missing_times} of {self.n_clusters * self.estimates.layout.n_waves} "
                f"cluster-by-{self.time} combinations have no observation; the working "
                "correlation uses the time points each cluster has (valid if missingness "
                "does not depend on the unobserved outcomes: missing completely at random)."
            )
        if self.n_clusters < 40 and self.se in ("robust", "naive"):
            notes.append(
                f"Only {self.n_clusters} clusters: the robust (sandwich) standard errors "
                "tend to be too small with fewer than about 40; the Mancl-DeRouen or "
                "Kauermann-Carroll corrections (se='mancl-derouen') are safer."
            )
        notes += describe_all(self.problems)
        return [n for n in notes if n]
