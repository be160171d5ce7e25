"""mixnb: Jupyter-native linear mixed models, with lme4-grade numbers."""

from mixnb.api import compare, lmm, ols
from mixnb.datasets import datasets, load_dataset
from mixnb.errors import (
    ConvergenceWarning,
    DataError,
    FormulaError,
    MissingDataWarning,
    MixnbError,
    MixnbWarning,
    ModelError,
    RankDeficiencyWarning,
    SingularFitWarning,
    UnseenLevelWarning,
)
from mixnb.results.least_squares import OlsResult
from mixnb.results.mixed import LmmResult

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "DataError",
    "FormulaError",
    "LmmResult",
    "MissingDataWarning",
    "MixnbError",
    "MixnbWarning",
    "ModelError",
    "OlsResult",
    "RankDeficiencyWarning",
    "SingularFitWarning",
    "UnseenLevelWarning",
    "compare",
    "datasets",
    "lmm",
    "load_dataset",
    "ols",
]
