"""Profile-likelihood confidence intervals, as lme4's ``profile`` and ``confint``.

Parameters are put on lme4's "sdcor" scale (:mod:`mixnb.estimation.sdcor`): for every random
term its standard deviations and correlations, then the residual SD, then the fixed effects.

For one parameter held at a value ``x`` the ML deviance is minimised over all the others;
the profile is the signed square root of the increase over the minimum,

    zeta(x) = sign(x - x_hat) * sqrt(D(x) - D_hat),

and the ``level`` interval is where ``zeta`` equals the normal quantiles (Bates et al.,
JSS 2015, section 5.1; lme4's ``profile.merMod``). Variance parameters are profiled
through :meth:`ProfiledDeviance.at_residual_variance` (the fixed effects are profiled out
by penalised least squares); a fixed effect is profiled by moving its column into an
offset and minimising the deviance of the smaller model over theta
(:mod:`mixnb.estimation.offset`).

Like lme4 (whose ``devfun2`` calls ``refitML``), a REML fit is profiled on the ML deviance
of the ML refit: REML and ML fits of one model get the same profile intervals.

Where lme4 interpolates a spline through the profile points, the limits here are found by
root-finding (regula falsi) on the profile itself; the points walked on the way are kept
as the profile trace. Each point needs a small minimisation, done by a projected
quasi-Newton method warm-started from the previous point
(:func:`mixnb.estimation.bounded.minimize_bounded`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from mixnb.design import Design
from mixnb.estimation import numdiff
from mixnb.estimation.bounded import minimize_bounded, positive_definite
from mixnb.estimation.lmm import LmmEstimates, deviance_function
from mixnb.estimation.offset import offset_deviance
from mixnb.estimation.optimize import minimize_deviance
from mixnb.estimation.sdcor import ParameterScale

#: Most profile points walked on one side of one parameter.
MAX_POINTS = 40
#: Target increase of |zeta| between consecutive profile points (lme4: cutoff / 8).
ZETA_STEP = 0.5
#: A step is at most this many times the previous one (lme4's ``maxmult``).
MAX_MULTIPLIER = 10.0


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
        h = numdiff.hessian(self._variance_deviance, v, numdiff.step_sizes(typical))
        if positive_definite(h) is None:
            return None, fallback
        se = np.sqrt(np.diag(2.0 * np.linalg.inv(h)))
        return h, np.where(np.isfinite(se) & (se > 0), se, fallback)

    def _theta_curvature(self) -> np.ndarray | None:
        if self._theta_hessian is None:
            theta = self.theta
            steps = numdiff.step_sizes(self.deviance.layout.typical_theta(theta, 0.05))
            self._theta_hessian = numdiff.hessian(self.deviance, theta, steps)
        return positive_definite(self._theta_hessian)

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
            deviance = offset_deviance(system, crossproducts, design.nobs, j, x)
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
