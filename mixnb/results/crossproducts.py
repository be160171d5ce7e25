"""The result of a fit from per-group cross-products (e.g. on Dask): no rows kept.

:class:`CrossproductsResult` is an :class:`~mixnb.results.mixed.LmmResult` whose design
is known through its sufficient statistics only (:class:`StatisticsDesign`): the column
names, the encoding (formulaic specs, so that :meth:`~LmmResult.predict` works on any
chunk of new rows), the grouping factor's levels, the counts. Everything the one-factor
in-memory fit reports from the same statistics is there: fixed effects with standard
errors and Satterthwaite df, Wald tests, variance components and their standard errors,
BLUPs and their conditional variances, the likelihood, predictions. What needs the rows
(residuals and fitted values per row, type III tests on recoded columns, Kenward-Roger,
profiles, group-alone fits, the model matrices) raises
:class:`~mixnb.errors.RowsNotAvailableError`, saying what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from mixnb.design import FixedDesign, GroupingFactor
from mixnb.errors import MixnbError, RowsNotAvailableError
from mixnb.estimation.crossproducts import (
    CrossproductsFit,
    GroupCrossproducts,
    fit_crossproducts,
)
from mixnb.estimation.ddf import CovarianceSensitivity, check_method
from mixnb.estimation.encoding import DesignEncoding
from mixnb.estimation.wald import FixedEffectsTests
from mixnb.formula import ParsedFormula, RandomTerm, parse_formula
from mixnb.results.mixed import LmmResult

#: How to get what needs the rows, partition by partition.
PER_PARTITION = (
    "Compute it where the rows are, partition by partition: predictions are "
    "ddf.map_partitions(fit.predict, meta=('predicted', float)) (add include_random=False for "
    "the population line), and residuals are the response minus those. Or fit a pandas "
    "sample in memory with mixnb.lmm."
)


def rows_needed(what: str, fix: str = PER_PARTITION) -> NoReturn:
    """Raise :class:`RowsNotAvailableError` for ``what``, with ``fix``."""
    raise RowsNotAvailableError(
        f"{what} needs the individual rows, but this fit was made from per-group "
        f"cross-products (sufficient statistics) and keeps no rows. {fix}"
    )


# --------------------------------------------------------------------------- the design


@dataclass(frozen=True)
class StatisticsFactor:
    """A grouping factor known by its levels (no per-row codes)."""

    columns: tuple[str, ...]
    levels: pd.Index
    #: group levels as tuples of values (GroupingFactor's); None: ``levels`` are the keys
    keys: pd.MultiIndex | None = None

    name = GroupingFactor.name
    labels_of = GroupingFactor.labels_of
    codes_for = GroupingFactor.codes_for

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def codes(self) -> NoReturn:
        rows_needed("The grouping codes of the rows")


@dataclass(frozen=True)
class StatisticsBlock:
    """A random term known by its columns, their scales and (optionally) its encoding."""

    term: RandomTerm
    columns: list[str]
    factor: StatisticsFactor
    spec: Any
    scales: np.ndarray

    @property
    def n_columns(self) -> int:
        return len(self.columns)

    @property
    def matrix(self) -> NoReturn:
        rows_needed(f"The model matrix of the random term ({self.term.expr} | {self.term.group})")


@dataclass(frozen=True)
class StatisticsFixed:
    """The fixed-effect columns, known by their names and (optionally) their encoding."""

    columns: list[str]
    dropped: list[str]
    spec: Any

    @property
    def rank(self) -> int:
        return len(self.columns)

    @property
    def matrix(self) -> NoReturn:
        rows_needed("The fixed-effects model matrix X")

    def for_new_data(self, data: pd.DataFrame) -> np.ndarray:
        """``X`` for new rows, encoded as in fitting (needs the encoding)."""
        if self.spec is None:
            raise MixnbError(
                "This fit was made by mixnb.from_crossproducts without an encoding, so it "
                "cannot encode new rows: form X beta yourself from fit.fixed_effects."
            )
        return FixedDesign.for_new_data(self, data)


@dataclass(frozen=True)
class StatisticsDesign:
    """What a :class:`~mixnb.design.Design` tells about a model, without its rows."""

    formula: ParsedFormula
    response_name: str
    fixed: StatisticsFixed
    random: list[StatisticsBlock]
    nobs: int
    n_dropped: int
    dropped_by_column: dict[str, int] = field(default_factory=dict)
    predictor_columns: list[str] = field(default_factory=list)
    context: dict = field(default_factory=dict, repr=False)

    @property
    def y(self) -> NoReturn:
        rows_needed("The response vector y")

    @property
    def frame(self) -> NoReturn:
        rows_needed("The data frame of the rows used")

    @property
    def row_index(self) -> NoReturn:
        rows_needed("The index of the rows used")


def statistics_design(
    cp: GroupCrossproducts,
    kept: np.ndarray,
    formula: str | None,
    encoding: DesignEncoding | None,
) -> StatisticsDesign:
    """The design of a fit from ``cp`` (``kept``: the estimable fixed-effect columns)."""
    names = cp.fixed_columns
    columns = [n for n, k in zip(names, kept) if k]
    dropped = [n for n, k in zip(names, kept) if not k]
    if encoding is not None:
        parsed, group_columns = encoding.formula, encoding.group_columns
        predictors, context = list(encoding.predictor_columns), dict(encoding.context)
        fixed_spec, random_specs = encoding.fixed.spec, [b.spec for b in encoding.random]
    else:
        parsed = parse_formula(formula) if formula else None
        group_columns = tuple(cp.factor_name.split(":"))
        predictors, context, fixed_spec = [], {}, None
        random_specs = [None] * len(cp.random_columns)
    factor = StatisticsFactor(group_columns, cp.levels)
    if parsed is not None and len(parsed.random) == len(cp.random_columns):
        terms = list(parsed.random)
    else:
        terms = [RandomTerm(" + ".join(c), group_columns) for c in cp.random_columns]
    layout = cp.layout()
    blocks = [
        StatisticsBlock(term, list(cols), factor, spec, scales)
        for term, cols, spec, scales in zip(terms, cp.random_columns, random_specs, layout.scales)
    ]
    return StatisticsDesign(
        formula=parsed,
        response_name=cp.response_name,
        fixed=StatisticsFixed(columns, dropped, fixed_spec),
        random=blocks,
        nobs=cp.nobs,
        n_dropped=cp.n_dropped,
        dropped_by_column=dict(cp.dropped_by_column),
        predictor_columns=predictors,
        context=context,
    )


# --------------------------------------------------------------------------- tests


class _StatisticsTests(FixedEffectsTests):
    """Fixed-effect tests whose Satterthwaite df differentiate the cross-products' deviance."""

    def __init__(self, design, estimates, ddf: str, deviance) -> None:
        super().__init__(design, estimates, ddf)
        self._deviance = deviance

    @property
    def sensitivity(self) -> CovarianceSensitivity:
        if self._sens is None:
            self._sens = CovarianceSensitivity(self.design, self.estimates, self._deviance)
        return self._sens


