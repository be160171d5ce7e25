"""The result of a GLMM fit (hierarchical logistic or Poisson model), as tidy tables."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixnb.design import Design, check_new_data, linear_predictor
from mixnb.errors import DataError, MixnbError, ModelError, UnseenLevelWarning
from mixnb.estimation.glmm import GlmmEstimates
from mixnb.estimation.lrt import chisq_p
from mixnb.estimation.pirls import Response
from mixnb.estimation.quadrature import gauss_hermite
from mixnb.families import Family
from mixnb.offset import OffsetSpec
from mixnb.results.base import Displayable
from mixnb.results.explain import design_notes
from mixnb.results.inference import LikelihoodRatioTable
from mixnb.results.mixed import by_factor, effect_intervals, random_variance_rows
from mixnb.results.problems import describe_all

#: Latent-scale residual variance of each binomial link (the variance of the standard
#: logistic, normal and Gumbel distributions).
LATENT_VARIANCE = {"logit": np.pi**2 / 3, "probit": 1.0, "cloglog": np.pi**2 / 6}
#: Points of the Gauss-Hermite rule of population-averaged predictions per unit of the
#: largest random-effect SD of a row (at least 40, at most 150: the inverse link's step
#: over the normal density needs more nodes as the SD grows; 120 points keep a probit
#: average with SD 3 within 1e-10 of its closed form).
MARGINAL_POINTS_PER_SD = 40


class GlmmResult(Displayable):
    """A generalised linear mixed model fitted by maximum likelihood.

    The fixed effects are conditional (cluster-specific): how the linear predictor
    changes with a predictor within a group, the random effects held fixed. For the
    population-averaged effect see :meth:`predict` with ``marginal=True`` or a GEE
    (:func:`mixnb.marginal_vs_conditional`).

    Attributes
    ----------
    fixed_effects : pandas.DataFrame
        ``estimate``, ``std_error``, ``z``, ``p`` (Wald z tests, as glmer).
    variance_components : pandas.DataFrame
        Each random term's variances and covariances (``group``, ``term1``, ``term2``,
        ``estimate``, ``sd_corr``); no residual row (the family fixes the dispersion).
    loglik, aic, bic, deviance : float
        On one scale for every ``nagq`` (the full log density; see docs/glmm.md).
    """

    def __init__(
        self,
        design: Design,
        estimates: GlmmEstimates,
        formula: str,
        family: Family,
        response: Response,
        structure: Any,
        *,
        response_label: str | None = None,
        extra_notes: list[str] | None = None,
        separated: list[str] | None = None,
        offset_terms: list[str] | None = None,
        offset_argument: Any = None,
        weights_argument: Any = None,
        trials: bool = False,
    ) -> None:
        self.design = design
        self.estimates = estimates
        self.formula = formula
        self.family = family
        self.response = response
        self.structure = structure
        self.response_label = response_label or design.response_name
        self._extra_notes = list(extra_notes or [])
        self.separated = list(separated or [])
        self.offset_terms = list(offset_terms or [])
        self._offset_argument = offset_argument
        self.offset_spec = OffsetSpec(tuple(self.offset_terms), offset_argument)
        self._weights_argument = weights_argument
        self.has_trials = trials

    # ------------------------------------------------------------------ basics
    @property
    def title(self) -> str:
        method = (
            "Laplace approximation"
            if self.nagq == 1
            else "nAGQ = 0 (beta inside PIRLS)"
            if self.nagq == 0
            else f"adaptive Gauss-Hermite quadrature, {self.nagq} points"
        )
        return f"Generalized linear mixed model fit by maximum likelihood ({method})"

    @property
    def reml(self) -> bool:
        """Always False: a GLMM is fitted by maximum likelihood."""
        return False

    @property
    def nagq(self) -> int:
        return self.estimates.nagq

    @property
    def nobs(self) -> int:
        return self.design.nobs

    @property
    def converged(self) -> bool:
        return self.estimates.converged

    @property
    def is_singular(self) -> bool:
        return bool(self.estimates.singular_terms)

    @property
    def theta(self) -> np.ndarray:
        return self.estimates.theta

    @property
    def loglik(self) -> float:
        """The log-likelihood, the full log density included (the same scale for every
        ``nagq``; glmer's ``logLik`` for ``nAGQ = 1``)."""
        return self.estimates.loglik

    @property
    def deviance(self) -> float:
        """Minus twice the log-likelihood (glmer's summary "deviance")."""
        return -2.0 * self.loglik

    @property
    def n_parameters(self) -> int:
        return self.estimates.n_parameters

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        return -2 * self.loglik + self.n_parameters * np.log(self.nobs)

    @property
    def df_resid(self) -> int:
        return self.nobs - self.n_parameters

    @property
    def ngroups(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for block in self.design.random:
            out.setdefault(block.factor.name, block.factor.n_levels)
        return out

    @property
    def weights(self) -> pd.Series:
        """The prior weights of the rows used (the trials of a binomial proportion)."""
        return pd.Series(self.response.weights, index=self.design.row_index, name="weights")

    @property
    def offset(self) -> pd.Series:
        return pd.Series(self.response.offset, index=self.design.row_index, name="offset")

    # ------------------------------------------------------------------ fixed effects
    @cached_property
    def vcov(self) -> pd.DataFrame:
        cols = self.design.fixed.columns
        return pd.DataFrame(self.estimates.vcov_beta, index=cols, columns=cols)

    @cached_property
    def fixed_effects(self) -> pd.DataFrame:
        est = self.estimates.beta
        se = np.sqrt(np.diag(self.estimates.vcov_beta))
        z = est / se
        frame = pd.DataFrame(
            {"estimate": est, "std_error": se, "z": z, "p": 2 * stats.norm.sf(np.abs(z))},
            index=pd.Index(self.design.fixed.columns, name="term"),
        )
        return frame

    @cached_property
    def fixed_effects_correlation(self) -> pd.DataFrame:
        v = self.vcov.to_numpy()
        sd = np.sqrt(np.diag(v))
        return pd.DataFrame(v / np.outer(sd, sd), index=self.vcov.index, columns=self.vcov.columns)

    def bootstrap(self, n: int = 200, seed: int | None = None, level: float = 0.95):
        """Parametric bootstrap (lme4's ``bootMer``): ``n`` responses simulated from the
        fit and refitted; percentile intervals of the fixed effects and of each random
        term's standard deviations.

        Returns
        -------
        pandas.DataFrame
            ``estimate``, ``lower``, ``upper``, ``bootstrap_se`` per parameter; the
            replicates are in ``.attrs["replicates"]``, the number of refits that did not
            converge in ``.attrs["not_converged"]``.
        """
        from mixnb.estimation.glmm_bootstrap import bootstrap_estimates

        _check_level(level)
        if not isinstance(n, int | np.integer) or n < 2:
            raise MixnbError(f"n must be a whole number of replicates, at least 2, not {n!r}.")
        est = self.estimates
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            thetas, betas, failed = bootstrap_estimates(
                self.response, self.structure, self.nagq, est.theta, est.beta, int(n), seed
            )
        layout = self.structure.layout
        sd_names, sd_rows = [], []
        for block in self.design.random:
            sd_names += [f"{block.factor.name}: sd({c})" for c in block.columns]
        for theta in thetas:
            sds = [np.sqrt(np.diag(c)) for c in layout.relative_covariances(theta)]
            sd_rows.append(np.concatenate(sds))
        sd_fit = np.concatenate([np.sqrt(np.diag(c)) for c in est.covariances])
        names = list(self.design.fixed.columns) + sd_names
        reps = pd.DataFrame(np.column_stack([betas, np.array(sd_rows)]), columns=names)
        alpha = (1 - level) / 2
        out = pd.DataFrame(
            {
                "estimate": np.concatenate([est.beta, sd_fit]),
                "lower": reps.quantile(alpha).to_numpy(),
                "upper": reps.quantile(1 - alpha).to_numpy(),
                "bootstrap_se": reps.std(ddof=1).to_numpy(),
            },
            index=pd.Index(names, name="parameter"),
        )
        out.attrs["replicates"] = reps
        out.attrs["not_converged"] = failed
        return out

    def confint(
        self, level: float = 0.95, method: str = "wald", n: int = 200, seed: int | None = None
    ) -> pd.DataFrame:
        """Intervals for the fixed effects: ``"wald"``, ``estimate +/- z SE`` (glmer's
        ``confint(method = "Wald")``), or ``"bootstrap"``, percentile intervals from
        :meth:`bootstrap` (``n`` replicates, ``seed``; the random terms' SDs too)."""
        method = str(method).lower()
        if method == "bootstrap":
            return self.bootstrap(n, seed, level)[["estimate", "lower", "upper"]]
        if method != "wald":
            raise MixnbError(
                f"confint(method={method!r}) is not available for a GLMM: use 'wald' or "
                "'bootstrap' (profile intervals are not implemented yet)."
            )
        _check_level(level)
        z = stats.norm.ppf(0.5 + level / 2)
        fe = self.fixed_effects
        return pd.DataFrame(
            {
                "estimate": fe["estimate"],
                "lower": fe["estimate"] - z * fe["std_error"],
                "upper": fe["estimate"] + z * fe["std_error"],
            }
        )

    @property
    def ratio_name(self) -> str | None:
        """``"odds ratio"`` (logit), ``"rate ratio"`` (log), None for other links."""
        return {"logit": "odds ratio", "log": "rate ratio"}.get(self.family.link.name)

    def ratios(self, level: float = 0.95) -> pd.DataFrame:
        """Odds ratios (logit link) or rate ratios (log link) with Wald intervals:
        ``exp`` of each coefficient and its interval limits."""
        if self.ratio_name is None:
            raise MixnbError(
                f"exp(coefficient) is an odds or rate ratio only for the logit and log links; "
                f"this model uses the {self.family.link.name} link."
            )
        ci = self.confint(level)
        return pd.DataFrame(
            {
                "ratio": np.exp(ci["estimate"]),
                "lower": np.exp(ci["lower"]),
                "upper": np.exp(ci["upper"]),
            }
        )

    # ------------------------------------------------------------------ random effects
    @cached_property
    def variance_components(self) -> pd.DataFrame:
        return pd.DataFrame(random_variance_rows(self.design, self.estimates.covariances))

    def _by_factor(self, per_term: list[np.ndarray]) -> dict[str, pd.DataFrame]:
        return by_factor(self.design, per_term)

    @cached_property
    def random_effects(self) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects per grouping factor (link scale)."""
        return self._by_factor(self.estimates.modes)

    @cached_property
    def random_effects_sd(self) -> dict[str, pd.DataFrame]:
        """Conditional standard deviations of the random effects (glmer's condVar: from
        the Hessian of the penalised deviance at the modes)."""
        out = {}
        for name, covs in self.estimates.conditional_covariances.items():
            modes = self.random_effects[name]
            sd = np.sqrt(np.diagonal(covs, axis1=1, axis2=2))
            out[name] = pd.DataFrame(sd, index=modes.index, columns=modes.columns)
        return out

    def random_effect_intervals(
        self, factor: str | None = None, width: float = 1.96
    ) -> pd.DataFrame:
        """Each group's random effects with ``mode +/- width`` conditional SDs, on the link
        scale (the caterpillar plot's data; the same columns as
        :meth:`mixnb.LmmResult.random_effect_intervals`).

        Returns
        -------
        pandas.DataFrame
            ``group`` (the level), ``term``, ``estimate``, ``sd``, ``lower``, ``upper``.
        """
        name = factor or self.design.random[0].factor.name
        if name not in self.random_effects:
            raise MixnbError(
                f"No grouping factor {name!r}; the factors are "
                f"{', '.join(map(repr, self.random_effects))}."
            )
        modes, sds = self.random_effects[name], self.random_effects_sd[name]
        return effect_intervals(modes, sds, width)

    def icc(self) -> pd.DataFrame:
        """The latent-scale intraclass correlation of each random intercept.

        ``sigma_k^2 / (sum_j sigma_j^2 + sigma_e^2)`` with the latent residual variance
        ``sigma_e^2`` of the link: ``pi^2 / 3`` (logit), 1 (probit), ``pi^2 / 6``
        (cloglog); for the Poisson log link the lognormal approximation
        ``log(1 + 1 / lambda)``, ``lambda = exp(beta_0 + sum sigma^2 / 2)`` with ``beta_0``
        the mean linear predictor of the fixed part (Nakagawa, Johnson and Schielzeth 2017).
        Terms with random slopes have no single ICC and are left out. With nested terms
        each row is that term's share of the latent variance; the correlation of two
        observations in the same lower-level group is the sum of its share and the
        shares of the levels above it.
        """
        vc = self.variance_components
        intercepts = vc[(vc["term1"] == vc["term2"]) & (vc["term1"] == "Intercept")]
        if intercepts.empty:
            raise ModelError("The ICC needs a random intercept; this model has none.")
        total = float(intercepts["estimate"].sum())
        if self.family.name == "binomial":
            latent = LATENT_VARIANCE[self.family.link.name]
        else:
            eta0 = float(np.mean(self.response.x @ self.estimates.beta + self.response.offset))
            latent = float(np.log1p(1.0 / np.exp(eta0 + total / 2)))
        return pd.DataFrame(
            {
                "group": intercepts["group"].to_numpy(),
                "variance": intercepts["estimate"].to_numpy(),
                "icc": intercepts["estimate"].to_numpy() / (total + latent),
            }
        ).assign(latent_residual_variance=latent)

    # ------------------------------------------------------------------ fit and predict
    def fitted(self, scale: str = "response", include_random: bool = True) -> pd.Series:
        """Fitted values of the rows used, on the ``"response"`` or ``"link"`` scale."""
        scale = _check_scale(scale)
        eta = (
            self.estimates.eta
            if include_random
            else (self.response.x @ self.estimates.beta + self.response.offset)
        )
        values = eta if scale == "link" else self.family.link.inverse(eta)
        return pd.Series(values, index=self.design.row_index, name="fitted")

    def residuals(self, kind: str = "deviance") -> pd.Series:
        """Residuals: ``"deviance"`` (glmer's default), ``"pearson"`` or ``"response"``."""
        r = self.family.residuals(kind, self.response.y, self.estimates.mu, self.response.weights)
        return pd.Series(r, index=self.design.row_index, name=f"{kind}_residual")

    def binned_residuals(self, bins: int | None = None) -> pd.DataFrame:
        """Response residuals averaged in bins of the fitted values (Gelman and Hill 2007).

        The rows are sorted by fitted value and cut into ``bins`` groups of about equal size
        (default ``sqrt(n)``, at most 50). Each bin gives its mean fitted value, mean
        residual ``y - mu`` and ``bound = 2 sqrt(sum V(mu_i) / w_i) / n_bin``: about 95% of
        the mean residuals should lie within +/- bound if the model fits.
        """
        mu, y, w = self.estimates.mu, self.response.y, self.response.weights
        n = len(mu)
        k = bins if bins is not None else int(min(max(np.sqrt(n), 2), 50))
        if not isinstance(k, int | np.integer) or not 1 <= k <= n:
            raise MixnbError(f"bins must be a whole number from 1 to {n}, not {bins!r}.")
        order = np.argsort(mu, kind="stable")
        label = np.empty(n, dtype=int)
        label[order] = np.arange(n) * k // n
        var = self.family.variance(mu) / w
        frame = pd.DataFrame({"bin": label, "fitted": mu, "residual": y - mu, "var": var})
        out = frame.groupby("bin").agg(
            fitted=("fitted", "mean"),
            residual=("residual", "mean"),
            var=("var", "sum"),
            n=("fitted", "size"),
        )
        out["bound"] = 2 * np.sqrt(out.pop("var")) / out["n"]
        return out.reset_index()

    @cached_property
    def residual_quantiles(self) -> pd.Series:
        """Min, quartiles and max of the Pearson residuals (glmer's "Scaled residuals")."""
        q = np.quantile(self.residuals("pearson").to_numpy(), [0, 0.25, 0.5, 0.75, 1])
        return pd.Series(q, index=["Min", "1Q", "Median", "3Q", "Max"])

    def overdispersion(self) -> pd.Series:
        """A dispersion check: the Pearson chi-square over the residual df and its p-value.

        A ratio well above 1 (with a small p) says the counts vary more than the model
        allows: add an observation-level random effect (``(1 | obs)``) or model the extra
        variation. Meaningful for Poisson counts and binomial responses with more than
        one trial per row; not for 0/1 data.
        """
        chisq = float(np.sum(self.residuals("pearson") ** 2))
        df = self.df_resid
        return pd.Series(
            {"pearson_chisq": chisq, "df": df, "ratio": chisq / df, "p": stats.chi2.sf(chisq, df)}
        )

    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        scale: str = "response",
        include_random: bool = True,
        marginal: bool = False,
        offset: Any = None,
    ) -> pd.Series:
        """Predictions for new rows (or the rows used when ``newdata`` is None).

        Parameters
        ----------
        scale
            ``"response"`` (probabilities, rates) or ``"link"``.
        include_random
            Add each row's group's conditional modes (a level not seen in fitting gets
            0, with a warning), else the fixed part alone (a "typical" group).
        marginal
            Population-averaged predictions on the response scale: the mean over the
            random effects, ``E[g^-1(x'beta + z'b)]`` with ``b ~ N(0, Sigma)``, by
            Gauss-Hermite quadrature of the linear predictor's normal distribution
            (40 points per unit of the largest SD, 40 to 150).
        offset
            The new rows' offset (a column name or one number per row) in place of the
            fit's ``offset=`` column, which a fit whose offset was given as numbers needs;
            the formula's ``offset()`` terms are evaluated on ``newdata``.
        """
        scale = _check_scale(scale)
        if newdata is None:
            frame = self.design.frame
            fixed = self.response.x @ self.estimates.beta + self.response.offset
        else:
            if not isinstance(newdata, pd.DataFrame):
                raise DataError("newdata must be a pandas DataFrame.")
            check_new_data(self.design, newdata)
            frame = newdata
            fixed = linear_predictor(self.design, newdata, self.estimates.beta)
            fixed = fixed + self.offset_spec.for_new_rows(newdata, self.design.context, offset)
        if marginal:
            if scale == "link":
                raise MixnbError(
                    "marginal=True averages on the response scale; on the link scale the "
                    "average is the fixed part: use include_random=False."
                )
            variance = self._random_variance(frame)
            sd_max = float(np.sqrt(np.max(variance, initial=0.0)))
            points = int(np.clip(MARGINAL_POINTS_PER_SD * sd_max, 40, 150))
            nodes, log_w = gauss_hermite(points)
            eta = fixed[:, None] + np.sqrt(variance)[:, None] * nodes[None, :]
            values = self.family.link.inverse(eta) @ np.exp(log_w)
            return pd.Series(values, index=frame.index, name="marginal")
        eta = fixed.copy()
        if include_random:
            eta = eta + self._random_part(frame)
        values = eta if scale == "link" else self.family.link.inverse(eta)
        return pd.Series(values, index=frame.index, name="predicted")

    def _term_rows(self, frame: pd.DataFrame, block) -> np.ndarray:
        return np.asarray(block.spec.get_model_matrix(frame, na_action="ignore"), dtype=float)

    def _random_part(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.zeros(len(frame))
        unseen = 0
        for block, modes in zip(self.design.random, self.estimates.modes):
            codes = block.factor.codes_for(frame)
            z = self._term_rows(frame, block)
            seen = codes >= 0
            unseen += int((~seen).sum())
            out[seen] += np.sum(z[seen] * modes[codes[seen]], axis=1)
        if unseen:
            import warnings

            warnings.warn(
                f"{unseen} row(s) belong to groups not seen in fitting; their random "
                "effects are set to 0 (the typical group).",
                UnseenLevelWarning,
                stacklevel=3,
            )
        return out

    def _random_variance(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.zeros(len(frame))
        for block, cov in zip(self.design.random, self.estimates.covariances):
            z = self._term_rows(frame, block)
            out += np.einsum("ni,ij,nj->n", z, cov, z)
        return out

    # ------------------------------------------------------------------ comparison
    def compare(self, *others: GlmmResult, names: list[str] | None = None):
        """Likelihood-ratio tests between nested GLMM fits (glmer's ``anova``), ordered by
        number of parameters; a :class:`~mixnb.results.inference.LikelihoodRatioTable`.
        All fits are on the one log-likelihood scale, so fits with different ``nagq``
        compare (as approximations of the same likelihood)."""
        fits = [self, *others]
        for fit in fits:
            if not isinstance(fit, GlmmResult):
                raise MixnbError("compare() of a GLMM takes other mixnb.glmm fits.")
            if not (
                fit.design.row_index.equals(self.design.row_index)
                and np.array_equal(fit.response.y, self.response.y)
                and np.array_equal(fit.response.weights, self.response.weights)
            ):
                raise ModelError(
                    "The models were fitted to different rows or responses, so their "
                    "likelihoods cannot be compared: fit every model to the same data."
                )
        labels = list(names) if names else [f"m{i + 1}" for i in range(len(fits))]
        order = sorted(range(len(fits)), key=lambda i: fits[i].n_parameters)
        rows = []
        for pos, i in enumerate(order):
            fit = fits[i]
            row = {
                "model": labels[i],
                "formula": fit.formula,
                "npar": fit.n_parameters,
                "aic": fit.aic,
                "bic": fit.bic,
                "loglik": fit.loglik,
                "deviance": fit.deviance,
                "chisq": np.nan,
                "df": np.nan,
                "p": np.nan,
            }
            if pos:
                prev = fits[order[pos - 1]]
                stat = max(2 * (fit.loglik - prev.loglik), 0.0)
                df = fit.n_parameters - prev.n_parameters
                row.update(chisq=stat, df=df, p=chisq_p(stat, df) if df > 0 else np.nan)
            rows.append(row)
        notes = []
        if len({f.nagq for f in fits}) > 1:
            notes.append(
                "The fits use different approximations (nagq); their log-likelihoods are on "
                "the same scale, but a difference of the order of the approximation error "
                "is not evidence."
            )
        if any(f.is_singular for f in fits):
            notes.append(
                "A variance is estimated at zero in some fit: the test of a variance against "
                "0 is on the boundary, and the plain chi-square p-value is conservative."
            )
        return LikelihoodRatioTable(
            "Likelihood-ratio tests (ML deviances)", pd.DataFrame(rows).set_index("model"), notes
        )

    # ------------------------------------------------------------------ words
    def singular_note(self) -> str:
        names = [self.design.random[k].factor.name for k in self.estimates.singular_terms]
        return (
            f"The fit is singular: the random-effect variance for {', '.join(names)} is "
            "estimated as zero (or a correlation as +/-1). The data show no variation "
            "between these groups beyond what the fixed effects and the binomial/Poisson "
            "variation explain; the model is effectively a simpler one."
        )

    def convergence_note(self) -> str:
        return (
            "The fit may not have converged: "
            + "; ".join(describe_all(self.estimates.problems))
            + "."
        )

    @property
    def offset_label(self) -> str | None:
        return self.offset_spec.label

    @property
    def weights_label(self) -> str | None:
        if self._weights_argument is None:
            return "trials from cbind()" if self.has_trials else None
        return self._weights_argument if isinstance(self._weights_argument, str) else "given"

    def scale_note(self) -> str | None:
        """A note when the fixed-effect columns' scales differ by more than 1000 times
        (glmer's "predictor variables are on very different scales")."""
        x = self.response.x
        sd = x.std(axis=0)
        varying = sd > 0
        if varying.sum() < 2:
            return None
        names = np.array(self.design.fixed.columns)[varying]
        sd = sd[varying]
        if sd.max() / sd.min() <= 1e3:
            return None
        return (
            f"The predictors are on very different scales (SD of {names[sd.argmax()]!r} is "
            f"{sd.max():.3g}, of {names[sd.argmin()]!r} {sd.min():.3g}). mixnb's optimiser "
            "works on scaled coefficients, but the estimates are easier to read, and other "
            "software converges better, with predictors centred and rescaled (e.g. age in "
            "decades, income in thousands)."
        )

    @property
    def notes(self) -> list[str]:
        notes = design_notes(self.design) + self._extra_notes
        scale = self.scale_note()
        if scale:
            notes.append(scale)
        if self.is_singular:
            notes.append(self.singular_note())
        if not self.converged:
            notes.append(self.convergence_note())
        if self.family.name == "poisson":
            check = self.overdispersion()
            if check["ratio"] > 1.5 and check["p"] < 0.01:
                notes.append(
                    f"The counts are overdispersed: the Pearson chi-square is {check['ratio']:.2f} "
                    f"times its df (p = {check['p']:.2g}). Standard errors are too small; add "
                    "an observation-level random intercept, e.g. + (1 | obs) with one level "
                    "per row."
                )
        return notes


def _check_scale(scale: str) -> str:
    if scale not in ("response", "link"):
        raise MixnbError(f"Unknown scale {scale!r}: use 'response' or 'link'.")
    return scale


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise MixnbError(f"level must be between 0 and 1 (e.g. 0.95), not {level!r}.")
