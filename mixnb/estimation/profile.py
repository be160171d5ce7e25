"""Profile-likelihood confidence intervals, as lme4's ``profile`` and ``confint``.

Parameters are put on lme4's "sdcor" scale: for every random term its standard deviations
and correlations (in theta's order: for ``(Days | Subject)`` the SD of the intercept, the
correlation, the SD of the slope), then the residual SD, then the fixed effects.

For one parameter held at a value ``x`` the ML deviance is minimised over all the others;
the profile is the signed square root of the increase over the minimum,

    zeta(x) = sign(x - x_hat) * sqrt(D(x) - D_hat),

and the ``level`` interval is where ``zeta`` equals the normal quantiles (Bates et al.,
JSS 2015, section 5.1; lme4's ``profile.merMod``). Variance parameters are profiled
through :meth:`ProfiledDeviance.at_residual_variance` (the fixed effects are profiled out
by penalised least squares); a fixed effect is profiled by moving its column into an
offset and minimising the deviance of the smaller model over theta.

Like lme4 (whose ``devfun2`` calls ``refitML``), a REML fit is profiled on the ML deviance
of the ML refit: REML and ML fits of one model get the same profile intervals.

Where lme4 interpolates a spline through the profile points, the limits here are found by
root-finding (regula falsi) on the profile itself; the points walked on the way are kept
as the profile trace. Each point needs a small minimisation, done by a projected
quasi-Newton method warm-started from the previous point (:func:`minimize_bounded`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
from scipy import stats

from mixnb.design import Design
from mixnb.estimation import numdiff
from mixnb.estimation.covariance import CovarianceLayout, distinct_labels
from mixnb.estimation.deviance import ProfiledDeviance
from mixnb.estimation.lmm import LmmEstimates, deviance_function
from mixnb.estimation.optimize import minimize_deviance
from mixnb.estimation.pls import Absorbed, FixedCrossproducts, RandomEffectsSystem

#: Most profile points walked on one side of one parameter.
MAX_POINTS = 40
#: Target increase of |zeta| between consecutive profile points (lme4: cutoff / 8).
ZETA_STEP = 0.5
#: A step is at most this many times the previous one (lme4's ``maxmult``).
MAX_MULTIPLIER = 10.0


# --------------------------------------------------------------------------- the sdcor scale


@dataclass(frozen=True)
class ParameterScale:
    """lme4's "sdcor" parameters of a model: names, kinds, bounds and the map to theta.

    ``kinds`` is ``"sd"``, ``"cor"``, ``"sigma"`` or ``"fixed"``; ``r_names`` are lme4's
    ``.sig01``, ..., ``.sigma`` and the R spelling of the fixed effects is left to callers.
    """

    layout: CovarianceLayout
    names: list[str]
    r_names: list[str]
    kinds: list[str]
    n_variance: int

    @classmethod
    def of(cls, design: Design) -> ParameterScale:
        layout = CovarianceLayout.of([b.matrix for b in design.random])
        names, kinds = [], []
        for block in design.random:
            rows, cols = CovarianceLayout.tril_indices(block.n_columns)
            for i, j in zip(rows, cols):
                group = block.factor.name
                if i == j:
                    names.append(f"{group}: sd({block.columns[i]})")
                    kinds.append("sd")
                else:
                    names.append(f"{group}: cor({block.columns[j]}, {block.columns[i]})")
                    kinds.append("cor")
        names.append("Residual: sd")
        kinds.append("sigma")
        n_variance = len(names)
        r_names = [f".sig{k + 1:02d}" for k in range(n_variance - 1)] + [".sigma"]
        names = distinct_labels(names)
        names += list(design.fixed.columns)
        r_names += list(design.fixed.columns)
        kinds += ["fixed"] * len(design.fixed.columns)
        return cls(layout, names, r_names, kinds, n_variance)

    @property
    def lower(self) -> np.ndarray:
        """Lower bounds: 0 for SDs, -1 for correlations, none for fixed effects."""
        table = {"sd": 0.0, "sigma": 0.0, "cor": -1.0, "fixed": -np.inf}
        return np.array([table[k] for k in self.kinds])

    @property
    def upper(self) -> np.ndarray:
        """Upper bounds: 1 for correlations, none otherwise."""
        return np.array([1.0 if k == "cor" else np.inf for k in self.kinds])

    def variance_parameters(self, theta: np.ndarray, sigma: float) -> np.ndarray:
        """SDs and correlations of every term, then the residual SD (lme4's ``Cv_to_Sv``)."""
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
        floors.append(floor)
        return np.maximum(np.abs(np.asarray(values, dtype=float)), np.array(floors))

    def theta_of(self, values: np.ndarray) -> tuple[np.ndarray, float] | None:
        """Inverse of :meth:`variance_parameters` (lme4's ``Sv_to_Cv``); ``None`` if invalid."""
        values = np.asarray(values, dtype=float)
        sigma = float(values[self.n_variance - 1])
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
            low = _psd_cholesky(np.outer(sd * d, sd * d) * corr / sigma**2)
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


def _psd_cholesky(a: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factor of a positive semi-definite matrix (zero pivots allowed)."""
    q = a.shape[0]
    scale = max(float(np.max(np.abs(np.diag(a)))), 1e-300)
    low = np.zeros_like(a)
    for j in range(q):
        pivot = a[j, j] - low[j, :j] @ low[j, :j]
        rest = a[j + 1 :, j] - low[j + 1 :, :j] @ low[j, :j]
        if pivot < -1e-10 * scale:
            return None
        if pivot <= 1e-13 * scale:
            if np.any(np.abs(rest) > 1e-7 * scale):
                return None
            continue
        low[j, j] = math.sqrt(pivot)
        low[j + 1 :, j] = rest / low[j, j]
    return low


# --------------------------------------------------------------------------- inner minimiser


def minimize_bounded(
    f: Callable[[np.ndarray], float],
    start: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    scale: np.ndarray,
    hessian: np.ndarray | None = None,
    tolerance: float = 1e-7,
    max_iterations: int = 100,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Minimise a smooth ``f`` within box bounds by projected quasi-Newton steps.

    A light minimiser for the many small, warm-started problems of a profile: BFGS
    updates of a Hessian (``hessian`` if given, else ``diag(1 / scale**2)``), central
    differences with steps ``1e-4 * scale`` (one-sided at a bound), a backtracking line
    search, and a stop when the Newton decrement ``g' H^-1 g`` falls below
    ``tolerance``. A coordinate that ends on a lower bound of 0 (a standard deviation or
    a diagonal of theta, where the deviance is even and 0 can be a saddle) is probed one
    ``scale`` inside, and the search restarts from there if that is lower. No convergence
    diagnostics. Returns the minimiser, the minimum and the final Hessian approximation
    (a good start for the next, nearby problem).

    Examples
    --------
    >>> import numpy as np
    >>> x, value, _ = minimize_bounded(
    ...     lambda x: float((x[0] - 2) ** 2 + (x[1] + 1) ** 2),
    ...     np.zeros(2), np.array([0.0, 0.0]), np.array([np.inf, np.inf]), np.ones(2),
    ... )
    >>> np.round(x, 3).tolist(), round(value, 6)
    ([2.0, 0.0], 1.0)
    """
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    scale = np.asarray(scale, dtype=float)
    h = _positive_definite(hessian) if hessian is not None else None
    if h is None:
        h = np.diag(1.0 / scale**2)
    x, fx, h = _quasi_newton(f, start, lower, upper, scale, h, tolerance, max_iterations)
    for _ in range(len(x)):
        on_zero = np.flatnonzero((lower == 0) & (x <= 0))
        if not on_zero.size or not np.isfinite(fx):
            break
        probe = x.copy()
        probe[on_zero] = scale[on_zero]
        if not f(probe) < fx:
            break
        x, fx, h = _quasi_newton(f, probe, lower, upper, scale, h, tolerance, max_iterations)
    return x, fx, h


def _quasi_newton(f, start, lower, upper, scale, h, tolerance, max_iterations):
    x = np.clip(np.asarray(start, dtype=float), lower, upper)
    k = len(x)
    fx = f(x)
    if k == 0 or not np.isfinite(fx):
        return x, fx, h
    steps = 1e-4 * scale

    def gradient(x: np.ndarray, fx: float) -> np.ndarray:
        g = np.empty(k)
        for i in range(k):
            up, down = x.copy(), x.copy()
            if x[i] + steps[i] <= upper[i] and x[i] - steps[i] >= lower[i]:
                up[i] += steps[i]
                down[i] -= steps[i]
                g[i] = (f(up) - f(down)) / (2.0 * steps[i])
            elif x[i] + steps[i] <= upper[i]:
                up[i] += steps[i]
                g[i] = (f(up) - fx) / steps[i]
            else:
                down[i] -= steps[i]
                g[i] = (fx - f(down)) / steps[i]
        return g

    g = gradient(x, fx)
    for _ in range(max_iterations):
        pinned = ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))
        free = ~pinned & np.isfinite(g)
        if not free.any():
            break
        try:
            d_free = -np.linalg.solve(h[np.ix_(free, free)], g[free])
        except np.linalg.LinAlgError:
            d_free = -g[free] * scale[free] ** 2
        decrement = -float(g[free] @ d_free)
        if not decrement > tolerance:
            break
        d = np.zeros(k)
        d[free] = d_free
        t = 1.0
        while True:
            trial = np.clip(x + t * d, lower, upper)
            f_trial = f(trial)
            if np.isfinite(f_trial) and f_trial <= fx + 1e-4 * float(g @ (trial - x)):
                break
            t *= 0.5
            if t < 1e-8:
                return x, fx, h
        g_trial = gradient(trial, f_trial)
        s_vec, y_vec = trial - x, g_trial - g
        sy = float(s_vec @ y_vec)
        if sy > 1e-12 * float(np.linalg.norm(s_vec) * np.linalg.norm(y_vec)):
            hs = h @ s_vec
            h = h - np.outer(hs, hs) / float(s_vec @ hs) + np.outer(y_vec, y_vec) / sy
        improvement = fx - f_trial
        x, fx, g = trial, f_trial, g_trial
        if improvement < 0.1 * tolerance:
            break
    return x, fx, h


