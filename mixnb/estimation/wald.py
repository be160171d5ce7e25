"""Wald t and F tests of fixed effects, with a choice of denominator df.

``H0: L beta = 0``. One row: ``t = l'b / SE`` on the chosen df. Several rows:
``F = (Lb)' (L C L')^-1 (Lb) / q`` on ``(q, ddf)`` df, and its chi-square form
``q F`` on ``q`` df. Kenward-Roger uses its adjusted covariance for ``C`` and, as pbkrtest's
``KRmodcomp`` (and lmerTest's ``contest`` and ``anova``), multiplies F by its scale factor
``lambda`` (``F.scaling``; exactly 1 for one row) so that ``lambda F`` follows
``F(q, ddf)`` more closely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from formulaic import model_matrix
from scipy import stats

from mixnb.design import Design
from mixnb.errors import MixnbError
from mixnb.estimation import ddf as ddf_methods
from mixnb.estimation import information
from mixnb.estimation.lmm import LmmEstimates
from mixnb.estimation.problem_codes import problem

if TYPE_CHECKING:  # pragma: no cover
    from mixnb.estimation.sdcor import ParameterScale


@dataclass(frozen=True)
class FTest:
    """One (multi-df) Wald test.

    ``f`` is the statistic the p-value refers to: ``f_scaling * f_unscaled``, where
    ``f_unscaled = chisq / numdf`` and ``f_scaling`` is Kenward-Roger's lambda (1 for every
    other df method).
    """

    estimate: np.ndarray
    f: float
    numdf: int
    dendf: float
    p: float
    chisq: float
    chisq_p: float
    f_unscaled: float
    f_scaling: float = 1.0


class FixedEffectsTests:
    """Tests of fixed-effect contrasts for one fit and one df method."""

    def __init__(self, design: Design, estimates: LmmEstimates, ddf: str) -> None:
        self.design = design
        self.estimates = estimates
        self.ddf = ddf_methods.check_method(ddf)
        self._sens: ddf_methods.CovarianceSensitivity | None = None
        self._kr: ddf_methods.KenwardRoger | None = None
        self._design_df: np.ndarray | None = None

    @property
    def vcov(self) -> np.ndarray:
        if self.ddf == "kenward-roger":
            return self.kenward_roger.phi_adjusted
        return self.estimates.vcov_beta

    @property
    def sensitivity(self) -> ddf_methods.CovarianceSensitivity:
        if self._sens is None:
            self._sens = ddf_methods.CovarianceSensitivity(self.design, self.estimates)
        return self._sens

    @property
    def kenward_roger(self) -> ddf_methods.KenwardRoger:
        if self._kr is None:
            self._kr = ddf_methods.kenward_roger(self.design, self.estimates)
        return self._kr

    def _column_df(self) -> np.ndarray:
        if self._design_df is None:
            if self.ddf == "between-within":
                self._design_df = ddf_methods.between_within_df(self.design)
            elif self.ddf == "containment":
                self._design_df = ddf_methods.containment_df(self.design)
            else:
                self._design_df = np.full(
                    len(self.design.fixed.columns), ddf_methods.residual_df(self.design)
                )
        return self._design_df

    def df(self, contrasts: np.ndarray) -> float:
        """Denominator df for ``L beta`` (one or several rows)."""
        contrasts = np.atleast_2d(contrasts)
        if self.ddf == "normal":
            return np.inf
        if self.ddf == "satterthwaite":
            if contrasts.shape[0] == 1:
                return self.sensitivity.satterthwaite_df(contrasts[0])
            return ddf_methods.satterthwaite_f_df(self.sensitivity, contrasts)
        if self.ddf == "kenward-roger":
            return self.kenward_roger.df(contrasts)
        # design-based methods: the smallest df of the columns the contrast involves
        involved = np.any(np.abs(contrasts) > 1e-12, axis=0)
        return float(self._column_df()[involved].min())

    def problems(self) -> list[str]:
        """Problem codes warning about the df of this method on this fit (empty when none;
        :mod:`mixnb.results.problems` has their words).

        Satterthwaite's df come from the curvature of the likelihood in the covariance
        parameters. Where that curvature says nothing (a parameter on its boundary, a
        flat direction), the parameter counts as known and the df grow towards the
        residual df: a code says so instead of leaving a too-large df unexplained.
        """
        if self.ddf != "satterthwaite":
            return []
        est, design = self.estimates, self.design
        out = []
        factor = [block.factor.name for block in design.random]
        groups = min(block.factor.n_levels for block in design.random)
        if est.singular_terms:
            names = ", ".join(dict.fromkeys(factor[k] for k in est.singular_terms))
            out.append(
                problem("ddf_boundary", names, f"{ddf_methods.residual_df(design):g}", groups)
            )
        eigenvalues = self.sensitivity.eigenvalues
        if eigenvalues is not None and np.all(np.isfinite(eigenvalues)):
            flat = int(np.sum(~(eigenvalues > information.EIGENVALUE_TOLERANCE)))
            if flat and not est.singular_terms:
                out.append(problem("ddf_flat", flat, f"{eigenvalues.min():.2g}"))
        elif eigenvalues is not None:
            out.append("ddf_curvature_not_finite")
        for k in est.nearly_singular_terms:
            cov = est.covariances[k]
            sd = np.sqrt(np.diag(cov))
            corr = cov / np.outer(sd, sd)
            r = corr[np.unravel_index(np.argmax(np.abs(np.tril(corr, -1))), corr.shape)]
            out.append(
                problem(
                    "ddf_near_boundary", factor[k], f"{r:.4f}", design.random[k].factor.n_levels
                )
            )
        return out

    def coefficient_table(self) -> pd.DataFrame:
        """estimate, std_error, df, t, p for each fixed effect."""
        beta = self.estimates.beta
        se = np.sqrt(np.diag(self.vcov))
        eye = np.eye(len(beta))
        df = np.array([self.df(eye[i]) for i in range(len(beta))])
        t = beta / se
        p = 2 * stats.t.sf(np.abs(t), df)
        table = pd.DataFrame(
            {"estimate": beta, "std_error": se, "df": df, "t": t, "p": p},
            index=pd.Index(self.design.fixed.columns, name="term"),
        )
        table.attrs["problems"] = self.problems()
        return table

    def f_test(self, contrasts: np.ndarray) -> FTest:
        contrasts = np.atleast_2d(np.asarray(contrasts, dtype=float))
        dendf = self.df(contrasts)
        scaling = 1.0
        if self.ddf == "kenward-roger" and contrasts.shape[0] > 1:
            scaling = self.kenward_roger.f_scaling(contrasts)
        return wald_f_test(contrasts, self.estimates.beta, self.vcov, dendf, scaling)


def wald_f_test(
    contrasts: np.ndarray,
    beta: np.ndarray,
    vcov: np.ndarray,
    dendf: float,
    scaling: float = 1.0,
) -> FTest:
    """``F = scaling (Lb)' (L C L')^-1 (Lb) / q`` on ``(q, dendf)`` df (chi-square if
    ``dendf`` is inf; no p-value if it is NaN). ``scaling`` is Kenward-Roger's lambda."""
    contrasts = np.atleast_2d(np.asarray(contrasts, dtype=float))
    estimate = contrasts @ beta
    vcov_l = contrasts @ vcov @ contrasts.T
    q = int(np.linalg.matrix_rank(vcov_l))
    if q < contrasts.shape[0]:
        raise MixnbError(
            "The rows of the contrast matrix are linearly dependent: remove the redundant "
            f"rows (rank {q} of {contrasts.shape[0]})."
        )
    chisq = float(estimate @ np.linalg.solve(vcov_l, estimate))
    f = scaling * chisq / q
    if np.isnan(dendf):
        p = np.nan
    elif np.isfinite(dendf):
        p = float(stats.f.sf(f, q, dendf))
    else:
        p = float(stats.chi2.sf(chisq, q))
    return FTest(
        estimate=estimate,
        f=f,
        numdf=q,
        dendf=dendf,
        p=p,
        chisq=chisq,
        chisq_p=float(stats.chi2.sf(chisq, q)),
        f_unscaled=chisq / q,
        f_scaling=scaling,
    )


