"""The objective protocol: what the optimiser needs from any model family.

A linear mixed model's profiled deviance, a GLMM's Laplace or quadrature deviance and a
GEE's estimating-equation criterion all serve the same optimiser
(:func:`mixnb.estimation.optimize.minimize_objective`) through this protocol, as lme4's
modular pipeline hands ``devfun`` to its optimiser and MixedModels.jl's ``fit!`` drives
any ``objective``. The optimiser works on the parameters exactly as the objective
presents them; an objective whose natural parameters have units (theta in the units of
the random-effect columns) should present them scaled, as :class:`ScaledDeviance` does
for the profiled deviance.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Objective(Protocol):
    """A scalar function to minimise over a box bounded below.

    Attributes
    ----------
    n_parameters
        Length of the parameter vector.
    has_gradient
        Whether :meth:`value_and_gradient` gives an analytic gradient; when False the
        optimiser uses differences of :meth:`value` and never calls it.
    """

    n_parameters: int
    has_gradient: bool

    def initial(self) -> np.ndarray:
        """The default starting point."""

    def lower_bounds(self) -> np.ndarray:
        """Lower bound per parameter (``-inf`` for an unbounded one)."""

    def value(self, x: np.ndarray) -> float:
        """The objective at ``x``."""

    def value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The objective and its gradient at ``x``."""


class ScaledDeviance:
    """The profiled deviance as an :class:`Objective` of the scaled parameters.

    The parameters are ``x = theta * d`` (each random-effect column in units of its root
    mean square, :mod:`mixnb.estimation.covariance`), so that the start (identity
    factors), the steps, the restarts and the boundary tolerance mean the same whatever
    the units of the predictors. :meth:`to_theta` and :meth:`from_theta` convert.
    """

    def __init__(self, deviance) -> None:
        self.deviance = deviance
        self.layout = deviance.layout
        self.d = self.layout.theta_scale
        self.has_gradient = bool(deviance.has_gradient)
        self.n_parameters = len(self.layout.lower_bounds())

    def initial(self) -> np.ndarray:
        return self.layout.initial_theta()

    def lower_bounds(self) -> np.ndarray:
        return self.layout.lower_bounds()

    def value(self, x: np.ndarray) -> float:
        return self.deviance(x / self.d)

    def value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = self.deviance.value_and_gradient(x / self.d)
        return value, gradient / self.d

    def to_theta(self, x: np.ndarray) -> np.ndarray:
        return self.layout.from_scaled(x)

    def from_theta(self, theta: np.ndarray) -> np.ndarray:
        return self.layout.to_scaled(theta)
