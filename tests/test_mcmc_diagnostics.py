"""R-hat, ESS and MCSE against ArviZ's values and against AR(1) chains with known ESS."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from mixnb.estimation import mcmc_diagnostics as diag

REFERENCE = Path(__file__).parent / "reference"
sys.path.insert(0, str(REFERENCE))
from mcmc_diagnostics_reference import reference_draws  # noqa: E402

CASES = json.loads((REFERENCE / "mcmc_diagnostics_reference.json").read_text())["cases"]
DRAWS = reference_draws()


@pytest.mark.parametrize("case", sorted(CASES))
def test_agrees_with_arviz(case):
    x, ref = DRAWS[case], CASES[case]
    assert x.sum() == pytest.approx(ref["checksum"], rel=1e-12)  # the same draws
    for name in ("rhat", "ess_bulk", "ess_tail", "ess_mean", "mcse_mean"):
        assert getattr(diag, name)(x) == pytest.approx(ref[name], rel=1e-9), name


def test_rhat_flags_chains_that_disagree():
    assert CASES["shifted_chain"]["rhat"] > 1.05  # location
    assert diag.rhat(DRAWS["scaled_chain"]) > 1.05  # scale: only the folded R-hat sees it
    assert diag.rhat(DRAWS["iid_normal"]) < 1.01


def _ar1(phi: float, chains: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((chains, n))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)  # stationary from the start
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.8])
def test_ess_of_ar1_matches_theory(phi):
    # the integrated autocorrelation time of AR(1) is (1 + phi) / (1 - phi)
    x = _ar1(phi, chains=4, n=20000, seed=3)
    expected = x.size * (1 - phi) / (1 + phi)
    assert diag.ess_mean(x) == pytest.approx(expected, rel=0.06)
    assert diag.ess_bulk(x) == pytest.approx(expected, rel=0.06)
    # MCSE of the mean: the stationary SD 1/sqrt(1 - phi^2) over sqrt(ESS)
    assert diag.mcse_mean(x) == pytest.approx(1 / np.sqrt((1 - phi**2) * expected), rel=0.05)


def test_autocorrelation_of_ar1_is_geometric():
    acf = diag.autocorrelation(_ar1(0.6, 4, 20000, seed=5), 3)
    np.testing.assert_allclose(acf, 0.6 ** np.arange(4), atol=0.02)


def test_constant_draws_give_nan_not_a_warning():
    with np.errstate(all="raise"):
        x = np.ones((2, 50))
        assert np.isnan(diag.rhat(x)) and np.isnan(diag.ess_bulk(x))
