"""Variance-component standard errors against an independent dense computation.

The reference here shares no code with mixnb's estimation: it builds V = Z Omega Z' +
sigma^2 I as a dense matrix, evaluates -2 log L (or the REML criterion) directly from
V, and differentiates it twice with Richardson-extrapolated central differences. The
standard errors are then sqrt(diag(2 H^-1)), H taken in the natural parameters
(variances, covariances, residual variance).
"""

from __future__ import annotations

import numpy as np
import pytest

import mixnb
from conftest import fitted

SE_RTOL = 1e-3


def dense_z(fit) -> list[np.ndarray]:
    """One dense Z_k (n x levels*q_k, level-major) per random term."""
    out = []
    for block in fit.design.random:
        n, q = block.matrix.shape
        z = np.zeros((n, block.factor.n_levels * q))
        for c in range(q):
            z[np.arange(n), block.factor.codes * q + c] = block.matrix[:, c]
        out.append(z)
    return out


def dense_criterion(fit, omega: np.ndarray) -> float:
    """-2 log L (ML) or the REML criterion, from V built densely."""
    x, y = fit.design.fixed.matrix, fit.design.y
    n, p = x.shape
    v = np.eye(n) * omega[-1]
    start = 0
    for block, z in zip(fit.design.random, dense_z(fit)):
        q = block.n_columns
        cov = np.zeros((q, q))
        diag = list(range(q))
        for i in diag:
            cov[i, i] = omega[start + i]
        k = start + q
        for j in range(q):
            for i in range(j + 1, q):
                cov[i, j] = cov[j, i] = omega[k]
                k += 1
        start = k
        omega_k = np.kron(np.eye(block.factor.n_levels), cov)
        v += z @ omega_k @ z.T
    v_inv = np.linalg.inv(v)
    xtvx = x.T @ v_inv @ x
    beta = np.linalg.solve(xtvx, x.T @ v_inv @ y)
    r = y - x @ beta
    value = np.linalg.slogdet(v)[1] + r @ v_inv @ r
    if fit.reml:
        return value + np.linalg.slogdet(xtvx)[1] + (n - p) * np.log(2 * np.pi)
    return value + n * np.log(2 * np.pi)


