"""The result of a linear mixed-model fit, as tidy pandas tables."""

from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np
import pandas as pd

from mixnb.design import Design, check_new_data, with_string_names
from mixnb.errors import UnseenLevelWarning
from mixnb.estimation.covariance import entry_order
from mixnb.estimation.lmm import LmmEstimates, information_criteria
from mixnb.results.base import Displayable, view
from mixnb.results.problems import describe_all


def random_variance_rows(
    design: Design, covariances: list[np.ndarray], std_errors: np.ndarray | None = None
) -> list[dict]:
    """lme4's VarCorr rows of the random terms: per term, each variance (its SD in
    ``sd_corr``) and covariance (its correlation), in ``entry_order``, with the standard
    errors in that order (NaN where none are given)."""
    rows = []
    for block, cov in zip(design.random, covariances):
        sd = np.sqrt(np.diag(cov))
        for i, j in zip(*entry_order(cov)):
            corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan
            rows.append(
                {
                    "group": block.factor.name,
                    "term1": block.columns[j],
                    "term2": block.columns[i],
                    "estimate": cov[i, j],
                    "sd_corr": sd[i] if i == j else corr,
                    "std_error": np.nan if std_errors is None else std_errors[len(rows)],
                }
            )
    return rows


def by_factor(design: Design, per_term: list[np.ndarray]) -> dict[str, pd.DataFrame]:
    """Per-term arrays (levels x columns) as one DataFrame per grouping factor, the terms
    that share a factor side by side (lme4's ``ranef`` layout)."""
    out: dict[str, pd.DataFrame] = {}
    for block, values in zip(design.random, per_term):
        name = block.factor.name
        frame = pd.DataFrame(values, index=block.factor.levels, columns=block.columns)
        out[name] = pd.concat([out[name], frame], axis=1) if name in out else frame
    return out


def effect_intervals(modes: pd.DataFrame, sds: pd.DataFrame, width: float) -> pd.DataFrame:
    """Long table of each group's random effect ``estimate``, its conditional ``sd`` and
    the interval ``estimate +/- width * sd``, per term (the caterpillar plot's rows)."""
    parts = []
    for term in modes.columns:
        estimate, sd = modes[term].to_numpy(), sds[term].to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "group": modes.index.astype(str),
                    "term": term,
                    "estimate": estimate,
                    "sd": sd,
                    "lower": estimate - width * sd,
                    "upper": estimate + width * sd,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