def contrast_matrix(design: Design, spec) -> tuple[np.ndarray, list[str]]:
    """A contrast matrix from term names, column names, or a matrix/DataFrame.

    Term names (``"recipe"``, ``"recipe:temp"``) select all columns of that model term;
    column names (``"recipe[T.B]"``) select one column each.
    """
    columns = design.fixed.columns
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, pd.DataFrame):
        frame = spec.reindex(columns=columns, fill_value=0.0)
        return frame.to_numpy(dtype=float), [str(i) for i in spec.index]
    if isinstance(spec, np.ndarray) or (
        isinstance(spec, list | tuple) and spec and not isinstance(spec[0], str)
    ):
        matrix = np.atleast_2d(np.asarray(spec, dtype=float))
        if matrix.shape[1] != len(columns):
            raise MixnbError(
                f"The contrast matrix has {matrix.shape[1]} columns but the model has "
                f"{len(columns)} fixed effects ({', '.join(columns)})."
            )
        return matrix, [f"L{i + 1}" for i in range(matrix.shape[0])]
    terms = term_columns(design)
    rows, labels = [], []
    for name in spec:
        if name in terms:
            selected = terms[name]
        elif name in columns:
            selected = [columns.index(name)]
        else:
            raise MixnbError(
                f"{name!r} is neither a model term ({', '.join(terms)}) nor a fixed-effect "
                f"column ({', '.join(columns)})."
            )
        for j in selected:
            row = np.zeros(len(columns))
            row[j] = 1.0
            rows.append(row)
            labels.append(columns[j])
    return np.array(rows), labels