def _positive_definite(h: np.ndarray) -> np.ndarray | None:
    """``h`` if it is a finite positive-definite matrix, else ``None``."""
    h = np.asarray(h, dtype=float)
    if not np.all(np.isfinite(h)):
        return None
    try:
        np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        return None
    return h


# --------------------------------------------------------------------------- fixed effect as offset


class _OffsetSystem(RandomEffectsSystem):
    """The random-effects system of ``[X y]`` seen through a column map ``[X y] T``.

    With ``T`` dropping column ``j`` of ``X`` and replacing ``y`` by ``y - b_j x_j`` this
    is the model with ``x_j b_j`` as an offset, without forming any cross-product again.
    """

    def __init__(self, base: RandomEffectsSystem, transform: np.ndarray) -> None:
        self.base = base
        self.layout = base.layout
        self.transform = transform

    def absorb(self, theta: np.ndarray) -> Absorbed:
        absorbed = self.base.absorb(theta)
        t = self.transform
        return Absorbed(logdet=absorbed.logdet, s=t.T @ absorbed.s @ t)


def _offset_deviance(
    system: RandomEffectsSystem, crossproducts: np.ndarray, n: int, j: int, value: float
) -> ProfiledDeviance:
    """ML profiled deviance of the model with fixed effect ``j`` held at ``value``."""
    p = crossproducts.shape[0] - 1
    keep = [k for k in range(p) if k != j]
    t = np.zeros((p + 1, p))
    t[keep, np.arange(p - 1)] = 1.0
    t[p, p - 1] = 1.0
    t[j, p - 1] = -value
    c = t.T @ crossproducts @ t
    fixed = FixedCrossproducts(
        xtx=c[: p - 1, : p - 1], xty=c[: p - 1, p - 1], yty=float(c[p - 1, p - 1]), n=n, p=p - 1
    )
    return ProfiledDeviance(_OffsetSystem(system, t), fixed, reml=False)


