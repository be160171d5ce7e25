"""lme4's "sdcor" scale of a mixed model's parameters: SDs, correlations, residual SD, fixed.

For every random term its standard deviations and correlations (in theta's order: for
``(Days | Subject)`` the SD of the intercept, the correlation, the SD of the slope), then the
residual SD, then the fixed effects; with the map to and from lme4's ``theta``
(``Cv_to_Sv`` and ``Sv_to_Cv``). Profiles, intervals and the bootstrap use this scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from mixnb.design import Design
from mixnb.estimation import parameter_names as names_
from mixnb.estimation.cholesky import psd_cholesky
from mixnb.estimation.covariance import CovarianceLayout, distinct_labels
from mixnb.estimation.lmm import LmmEstimates


@dataclass(frozen=True)
class ParameterScale:
    """lme4's "sdcor" parameters of a model: names, kinds, bounds and the map to theta.

    ``kinds`` is ``"sd"``, ``"cor"``, ``"sigma"`` or ``"fixed"``; ``r_names`` are lme4's
    ``.sig01``, ..., ``.sigma`` and the R spelling of the fixed effects is left to callers.
    A model without a dispersion parameter (``dispersion=False``: a binomial or Poisson
    GLMM) has no ``Residual: sd``; its random effects' SDs are then on the scale of the
    linear predictor (``sigma = 1``).

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    >>> ParameterScale.of(fit.design).names
    ['Batch: sd(Intercept)', 'Residual: sd', 'Intercept']
    >>> ParameterScale.of(fit.design, dispersion=False).names
    ['Batch: sd(Intercept)', 'Intercept']
    """

    layout: CovarianceLayout
    names: list[str]
    r_names: list[str]
    kinds: list[str]
    n_variance: int
    dispersion: bool = True

    @classmethod
    def of(cls, design: Design, dispersion: bool = True) -> ParameterScale:
        layout = CovarianceLayout.of([b.matrix for b in design.random])
        names, kinds = [], []
        for block in design.random:
            rows, cols = CovarianceLayout.tril_indices(block.n_columns)
            for i, j in zip(rows, cols):
                group = block.factor.name
                if i == j:
                    names.append(names_.sd(group, block.columns[i]))
                    kinds.append("sd")
                else:
                    names.append(names_.cor(group, block.columns[j], block.columns[i]))
                    kinds.append("cor")
        r_names = [f".sig{k + 1:02d}" for k in range(len(names))]
        if dispersion:
            names.append(names_.residual_sd())
            kinds.append("sigma")
            r_names.append(".sigma")
        n_variance = len(names)
        names = distinct_labels(names)
        names += list(design.fixed.columns)
        r_names += list(design.fixed.columns)
        kinds += ["fixed"] * len(design.fixed.columns)
        return cls(layout, names, r_names, kinds, n_variance, dispersion)

    @property
    def lower(self) -> np.ndarray:
        """Lower bounds: 0 for SDs, -1 for correlations, none for fixed effects."""
        table = {"sd": 0.0, "sigma": 0.0, "cor": -1.0, "fixed": -np.inf}
        return np.array([table[k] for k in self.kinds])

    @property
    def upper(self) -> np.ndarray:
        """Upper bounds: 1 for correlations, none otherwise."""
        return np.array([1.0 if k == "cor" else np.inf for k in self.kinds])

    def variance_parameters(self, theta: np.ndarray, sigma: float = 1.0) -> np.ndarray:
        """SDs and correlations of every term, then the residual SD if the model has one
        (lme4's ``Cv_to_Sv``)."""
        out = []
        for lam in self.layout.factors(np.asarray(theta, dtype=float)):
            cov = sigma**2 * (lam @ lam.T)
            sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
            rows, cols = _tril(len(sd))
            for i, j in zip(rows, cols):
                if i == j:
                    out.append(sd[i])
                else:
                    denom = sd[i] * sd[j]
                    out.append(cov[i, j] / denom if denom > 0 else 0.0)
        if self.dispersion:
            out.append(sigma)
        return np.array(out, dtype=float)

    def typical(self, values: np.ndarray, floor: float = 0.05) -> np.ndarray:
        """``|values|`` of the variance parameters, floored at ``floor`` in the units of the
        scaled random-effect columns (an SD of column ``j`` at ``floor / d_j``; see
        :mod:`mixnb.estimation.covariance`): the size of a difference step."""
        floors = []
        for q, d in zip(self.layout.sizes, self._column_scales()):
            for i, j in zip(*_tril(q)):
                floors.append(floor / d[i] if i == j else floor)
        if self.dispersion:
            floors.append(floor)
        return np.maximum(np.abs(np.asarray(values, dtype=float)), np.array(floors))

    def theta_of(self, values: np.ndarray) -> tuple[np.ndarray, float] | None:
        """Inverse of :meth:`variance_parameters` (lme4's ``Sv_to_Cv``); ``None`` if invalid."""
        values = np.asarray(values, dtype=float)
        sigma = float(values[self.n_variance - 1]) if self.dispersion else 1.0
        if not sigma > 0:
            return None
        theta = np.empty(self.layout.n_theta)
        # the factor is taken in the scaled columns, where its tolerances are meant
        for q, sl, d in zip(self.layout.sizes, self.layout.slices(), self._column_scales()):
            entries = values[sl]
            rows, cols = _tril(q)
            sd = np.zeros(q)
            corr = np.eye(q)
            for (i, j), v in zip(zip(rows, cols), entries):
                if i == j:
                    sd[i] = v
                else:
                    corr[i, j] = corr[j, i] = v
            low = psd_cholesky(np.outer(sd * d, sd * d) * corr / sigma**2)
            if low is None:
                return None
            theta[sl] = low[rows, cols] / d[rows]
        return theta, sigma

    def _column_scales(self) -> tuple[np.ndarray, ...]:
        return self.layout.scales or tuple(np.ones(q) for q in self.layout.sizes)

    def estimates(self, estimates: LmmEstimates) -> np.ndarray:
        """All parameters of a fit on this scale: variance parameters, then fixed effects."""
        sigma = math.sqrt(estimates.sigma2)
        return np.concatenate([self.variance_parameters(estimates.theta, sigma), estimates.beta])


@cache
def _tril(q: int) -> tuple[np.ndarray, np.ndarray]:
    return CovarianceLayout.tril_indices(q)
