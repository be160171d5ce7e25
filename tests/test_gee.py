"""mixnb.gee against geepack's geeglm (tests/reference/gee_reference.R) and brute force."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import linalg

import mixnb
from mixnb.errors import ConvergenceWarning, DataError, FormulaError, ModelError

REFERENCE = json.loads((Path(__file__).parent / "reference" / "gee_reference.json").read_text())

#: The models of gee_reference.R: formula (Python spelling), data, groups, time, family.
MODELS = {
    "ohio": ("resp ~ age * smoke", "ohio", "id", "age", "binomial"),
    "ohio_probit": ("resp ~ age * smoke", "ohio", "id", "age", ("binomial", "probit")),
    "ohio_cloglog": ("resp ~ age * smoke", "ohio", "id", "age", ("binomial", "cloglog")),
    "dietox": ("Weight ~ Time + Cu", "dietox", "Pig", "Time", "gaussian"),
    "epil": ("y ~ lbase * trt + lage + V4", "epil", "subject", "period", "poisson"),
    # log(y + 1) is a column here: design.py gives a transformed response an intercept column.
    "epil_log": ("logy ~ lbase * trt + lage + V4", "epil", "subject", "period", "gaussian"),
    # prior weights and offsets (geeglm's weights = and offset() in the formula)
    "dietox_weighted": ("Weight ~ Time + Cu", "dietox", "Pig", "Time", "gaussian"),
    "dietox_offset": ("Weight ~ Time + Cu + offset(Start)", "dietox", "Pig", "Time", "gaussian"),
    "ohio_weighted": ("resp ~ age * smoke", "ohio", "id", "age", "binomial"),
    "epil_offset_weighted": (
        "y ~ trt + lage + V4 + offset(lbase)",
        "epil",
        "subject",
        "period",
        "poisson",
    ),
}

#: The prior weights of gee_reference.R's weighted models, from the data's columns.
WEIGHTS = {
    "dietox_weighted": lambda d: 1 / d["Time"],
    "ohio_weighted": lambda d: (d["age"] + 3) / 2,
    "epil_offset_weighted": lambda d: 1 + d["subject"] % 3,
}
STRUCTURES = ["independence", "exchangeable", "ar1", "unstructured"]
#: geepack does not converge on dietox with an unstructured working correlation (its
#: error flag is 1 and its last iterate is not positive definite): no reference there.
CASES = [(m, c) for m in MODELS for c in STRUCTURES if REFERENCE[m][c]["error"] == 0]

#: Tolerances of the issue: estimates and robust SEs 1e-5 relative, working correlation 1e-4.
RTOL = 1e-5
CORR_ATOL = 1e-4

_FITS: dict = {}


def fit_of(model: str, correlation: str, **kwargs):
    key = (model, correlation, tuple(sorted(kwargs.items())))
    if key not in _FITS:
        formula, data, groups, time, family = MODELS[model]
        frame = mixnb.load_dataset(data)
        family, link = family if isinstance(family, tuple) else (family, None)
        frame["logy"] = np.log(frame["y"] + 1) if model == "epil_log" else 0.0
        if model in WEIGHTS:
            kwargs = {"weights": WEIGHTS[model](frame), **kwargs}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _FITS[key] = mixnb.gee(
                formula,
                frame,
                groups=groups,
                family=family,
                link=link,
                correlation=correlation,
                time=time,
                **kwargs,
            )
    return _FITS[key]


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))


@pytest.mark.parametrize(("model", "correlation"), CASES)
def test_estimates_and_robust_se_match_geepack(model, correlation):
    ref = REFERENCE[model][correlation]
    fit = fit_of(model, correlation)
    assert fit.converged
    assert fit.n_clusters == ref["nclusters"]
    assert _rel(fit.coefficients["estimate"], ref["estimate"]) < RTOL
    assert _rel(fit.standard_errors["robust"], ref["robust_se"]) < RTOL
    assert _rel(fit.standard_errors["naive"], ref["naive_se"]) < RTOL
    assert _rel(fit.vcov("robust").to_numpy(), ref["vcov_robust"]) < 1e-4
    assert abs(fit.scale / ref["scale"] - 1) < RTOL
    if "fitted" in ref:  # geeglm's fitted values and (unscaled) Pearson residuals
        assert _rel(fit.fitted().to_numpy()[:5], ref["fitted"]) < RTOL
        pearson = fit.residuals("pearson").to_numpy()[:5] * np.sqrt(fit.scale)
        np.testing.assert_allclose(pearson, ref["pearson_residuals"], rtol=RTOL, atol=1e-9)


@pytest.mark.parametrize(("model", "correlation"), CASES)
def test_working_correlation_matches_geepack(model, correlation):
    ref = REFERENCE[model][correlation]
    fit = fit_of(model, correlation)
    np.testing.assert_allclose(
        fit.working_correlation.to_numpy(), np.array(ref["working_correlation"]), atol=CORR_ATOL
    )
    alpha = np.atleast_1d(np.asarray(ref["alpha"], float))
    if alpha.size:
        np.testing.assert_allclose(fit.alpha.to_numpy(), alpha, atol=CORR_ATOL)
        assert list(fit.alpha.index) == list(np.atleast_1d(ref["alpha_names"]))


@pytest.mark.parametrize(("model", "correlation"), CASES)
def test_qic_matches_geepack(model, correlation):
    ref = REFERENCE[model][correlation]
    qic = fit_of(model, correlation).qic
    assert _rel(qic["quasi_likelihood"], ref["quasi_lik"]) < RTOL
    assert _rel(qic["CIC"], ref["CIC"]) < 1e-4
    assert _rel(qic["QIC"], ref["QIC"]) < RTOL
    assert _rel(qic["QICu"], ref["QICu"]) < RTOL


@pytest.mark.parametrize(("model", "correlation"), CASES)
def test_wald_test_matches_r(model, correlation):
    ref = REFERENCE[model][correlation]
    fit = fit_of(model, correlation)
    others = [c for c in fit.design.fixed.columns if c != "Intercept"]
    test = fit.wald_test(others)
    assert _rel(test.table["chisq"].iloc[0], ref["wald_all_but_intercept"]) < 1e-4
    assert test.table["numdf"].iloc[0] == ref["wald_df"]
    assert test.table["dendf"].iloc[0] == fit.n_clusters - len(fit.design.fixed.columns)
    # geepack's anova: the last term's sequential test is the joint test of its columns.
    last = ref["anova"]["terms"][-1]
    term = fit.wald_test(last.replace("trt", "trt").replace(":", ":"))
    assert _rel(term.table["chisq"].iloc[0], ref["anova"]["chisq"][-1]) < 1e-4


def test_dietox_unstructured_is_flagged_in_plain_words():
    """geepack goes on with an indefinite working correlation and never converges."""
    formula, data, groups, time, family = MODELS["dietox"]
    with pytest.warns(ConvergenceWarning, match="not positive definite"):
        fit = mixnb.gee(
            formula, mixnb.load_dataset(data), groups=groups, correlation="unstructured", time=time
        )
    assert not fit.converged
    assert "correlation_not_positive_definite" in fit.problems
    assert any("not a valid correlation matrix" in n for n in fit.notes)
    # it fails at the first update, so what is left is the independence fit, and it says so
    assert "stopped_at_independence" in fit.problems
    np.testing.assert_array_equal(fit.working_correlation.to_numpy(), np.eye(12))


def test_missing_time_points_are_counted():
    fit = fit_of("dietox", "ar1")
    assert fit.nobs == 861
    assert fit.n_missing_times == 72 * 12 - 861
    assert fit.cluster_sizes.min() == 11
    assert any("3 of 864" in n for n in fit.notes)


# --------------------------------------------------------------------------- brute force


def _cluster_pieces(fit, data):
    """Per cluster: D_i = dmu/dbeta, V_i, y_i - mu_i, by a loop over clusters."""
    design = fit.design
    frame = data.loc[design.row_index]
    mu = fit.fitted().to_numpy()
    eta = fit.predict(frame, scale="link").to_numpy()
    dmu = fit.family.link.mu_eta(eta)
    var = fit.family.variance(mu) * fit.scale
    if fit.weights is not None:  # prior weights: var(y_ij) = phi V(mu_ij) / w_ij
        var = var / fit.weights.to_numpy()
    groups = frame[fit.groups].to_numpy()
    time = frame[fit.time].to_numpy()
    times = list(fit.working_correlation.index)
    r = fit.working_correlation.to_numpy()
    out = []
    for g in pd.unique(groups):
        rows = np.flatnonzero(groups == g)
        w = [times.index(t) for t in time[rows]]
        a = np.diag(np.sqrt(var[rows]))
        out.append(
            (
                design.fixed.matrix[rows] * dmu[rows, None],
                a @ r[np.ix_(w, w)] @ a,
                design.y[rows] - mu[rows],
            )
        )
    return out


def _brute_force(fit, power, data):
    pieces = _cluster_pieces(fit, data)
    bread = np.linalg.inv(sum(d.T @ np.linalg.solve(v, d) for d, v, _ in pieces))
    meat = 0
    for d, v, e in pieces:
        h = d @ bread @ d.T @ np.linalg.inv(v)
        i_h = np.eye(len(e)) - h
        if power == 0:
            adj = e
        elif power == -1:
            adj = np.linalg.solve(i_h, e)
        else:  # Kauermann-Carroll with the symmetric leverage V^-1/2 D B D' V^-1/2
            root = np.real(linalg.sqrtm(v))
            p_sym = np.linalg.solve(root, d) @ bread @ np.linalg.solve(root, d).T
            inv_half = np.real(linalg.sqrtm(np.linalg.inv(np.eye(len(e)) - p_sym)))
            adj = root @ inv_half @ np.linalg.solve(root, e)
        u = d.T @ np.linalg.solve(v, adj)
        meat = meat + np.outer(u, u)
    return bread @ meat @ bread


@pytest.mark.parametrize("model", ["epil", "epil_offset_weighted"])
@pytest.mark.parametrize("correlation", ["exchangeable", "ar1", "unstructured"])
def test_mancl_derouen_equals_direct_formula(model, correlation):
    fit = fit_of(model, correlation)
    data = mixnb.load_dataset("epil")
    np.testing.assert_allclose(fit.vcov("robust").to_numpy(), _brute_force(fit, 0, data), rtol=1e-8)
    np.testing.assert_allclose(
        fit.vcov("mancl-derouen").to_numpy(), _brute_force(fit, -1, data), rtol=1e-8
    )


def test_kauermann_carroll_and_df_adjusted_equal_direct_formulas():
    fit = fit_of("dietox", "exchangeable")
    np.testing.assert_allclose(
        fit.vcov("kauermann-carroll").to_numpy(),
        _brute_force(fit, -0.5, mixnb.load_dataset("dietox")),
        rtol=1e-8,
    )
    k, p = fit.n_clusters, len(fit.coefficients)
    np.testing.assert_allclose(
        fit.vcov("df-adjusted").to_numpy(), fit.vcov("robust").to_numpy() * k / (k - p)
    )
    # The corrections inflate the sandwich (leverages are between 0 and 1).
    se = fit.standard_errors
    assert (se["mancl-derouen"] > se["kauermann-carroll"]).all()
    assert (se["kauermann-carroll"] > se["robust"]).all()


def test_t_inference_on_clusters_and_normal_option():
    fit = fit_of("ohio", "exchangeable")
    table = fit.coefficients
    assert (table["df"] == 537 - 4).all()
    z = fit.coefficient_table(df="normal")
    assert "z" in z.columns and "df" not in z.columns
    ref = REFERENCE["ohio"]["exchangeable"]
    assert _rel(z["z"] ** 2, (np.array(ref["estimate"]) / np.array(ref["robust_se"])) ** 2) < 1e-5
    md = fit.coefficient_table(se="mancl-derouen")
    assert np.allclose(md["std_error"], fit.standard_errors["mancl-derouen"])


def test_row_order_does_not_matter():
    """statsmodels #7376: QIC depended on row order; here nothing does."""
    data = mixnb.load_dataset("ohio").sample(frac=1.0, random_state=3)
    fit = mixnb.gee(
        "resp ~ age * smoke", data, groups="id", family="binomial", correlation="ar1", time="age"
    )
    ref = fit_of("ohio", "ar1")
    np.testing.assert_allclose(
        fit.coefficients["estimate"], ref.coefficients["estimate"], rtol=1e-9
    )
    np.testing.assert_allclose(fit.qic.to_numpy(), ref.qic.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(
        fit.fitted().loc[data.index], ref.fitted().loc[data.index], rtol=1e-9
    )


def test_data_not_modified_and_predictions():
    data = mixnb.load_dataset("epil")
    before = data.copy()
    fit = mixnb.gee(
        "y ~ lbase * trt + lage + V4",
        data,
        groups="subject",
        family="poisson",
        correlation="exchangeable",
        time="period",
    )
    pd.testing.assert_frame_equal(data, before)
    np.testing.assert_allclose(fit.predict(data).to_numpy(), fit.fitted().to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(np.log(fit.fitted()), fit.predict(data, scale="link"), rtol=1e-10)


# --------------------------------------------------------------------------- bad input


def test_random_term_points_to_mixed_models():
    with pytest.raises(FormulaError, match="mixnb.lmm"):
        mixnb.gee("resp ~ age + (1 | id)", mixnb.load_dataset("ohio"), groups="id")


def test_bad_inputs_are_explained():
    ohio = mixnb.load_dataset("ohio")
    with pytest.raises(DataError, match="groups column 'child'"):
        mixnb.gee("resp ~ age", ohio, groups="child")
    with pytest.raises(ModelError, match="Unknown correlation"):
        mixnb.gee("resp ~ age", ohio, correlation="toeplitz")
    with pytest.raises(DataError, match="0/1"):
        mixnb.gee("age ~ smoke", ohio, family="binomial")
    doubled = pd.concat([ohio, ohio])
    with pytest.raises(DataError, match="repeat"):
        mixnb.gee("resp ~ age", doubled, family="binomial", correlation="ar1", time="age")
    with pytest.raises(ModelError, match="clusters"):
        mixnb.gee("resp ~ age", ohio.assign(id=ohio["id"] % 2), family="binomial")


def test_missing_group_rows_are_dropped_and_counted():
    ohio = mixnb.load_dataset("ohio")
    ohio.loc[:7, "id"] = np.nan
    with pytest.warns(mixnb.MissingDataWarning):
        fit = mixnb.gee("resp ~ age", ohio, family="binomial", correlation="exchangeable")
    assert fit.nobs == len(ohio) - 8
    assert any("8 of 2148" in n for n in fit.notes)


def test_iteration_limit_is_explained():
    with pytest.warns(ConvergenceWarning, match="iteration limit"):
        fit = mixnb.gee(
            "resp ~ age * smoke",
            mixnb.load_dataset("ohio"),
            family="binomial",
            correlation="ar1",
            time="age",
            max_iterations=2,
        )
    assert "iteration_limit" in fit.problems and not fit.converged


def test_display_text_html_markdown():
    fit = fit_of("dietox", "exchangeable")
    text = fit.summary()
    assert "Correlation structure = exchangeable" in text
    assert "Number of clusters:   72" in text
    html = fit._repr_html_()
    assert "Working correlation" in html and "Cu[T.Cu035]" in html
    assert "Coefficients" in fit.to_markdown()


def test_without_time_rows_keep_their_order_within_clusters():
    """Without time= a row's time point is its position (geepack's default waves)."""
    ohio = mixnb.load_dataset("ohio")
    with_time = fit_of("ohio", "ar1")
    plain = mixnb.gee("resp ~ age * smoke", ohio, groups="id", family="binomial", correlation="ar1")
    np.testing.assert_allclose(
        plain.coefficients["estimate"], with_time.coefficients["estimate"], rtol=1e-9
    )
    assert plain.working_correlation.index.name == "position"
    # Exchangeable does not depend on the order; dietox's 3 pigs with 11 weeks are unbalanced.
    dietox = mixnb.load_dataset("dietox")
    exch = mixnb.gee("Weight ~ Time + Cu", dietox, groups="Pig", correlation="exchangeable")
    ref = REFERENCE["dietox"]["exchangeable"]
    assert _rel(exch.coefficients["estimate"], ref["estimate"]) < RTOL
    assert exch.n_missing_times == 0 and exch.cluster_sizes.min() == 11


def test_families_links_and_their_derivatives():
    from mixnb.families import get_family

    eta = np.linspace(-3, 3, 13)
    for family, link in [
        ("binomial", "logit"),
        ("binomial", "probit"),
        ("binomial", "cloglog"),
        ("poisson", "log"),
        ("gaussian", "identity"),
    ]:
        fam = get_family(family, link)
        mu = fam.link.inverse(eta)
        # cloglog at eta = 3 has mu = 1 - 2e-9: the round trip loses ~1e-9 to rounding
        np.testing.assert_allclose(fam.link.link(mu), eta, rtol=1e-8, atol=1e-12)
        h = 1e-6
        numeric = (fam.link.inverse(eta + h) - fam.link.inverse(eta - h)) / (2 * h)
        np.testing.assert_allclose(fam.link.mu_eta(eta), numeric, rtol=1e-6, atol=1e-9)
    with pytest.raises(mixnb.MixnbError, match="takes the link"):
        get_family("poisson", "logit")
    with pytest.raises(mixnb.MixnbError, match="Unknown family"):
        get_family("gamma")


# --------------------------------------------------------------------------- weights, offsets


def test_offset_argument_equals_offset_in_the_formula_and_predicts():
    epil = mixnb.load_dataset("epil")
    in_formula = fit_of("epil_offset_weighted", "exchangeable")
    w = WEIGHTS["epil_offset_weighted"](epil)
    by_name = mixnb.gee(
        "y ~ trt + lage + V4", epil, groups="subject", family="poisson",
        correlation="exchangeable", time="period", weights=w, offset="lbase",
    )  # fmt: skip
    by_values = mixnb.gee(
        "y ~ trt + lage + V4", epil, groups="subject", family="poisson",
        correlation="exchangeable", time="period", weights=w, offset=epil["lbase"].to_numpy(),
    )  # fmt: skip
    for other in (by_name, by_values):
        np.testing.assert_allclose(
            other.coefficients["estimate"], in_formula.coefficients["estimate"], rtol=1e-10
        )
        np.testing.assert_allclose(other.standard_errors, in_formula.standard_errors, rtol=1e-10)
    # predictions add the offset of the new rows: exp(X beta + lbase)
    new = epil.head(6)
    x_beta = np.log(in_formula.predict(new).to_numpy()) - new["lbase"].to_numpy()
    shifted = new.assign(lbase=new["lbase"] + 1.0)
    np.testing.assert_allclose(
        np.log(in_formula.predict(shifted).to_numpy()), x_beta + new["lbase"] + 1.0, rtol=1e-12
    )
    np.testing.assert_allclose(by_name.predict(new), in_formula.predict(new), rtol=1e-12)
    with pytest.raises(mixnb.MixnbError, match="offset=..."):
        by_values.predict(new)
    np.testing.assert_allclose(
        by_values.predict(new, offset=new["lbase"].to_numpy()), in_formula.predict(new)
    )
    # fitted values are the model's means, offset included
    np.testing.assert_allclose(
        in_formula.fitted().to_numpy(), in_formula.predict(epil).to_numpy(), rtol=1e-12
    )


def test_weights_by_column_name_and_unit_weights():
    dietox = mixnb.load_dataset("dietox").assign(w=lambda d: 1 / d["Time"])
    by_name = mixnb.gee(
        "Weight ~ Time + Cu", dietox, groups="Pig", time="Time", correlation="exchangeable",
        weights="w",
    )  # fmt: skip
    ref = REFERENCE["dietox_weighted"]["exchangeable"]
    assert _rel(by_name.coefficients["estimate"], ref["estimate"]) < RTOL
    assert _rel(by_name.standard_errors["robust"], ref["robust_se"]) < RTOL
    # weights of 1 are the unweighted fit
    ones = mixnb.gee(
        "Weight ~ Time + Cu", dietox, groups="Pig", time="Time", correlation="ar1",
        weights=np.ones(len(dietox)),
    )  # fmt: skip
    plain = fit_of("dietox", "ar1")
    np.testing.assert_allclose(ones.coefficients, plain.coefficients, rtol=1e-10)
    np.testing.assert_allclose(ones.alpha, plain.alpha, rtol=1e-10)
    # weights scaled by a constant change neither the estimates, nor the scale (geepack's
    # sum w r^2 / sum w), nor the robust standard errors
    doubled = mixnb.gee(
        "Weight ~ Time + Cu", dietox, groups="Pig", time="Time", correlation="exchangeable",
        weights=2 * dietox["w"],
    )  # fmt: skip
    np.testing.assert_allclose(doubled.coefficients, by_name.coefficients, rtol=1e-9)
    np.testing.assert_allclose(doubled.scale, by_name.scale, rtol=1e-9)
    np.testing.assert_allclose(
        doubled.standard_errors["robust"], by_name.standard_errors["robust"], rtol=1e-9
    )


def test_weights_and_offsets_are_shown():
    fit = fit_of("epil_offset_weighted", "exchangeable")
    text = fit.summary()
    assert "Prior weights: given" in text
    assert "Offset: offset(lbase)" in text
    assert any("Prior weights (given) from 1 to 3" in n for n in fit.notes)
    html = fit._repr_html_()
    assert "Prior weights" in html and "offset(lbase)" in html
    assert fit.weights.index.equals(fit.fitted().index)


def test_bad_weights_and_offsets_are_explained():
    epil = mixnb.load_dataset("epil")
    base = {"groups": "subject", "family": "poisson", "time": "period"}
    with pytest.raises(DataError, match="positive"):
        mixnb.gee("y ~ trt", epil, weights=np.where(epil["period"] == 1, 0.0, 1.0), **base)
    with pytest.raises(DataError, match="one number per row"):
        mixnb.gee("y ~ trt", epil, weights=[1.0, 2.0], **base)
    with pytest.raises(DataError, match="names no column"):
        mixnb.gee("y ~ trt", epil, offset="exposure", **base)
    with pytest.raises(DataError, match="not a column"):
        mixnb.gee("y ~ trt + offset(np.log(exposure))", epil, **base)
    with pytest.raises(FormulaError, match="term of its own"):
        mixnb.gee("y ~ trt * offset(lbase)", epil, **base)
    with pytest.raises(DataError, match="infinite"):
        mixnb.gee("y ~ trt", epil, offset=np.full(len(epil), np.inf), **base)


def test_rows_missing_an_offset_or_weight_are_dropped_and_counted():
    epil = mixnb.load_dataset("epil")
    epil.loc[:2, "lbase"] = np.nan
    w = np.ones(len(epil))
    w[10:14] = np.nan
    with pytest.warns(mixnb.MissingDataWarning):
        fit = mixnb.gee(
            "y ~ trt + offset(lbase)", epil, groups="subject", family="poisson",
            time="period", weights=w,
        )  # fmt: skip
    assert fit.nobs == len(epil) - 7
    assert any("3 of 236 rows were dropped because their offset" in n for n in fit.notes)
    assert any("4 of 236 rows were dropped because their weight" in n for n in fit.notes)
    assert epil["lbase"].isna().sum() == 3  # the caller's frame is untouched
