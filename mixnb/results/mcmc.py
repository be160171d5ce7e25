"""Bayesian estimation by MCMC: :func:`sample` and its result, :class:`McmcResult`.

The Gibbs sampler is in :mod:`mixnb.estimation.mcmc`, the convergence diagnostics in
:mod:`mixnb.estimation.mcmc_diagnostics`; this module names the draws, summarises them as
tidy tables and says in words when the chains have not mixed.
"""

from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np
import pandas as pd

from mixnb.errors import McmcWarning, MixnbError, ModelError
from mixnb.estimation import mcmc_diagnostics as diag
from mixnb.estimation import parameter_names as names_
from mixnb.estimation.covariance import distinct_labels
from mixnb.estimation.mcmc import IMPROPER_POSTERIOR, Draws, hpd_interval, run_gibbs
from mixnb.results.base import Displayable
from mixnb.results.mixed import LmmResult

PRIORS = ("mlwin", "uniform")

_PRIOR_WORDS = {
    "mlwin": (
        "MLwiN's default priors: flat on the fixed effects; Gamma(0.001, 0.001) on the "
        "precision of each single variance and of the residual variance; for a covariance "
        "matrix of q random effects, a Wishart prior on its inverse with q degrees of freedom "
        "centred on the likelihood estimate (Omega ~ IW(q, q * estimate))."
    ),
    "uniform": (
        "Flat priors: on the fixed effects, and on every variance and covariance matrix "
        "(MLwiN's 'uniform on the variance scale')."
    ),
}