class LmmResult(Displayable):
    """A fitted linear mixed model.

    Attributes
    ----------
    fixed_effects : pandas.DataFrame
        One row per fixed-effect term: ``estimate``, ``std_error``, ``t``.
    variance_components : pandas.DataFrame
        One row per variance or covariance (``group``, ``term1``, ``term2``, ``estimate``,
        ``sd_corr``, ``std_error``); the residual variance is the row with group ``Residual``.
    random_effects, random_effects_sd : dict of pandas.DataFrame
        Per grouping factor, the conditional modes (BLUPs) of the random effects and their
        conditional standard deviations; index: level, columns: term.
    """

    def __init__(
        self,
        design: Design,
        estimates: LmmEstimates,
        formula: str,
        history: pd.DataFrame | None = None,
    ) -> None:
        self.design = design
        self.estimates = estimates
        self.formula = formula
        #: Per-iteration estimates and deviance (IGLS / RIGLS fits); None otherwise.
        self.history = history

    # ------------------------------------------------------------------ scalars

    @property
    def reml(self) -> bool:
        return self.estimates.reml

    @property
    def method(self) -> str:
        return "REML" if self.reml else "ML"

    @property
    def title(self) -> str:
        """What was fitted, and how (the first line of the summary)."""
        return f"Linear mixed model fit by {'REML' if self.reml else 'maximum likelihood'}"

    @property
    def nobs(self) -> int:
        return self.design.nobs

    @property
    def n_dropped(self) -> int:
        """Rows of the data dropped because a variable the model uses was missing."""
        return self.design.n_dropped

    @property
    def dropped_fixed_effects(self) -> list[str]:
        """Fixed-effect columns dropped as linear combinations of earlier ones."""
        return list(self.design.fixed.dropped)

    @property
    def converged(self) -> bool:
        return self.estimates.converged

    @property
    def is_singular(self) -> bool:
        return bool(self.estimates.singular_terms)

    @property
    def sigma(self) -> float:
        """Residual standard deviation."""
        return float(np.sqrt(self.estimates.sigma2))

    @property
    def theta(self) -> np.ndarray:
        """The relative covariance factor's parameters at the optimum (lme4's ``theta``)."""
        return self.estimates.theta.copy()

    @property
    def loglik(self) -> float:
        """Log-likelihood at the estimates (the REML log-likelihood for REML fits)."""
        return self.estimates.loglik

    @property
    def deviance(self) -> float:
        """``-2 * loglik``."""
        return -2.0 * self.loglik

    @property
    def reml_criterion(self) -> float | None:
        """The REML criterion at the optimum (REML fits only; ``None`` for ML)."""
        return self.estimates.objective if self.reml else None

    @property
    def n_parameters(self) -> int:
        """Fixed effects, covariance parameters and the residual variance."""
        return self.estimates.n_parameters

    @property
    def aic(self) -> float:
        return information_criteria(self.loglik, self.n_parameters, self.nobs)[0]

    @property
    def bic(self) -> float:
        return information_criteria(self.loglik, self.n_parameters, self.nobs)[1]

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor."""
        return {b.factor.name: b.factor.n_levels for b in self.design.random}

    # ------------------------------------------------------------------ tables

    @cached_property
    def fixed_effects(self) -> pd.DataFrame:
        """estimate, std_error, df, t, p per fixed effect (Satterthwaite df, as lmerTest)."""
        return self.test_fixed("satterthwaite")

    def test_fixed(self, ddf: str = "satterthwaite") -> pd.DataFrame:
        """Fixed-effects table with t tests on the chosen denominator df.

        Parameters
        ----------
        ddf
            ``"satterthwaite"`` (lmerTest), ``"kenward-roger"`` (pbkrtest; REML fits; its
            adjusted standard errors), ``"between-within"`` or ``"containment"`` (SAS
            PROC MIXED), ``"residual"`` (n - p) or ``"normal"`` (z tests).

        Returns
        -------
        pandas.DataFrame
            ``estimate``, ``std_error``, ``df``, ``t``, ``p`` per term; ``.attrs["ddf"]``
            names the method and ``.attrs["notes"]`` says, in plain words, when the df are
            unreliable (e.g. Satterthwaite on a fit on the boundary).

        Examples
        --------
        >>> import mixnb
        >>> fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", mixnb.load_dataset("sleepstudy"))
        >>> fit.test_fixed("kenward-roger")["df"].round(1).tolist()
        [17.0, 17.0]
        """
        tests = self._tests(ddf)
        table = tests.coefficient_table()
        table.attrs["ddf"] = tests.ddf
        table.attrs["notes"] = describe_all(table.attrs.pop("problems", []))
        return table

    def _tests(self, ddf: str):
        from mixnb.estimation.ddf import check_method
        from mixnb.estimation.wald import FixedEffectsTests

        key = check_method(ddf)
        cache = self.__dict__.setdefault("_test_cache", {})
        if key not in cache:
            cache[key] = FixedEffectsTests(self.design, self.estimates, key)
        return cache[key]

    def wald_test(self, hypothesis, ddf: str = "satterthwaite"):
        """Multivariate Wald test of ``H0: L beta = 0``.

        Parameters
        ----------
        hypothesis
            Term names (all columns of each term, e.g. ``"recipe"``), fixed-effect column
            names, or a contrast matrix (array or DataFrame with fixed-effect columns).
        ddf
            Denominator df method for the F form (see :meth:`test_fixed`).

        Returns
        -------
        WaldTest
            F on (q, ddf) df and the chi-square form on q df.

        Examples
        --------
        >>> import mixnb
        >>> cake = mixnb.load_dataset("cake")
        >>> fit = mixnb.lmm("angle ~ recipe * temp + (1 | recipe:replicate)", cake)
        >>> round(fit.wald_test("recipe").f, 4)
        0.0957
        """
        from mixnb.estimation.wald import contrast_matrix
        from mixnb.results.inference import WaldTest

        matrix, labels = contrast_matrix(self.design, hypothesis)
        tests = self._tests(ddf)
        result = tests.f_test(matrix)
        table = pd.DataFrame(
            {
                "F": [result.f],
                "numdf": [result.numdf],
                "dendf": [result.dendf],
                "p": [result.p],
                "chisq": [result.chisq],
                "chisq_df": [result.numdf],
                "chisq_p": [result.chisq_p],
            },
            index=pd.Index(["L beta = 0"], name="hypothesis"),
        )
        notes = [f"{len(labels)} restriction(s): " + ", ".join(labels) + "."]
        if tests.ddf == "kenward-roger":
            table.insert(1, "F_scaling", [result.f_scaling])
            notes.append(
                f"Kenward-Roger: F is the Wald F from the adjusted covariance "
                f"({result.f_unscaled:.5g}) times the scale factor {result.f_scaling:.4g} "
                "(pbkrtest's F.scaling), so that it follows the F distribution on these df "
                "more closely; chisq is the unscaled form."
            )
        contrasts = pd.DataFrame(matrix, index=labels, columns=self.design.fixed.columns)
        return WaldTest(
            f"Wald test ({tests.ddf} df)",
            table,
            contrasts,
            tests.ddf,
            notes=notes + describe_all(tests.problems()),
        )

    def anova(self, ddf: str = "satterthwaite"):
        """Type III F tests for each model term (lmerTest's ``anova`` layout).

        Examples
        --------
        >>> import mixnb
        >>> cake = mixnb.load_dataset("cake")
        >>> fit = mixnb.lmm("angle ~ recipe * temp + (1 | recipe:replicate)", cake)
        >>> fit.anova().table.index.tolist()
        ['recipe', 'temp', 'recipe:temp']
        """
        from mixnb.estimation.wald import type3_contrasts
        from mixnb.results.inference import AnovaTable

        tests = self._tests(ddf)
        rows = {}
        for term, contrasts in type3_contrasts(self.design).items():
            result = tests.f_test(contrasts)
            mean_sq = result.f_unscaled * self.estimates.sigma2
            rows[term] = {
                "sum_sq": mean_sq * result.numdf,
                "mean_sq": mean_sq,
                "numdf": result.numdf,
                "dendf": result.dendf,
                "F": result.f,
                "p": result.p,
            }
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "term"
        return AnovaTable(
            f"Type III analysis of variance ({tests.ddf} df)",
            table,
            notes=describe_all(tests.problems()),
        )

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effect estimates."""
        names = self.design.fixed.columns
        return pd.DataFrame(self.estimates.vcov_beta, index=names, columns=names)

    @cached_property
    def fixed_effects_correlation(self) -> pd.DataFrame:
        """Correlations of the fixed-effect estimates (lme4's "Correlation of Fixed Effects")."""
        v = self.vcov.to_numpy()
        sd = np.sqrt(np.diag(v))
        return pd.DataFrame(v / np.outer(sd, sd), index=self.vcov.index, columns=self.vcov.columns)

    @cached_property
    def variance_components(self) -> pd.DataFrame:
        est = self.estimates
        variances = np.diag(est.parameter_covariance)
        # a negative diagonal means the likelihood is not curved as at a maximum: no SE
        se = np.sqrt(np.where(variances >= 0, variances, np.nan))
        rows = random_variance_rows(self.design, est.covariances, se)
        position = len(rows)
        rows.append(
            {
                "group": "Residual",
                "term1": "",
                "term2": "",
                "estimate": est.sigma2,
                "sd_corr": np.sqrt(est.sigma2),
                "std_error": se[position],
            }
        )
        return pd.DataFrame(rows)

    def _by_factor(self, per_term: list[np.ndarray]) -> dict[str, pd.DataFrame]:
        return by_factor(self.design, per_term)

    @cached_property
    def random_effects(self) -> dict[str, pd.DataFrame]:
        """Conditional modes (BLUPs, the seed's "shrunken residuals") per grouping factor."""
        return self._by_factor(self.estimates.modes)

    @cached_property
    def random_effects_cov(self) -> dict[str, pd.DataFrame]:
        """Conditional covariance of each level's random effects (index: level, term)."""
        out = {}
        for name, covs in self.estimates.conditional_covariances.items():
            columns = self.random_effects[name].columns
            levels = self.random_effects[name].index
            index = pd.MultiIndex.from_product([levels, columns], names=[name, "term"])
            out[name] = pd.DataFrame(covs.reshape(-1, covs.shape[2]), index=index, columns=columns)
        return out

    @cached_property
    def random_effects_sd(self) -> dict[str, pd.DataFrame]:
        """Conditional standard deviations of the random effects (lme4's condVar)."""
        out = {}
        for name, covs in self.estimates.conditional_covariances.items():
            modes = self.random_effects[name]
            sd = np.sqrt(np.diagonal(covs, axis1=1, axis2=2))
            out[name] = pd.DataFrame(sd, index=modes.index, columns=modes.columns)
        return out

    def random_effect_intervals(
        self, factor: str | None = None, width: float = 1.96
    ) -> pd.DataFrame:
        """Each group's random effects with ``estimate +- width`` conditional SDs (a tidy table).

        Parameters
        ----------
        factor
            The grouping factor; the first one by default.
        width
            Half-width in conditional standard deviations (1.96: 95% under normality).

        Returns
        -------
        pandas.DataFrame
            ``group``, ``term``, ``estimate``, ``sd``, ``lower``, ``upper``: term by term,
            each in the order of the levels.

        Examples
        --------
        >>> import mixnb
        >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
        >>> fit.random_effect_intervals().columns.tolist()
        ['group', 'term', 'estimate', 'sd', 'lower', 'upper']
        """
        name = factor or self.design.random[0].factor.name
        modes, sds = self.random_effects[name], self.random_effects_sd[name]
        return effect_intervals(modes, sds, width)

    def group_alone_estimates(self, factor: str | None = None) -> tuple[pd.DataFrame, list[str]]:
        """Each group's own estimates of its random coefficients, the model fitted to it alone
        (the estimates the mixed model shrinks; the other fixed effects held at their
        estimates): see :func:`mixnb.estimation.by_group.group_alone_estimates`.

        Returns
        -------
        estimates : pandas.DataFrame
            One row per level: the factor's random-term columns and ``n``.
        held : list of str
            The fixed-effect columns held at their estimates.
        """
        from mixnb.estimation.by_group import group_alone_estimates

        return group_alone_estimates(self.design, self.estimates.beta, factor)

    @cached_property
    def coef(self) -> dict[str, pd.DataFrame]:
        """Per-group coefficients: fixed effects plus that group's random effects."""
        fixed = self.fixed_effects["estimate"]
        out = {}
        for name, modes in self.random_effects.items():
            table = pd.DataFrame(
                np.tile(fixed.to_numpy(), (len(modes), 1)), index=modes.index, columns=fixed.index
            )
            for column in modes.columns:
                if column in table.columns:
                    table[column] = table[column] + modes[column].to_numpy()
                else:
                    table[column] = modes[column].to_numpy()
            out[name] = table
        return out

    def homogeneity_test(self, factor: str | None = None):
        """Chi-square tests that each random coefficient is the same in every group.

        Bryk & Raudenbush's test, as HLM reports it: the level-1 model (the random part's
        columns and the level-1 covariates, i.e. the fixed-effect columns that vary within
        groups, such as ``Days`` in ``Reaction ~ Days + (1 | Subject)``) is fitted by least
        squares in every group with enough rows, and the spread of each random
        coefficient's estimates around what the fixed part predicts for the group (its
        level-2 predictors included) is compared with their sampling variances. Also gives
        the average reliability of the group estimates
        (:mod:`mixnb.estimation.homogeneity` has the formulas).

        Parameters
        ----------
        factor
            The grouping factor (default: the first one in the formula).

        Examples
        --------
        >>> import mixnb
        >>> fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", mixnb.load_dataset("sleepstudy"))
        >>> fit.homogeneity_test().table.index.tolist()
        ['Intercept', 'Days']
        """
        from mixnb.estimation.homogeneity import homogeneity_test
        from mixnb.results.inference import HomogeneityTest

        factor = factor or self.design.random[0].factor.name
        vc = self.variance_components
        variances = {
            row.term1: row.estimate
            for row in vc[(vc["group"] == factor) & (vc["term1"] == vc["term2"])].itertuples()
        }
        res = homogeneity_test(self.design, self.estimates.beta, factor, variances)
        table = pd.DataFrame(
            {
                "chisq": res.chisq,
                "df": res.df,
                "p": res.p,
                "reliability": res.reliability,
                "groups_used": res.n_groups_used,
            },
            index=pd.Index(res.coefficients, name="coefficient"),
        )
        covariates = (
            f" (its level-1 model includes the level-1 covariate(s) "
            f"{', '.join(res.level1_covariates)}, whose coefficients are not tested)"
            if res.level1_covariates
            else ""
        )
        notes = [
            "Each group's own least-squares coefficients" + covariates + " are compared with "
            "what the fixed part predicts for that group; a small p says the coefficient "
            f"really differs between {factor} groups (a random effect for it is warranted)."
        ]
        if res.n_groups_used < res.n_groups:
            notes.append(
                f"{res.n_groups - res.n_groups_used} of {res.n_groups} groups have too few rows "
                "for their own least-squares fit and were left out, as HLM does."
            )
        return HomogeneityTest(f"Homogeneity of random coefficients across {factor}", table, notes)

    # ------------------------------------------------------------------ predictions

    def fitted(self, include_random: bool = True) -> pd.Series:
        """Fitted values, ``X b`` plus (by default) ``Z u``, indexed like the data rows used."""
        values = self.design.fixed.matrix @ self.estimates.beta
        if include_random:
            for block, modes in zip(self.design.random, self.estimates.modes):
                values = values + np.einsum("ij,ij->i", block.matrix, modes[block.factor.codes])
        return pd.Series(values, index=self.design.row_index, name="fitted")

    def residuals(self, include_random: bool = True) -> pd.Series:
        """Observed minus fitted values."""
        resid = self.design.y - self.fitted(include_random).to_numpy()
        return pd.Series(resid, index=self.design.row_index, name="residual")

    def scaled_residuals(self) -> pd.Series:
        """Residuals divided by the residual standard deviation."""
        return (self.residuals() / self.sigma).rename("scaled_residual")

    def predict(self, newdata: pd.DataFrame, include_random: bool = True) -> pd.Series:
        """Predictions for new rows.

        Levels of a grouping factor not seen in fitting get no random effect: their
        prediction is the population line. A :class:`~mixnb.errors.UnseenLevelWarning`
        says how many rows that concerns, and the returned Series lists them in
        ``.attrs["unseen_levels"]`` (factor name to the unseen level labels). Rows with a
        missing predictor get NaN.
        """
        newdata = with_string_names(newdata)
        check_new_data(self.design, newdata, fixed_only=not include_random)
        needed = (
            self.design.predictor_columns if include_random else self.design.fixed_predictor_columns
        )
        complete = newdata[needed].notna().all(axis=1).to_numpy()
        rows = newdata.loc[complete]
        values = self.design.fixed.for_new_data(rows) @ self.estimates.beta
        unseen: dict[str, list] = {}
        if include_random:
            for block, modes in zip(self.design.random, self.estimates.modes):
                z = block.spec.get_model_matrix(rows, na_action="ignore")[block.columns]
                codes = block.factor.codes_for(rows)
                known = codes >= 0
                values[known] += np.einsum(
                    "ij,ij->i", np.asarray(z, dtype=float)[known], modes[codes[known]]
                )
                if not known.all():
                    labels = block.factor.labels_of(rows)[~known]
                    unseen[block.factor.name] = sorted(set(labels.tolist()), key=str)
        predicted = np.full(len(newdata), np.nan)
        predicted[complete] = values
        result = pd.Series(predicted, index=newdata.index, name="predicted")
        if unseen:
            detail = "; ".join(f"{name}: {', '.join(map(str, lv))}" for name, lv in unseen.items())
            warnings.warn(
                f"Some rows belong to groups not seen when fitting ({detail}). Their random "
                "effects are unknown, so they were predicted from the population line "
                "(fixed effects only).",
                UnseenLevelWarning,
                stacklevel=2,
            )
        result.attrs["unseen_levels"] = unseen
        return result

    @cached_property
    def residual_quantiles(self) -> pd.Series:
        """Min, quartiles and max of the scaled residuals (lme4's summary header)."""
        q = np.quantile(self.scaled_residuals().to_numpy(), [0, 0.25, 0.5, 0.75, 1])
        return pd.Series(q, index=["Min", "1Q", "Median", "3Q", "Max"])

    # ------------------------------------------------------------------ words

    @property
    def notes(self) -> list[str]:
        """Plain-words notes on this fit: dropped rows and columns, singularity, convergence."""
        from mixnb.results.explain import fit_notes

        return fit_notes(self)

    def summary(self, style: str = "lme4", ddf: str | None = None) -> str:
        """The summary: ``style="lme4"`` (default) or ``"sas"`` (PROC MIXED), case-insensitive.

        ``ddf`` picks the df method of the fixed-effects tests (e.g. ``"kenward-roger"``,
        or ``"between-within"`` for the SAS layout); see :meth:`test_fixed`.

        Returns
        -------
        Summary
            A ``str``: ``print`` shows the text layout, a notebook renders it rich.

        Examples
        --------
        >>> import mixnb
        >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
        >>> print(fit.summary().splitlines()[0])
        Linear mixed model fit by REML (mixnb)
        >>> fit.summary(style="stata")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mixnb.errors.MixnbError: Unknown summary style 'stata' ...: choose one of 'lme4', 'sas' ...
        """
        return super().summary(style, ddf=ddf)

    # ------------------------------------------------------------------ equations

    def equation(self, form: str = "hierarchical", estimates: bool = False):
        """The model as LaTeX equations: ``form="hierarchical"`` (level 1 and level 2) or
        ``"combined"`` (fixed plus random part), with symbols or ``estimates=True``.

        Examples
        --------
        >>> import mixnb
        >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
        >>> "u_{0j}" in fit.equation(form="combined").latex
        True
        """
        return view("equation")(self, form=form, estimates=estimates)

    def matrices(self, max_rows: int = 8):
        """``X``, ``Z``, ``Omega``, ``W`` and ``V = Z Omega Z' + W`` for a few rows, in LaTeX."""
        return view("matrices")(self, max_rows=max_rows)

    def model_matrices(self, rows, max_columns: int = 8):
        """``y``, ``X``, ``Z``, ``Omega``, ``W``, ``V`` on ``rows`` (positions among the rows
        used) as arrays, with at most ``max_columns`` random effects; see
        :class:`~mixnb.results.model_matrices.ModelMatrices`."""
        from mixnb.results.model_matrices import model_matrices

        return model_matrices(self, rows, max_columns)

    def marginal_covariance(self, rows) -> np.ndarray:
        """``V = Z Omega Z' + sigma^2 I`` for the given row positions (of the rows used)."""
        from mixnb.estimation.matrices import marginal_covariance

        return marginal_covariance(
            self.design, list(self.estimates.covariances), self.estimates.sigma2, rows
        )

    # ------------------------------------------------------------------ intervals

    def confint(self, method: str = "profile", level: float = 0.95, **options) -> pd.DataFrame:
        """Confidence intervals for every parameter, in lme4's ``confint`` layout.

        Parameters
        ----------
        method
            ``"profile"`` (default, as lme4): profile-likelihood intervals for all
            parameters; a REML fit is profiled on the ML deviance of its ML refit, as lme4
            does. ``"wald"``: estimate +- z * SE for the fixed effects, NaN for the variance
            parameters (as lme4). ``"bootstrap"``: percentile intervals from parametric-
            bootstrap refits (options ``nsim=500``, ``seed``, ``progress``; see
            :func:`mixnb.bootstrap`).
        level
            Confidence level.

        Returns
        -------
        pandas.DataFrame
            Index ``parameter`` (SDs and correlations per random term, e.g.
            ``Subject: sd(Intercept)``, ``Subject: cor(Intercept, Days)``, then
            ``Residual: sd``, then the fixed effects); columns ``lower``, ``upper``;
            ``.attrs`` holds ``level``, ``method``, ``title`` and ``notes``.

        Examples
        --------
        >>> import mixnb
        >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
        >>> ci = fit.confint()
        >>> ci.index.tolist()
        ['Batch: sd(Intercept)', 'Residual: sd', 'Intercept']
        >>> ci.round(1).to_numpy().tolist()
        [[12.2, 84.1], [38.2, 67.7], [1486.5, 1568.5]]
        """
        from mixnb.results.intervals import confidence_intervals

        return confidence_intervals(self, method, level, **options)

    def profile(self, zeta_max: float | None = None) -> pd.DataFrame:
        """Likelihood profiles of every parameter (lme4's ``profile``), as a tidy table.

        For each parameter held at a ``value`` the deviance is minimised over all other
        parameters; ``zeta`` is the signed square root of its rise over the minimum
        (``|zeta|`` = 1.96 marks the 95% profile interval). Computed once and cached;
        :meth:`confint` reuses it.

        Parameters
        ----------
        zeta_max
            How far out to trace; default lme4's ``sqrt(qchisq(0.99, n_parameters))``.

        Returns
        -------
        pandas.DataFrame
            Columns ``parameter`` (ordered categorical, :meth:`confint`'s names),
            ``value``, ``zeta``; ``.attrs["estimates"]`` gives each profile's centre.

        Examples
        --------
        >>> import mixnb
        >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
        >>> prof = fit.profile()
        >>> prof.columns.tolist()
        ['parameter', 'value', 'zeta']
        """
        from mixnb.results.intervals import profile_table

        return profile_table(self, zeta_max)
