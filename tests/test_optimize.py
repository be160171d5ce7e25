"""Unit tests of the optimiser driver (mixnb.estimation.optimize) on objectives whose
optimum is known in closed form, through the objective protocol."""

from __future__ import annotations

import numpy as np
import pytest

import mixnb
from mixnb.design import build_design
from mixnb.estimation.lmm import deviance_function
from mixnb.estimation.objective import Objective, ScaledDeviance
from mixnb.estimation.optimize import minimize_deviance, minimize_objective


class Quadratic:
    """``(x - c)' A (x - c)`` over ``x >= lower``, with or without its gradient."""

    def __init__(self, centre, lower, gradient=True, curvature=None):
        self.c = np.asarray(centre, dtype=float)
        self.lower = np.asarray(lower, dtype=float)
        self.n_parameters = len(self.c)
        self.a = np.eye(self.n_parameters) if curvature is None else np.asarray(curvature)
        self.has_gradient = gradient
        self.calls = 0

    def initial(self):
        return np.ones(self.n_parameters)

    def lower_bounds(self):
        return self.lower

    def value(self, x):
        self.calls += 1
        d = x - self.c
        return float(d @ self.a @ d)

    def value_and_gradient(self, x):
        d = x - self.c
        return self.value(x), 2 * self.a @ d


def test_the_protocol_is_checkable():
    assert isinstance(Quadratic([1.0], [0.0]), Objective)


@pytest.mark.parametrize("gradient", [True, False])
def test_interior_optimum_is_found_and_checked(gradient):
    curvature = np.array([[2.0, 0.5], [0.5, 1.0]])
    found = minimize_objective(Quadratic([0.3, -2.0], [0.0, -np.inf], gradient, curvature))
    np.testing.assert_allclose(found.theta, [0.3, -2.0], atol=1e-7)
    assert found.objective < 1e-12
    assert found.converged and found.problems == []


@pytest.mark.parametrize("gradient", [True, False])
def test_an_optimum_on_the_bound_is_held_there(gradient):
    # the unconstrained minimum (-0.5) lies outside the box: the answer is the bound
    found = minimize_objective(Quadratic([-0.5, 1.5], [0.0, 0.0], gradient))
    np.testing.assert_allclose(found.theta, [0.0, 1.5], atol=1e-7)
    assert found.converged, found.problems


def test_start_is_used_and_evaluations_counted():
    objective = Quadratic([2.0], [0.0])
    found = minimize_objective(objective, start=np.array([2.0]))
    assert found.theta[0] == pytest.approx(2.0, abs=1e-8)
    assert found.n_evaluations > 0


def test_a_flat_direction_is_reported_as_a_code():
    # x2 does not enter: the curvature is singular there and the check must say so
    flat = Quadratic([0.7, 0.0], [0.0, 0.0], gradient=False, curvature=np.diag([1.0, 0.0]))
    found = minimize_objective(flat, start=np.array([1.0, 0.5]))
    assert not found.converged
    assert found.problems == ["likelihood_flat"]


def test_iteration_limit_is_a_problem_code():
    found = minimize_objective(
        Quadratic([5.0, 4.0], [-np.inf, -np.inf], curvature=np.diag([1.0, 100.0])),
        max_iterations=1,
    )
    assert found.problems and found.problems[0].startswith("optimizer_iteration_limit")


def test_minimize_deviance_is_minimize_objective_on_the_scaled_deviance():
    """The scaled parameters change nothing but the path: same optimum in theta."""
    design = build_design("Reaction ~ Days + (Days | Subject)", mixnb.load_dataset("sleepstudy"))
    deviance = deviance_function(design, reml=True)
    scaled = ScaledDeviance(deviance)
    direct = minimize_objective(scaled)
    via = minimize_deviance(deviance)
    np.testing.assert_allclose(scaled.to_theta(direct.theta), via.theta, rtol=1e-10)
    np.testing.assert_allclose(scaled.from_theta(via.theta), direct.theta, rtol=1e-10)
    assert via.objective == pytest.approx(deviance(via.theta), rel=1e-14)