def term_columns(design: Design) -> dict[str, list[int]]:
    """Model term name to the indices of its columns among the kept fixed effects."""
    spec = design.fixed.spec
    all_names = list(spec.column_names)
    kept = {name: i for i, name in enumerate(design.fixed.columns)}
    out = {}
    for term, indices in spec.term_indices.items():
        cols = [kept[all_names[i]] for i in indices if all_names[i] in kept]
        if cols:
            out[str(term)] = cols
    return out


def type3_contrasts(design: Design) -> dict[str, np.ndarray]:
    """SAS / lmerTest type III hypotheses, one contrast matrix per model term.

    The model is re-expressed with sum-to-zero coding for every categorical factor (the
    same column space, so ``X = X_sum K``); the type III hypothesis of a term is that its
    sum-coded coefficients are zero, i.e. ``K^-1`` restricted to the term's rows applied to
    the fitted (treatment-coded) coefficients.
    """
    if design.fixed.dropped:
        raise MixnbError(
            "Type III tests need a full-rank fixed-effects design, but columns were dropped "
            f"as aliased ({', '.join(design.fixed.dropped)}). Remove the redundant terms."
        )
    x = design.fixed.matrix
    sum_spec, x_sum = _sum_coded(design)
    # x = x_sum @ transform, so beta_sum = transform @ beta
    transform, *_ = np.linalg.lstsq(x_sum, x, rcond=None)
    out = {}
    names = list(term_columns(design))
    for name, (_, indices) in zip(names, sum_spec.term_indices.items()):
        if name in ("1", "Intercept"):
            continue
        out[name] = transform[indices]
    return out


def _sum_coded(design: Design):
    """The fixed-effects design with every categorical factor sum-to-zero coded."""
    spec = design.fixed.spec
    formula = str(design.formula.fixed)
    for factor in spec.factor_contrasts:
        expr = str(factor)
        call = re.fullmatch(r"C\(\s*([^,()]+?)\s*(,.*)?\)", expr)
        variable = call.group(1) if call else expr
        replacement = f"C({variable}, contr.sum)"
        if call:
            formula = formula.replace(expr, replacement)
        else:
            formula = re.sub(rf"(?<![\w.`]){re.escape(variable)}(?![\w.`(])", replacement, formula)
    matrix = model_matrix(formula, design.frame, context=dict(design.context))
    return matrix.model_spec, np.asarray(matrix, dtype=float)


def wald_intervals(
    scale: ParameterScale, estimates: LmmEstimates, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """lme4's ``confint(method = "Wald")``: fixed effects only, NaN for variance parameters.

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    >>> from mixnb.estimation.sdcor import ParameterScale
    >>> lower, upper = wald_intervals(ParameterScale.of(fit.design), fit.estimates)
    >>> round(float(lower[-1]), 2), round(float(upper[-1]), 2)
    (1489.51, 1565.49)
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level!r}.")
    z = stats.norm.ppf(0.5 + level / 2.0)
    se = np.sqrt(np.diag(estimates.vcov_beta))
    nan = np.full(scale.n_variance, np.nan)
    return (
        np.concatenate([nan, estimates.beta - z * se]),
        np.concatenate([nan, estimates.beta + z * se]),
    )