# --------------------------------------------------------------------------- profiles


@dataclass
class ProfileTrace:
    """The profile of one parameter: the points walked and the function that gave them.

    ``zeta_at(x, start)`` minimises the deviance over the other parameters with this one
    held at ``x`` (from ``start``) and returns ``zeta`` and the minimiser.
    """

    name: str
    kind: str
    estimate: float
    lower_bound: float
    upper_bound: float
    zeta_at: Callable[[float, np.ndarray], tuple[float, np.ndarray]]
    values: list[float] = field(default_factory=list)
    zetas: list[float] = field(default_factory=list)
    rest: list[np.ndarray] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)

    def sorted_points(self) -> tuple[np.ndarray, np.ndarray]:
        """The walked points in increasing value."""
        order = np.argsort(self.values, kind="stable")
        return np.asarray(self.values)[order], np.asarray(self.zetas)[order]

    def _side(self, side: float) -> list[tuple[float, float, np.ndarray]]:
        points = [
            (x, z, r)
            for x, z, r in zip(self.values, self.zetas, self.rest)
            if (x - self.estimate) * side >= 0
        ]
        points.sort(key=lambda item: (item[0] - self.estimate) * side)
        return points

    def limit(self, z: float, tolerance: float = 1e-6) -> float:
        """The value where the profile crosses ``z``.

        Regula falsi (Illinois) inside the walked bracket, each step warm-started from the
        interpolated minimiser. A side that reached its bound before crossing gives the
        bound, as lme4; a side that stopped short gives NaN.
        """
        side = 1.0 if z > 0 else -1.0
        points = self._side(side)
        for (x0, z0, r0), (x1, z1, r1) in zip(points, points[1:]):
            if not (z0 - z) * side < 0 <= (z1 - z) * side:
                continue
            f0, f1 = z0 - z, z1 - z
            keep = 0  # which end was kept last time (Illinois halving)
            for _ in range(60):
                if f1 == 0.0:
                    return x1
                x = x1 - f1 * (x1 - x0) / (f1 - f0)
                w = (x - x0) / (x1 - x0)
                zx, rx = self.zeta_at(x, (1 - w) * r0 + w * r1)
                fx = zx - z
                if abs(fx) < tolerance or abs(x1 - x0) < 1e-12 * max(1.0, abs(x)):
                    return x
                if (fx < 0) == (f1 < 0):
                    x1, f1, r1 = x, fx, rx
                    if keep == 0:
                        f0 /= 2.0
                    keep = 0
                else:
                    x0, f0, r0 = x, fx, rx
                    if keep == 1:
                        f1 /= 2.0
                    keep = 1
            return x
        far = points[-1][0]
        bound = self.upper_bound if side > 0 else self.lower_bound
        return bound if far == bound else math.nan


