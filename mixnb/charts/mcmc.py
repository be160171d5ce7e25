"""Charts of MCMC draws: MLwiN's "sixway" diagnostics in spirit, and the posterior of a
variance beside the likelihood's intervals."""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from mixnb.charts._limits import MAX_ROWS
from mixnb.errors import MixnbError

#: At most this many draws per chain are drawn in a trace (every k-th draw beyond).
TRACE_POINTS = 1000
PANEL_WIDTH = 300
PANEL_HEIGHT = 160
CHAIN_COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6"]


def _parameter_of(post: Any, parameter: str | None) -> str:
    """The parameter to draw (default: the first variance) of an MCMC result, or a
    plain-words error for another object or an unknown name."""
    from mixnb.results.mcmc import McmcResult

    if not isinstance(post, McmcResult):
        raise MixnbError(
            f"This chart takes the result of mixnb.sample(fit), not {type(post).__name__}."
        )
    if parameter is None:
        return post.variance_parameters[0]
    post.parameter_draws(parameter)  # a plain-words error for an unknown name
    return parameter


def _ordinal(k: int) -> str:
    """``2`` -> ``"2nd"``, ``11`` -> ``"11th"``, ``23`` -> ``"23rd"``."""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _chain_color(n_chains: int) -> alt.Color:
    colors = [CHAIN_COLORS[i % len(CHAIN_COLORS)] for i in range(n_chains)]
    return alt.Color(
        "chain:N",
        title="chain",
        scale=alt.Scale(domain=[str(i + 1) for i in range(n_chains)], range=colors),
    )


