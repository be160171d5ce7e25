"""mixnb: Jupyter-native linear mixed models, with lme4-grade numbers."""

from mixnb.api import (
    combine_crossproducts,
    compare,
    crossproducts,
    from_crossproducts,
    gee,
    glm,
    lmm,
    marginal_vs_conditional,
    ols,
)
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
    RowsNotAvailableError,
    SingularFitWarning,
    UnseenLevelWarning,
)
from mixnb.glmm_api import glmm
from mixnb.results.bootstrap import bootstrap
from mixnb.results.gee import GeeResult
from mixnb.results.glm import GlmResult
from mixnb.results.glmm import GlmmResult
from mixnb.results.least_squares import OlsResult
from mixnb.results.mcmc import McmcResult, sample
from mixnb.results.mixed import LmmResult

# the display layer installs every result's views (summary, HTML, Markdown, LaTeX, equations)
import mixnb.display  # noqa: E402, F401  isort: skip

#: Widgets import ipywidgets (slow), so ``mixnb.ModelBuilder`` etc. load on first use.
_WIDGETS = ("DisagreementLab", "ModelBuilder", "ShrinkageExplorer", "SimulationLab")


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
    "GlmResult",
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
    "RowsNotAvailableError",
    "ShrinkageExplorer",
    "SimulationLab",
    "DisagreementLab",
    "SingularFitWarning",
    "UnseenLevelWarning",
    "bootstrap",
    "combine_crossproducts",
    "compare",
    "crossproducts",
    "datasets",
    "from_crossproducts",
    "gee",
    "glm",
    "glmm",
    "lmm",
    "marginal_vs_conditional",
    "load_dataset",
    "marginal_vs_conditional",
    "ols",
    "sample",
]
