"""The chapter-5 data: simulate_ami rebuilds data/ami.csv, and the traditional model
matches R's glm on it (tests/reference/ami_reference.R; 1e-7 relative)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixnb
from mixnb.simulation import AMI_TRUTH, simulate_ami

REFERENCE = json.loads((Path(__file__).parent / "reference" / "ami_reference.json").read_text())
FIXED = "death ~ I(age - 70) + severity + female + cardiologist + teaching"


def test_simulate_ami_rebuilds_the_shipped_data():
    shipped = mixnb.load_dataset("ami")
    pd.testing.assert_frame_equal(simulate_ami(seed=9), shipped, check_dtype=False)
    assert shipped["hospital"].nunique() == REFERENCE["n_hospitals"]
    assert shipped["physician"].nunique() == REFERENCE["n_physicians"]


def test_new_outcomes_keep_the_structure():
    a = simulate_ami(seed=9, outcome_seed=1, sd_hospital=1.0)
    b = simulate_ami(seed=9, outcome_seed=2)
    columns = ["hospital", "physician", "teaching", "cardiologist", "age", "severity"]
    pd.testing.assert_frame_equal(a[columns], b[columns])
    assert not a["death"].equals(b["death"])
    assert a.attrs["truth"] == {**AMI_TRUTH, "sd_hospital": 1.0}
    with pytest.raises(ValueError, match="sd_patient"):
        simulate_ami(sd_patient=1.0)


def test_traditional_model_matches_r():
    ref = REFERENCE["traditional"]
    fit = mixnb.glm(FIXED, mixnb.load_dataset("ami"), family="binomial")
    np.testing.assert_allclose(fit.coefficients["estimate"], ref["estimate"], rtol=1e-7)
    np.testing.assert_allclose(fit.coefficients["std_error"], ref["std_error"], rtol=1e-7)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-8)
