"""mixnb: Jupyter-native linear mixed models, with lme4-grade numbers."""

from mixnb.api import compare, gee, lmm, ols
from mixnb.datasets import datasets, load_dataset
from mixnb.errors import (
    ConvergenceWarning,
    DataError,
    FormulaError,
    McmcWarning,
    MissingDataWarning,
    MixnbError,
    MixnbWarning,
    ModelError,
    RankDeficiencyWarning,
    SingularFitWarning,
    UnseenLevelWarning,
)
from mixnb.glmm_api import glmm, marginal_vs_conditional
from mixnb.results.bootstrap import bootstrap
from mixnb.results.gee import GeeResult
from mixnb.results.glmm import GlmmResult
from mixnb.results.least_squares import OlsResult
from mixnb.results.mcmc import McmcResult, sample
from mixnb.results.mixed import LmmResult

# the display layer installs every result's views (summary, HTML, Markdown, LaTeX, equations)
import mixnb.display  # noqa: E402, F401  isort: skip

#: Widgets import ipywidgets (slow), so ``mixnb.ModelBuilder`` etc. load on first use.
_WIDGETS = ("ModelBuilder", "ShrinkageExplorer", "SimulationLab")


def __getattr__(name: str):
    if name in _WIDGETS:
        import mixnb.widgets

        return getattr(mixnb.widgets, name)
    raise AttributeError(f"module 'mixnb' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "DataError",
    "FormulaError",
    "GeeResult",
    "GlmmResult",
    "LmmResult",
    "McmcResult",
    "McmcWarning",
    "MissingDataWarning",
    "MixnbError",
    "MixnbWarning",
    "ModelBuilder",
    "ModelError",
    "OlsResult",
    "RankDeficiencyWarning",
    "ShrinkageExplorer",
    "SimulationLab",
    "SingularFitWarning",
    "UnseenLevelWarning",
    "bootstrap",
    "compare",
    "datasets",
    "gee",
    "glmm",
    "lmm",
    "load_dataset",
    "marginal_vs_conditional",
    "ols",
    "sample",
]
