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
==========================  ==========================================================

Charts render offline: importing this module makes altair draw charts as inline SVG made
in Python by ``vl-convert`` (no CDN, no network, same bytes on every run), unless another
altair renderer was enabled before. :func:`enable_offline` switches to it explicitly;
``altair.renderers.enable("default")`` returns to altair's interactive renderer.
"""

from __future__ import annotations

from mixnb.charts.diagnostics import residual_diagnostics
from mixnb.charts.effects import caterpillar, shrinkage
from mixnb.charts.glmm import binned_residuals, fitted_curves
from mixnb.charts.lines import group_lines, scatter_with_line, spaghetti
from mixnb.charts.mcmc import posterior_vs_profile, sixway
from mixnb.charts.profile import profile
from mixnb.charts.render import _enable_unless_chosen, enable_offline, to_svg

_enable_unless_chosen()

__all__ = [
    "binned_residuals",
    "caterpillar",
    "enable_offline",
    "fitted_curves",
    "group_lines",
    "posterior_vs_profile",
    "profile",
    "residual_diagnostics",
    "scatter_with_line",
    "shrinkage",
    "sixway",
    "spaghetti",
    "to_svg",
]