ROWS_DDF = ("kenward-roger", "between-within", "containment")


# --------------------------------------------------------------------------- the result


class CrossproductsResult(LmmResult):
    """A linear mixed model fitted from per-group cross-products (see the module docstring).

    Attributes
    ----------
    crossproducts : GroupCrossproducts
        The sufficient statistics the fit was made from.
    n_partitions : int or None
        How many chunks (Dask partitions) they were summed over.
    """

    #: the display leaves out what needs the rows (the scaled residuals' quantiles)
    keeps_rows = False

    def __init__(
        self,
        crossproducts: GroupCrossproducts,
        fit: CrossproductsFit,
        formula: str | None,
        encoding: DesignEncoding | None = None,
        n_partitions: int | None = None,
    ) -> None:
        design = statistics_design(crossproducts, fit.kept, formula, encoding)
        super().__init__(design, fit.estimates, formula or _formula_of(crossproducts))
        self.crossproducts = crossproducts
        self.encoding = encoding
        self.deviance_function = fit.deviance
        self.n_partitions = n_partitions

    @property
    def title(self) -> str:
        return f"{super().title}, from per-group cross-products"

    @property
    def response_sum_of_squares(self) -> float:
        """``y'y``: with the counts, what identifies the data in :func:`mixnb.compare`."""
        return float(self.crossproducts.xytxy[-1, -1])

    def refit_ml(self) -> CrossproductsResult:
        """The same model fitted by maximum likelihood, from the same cross-products."""
        fit = fit_crossproducts(self.crossproducts, reml=False)
        return CrossproductsResult(
            self.crossproducts, fit, self.formula, self.encoding, self.n_partitions
        )

    @property
    def notes(self) -> list[str]:
        chunks = f" over {self.n_partitions} partitions" if self.n_partitions else ""
        return super().notes + [
            f"Fitted from per-group cross-products summed{chunks} ({self.nobs} rows, "
            f"{self.crossproducts.n_groups} groups); the rows were not kept, so residuals "
            "are not shown."
        ]

    def _tests(self, ddf: str):
        key = check_method(ddf)
        if key in ROWS_DDF:
            rows_needed(
                f"The {key} df",
                "From cross-products the df methods are 'satterthwaite' (the default), "
                "'residual' and 'normal'.",
            )
        cache = self.__dict__.setdefault("_test_cache", {})
        if key not in cache:
            cache[key] = _StatisticsTests(self.design, self.estimates, key, self.deviance_function)
        return cache[key]

    # what needs the rows
    def fitted(self, include_random: bool = True) -> NoReturn:
        rows_needed("fit.fitted()")

    def residuals(self, include_random: bool = True) -> NoReturn:
        rows_needed("fit.residuals()")

    def scaled_residuals(self) -> NoReturn:
        rows_needed("fit.scaled_residuals()")

    @property
    def residual_quantiles(self) -> NoReturn:
        rows_needed("The quantiles of the scaled residuals")

    def anova(self, ddf: str = "satterthwaite") -> NoReturn:
        rows_needed(
            "fit.anova() (type III tests recode the columns with sum-to-zero contrasts)",
            "fit.wald_test(term) tests all the columns of a term from the statistics.",
        )

    def group_alone_estimates(self, factor: str | None = None) -> NoReturn:
        rows_needed("fit.group_alone_estimates()")

    def homogeneity_test(self, factor: str | None = None) -> NoReturn:
        rows_needed("fit.homogeneity_test()")

    def confint(self, method: str = "profile", level: float = 0.95, **options) -> NoReturn:
        rows_needed(
            f"fit.confint(method={method!r})",
            "Wald intervals of the fixed effects follow from fit.fixed_effects (estimate +- "
            "z * std_error); for profile or bootstrap intervals fit a sample in memory.",
        )

    def profile(self, zeta_max: float | None = None) -> NoReturn:
        rows_needed("fit.profile()", "Fit a pandas sample in memory with mixnb.lmm to profile.")

    def model_matrices(self, rows, max_columns: int = 8) -> NoReturn:
        rows_needed("fit.model_matrices()")

    def predict(self, newdata: pd.DataFrame, include_random: bool = True) -> pd.Series:
        """Predictions for new rows (e.g. one partition: ``ddf.map_partitions(fit.predict,
        meta=("predicted", float))``), as :meth:`LmmResult.predict`."""
        if self.encoding is not None:
            newdata = self.encoding.with_levels(newdata)
        return super().predict(newdata, include_random)

    def marginal_covariance(self, rows) -> NoReturn:
        rows_needed("fit.marginal_covariance()")

    def matrices(self, max_rows: int = 8) -> NoReturn:
        rows_needed("fit.matrices()")


def _formula_of(cp: GroupCrossproducts) -> str:
    """A formula naming the columns, for a fit made without one."""
    fixed = " + ".join(c for c in cp.fixed_columns if c != "Intercept") or "1"
    if "Intercept" not in cp.fixed_columns:
        fixed = "0 + " + fixed
    terms = " + ".join(f"({_term_text(cols)} | {cp.factor_name})" for cols in cp.random_columns)
    return f"{cp.response_name} ~ {fixed} + {terms}"


def _term_text(columns: list[str]) -> str:
    names = ["1" if c == "Intercept" else c for c in columns]
    return " + ".join(names) if "1" in names else "0 + " + " + ".join(names)
