"""Widgets for exploring mixed models in a notebook (ipywidgets).

* :class:`ModelBuilder`: build a model by choosing columns, see the fit and a chart;
* :class:`ShrinkageExplorer`: how group size and the two variances set the shrinkage;
* :class:`SimulationLab`: simulate from a known truth, fit, repeat, compare;
* :class:`DisagreementLab`: when a traditional and a hierarchical logistic model disagree.

Each is an ``ipywidgets`` box composed of ordinary controls, so it can be driven from code
(set a control's ``.value``) and tested without a browser.
"""

from __future__ import annotations

from mixnb.widgets.builder import ModelBuilder, build_formula
from mixnb.widgets.disagreement_lab import DisagreementLab
from mixnb.widgets.shrinkage import ShrinkageExplorer
from mixnb.widgets.simulation_lab import SimulationLab

__all__ = ["DisagreementLab", "ModelBuilder", "ShrinkageExplorer", "SimulationLab", "build_formula"]
