"""The chapter models on the seed's constructed data, against lme4 (tests/reference/seed_models.R).

lme4 is run twice: with its defaults and with bobyqa driven to rhoend = 1e-10 ("tight"). On
``treatment_centers`` lme4's defaults stop early (it warns "failed to converge", REML
criterion 0.028 above the optimum); mixnb must match the tight fit and never be worse than
the default one. ``centers_level2`` has its optimum just inside the boundary (slope variance
0.5 with a correlation of -0.9999), where a search can stop on the boundary by mistake.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mixnb
from conftest import python_term

REFERENCE = json.loads((Path(__file__).parent / "reference" / "seed_reference.json").read_text())
MODELS = [key for key in REFERENCE if key != "versions"]


def _data(key: str):
    if key == "batting":
        return mixnb.load_dataset("batting")
    centers = mixnb.load_dataset("treatment_centers")
    mean_use = centers.groupby("center")["use"].transform("mean")
    return centers.assign(z=mean_use - mean_use.mean())


@pytest.fixture(scope="module", params=MODELS)
def case(request):
    key = request.param
    return REFERENCE[key], mixnb.lmm(REFERENCE[key]["formula"], _data(key))


def test_converged_without_problems(case):
    _, fit = case
    assert fit.converged, fit.notes


def test_criterion_is_lme4s_best_and_never_worse_than_its_default(case):
    ref, fit = case
    criterion = -2 * fit.loglik
    assert criterion == pytest.approx(ref["tight"]["reml_criterion"], abs=1e-3)
    assert criterion <= ref["default"]["reml_criterion"] + 1e-6


def test_estimates_match_lme4(case):
    ref, fit = case
    tight = ref["tight"]
    fixed = fit.fixed_effects
    for r_name, value in tight["fixef"].items():
        term = python_term(r_name)
        assert fixed.loc[term, "estimate"] == pytest.approx(value, rel=1e-4, abs=1e-9), term
        se = tight["fixef_se"][r_name]
        assert fixed.loc[term, "std_error"] == pytest.approx(se, rel=1e-4), term
    np.testing.assert_allclose(fit.variance_components["estimate"], tight["vcov"], rtol=1e-3)