def richardson_hessian(f, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Central-difference Hessian at steps h and h/2, combined to cancel the h^2 error."""

    def central(step: np.ndarray) -> np.ndarray:
        k = len(x)
        out = np.empty((k, k))
        for i in range(k):
            for j in range(k):
                ei, ej = np.eye(k)[i] * step[i], np.eye(k)[j] * step[j]
                out[i, j] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                    4 * step[i] * step[j]
                )
        return out

    return (4 * central(h / 2) - central(h)) / 3


@pytest.mark.parametrize(
    "key",
    [
        "dyestuff_reml",
        "dyestuff_ml",
        "sleepstudy_ri_reml",
        "sleepstudy_rs_reml",
        "sleepstudy_rs_ml",
        "sleepstudy_uncorr_reml",
        "penicillin_reml",
        "pastes_ml",
    ],
)
def test_standard_errors_match_dense_numerical_hessian(key):
    fit = fitted(key)
    vc = fit.variance_components
    omega = vc["estimate"].to_numpy()
    scale = np.where(vc["term1"] == vc["term2"], np.abs(omega), 0.0)
    # covariances: step relative to the product of the two standard deviations
    variances = vc[vc["term1"] == vc["term2"]]
    sd = dict(zip(zip(variances["group"], variances["term1"]), variances["sd_corr"]))
    for i, row in vc.iterrows():
        if row["term1"] != row["term2"]:
            scale[i] = sd[(row["group"], row["term1"])] * sd[(row["group"], row["term2"])]
    hess = richardson_hessian(lambda w: dense_criterion(fit, w), omega, 1e-3 * scale)
    expected = np.sqrt(np.diag(2 * np.linalg.inv(hess)))
    np.testing.assert_allclose(vc["std_error"].to_numpy(), expected, rtol=SE_RTOL)


def dense_slope_standard_errors(fit, relative_step: float) -> np.ndarray:
    """Dense-Hessian SEs of a fit with one ``(x | g)`` term: variances, covariance, residual,
    with steps relative to each variance (the covariance's to the product of the SDs)."""
    omega = fit.variance_components["estimate"].to_numpy()
    scale = np.array([omega[0], omega[1], np.sqrt(omega[0] * omega[1]), omega[3]])
    hess = richardson_hessian(lambda w: dense_criterion(fit, w), omega, relative_step * scale)
    return np.sqrt(np.diag(2 * np.linalg.inv(hess)))


def test_dense_criterion_agrees_with_the_fit():
    """The dense reference evaluates the same likelihood mixnb maximised."""
    for key in ["sleepstudy_rs_reml", "penicillin_ml"]:
        fit = fitted(key)
        omega = fit.variance_components["estimate"].to_numpy()
        assert abs(dense_criterion(fit, omega) - (-2 * fit.loglik)) < 1e-6


def test_boundary_variance_has_no_standard_error():
    fit = fitted("dyestuff2_reml")
    vc = fit.variance_components.set_index("group")
    assert np.isnan(vc.loc["Batch", "std_error"])
    assert np.isfinite(vc.loc["Residual", "std_error"])


def dense_derivatives(fit) -> list[np.ndarray]:
    """dV/d omega for each variance/covariance (table order) and the residual variance."""
    out = []
    for block, z in zip(fit.design.random, dense_z(fit)):
        q, levels = block.n_columns, block.factor.n_levels
        pairs = [(i, i) for i in range(q)] + [(i, j) for j in range(q) for i in range(j + 1, q)]
        for i, j in pairs:
            e = np.zeros((q, q))
            e[i, j] = e[j, i] = 1.0
            out.append(z @ np.kron(np.eye(levels), e) @ z.T)
    out.append(np.eye(fit.nobs))
    return out


@pytest.mark.parametrize("method", ["IGLS", "RIGLS"])
def test_igls_fits_report_mlwin_expected_information_standard_errors(method):
    """MLwiN's convention (the seed's "412.8 (293.6)"): 1/2 tr(V^-1 V_i V^-1 V_j), inverted."""
    data = mixnb.load_dataset("sleepstudy")
    fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", data, method=method)
    vc = fit.variance_components
    omega = vc["estimate"].to_numpy()
    derivatives = dense_derivatives(fit)
    v = sum(w * g for w, g in zip(omega, derivatives))
    v_inv = np.linalg.inv(v)
    info = np.array(
        [[0.5 * np.trace(v_inv @ a @ v_inv @ b) for b in derivatives] for a in derivatives]
    )
    np.testing.assert_allclose(
        vc["std_error"].to_numpy(), np.sqrt(np.diag(np.linalg.inv(info))), rtol=1e-6
    )
    assert any("MLwiN" in note for note in fit.notes)


def test_standard_errors_near_a_correlation_of_minus_one():
    """Four groups, correlation -0.98: differences taken in the variances themselves go
    wrong near the boundary (the previous implementation reported 62 for an SE of 339);
    mixnb differentiates in theta and maps by the delta method. The dense reference needs
    small steps here to converge."""
    from pathlib import Path

    import pandas as pd

    data = pd.read_csv(Path(__file__).parent / "data" / "strong_negative_correlation.csv")
    fit = mixnb.lmm("return ~ use + (use | center)", data)
    expected = dense_slope_standard_errors(fit, 1e-4)
    np.testing.assert_allclose(fit.variance_components["std_error"], expected, rtol=1e-3)
    # Satterthwaite df cannot exceed what four groups allow (Kenward-Roger agrees)
    satterthwaite = fit.fixed_effects["df"]
    kenward_roger = fit.test_fixed("kenward-roger")["df"]
    assert (satterthwaite < 4).all()
    np.testing.assert_allclose(satterthwaite, kenward_roger, rtol=0.05)
