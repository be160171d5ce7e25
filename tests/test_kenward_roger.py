"""Kenward-Roger from the model's blocks: against a dense n x n computation and pbkrtest.

The dense reference below is pbkrtest's ``vcovAdj`` and ``.KR_adjust`` written directly
with ``n x n`` matrices (V, every dV/d omega_i, the REML projection); it shares no code
with mixnb's block algebra. pbkrtest 0.5.2's own numbers on 5,000 to 20,000 rows are in
``tests/reference/kenward_roger_large.json`` (``kenward_roger_large.R``).

Tolerances: block vs dense 1e-8 relative (the same algebra, rounding only); pbkrtest 1e-3
relative on df, F, F.scaling and p (both sides fitted to 1e-10 in the optimiser).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixnb
from conftest import fitted
from mixnb.estimation.covariance import entry_order
from mixnb.estimation.kenward_roger import kenward_roger

HERE = Path(__file__).parent
LARGE = json.loads((HERE / "reference" / "kenward_roger_large.json").read_text())
KR_RTOL = 1e-3


def dense_kenward_roger(fit, contrasts: np.ndarray):
    """pbkrtest's adjusted covariance, df and F scaling from dense n x n matrices."""
    design, est = fit.design, fit.estimates
    x = design.fixed.matrix
    n = design.nobs
    derivatives = []
    v = est.sigma2 * np.eye(n)
    for block, cov in zip(design.random, est.covariances):
        same = block.factor.codes[:, None] == block.factor.codes[None, :]
        v += np.where(same, block.matrix @ cov @ block.matrix.T, 0.0)
        for a, b in zip(*entry_order(cov)):
            outer = np.outer(block.matrix[:, a], block.matrix[:, b])
            derivatives.append(np.where(same, outer + outer.T if a != b else outer, 0.0))
    derivatives.append(np.eye(n))
    v_inv = np.linalg.inv(v)
    phi = np.linalg.inv(x.T @ v_inv @ x)
    proj = v_inv - v_inv @ x @ phi @ x.T @ v_inv
    p_mats = [x.T @ v_inv @ g @ v_inv @ x for g in derivatives]
    k = len(derivatives)
    gs = derivatives
    q_mats = [[x.T @ v_inv @ gi @ v_inv @ gj @ v_inv @ x for gj in gs] for gi in gs]
    info2 = np.array([[np.trace(proj @ gi @ proj @ gj) for gj in gs] for gi in gs])
    w = 2 * np.linalg.pinv(info2)
    u = sum(
        w[i, j] * (q_mats[i][j] - p_mats[i] @ phi @ p_mats[j]) for i in range(k) for j in range(k)
    )
    phi_a = phi + 2 * phi @ u @ phi
    q = contrasts.shape[0]
    theta = contrasts.T @ np.linalg.solve(contrasts @ phi @ contrasts.T, contrasts)
    us = [theta @ phi @ pm @ phi for pm in p_mats]
    a1 = sum(w[i, j] * np.trace(us[i]) * np.trace(us[j]) for i in range(k) for j in range(k))
    a2 = sum(w[i, j] * np.trace(us[i] @ us[j]) for i in range(k) for j in range(k))
    b = (a1 + 6 * a2) / (2 * q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    c1, c2, c3 = (g, q - g, q + 2 - g) / (3 * q + 2 * (1 - g))
    rho = (1 / q) * ((1 - a2 / q) / (1 - c2 * b)) ** 2 * (1 + c1 * b) / (1 - c3 * b)
    ddf = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(ddf - 2) < 1e-2 else ddf * (1 - a2 / q) / (ddf - 2)
    return phi_a, ddf, scaling


def _centers():
    data = mixnb.load_dataset("treatment_centers")
    zbar = data.groupby("center")["use"].transform("mean")
    return data.assign(z=zbar - zbar.mean())


@pytest.mark.parametrize(
    "key, rows",
    [
        ("sleepstudy_rs_reml", [1]),
        ("sleepstudy_uncorr_reml", [0, 1]),
        ("penicillin_reml", [0]),
        ("pastes_reml", [0]),
        ("cake_reml", [1, 2, 3]),
        ("dyestuff2_reml", [0]),
    ],
)
def test_block_algebra_equals_dense_matrices(key, rows):
    fit = fitted(key)
    contrasts = np.eye(len(fit.design.fixed.columns))[rows]
    kr = kenward_roger(fit.design, fit.estimates.theta, fit.estimates.sigma2)
    phi_a, ddf, scaling = dense_kenward_roger(fit, contrasts)
    np.testing.assert_allclose(kr.phi_adjusted, phi_a, rtol=1e-8, atol=1e-12 * np.abs(phi_a).max())
    test = kr.test(contrasts)
    assert test.ddf == pytest.approx(ddf, rel=1e-8)
    assert test.f_scaling == pytest.approx(scaling, rel=1e-8)


def test_chapter_three_multi_df_test_is_scaled_like_krmodcomp():
    """pbkrtest's KRmodcomp: F 19.25 = 0.6127 x 31.43 on 2 and 2.467 df (p 0.031)."""
    ref = json.loads((HERE / "reference" / "boundary_reference.json").read_text())
    ref = ref["cases"]["centers_level2_reml"]["krmodcomp"]
    fit = mixnb.lmm("return ~ use * z + (use | center)", _centers())
    result = fit.wald_test(["z", "use:z"], ddf="kenward-roger")
    assert result.f == pytest.approx(ref["F"], rel=KR_RTOL)
    assert result.f_scaling == pytest.approx(ref["F_scaling"], rel=KR_RTOL)
    assert result.table["dendf"].iloc[0] == pytest.approx(ref["ddf"], rel=KR_RTOL)
    assert result.p == pytest.approx(ref["p"], rel=KR_RTOL)
    assert result.f / result.f_scaling == pytest.approx(ref["F_unscaled"], rel=KR_RTOL)
    assert any("F.scaling" in note for note in result.notes)
    # next to the boundary the covariance parameters' information is ill-conditioned
    # (condition number of W about 2e9), so block and dense agree to about 1e-6 only
    dense = dense_kenward_roger(fit, np.eye(4)[2:])
    assert result.f_scaling == pytest.approx(dense[2], rel=1e-5)
    assert result.table["dendf"].iloc[0] == pytest.approx(dense[1], rel=1e-5)


def test_one_row_scaling_is_one_and_other_methods_are_unscaled():
    fit = fitted("sleepstudy_rs_reml")
    assert fit.wald_test("Days", ddf="kr").f_scaling == pytest.approx(1.0, abs=1e-12)
    satterthwaite = fit.wald_test(["Intercept", "Days"])
    assert satterthwaite.f_scaling == 1.0
    assert "F_scaling" not in satterthwaite.table


@pytest.mark.parametrize("case", sorted(LARGE["cases"]))
def test_large_data_matches_pbkrtest(case):
    """5,000 to 20,000 rows: no n x n matrix is formed, and pbkrtest's numbers come out."""
    ref = LARGE["cases"][case]
    data = pd.read_csv(HERE.parent / ref["data"])
    fit = mixnb.lmm(ref["mixnb_formula"], data)
    assert fit.reml_criterion == pytest.approx(ref["reml_criterion"], rel=1e-8)
    table = fit.test_fixed("kenward-roger")
    expected = pd.DataFrame(ref["kenward_roger"]).T
    np.testing.assert_allclose(table["df"], expected["df"].astype(float), rtol=KR_RTOL)
    np.testing.assert_allclose(table["std_error"], expected["se"].astype(float), rtol=KR_RTOL)
    test = fit.wald_test(ref["hypothesis"], ddf="kenward-roger")
    krm = ref["krmodcomp"]
    assert test.f == pytest.approx(krm["F"], rel=KR_RTOL)
    assert test.f_scaling == pytest.approx(krm["F_scaling"], rel=KR_RTOL)
    assert test.table["dendf"].iloc[0] == pytest.approx(krm["ddf"], rel=KR_RTOL)
    assert test.p == pytest.approx(krm["p"], rel=KR_RTOL)


def test_many_random_effects_with_several_factors_are_refused_plainly(monkeypatch):
    from mixnb.estimation import kenward_roger as module

    monkeypatch.setattr(module, "DENSE_RANDOM_EFFECTS_LIMIT", 10)
    fit = mixnb.lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", mixnb.load_dataset("penicillin"))
    with pytest.raises(mixnb.MixnbError, match="ddf='satterthwaite'"):
        fit.test_fixed("kenward-roger")