class LikelihoodProfile:
    """Profiles of the parameters of a linear mixed model (lme4's ``profile.merMod``).

    Parameters
    ----------
    design
        The model's design.
    estimates
        The fit; a REML fit is refitted by ML first (lme4 does the same).
    zeta_max
        How far to walk: each side stops once ``|zeta|`` passes this. The default is
        lme4's cutoff ``sqrt(qchisq(0.99, n_parameters))``.
    which
        Names of the parameters to profile (default: all, in :class:`ParameterScale`
        order).

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    >>> prof = LikelihoodProfile(fit.design, fit.estimates, zeta_max=2.5)
    >>> lower, upper = prof.intervals(0.95)
    >>> lower.round(1).tolist(), upper.round(1).tolist()
    ([12.2, 38.2, 1486.5], [84.1, 67.7, 1568.5])
    """

    def __init__(
        self,
        design: Design,
        estimates: LmmEstimates,
        zeta_max: float | None = None,
        which: list[str] | None = None,
    ) -> None:
        self.design = design
        self.scale = ParameterScale.of(design)
        self.deviance = deviance_function(design, reml=False)
        self.refitted = bool(estimates.reml)
        theta = estimates.theta
        if estimates.reml:  # the ML refit: only its optimum is needed
            theta = minimize_deviance(self.deviance, start=theta).theta
        state = self.deviance.state(theta)
        self.theta = theta
        self.vcov_beta = state.vcov_beta()
        self.base = float(state.objective)
        n_all = len(self.scale.names)
        self.zeta_max = (
            float(zeta_max) if zeta_max is not None else math.sqrt(stats.chi2.ppf(0.99, n_all))
        )
        sigma = math.sqrt(state.sigma2)
        self.hat = np.concatenate([self.scale.variance_parameters(theta, sigma), state.beta])
        self.notes: list[str] = []
        names = self.scale.names if which is None else list(which)
        unknown = [n for n in names if n not in self.scale.names]
        if unknown:
            raise ValueError(f"Unknown parameter(s) {unknown}; choose from {self.scale.names}.")
        self._check_base()
        self._variance_hessian, self._variance_se = self._variance_curvature()
        self._theta_hessian: np.ndarray | None = None
        self.traces: dict[str, ProfileTrace] = {}
        for name in names:
            k = self.scale.names.index(name)
            trace = self._variance_trace(k) if k < self.scale.n_variance else self._fixed_trace(k)
            self._walk(trace, self._first_step(k))
            self.traces[name] = trace

    # ---------------------------------------------------------------- deviance on sdcor scale

    def _variance_deviance(self, values: np.ndarray) -> float:
        mapped = self.scale.theta_of(values)
        if mapped is None:
            return math.inf
        theta, sigma = mapped
        try:
            value = self.deviance.at_residual_variance(theta, sigma**2)
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
            return math.inf
        return value if np.isfinite(value) else math.inf

    def _check_base(self) -> None:
        at_hat = self._variance_deviance(self.hat[: self.scale.n_variance])
        if not abs(at_hat - self.base) <= 1e-6 * max(1.0, abs(self.base)):
            raise RuntimeError(
                "the deviance on the SD/correlation scale does not reproduce the fit's "
                f"deviance ({at_hat} vs {self.base})"
            )

    def _variance_curvature(self) -> tuple[np.ndarray | None, np.ndarray]:
        """Hessian of the deviance on the sdcor scale and the Wald SEs it implies.

        Used only for step sizes, scaling and as the inner minimiser's first Hessian.
        """
        nv = self.scale.n_variance
        v = self.hat[:nv]
        typical = self.scale.typical(v)
        fallback = typical * 0.25
        h = numdiff.hessian(self._variance_deviance, v, 1e-4 * typical)
        if _positive_definite(h) is None:
            return None, fallback
        se = np.sqrt(np.diag(2.0 * np.linalg.inv(h)))
        return h, np.where(np.isfinite(se) & (se > 0), se, fallback)

    def _theta_curvature(self) -> np.ndarray | None:
        if self._theta_hessian is None:
            theta = self.theta
            steps = 1e-4 * self.deviance.layout.typical_theta(theta, 0.05)
            self._theta_hessian = numdiff.hessian(self.deviance, theta, steps)
        return _positive_definite(self._theta_hessian)

    # ---------------------------------------------------------------- one parameter's profile

    def _zeta(self, value: float, estimate: float, deviance: float) -> float:
        change = deviance - self.base
        if change < -1e-6 * max(1.0, abs(self.base)):
            note = (
                "profiling found a lower deviance than the fit's: the fit may not be at its optimum"
            )
            if note not in self.notes:
                self.notes.append(note)
                warnings.warn(note, RuntimeWarning, stacklevel=4)
        return math.copysign(math.sqrt(max(change, 0.0)), value - estimate)

    def _variance_trace(self, k: int) -> ProfileTrace:
        nv = self.scale.n_variance
        lower = self.scale.lower[:nv].copy()
        lower[nv - 1] = 1e-8 * self.hat[nv - 1]
        upper = self.scale.upper[:nv]
        others = np.array([i for i in range(nv) if i != k], dtype=int)
        scale = self._variance_se[others]
        full_h = self._variance_hessian
        memory = {"h": None if full_h is None else full_h[np.ix_(others, others)]}
        estimate = float(self.hat[k])

        def zeta_at(x: float, start: np.ndarray) -> tuple[float, np.ndarray]:
            full = self.hat[:nv].copy()
            full[k] = x

            def f(rest: np.ndarray) -> float:
                full[others] = rest
                return self._variance_deviance(full)

            rest, value, memory["h"] = minimize_bounded(
                f, start, lower[others], upper[others], scale, memory["h"]
            )
            return self._zeta(x, estimate, value), rest

        return ProfileTrace(
            name=self.scale.names[k],
            kind=self.scale.kinds[k],
            estimate=estimate,
            lower_bound=float(self.scale.lower[k]),
            upper_bound=float(self.scale.upper[k]),
            zeta_at=zeta_at,
            values=[estimate],
            zetas=[0.0],
            rest=[self.hat[others].copy()],
        )

    def _fixed_trace(self, k: int) -> ProfileTrace:
        j = k - self.scale.n_variance
        design = self.design
        xy = np.column_stack([design.fixed.matrix, design.y])
        crossproducts = xy.T @ xy
        system = self.deviance.system
        theta_hat = self.theta
        lower = self.scale.layout.lower_bounds()
        upper = np.full_like(lower, np.inf)
        scale = self.deviance.layout.typical_theta(theta_hat, 0.05)
        memory = {"h": self._theta_curvature()}
        estimate = float(self.hat[k])

        def zeta_at(x: float, start: np.ndarray) -> tuple[float, np.ndarray]:
            deviance = _offset_deviance(system, crossproducts, design.nobs, j, x)
            theta, value, memory["h"] = minimize_bounded(
                deviance, start, lower, upper, scale, memory["h"]
            )
            return self._zeta(x, estimate, value), theta

        return ProfileTrace(
            name=self.scale.names[k],
            kind="fixed",
            estimate=estimate,
            lower_bound=-math.inf,
            upper_bound=math.inf,
            zeta_at=zeta_at,
            values=[estimate],
            zetas=[0.0],
            rest=[theta_hat.copy()],
        )

    def _first_step(self, k: int) -> float:
        nv = self.scale.n_variance
        if k < nv:
            return float(self._variance_se[k]) * ZETA_STEP
        vcov = self.vcov_beta
        return float(math.sqrt(vcov[k - nv, k - nv])) * ZETA_STEP

    def _walk(self, trace: ProfileTrace, first_step: float) -> None:
        """Walk out from the estimate on both sides until ``|zeta| >= zeta_max`` or a bound.

        Steps aim at a rise of :data:`ZETA_STEP` in ``|zeta|`` (lme4's rule); each point's
        minimiser is extrapolated linearly from the previous two as the next start.
        """
        for side in (1.0, -1.0):
            bound = trace.upper_bound if side > 0 else trace.lower_bound
            xs, zs, rests = [trace.estimate], [0.0], [trace.rest[0]]
            step = first_step
            for _ in range(MAX_POINTS):
                x = xs[-1] + side * step
                x = min(x, bound) if side > 0 else max(x, bound)
                if x == xs[-1]:
                    break
                start = rests[-1]
                if len(xs) > 1:
                    start = rests[-1] + (rests[-1] - rests[-2]) * (x - xs[-1]) / (xs[-1] - xs[-2])
                z, rest = trace.zeta_at(x, start)
                xs.append(x)
                zs.append(z)
                rests.append(rest)
                trace.values.append(x)
                trace.zetas.append(z)
                trace.rest.append(rest)
                if abs(z) >= self.zeta_max or x == bound:
                    break
                dz = (zs[-1] - zs[-2]) * side
                dx = abs(xs[-1] - xs[-2])
                step = min(ZETA_STEP * dx / dz, MAX_MULTIPLIER * dx) if dz > 1e-8 else 2.0 * dx
            else:
                trace.incomplete.append("upper" if side > 0 else "lower")

    # ---------------------------------------------------------------- outputs

    def table(self) -> pd.DataFrame:
        """Tidy profile: ``parameter``, ``value``, ``zeta`` (points in increasing value)."""
        frames = []
        for name, trace in self.traces.items():
            values, zetas = trace.sorted_points()
            frames.append(pd.DataFrame({"parameter": name, "value": values, "zeta": zetas}))
        table = pd.concat(frames, ignore_index=True)
        table["parameter"] = pd.Categorical(
            table["parameter"], categories=list(self.traces), ordered=True
        )
        return table

    def intervals(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper profile limits of every profiled parameter, in order."""
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, not {level!r}.")
        z = float(stats.norm.ppf(0.5 + level / 2.0))
        if z > self.zeta_max:
            raise ValueError(
                f"level {level} needs the profile out to |zeta| = {z:.3f}, but it was walked "
                f"only to {self.zeta_max:.3f}; profile again with a larger zeta_max."
            )
        lower = np.array([trace.limit(-z) for trace in self.traces.values()])
        upper = np.array([trace.limit(z) for trace in self.traces.values()])
        return lower, upper


def wald_intervals(
    scale: ParameterScale, estimates: LmmEstimates, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """lme4's ``confint(method = "Wald")``: fixed effects only, NaN for variance parameters.

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
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
