"""Charts for teaching mixed models, as altair specifications.

Every function takes a fitted result first and returns an altair chart, titled and with
axes named after the data's columns; change it further as any altair chart
(``.properties(width=600)``).

==========================  ==========================================================
:func:`scatter_with_line`   the data and one pooled least-squares line
:func:`group_lines`         one fitted line per group (dummies, interactions)
:func:`spaghetti`           each group's data with the mixed model's line for it
:func:`caterpillar`         random effects with ±1.96 conditional SD intervals, sorted
:func:`shrinkage`           each group alone versus the mixed model, arrows to the latter
:func:`residual_diagnostics`  residuals against fitted values, normal QQ plots
:func:`fitted_curves`       a GLMM's fitted probability (rate) curves per group, typical, average
:func:`binned_residuals`    a GLMM's mean residuals in bins of fitted values, ±2 SE bounds
:func:`profile`             likelihood profiles of every parameter (``fit.profile()``)
:func:`sixway`              MCMC diagnostics of one parameter: trace, density, ACF, running mean
:func:`posterior_vs_profile`  a variance's posterior beside its Wald and profile intervals
:func:`coefficient_comparison`  several models' coefficients with 95% intervals
:func:`disagreement`        how often two models' conclusions differ (a simulation study)
:func:`p_value_agreement`   each simulated outcome's p-value under both models
:func:`live_pooling`        live: complete, partial and no pooling as a variance slider moves
:func:`live_shrinkage`      live: the shrinkage factor for sliders n, s0² and se²
:func:`live_sampling`       live: a slope's sampling distribution, a slider for the groups
:func:`live_t_reference`    live: a t statistic's p-value as a slider sets the df
:func:`live_disagreement`   live: a disagreement study's p-values, a slider for the hospital SD
==========================  ==========================================================

A chart is for looking: a big fit draws a reproducible sample (at most 4000 rows of a
data set, 60 groups of a caterpillar or shrinkage plot, 30 lines of a spaghetti plot) and
says in its subtitle what was drawn, so a fit of a million rows draws in seconds.

The ``live_`` charts bind Vega-Lite parameters to sliders (:mod:`mixnb.charts.live`): vega
redraws them in the page, in JupyterLab and on the offline tutorials site, with no kernel.

Charts render offline: importing this module makes altair draw charts as inline SVG made
in Python by ``vl-convert`` (no CDN, no network, same bytes on every run), unless another
altair renderer was enabled before. :func:`enable_offline` switches to it explicitly;
``altair.renderers.enable("default")`` returns to altair's interactive renderer.
"""

from __future__ import annotations

from mixnb.charts.comparison import coefficient_comparison, disagreement, p_value_agreement
from mixnb.charts.diagnostics import residual_diagnostics
from mixnb.charts.effects import caterpillar, shrinkage
from mixnb.charts.glmm import binned_residuals, fitted_curves
from mixnb.charts.lines import group_lines, scatter_with_line, spaghetti
from mixnb.charts.live import (
    live_disagreement,
    live_pooling,
    live_sampling,
    live_shrinkage,
    live_t_reference,
)
from mixnb.charts.mcmc import posterior_vs_profile, sixway
from mixnb.charts.profile import profile
from mixnb.charts.render import _enable_unless_chosen, enable_offline, to_svg

_enable_unless_chosen()

__all__ = [
    "binned_residuals",
    "caterpillar",
    "coefficient_comparison",
    "disagreement",
    "enable_offline",
    "fitted_curves",
    "group_lines",
    "live_disagreement",
    "live_pooling",
    "live_sampling",
    "live_shrinkage",
    "live_t_reference",
    "p_value_agreement",
    "posterior_vs_profile",
    "profile",
    "residual_diagnostics",
    "scatter_with_line",
    "shrinkage",
    "sixway",
    "spaghetti",
    "to_svg",
]