def sixway(post: Any, parameter: str | None = None, max_lag: int = 40) -> alt.VConcatChart:
    """Four diagnostic panels for one parameter of an MCMC fit (MLwiN's "sixway" in spirit).

    Trace of every chain (chains that wander apart or drift have not converged), the
    posterior density pooled and per chain (the per-chain curves should agree), the
    autocorrelation of the draws (the faster it falls to 0, the more information each draw
    carries: ESS), and each chain's running mean (all should settle on the same value).
    The title gives the posterior mean, the credible interval, R-hat and bulk ESS.

    Parameters
    ----------
    post
        The result of :func:`mixnb.sample`.
    parameter
        A name from ``post.parameters`` (default: the first variance).
    max_lag
        Largest lag of the autocorrelation panel.

    Examples
    --------
    >>> import mixnb, mixnb.charts
    >>> fit = mixnb.lmm("Reaction ~ Days + (1 | Subject)", mixnb.load_dataset("sleepstudy"))
    >>> post = mixnb.sample(fit, iterations=1000, chains=2, seed=1, progress=False)
    >>> mixnb.charts.sixway(post).title.text
    'MCMC diagnostics: Subject: var(Intercept)'
    """
    name = _parameter_of(post, parameter)
    x = post.parameter_draws(name)
    n_chains, n = x.shape
    # at most TRACE_POINTS per chain and MAX_ROWS in all (altair refuses more than 5000)
    per_chain = max(min(TRACE_POINTS, MAX_ROWS // n_chains), 1)
    step = max(math.ceil(n / per_chain), 1)
    kept = np.arange(0, n, step)
    trace = pd.DataFrame(
        {
            "chain": np.repeat(np.arange(1, n_chains + 1), len(kept)).astype(str),
            "draw": np.tile(kept + 1, n_chains),
            "value": x[:, kept].ravel(),
        }
    )
    color = _chain_color(n_chains)
    size = {"width": PANEL_WIDTH, "height": PANEL_HEIGHT}
    y_value = alt.Y("value:Q", title=name, scale=alt.Scale(zero=False))
    trace_chart = (
        alt.Chart(trace, title="Trace" + (f" (every {_ordinal(step)} draw)" if step > 1 else ""))
        .mark_line(strokeWidth=0.7, opacity=0.75)
        .encode(x=alt.X("draw:Q", title="draw (after burn-in)"), y=y_value, color=color)
        .properties(**size)
    )
    density = post.density(name)
    row = post.posterior.loc[name]
    pooled = density[density["chain"] == "all"]
    per_chain = density[density["chain"] != "all"]
    x_value = alt.X("value:Q", title=name, scale=alt.Scale(zero=False))
    interval = pd.DataFrame({"lower": [row["lower"]], "upper": [row["upper"]]})
    density_chart = alt.layer(
        alt.Chart(interval)
        .mark_rect(color="#bbbbbb", opacity=0.3)
        .encode(x="lower:Q", x2="upper:Q"),
        alt.Chart(pooled)
        .mark_area(color="#999999", opacity=0.35)
        .encode(x=x_value, y=alt.Y("density:Q", title="density")),
        alt.Chart(per_chain)
        .mark_line(strokeWidth=1.2)
        .encode(x=x_value, y="density:Q", color=color),
        title=f"Posterior density (grey band: {100 * post.level:g}% interval)",
    ).properties(**size)
    acf = post.autocorrelation(name, max_lag)
    acf_chart = alt.layer(
        alt.Chart(acf)
        .mark_bar(color="#4c78a8", width=3)
        .encode(
            x=alt.X("lag:Q", title="lag", scale=alt.Scale(domain=[0, int(acf["lag"].max())])),
            y=alt.Y(
                "autocorrelation:Q", title="autocorrelation", scale=alt.Scale(domain=[-0.2, 1])
            ),
        ),
        alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="#666").encode(y="y:Q"),
        title="Autocorrelation (averaged over chains)",
    ).properties(**size)
    running = post.running_mean(name)
    first = max(n // 50, 10)
    running = running[running["draw"] >= first]
    running_chart = (
        alt.Chart(running, title=f"Running mean of each chain (from draw {first})")
        .mark_line(strokeWidth=1.2)
        .encode(
            x=alt.X("draw:Q", title="draws"),
            y=alt.Y("mean:Q", title=f"mean of {name}", scale=alt.Scale(zero=False)),
            color=color,
        )
        .properties(**size)
    )
    facts = (
        f"mean {row['mean']:.4g}, median {row['median']:.4g}, "
        f"{100 * post.level:g}% interval [{row['lower']:.4g}, {row['upper']:.4g}]; "
        f"R-hat {row['rhat']:.3f}, bulk ESS {row['ess_bulk']:.0f}, tail ESS {row['ess_tail']:.0f}"
    )
    return (
        alt.vconcat(
            alt.hconcat(trace_chart, density_chart),
            alt.hconcat(acf_chart, running_chart),
        )
        .resolve_scale(color="shared")
        .properties(
            title=alt.Title(
                f"MCMC diagnostics: {name}",
                subtitle=[
                    facts,
                    f"{n_chains} chains x {n} draws after {post.burn_in} burn-in; {post.formula}",
                ],
                anchor="start",
            )
        )
    )


def posterior_vs_profile(post: Any, parameter: str | None = None) -> alt.VConcatChart:
    """The posterior of a variance (or SD) beside the likelihood fit's intervals.

    Top: the posterior density, with the fit's estimate (dashed). Bottom, on the same axis:
    the Wald interval (estimate ± 1.96 SE, symmetric, and for a variance often reaching
    below zero), the profile-likelihood interval (``fit.confint()``, asymmetric as the
    likelihood is; for a REML fit lme4 profiles the ML deviance of the ML refit, and so
    does mixnb) and the posterior credible interval (equal-tailed) with its median.

    Parameters
    ----------
    post
        The result of :func:`mixnb.sample`.
    parameter
        A variance or SD name, e.g. ``"center: var(Intercept)"`` (default: the first
        variance).

    Examples
    --------
    >>> import mixnb, mixnb.charts
    >>> fit = mixnb.lmm("Reaction ~ Days + (1 | Subject)", mixnb.load_dataset("sleepstudy"))
    >>> post = mixnb.sample(fit, iterations=1000, chains=2, seed=1, progress=False)
    >>> mixnb.charts.posterior_vs_profile(post).title.text
    'Subject: var(Intercept): posterior and likelihood intervals'
    """
    name = _parameter_of(post, parameter)
    table = post.versus_likelihood([name]).loc[name]
    level = f"{100 * post.level:g}%"
    method = post.fit.method
    rows = pd.DataFrame(
        {
            "interval": [
                f"Wald ({method} ± 1.96 SE)",
                "profile likelihood" + (" (ML refit)" if post.fit.reml else ""),
                "posterior (equal-tailed)",
            ],
            "lower": [table["wald_lower"], table["profile_lower"], table["lower"]],
            "upper": [table["wald_upper"], table["profile_upper"], table["upper"]],
            "point": [table["estimate"], table["estimate"], table["median"]],
            "point_label": [f"{method} estimate", f"{method} estimate", "posterior median"],
        }
    )
    density = post.density(name)
    pooled = density[density["chain"] == "all"]
    lo = float(min(rows["lower"].min(), pooled["value"].min()))
    hi = float(max(rows["upper"].max(), pooled["value"].max()))
    pad = 0.03 * (hi - lo)
    domain = [lo - pad, hi + pad]
    x = alt.X("value:Q", title=name, scale=alt.Scale(domain=domain, nice=False))
    estimate = pd.DataFrame({"value": [table["estimate"]]})
    # a grey line at zero when the axis reaches it (a Wald interval below zero)
    zero = (
        [alt.Chart(pd.DataFrame({"value": [0.0]})).mark_rule(color="#999").encode(x="value:Q")]
        if domain[0] < 0 < domain[1]
        else []
    )
    order = list(rows["interval"])
    colors = alt.Color(
        "interval:N",
        legend=None,
        scale=alt.Scale(domain=order, range=["#e45756", "#f58518", "#4c78a8"]),
    )
    top = alt.layer(
        alt.Chart(pooled)
        .mark_area(color="#4c78a8", opacity=0.35, clip=True)
        .encode(x=x, y=alt.Y("density:Q", title="posterior density")),
        alt.Chart(pooled).mark_line(color="#4c78a8", clip=True).encode(x=x, y="density:Q"),
        alt.Chart(estimate).mark_rule(color="#333", strokeDash=[5, 3]).encode(x="value:Q"),
        *zero,
    ).properties(width=560, height=200)
    y = alt.Y("interval:N", title=None, sort=order, axis=alt.Axis(labelLimit=260))
    bottom = alt.layer(
        alt.Chart(rows)
        .mark_rule(strokeWidth=3, clip=True)
        .encode(
            x=alt.X("lower:Q", title=name, scale=alt.Scale(domain=domain, nice=False)),
            x2="upper:Q",
            y=y,
            color=colors,
            tooltip=["interval", "lower", "upper"],
        ),
        alt.Chart(rows)
        .mark_point(filled=True, size=70, color="#333", clip=True)
        .encode(x="point:Q", y=y, tooltip=["point_label", "point"]),
        *zero,
    ).properties(width=560, height=110)
    return alt.vconcat(top, bottom, spacing=8).properties(
        title=alt.Title(
            f"{name}: posterior and likelihood intervals",
            subtitle=[
                f"{method} estimate {table['estimate']:.4g} (SE {table['std_error']:.4g}, dashed); "
                f"posterior median {table['median']:.4g}, mean {table['mean']:.4g}",
                f"{level} intervals: Wald [{table['wald_lower']:.4g}, {table['wald_upper']:.4g}], "
                f"profile [{table['profile_lower']:.4g}, {table['profile_upper']:.4g}], "
                f"posterior [{table['lower']:.4g}, {table['upper']:.4g}]",
                "density drawn up to the posterior's 99.5% quantile",
            ],
            anchor="start",
        )
    )