class McmcResult(Displayable):
    """Posterior draws of a linear mixed model, from :func:`sample`.

    Attributes
    ----------
    fit : LmmResult
        The likelihood fit the chains started from (and whose design they reuse).
    posterior : pandas.DataFrame
        One row per sampled parameter (fixed effects, variances and covariances, residual
        variance) and per derived one (standard deviations, correlations): ``mean``,
        ``median``, ``sd``, ``lower``, ``upper`` (equal-tailed credible interval at
        ``level``), ``mcse_mean``, ``ess_bulk``, ``ess_tail``, ``rhat``.
    draws : pandas.DataFrame
        Wide: one row per kept draw, columns ``chain``, ``draw`` and one per parameter.
    fixed_effects, variance_components : pandas.DataFrame
        The posterior summaries of the fixed effects, and of the random part (``group``,
        ``term1``, ``term2``, ``quantity`` in variance / sd / covariance / correlation).
    random_effects, random_effects_sd : dict of pandas.DataFrame
        Per grouping factor, posterior means and SDs of each level's random effects.
    """

    def __init__(self, fit: LmmResult, draws: Draws, iterations: int, level: float) -> None:
        self.fit = fit
        self.result = draws
        self.formula = fit.formula
        self.iterations = int(iterations)
        self.chains = draws.parameters.shape[0]
        self.burn_in = draws.burn_in
        self.seed = draws.seed
        self.prior = draws.prior.name
        self.level = float(level)
        self._names, self._meta = _parameter_names(fit)

    # ------------------------------------------------------------------ draws

    @cached_property
    def _arrays(self) -> dict[str, np.ndarray]:
        """Every parameter's draws ``(chains, draws)``: sampled ones, then derived SDs and
        correlations (in the order of :attr:`posterior`)."""
        params = self.result.parameters
        out = {name: params[:, :, k] for k, name in enumerate(self._names)}
        for name, (kind, a, b) in _derived(self._meta).items():
            if kind == "sd":
                out[name] = np.sqrt(out[a])
            else:
                va, vb = out[self._var_of[a]], out[self._var_of[b]]
                out[name] = out[kind] / np.sqrt(va * vb)
        return out

    @cached_property
    def _var_of(self) -> dict[str, str]:
        return {m["term1"] + "|" + m["group"]: n for n, m in self._meta.items() if m["is_var"]}

    @cached_property
    def draws(self) -> pd.DataFrame:
        """The kept draws, wide: ``chain`` (1..), ``draw`` (1..), one column per parameter."""
        c, n = self.chains, self.iterations
        frame = pd.DataFrame(
            {
                "chain": np.repeat(np.arange(1, c + 1), n),
                "draw": np.tile(np.arange(1, n + 1), c),
            }
        )
        values = {name: arr.reshape(-1) for name, arr in self._arrays.items()}
        return pd.concat([frame, pd.DataFrame(values)], axis=1)

    def draws_long(self) -> pd.DataFrame:
        """The kept draws, long: ``chain``, ``draw``, ``parameter``, ``value``."""
        return self.draws.melt(id_vars=["chain", "draw"], var_name="parameter")

    def parameter_draws(self, parameter: str) -> np.ndarray:
        """The draws of one parameter as ``(chains, draws)``."""
        if parameter not in self._arrays:
            raise MixnbError(
                f"No parameter {parameter!r}; the parameters are: " + ", ".join(self._arrays) + "."
            )
        return self._arrays[parameter]

    def density(self, parameter: str, points: int = 200) -> pd.DataFrame:
        """Kernel density estimate (Gaussian, Scott's bandwidth) of one parameter's
        posterior: pooled (``chain`` = ``"all"``) and per chain (``"1"``, ``"2"``, ...).

        The grid runs from the 0.1% to the 99.5% quantile of the pooled draws (a long upper
        tail, as variances have, would squash the rest). Columns ``chain``, ``value``,
        ``density``.
        """
        from scipy import stats

        x = self.parameter_draws(parameter)
        flat = x.ravel()
        lo, hi = np.quantile(flat, [0.001, 0.995])
        grid = np.linspace(lo, hi, points)
        frames = []
        if np.ptp(flat) == 0:
            return pd.DataFrame({"chain": ["all"], "value": [flat[0]], "density": [np.nan]})
        for label, values in [("all", flat)] + [(str(c + 1), x[c]) for c in range(len(x))]:
            kde = stats.gaussian_kde(values[:: max(len(values) // 5000, 1)])
            frames.append(pd.DataFrame({"chain": label, "value": grid, "density": kde(grid)}))
        return pd.concat(frames, ignore_index=True)

    def autocorrelation(self, parameter: str, max_lag: int = 40) -> pd.DataFrame:
        """Autocorrelation of one parameter's draws at lags 0..``max_lag``, averaged over
        chains (columns ``lag``, ``autocorrelation``)."""
        x = self.parameter_draws(parameter)
        max_lag = int(min(max_lag, x.shape[1] - 1))
        acf = diag.autocorrelation(x, max_lag)
        return pd.DataFrame({"lag": np.arange(max_lag + 1), "autocorrelation": acf})

    def running_mean(self, parameter: str, points: int = 200) -> pd.DataFrame:
        """Each chain's running posterior mean after 1..n draws, at about ``points`` draws
        (columns ``chain``, ``draw``, ``mean``): the chains should settle on one value."""
        x = self.parameter_draws(parameter)
        n = x.shape[1]
        at = np.unique(np.linspace(1, n, min(points, n)).astype(int))
        means = np.cumsum(x, axis=1)[:, at - 1] / at
        return pd.DataFrame(
            {
                "chain": np.repeat(np.arange(1, len(x) + 1), len(at)).astype(str),
                "draw": np.tile(at, len(x)),
                "mean": means.ravel(),
            }
        )

    @property
    def parameters(self) -> list[str]:
        """Names of all parameters (sampled, then derived SDs and correlations)."""
        return list(self._arrays)

    @property
    def variance_parameters(self) -> list[str]:
        """Names of the sampled variances (random terms, then ``Residual: var``)."""
        return [n for n, m in self._meta.items() if m["is_var"]]

    # ------------------------------------------------------------------ summaries

    def summarize(self, level: float | None = None, hpd: bool = False) -> pd.DataFrame:
        """Posterior summary of every parameter at ``level``; ``hpd=True`` adds the
        highest-posterior-density interval (``hpd_lower``, ``hpd_upper``).

        Examples
        --------
        >>> import mixnb
        >>> fit = mixnb.lmm("Reaction ~ Days + (1 | Subject)", mixnb.load_dataset("sleepstudy"))
        >>> post = mixnb.sample(fit, iterations=1000, chains=2, seed=1, progress=False)
        >>> post.summarize(0.9, hpd=True).columns.tolist()[:7]
        ['mean', 'median', 'sd', 'lower', 'upper', 'hpd_lower', 'hpd_upper']
        """
        level = self.level if level is None else _check_level(level)
        alpha = (1.0 - level) / 2.0
        rows = {}
        for name, x in self._arrays.items():
            flat = x.ravel()
            lower, upper = np.quantile(flat, [alpha, 1.0 - alpha])
            row = {
                "mean": flat.mean(),
                "median": np.median(flat),
                "sd": flat.std(ddof=1),
                "lower": lower,
                "upper": upper,
            }
            if hpd:
                row["hpd_lower"], row["hpd_upper"] = hpd_interval(flat, level)
            row.update(
                mcse_mean=diag.mcse_mean(x),
                ess_bulk=diag.ess_bulk(x),
                ess_tail=diag.ess_tail(x),
                rhat=diag.rhat(x),
            )
            rows[name] = row
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "parameter"
        table.attrs["level"] = level
        return table

    @cached_property
    def posterior(self) -> pd.DataFrame:
        """Posterior summaries and diagnostics of every parameter (see the class)."""
        return self.summarize()

    @cached_property
    def fixed_effects(self) -> pd.DataFrame:
        """Posterior summaries of the fixed effects (index ``term``)."""
        names = list(self.fit.design.fixed.columns)
        table = self.posterior.loc[names]
        table.index.name = "term"
        return table

    @cached_property
    def variance_components(self) -> pd.DataFrame:
        """Posterior summaries of variances, SDs, covariances and correlations."""
        meta = {**self._meta, **_derived_meta(self._meta)}
        rows = []
        for name in self.posterior.index:
            if name in meta:
                m = meta[name]
                rows.append(
                    {
                        "parameter": name,
                        "group": m["group"],
                        "term1": m["term1"],
                        "term2": m["term2"],
                        "quantity": m["quantity"],
                        **self.posterior.loc[name].to_dict(),
                    }
                )
        return pd.DataFrame(rows)

    @cached_property
    def random_effects(self) -> dict[str, pd.DataFrame]:
        """Posterior means of each level's random effects, per grouping factor."""
        return self.fit._by_factor(self.result.random_mean)

    @cached_property
    def random_effects_sd(self) -> dict[str, pd.DataFrame]:
        """Posterior SDs of each level's random effects, per grouping factor."""
        return self.fit._by_factor(self.result.random_sd)

    def versus_likelihood(self, parameters: list[str] | None = None) -> pd.DataFrame:
        """Posterior beside the likelihood fit, per variance (or SD) parameter.

        Columns: ``estimate`` and ``std_error`` (the fit's estimate and its Wald SE),
        ``profile_lower``, ``profile_upper`` (the profile-likelihood interval at
        :attr:`level`, lme4's ``confint``; for variances the squared SD limits),
        ``wald_lower``, ``wald_upper`` (estimate ± z SE), and the posterior ``mean``,
        ``median``, ``lower``, ``upper``.

        Examples
        --------
        >>> import mixnb
        >>> fit = mixnb.lmm("Reaction ~ Days + (1 | Subject)", mixnb.load_dataset("sleepstudy"))
        >>> post = mixnb.sample(fit, iterations=1000, chains=2, seed=1, progress=False)
        >>> post.versus_likelihood().index.tolist()
        ['Subject: var(Intercept)', 'Residual: var']
        """
        from scipy import stats

        names = parameters or self.variance_parameters
        profile = self.fit.confint(method="profile", level=self.level)
        vc = self.fit.variance_components
        z = stats.norm.ppf(0.5 + self.level / 2.0)
        rows = {}
        for name in names:
            m = {**self._meta, **_derived_meta(self._meta)}.get(name)
            if m is None or m["quantity"] not in ("variance", "sd"):
                raise MixnbError(f"{name!r} is not a variance or SD parameter of this model.")
            match = vc[(vc["group"] == m["group"]) & (vc["term1"] == m["term1"])]
            match = match[match["term1"] == match["term2"]].iloc[0]
            sd_name = names_.sd(m["group"], m["term1"])
            lo, hi = profile.loc[sd_name, ["lower", "upper"]].to_numpy(dtype=float)
            if m["quantity"] == "variance":
                estimate, se, lo, hi = match["estimate"], match["std_error"], lo**2, hi**2
            else:
                # delta method: SE(sd) = SE(var) / (2 sd)
                estimate = match["sd_corr"]
                se = match["std_error"] / (2.0 * estimate) if estimate > 0 else np.nan
            post = self.posterior.loc[name]
            rows[name] = {
                "estimate": estimate,
                "std_error": se,
                "profile_lower": lo,
                "profile_upper": hi,
                "wald_lower": estimate - z * se,
                "wald_upper": estimate + z * se,
                "mean": post["mean"],
                "median": post["median"],
                "lower": post["lower"],
                "upper": post["upper"],
            }
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "parameter"
        table.attrs["level"] = self.level
        table.attrs["method"] = self.fit.method
        return table

    # ------------------------------------------------------------------ diagnostics

    @property
    def max_rhat(self) -> float:
        return float(np.nanmax(self.posterior["rhat"]))

    @property
    def min_ess(self) -> float:
        return float(np.nanmin(self.posterior[["ess_bulk", "ess_tail"]].to_numpy()))

    @property
    def converged(self) -> bool:
        """R-hat at most 1.01 and bulk and tail ESS at least 400 for every parameter."""
        return self.max_rhat <= diag.RHAT_MAX and self.min_ess >= diag.ESS_MIN

    @property
    def unmixed(self) -> list[str]:
        """Parameters whose R-hat or ESS fails Vehtari et al.'s thresholds."""
        p = self.posterior
        bad = (
            (p["rhat"] > diag.RHAT_MAX)
            | (p["ess_bulk"] < diag.ESS_MIN)
            | (p["ess_tail"] < diag.ESS_MIN)
        )
        return list(p.index[bad.to_numpy()])

    @property
    def title(self) -> str:
        return "Linear mixed model estimated by MCMC (Gibbs sampling)"

    @property
    def facts(self) -> dict[str, object]:
        return {
            "Observations": self.fit.nobs,
            **{f"{name} groups": n for name, n in self.fit.ngroups.items()},
            "Chains": self.chains,
            "Iterations kept per chain": self.iterations,
            "Burn-in": self.burn_in,
            "Largest R-hat": self.max_rhat,
            "Smallest ESS": self.min_ess,
        }

    @property
    def notes(self) -> list[str]:
        """Plain words: the priors, the starts, the seed and (if so) that chains have not mixed."""
        out = [
            _PRIOR_WORDS[self.prior],
            (
                f"{self.chains} chains started from the {self.fit.method} estimates (the "
                "first exactly, the others at variances scaled by random factors), "
                if self.chains > 1
                else f"1 chain started from the {self.fit.method} estimates, "
            )
            + f"{self.burn_in} burn-in iterations discarded, {self.iterations} kept per chain"
            + (f"; seed {self.seed}." if self.seed is not None else "; no seed given."),
            f"Intervals are equal-tailed {100 * self.level:g}% credible intervals.",
        ]
        note = unmixed_note(self)
        if note:
            out.append(note)
        return out


# --------------------------------------------------------------------------- names


def _parameter_names(fit: LmmResult) -> tuple[list[str], dict[str, dict]]:
    """Names of the sampled parameters (the fixed-effect columns, ``g: var(x)``,
    ``g: cov(x, z)``, ``Residual: var``) and, for the random part, what each one is."""
    names = list(fit.design.fixed.columns)
    meta: dict[str, dict] = {}
    labels = []
    for row in fit.variance_components.itertuples():
        if row.term1 == row.term2:
            label = names_.var(row.group, row.term1)
        else:
            label = names_.cov(row.group, row.term1, row.term2)
        labels.append(label)
    for label, row in zip(distinct_labels(labels), fit.variance_components.itertuples()):
        is_var = row.term1 == row.term2
        meta[label] = {
            "group": row.group,
            "term1": row.term1,
            "term2": row.term2,
            "is_var": bool(is_var),
            "quantity": "variance" if is_var else "covariance",
        }
    return names + list(meta), meta


def _derived(meta: dict[str, dict]) -> dict[str, tuple[str, str, str]]:
    """Derived parameters: ``name -> ("sd", variance name, "")`` or
    ``(covariance name, term1 key, term2 key)`` for correlations."""
    out: dict[str, tuple[str, str, str]] = {}
    for name, m in meta.items():
        if m["is_var"]:
            out[names_.sd(m["group"], m["term1"])] = ("sd", name, "")
    for name, m in meta.items():
        if not m["is_var"]:
            label = names_.cor(m["group"], m["term1"], m["term2"])
            out[label] = (name, m["term1"] + "|" + m["group"], m["term2"] + "|" + m["group"])
    return out


def _derived_meta(meta: dict[str, dict]) -> dict[str, dict]:
    out = {}
    for name, (kind, a, _) in _derived(meta).items():
        m = meta[a] if kind == "sd" else meta[kind]
        out[name] = {**m, "quantity": "sd" if kind == "sd" else "correlation"}
    return out


def _check_level(level: float) -> float:
    if not 0 < float(level) < 1:
        raise MixnbError(f"level must be between 0 and 1, not {level!r}.")
    return float(level)


# --------------------------------------------------------------------------- words


def unmixed_note(result: McmcResult) -> str | None:
    """Why the draws should not be trusted yet, in plain words (None when they can be)."""
    bad = result.unmixed
    if not bad:
        return None
    shown = ", ".join(bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
    return (
        f"The chains have not mixed well enough for {shown}: R-hat {result.max_rhat:.3f} "
        f"(should be at most {diag.RHAT_MAX}) and smallest effective sample size "
        f"{result.min_ess:.0f} (should be at least {diag.ESS_MIN}). The posterior summaries "
        "of these parameters are not yet reliable; run more iterations (or more chains) and "
        "look at their trace plots (mixnb.charts.sixway)."
    )


def _improper_message(fit: LmmResult, codes: list[str], prior: str) -> str:
    parts = []
    for code in codes:
        where = code.split(":", 1)[1]
        if where == "Residual":
            parts.append("the residual variance (too few rows)")
        else:
            block = fit.design.random[int(where)]
            parts.append(
                f"the covariance of the random {', '.join(block.columns)} across "
                f"{block.factor.name} ({block.factor.n_levels} groups for "
                f"{block.n_columns} random effects)"
            )
    return (
        f"Under the {prior!r} prior the posterior of " + "; ".join(parts) + " is improper "
        "(it does not integrate to one), so no sampler can describe it. Use the default "
        "prior='mlwin', or a model with fewer random effects for so few groups."
    )


# --------------------------------------------------------------------------- entry point


def sample(
    fit: LmmResult,
    iterations: int = 5000,
    burn_in: int = 500,
    chains: int = 4,
    seed: int | None = None,
    progress: bool | None = None,
    prior: str = "mlwin",
    level: float = 0.95,
) -> McmcResult:
    """Bayesian estimation of a fitted linear mixed model by Gibbs sampling (MLwiN's MCMC).

    The chains start from the fit's estimates (REML, ML or IGLS) and reuse its design. Each
    iteration draws the fixed and random effects jointly given the variances, then each
    random term's covariance matrix (inverse-Wishart; inverse-gamma for a single variance)
    and the residual variance (inverse-gamma); see :mod:`mixnb.estimation.mcmc`.

    Parameters
    ----------
    fit
        A fit from :func:`mixnb.lmm`.
    iterations
        Draws kept per chain, after the burn-in (MLwiN's default: 5000).
    burn_in
        Iterations discarded at the start of each chain (MLwiN's default: 500).
    chains
        Number of chains. Chain 1 starts at the fit's estimates, the others at variances
        multiplied by ``exp(z)``, ``z ~ N(0, 1)``, so that R-hat can detect a chain that
        has not forgotten its start.
    seed
        Seed of the random streams (``numpy.random.SeedSequence(seed).spawn(chains)``, one
        per chain): the same seed gives the same draws.
    progress
        Show a progress bar (tqdm). Default: from 2000 iterations in total.
    prior
        ``"mlwin"`` (default), MLwiN's defaults: flat on the fixed effects,
        ``Gamma(0.001, 0.001)`` on the precision of each single variance and of the
        residual variance, and for a ``q x q`` covariance matrix ``Omega`` a Wishart prior
        on ``Omega^-1`` with ``q`` degrees of freedom and mean ``S^-1``, where ``S`` is the
        fit's estimate (``Omega ~ IW(q, q S)``; a singular ``S`` is first made positive
        definite). ``"uniform"``: flat on every variance and covariance matrix (MLwiN's
        "uniform on the variance scale"); it needs more groups than twice the random
        effects per group.
    level
        Level of the credible intervals in the tables.

    Returns
    -------
    McmcResult
        A :class:`~mixnb.errors.McmcWarning` is issued when some parameter has R-hat above
        1.01 or bulk or tail effective sample size below 400 (Vehtari et al., 2021).

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", mixnb.load_dataset("sleepstudy"))
    >>> post = mixnb.sample(fit, iterations=1000, chains=2, seed=1, progress=False)
    >>> post.draws.shape
    (2000, 12)
    >>> bool(abs(post.fixed_effects.loc["Days", "mean"] - 10.47) < 0.5)
    True
    """
    if not isinstance(fit, LmmResult):
        raise MixnbError(f"sample() takes a fit from mixnb.lmm, not {type(fit).__name__}.")
    for label, value, least in (("iterations", iterations, 4), ("chains", chains, 1)):
        if not isinstance(value, (int, np.integer)) or value < least:
            raise MixnbError(f"{label} must be a whole number of at least {least}, not {value!r}.")
    if not isinstance(burn_in, (int, np.integer)) or burn_in < 0:
        raise MixnbError(f"burn_in must be a whole number of at least 0, not {burn_in!r}.")
    if prior not in PRIORS:
        raise MixnbError(f"Unknown prior {prior!r}: use 'mlwin' (MLwiN's defaults) or 'uniform'.")
    level = _check_level(level)
    draws = run_gibbs(
        fit.design,
        fit.estimates,
        iterations=int(iterations),
        burn_in=int(burn_in),
        chains=int(chains),
        seed=seed,
        prior=prior,
        progress=progress,
    )
    improper = [c for c in draws.problems if c.startswith(IMPROPER_POSTERIOR)]
    if improper:
        raise ModelError(_improper_message(fit, improper, prior))
    result = McmcResult(fit, draws, int(iterations), level)
    note = unmixed_note(result)
    if note:
        warnings.warn(note, McmcWarning, stacklevel=2)
    return result
