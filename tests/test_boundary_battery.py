"""Near-boundary battery: Satterthwaite (lmerTest 3.1-3) and Kenward-Roger (pbkrtest 0.5.2).

Every case of ``tests/reference/boundary_battery.R`` (data in ``tests/data/boundary/``):
correlations within 1e-3 of +/-1, variances near or at zero, 4 to 8 groups, REML and ML,
one and two grouping factors. R fitted each with bobyqa to rhoend = 1e-10.

Tolerances: Satterthwaite df 1e-2 relative (they rest on numerical second derivatives
right next to the boundary, computed by numDeriv in R and by mixnb's own differences);
Kenward-Roger df, F, F scaling and p 1e-3 relative (closed-form given the estimates).
Every fit runs with warnings turned into errors: no numpy warning may reach a user.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixnb
from conftest import python_term

HERE = Path(__file__).parent
REFERENCE = json.loads((HERE / "reference" / "boundary_reference.json").read_text())
CASES = REFERENCE["cases"]
SATTERTHWAITE_RTOL = 1e-2
KR_RTOL = 1e-3
_FITS: dict[str, mixnb.LmmResult] = {}


def fit_of(case: str) -> mixnb.LmmResult:
    """The mixnb fit of a battery case, with every warning but mixnb's own an error."""
    if case not in _FITS:
        spec = CASES[case]
        data = pd.read_csv(HERE.parent / spec["data"], dtype={"g": str, "h": str})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.simplefilter("ignore", mixnb.MixnbWarning)
            fit = mixnb.lmm(spec["mixnb_formula"], data, reml=spec["reml"])
            # everything the tests below read, computed under the same filter
            _ = fit.fixed_effects, fit.variance_components, fit.notes
            if spec["reml"]:
                fit.test_fixed("kenward-roger")
        _FITS[case] = fit
    return _FITS[case]


def _terms(spec: dict) -> list[str]:
    return [python_term(t) for t in spec["satterthwaite"]]


def test_the_battery_covers_what_it_promises():
    fits = {case: CASES[case] for case in CASES}
    assert {spec["reml"] for spec in fits.values()} == {True, False}
    assert any(len(spec["ngroups"]) == 2 for spec in fits.values())
    assert all(4 <= min(spec["ngroups"].values()) <= 8 for spec in fits.values())
    corrs = [
        abs(row["sdcor"])
        for spec in fits.values()
        for row in spec["varcorr"]
        if row["var2"] is not None and row["grp"] != "Residual"
    ]
    assert sum(0.999 < r < 1 for r in corrs) >= 4
    assert any(spec["is_singular"] for spec in fits.values())


@pytest.mark.parametrize("case", sorted(CASES))
def test_optimum_is_at_least_as_good_as_lme4(case):
    spec = CASES[case]
    fit = fit_of(case)
    objective = fit.reml_criterion if spec["reml"] else fit.deviance
    assert objective <= spec["objective"] + 1e-6
    assert objective == pytest.approx(spec["objective"], abs=1e-5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_satterthwaite_df_match_lmertest(case):
    spec = CASES[case]
    fit = fit_of(case)
    table = fit.fixed_effects
    ref = pd.DataFrame(spec["satterthwaite"]).T
    ref.index = _terms(spec)
    np.testing.assert_allclose(
        table.loc[ref.index, "df"], ref["df"].astype(float), rtol=SATTERTHWAITE_RTOL
    )
    np.testing.assert_allclose(
        table.loc[ref.index, "std_error"], ref["se"].astype(float), rtol=1e-4
    )
    joint = fit.wald_test([python_term(t) for t in spec["hypothesis"]])
    expected = spec["contest_satterthwaite"]
    assert joint.f == pytest.approx(expected["F"], rel=1e-4)
    assert joint.table["dendf"].iloc[0] == pytest.approx(expected["dendf"], rel=SATTERTHWAITE_RTOL)


@pytest.mark.parametrize("case", sorted(c for c in CASES if CASES[c]["reml"]))
def test_kenward_roger_matches_pbkrtest(case):
    spec = CASES[case]
    fit = fit_of(case)
    table = fit.test_fixed("kenward-roger")
    ref = pd.DataFrame(spec["kenward_roger"]).T
    ref.index = _terms(spec)
    np.testing.assert_allclose(table.loc[ref.index, "df"], ref["df"].astype(float), rtol=KR_RTOL)
    np.testing.assert_allclose(
        table.loc[ref.index, "std_error"], ref["se"].astype(float), rtol=KR_RTOL
    )
    test = fit.wald_test([python_term(t) for t in spec["hypothesis"]], ddf="kenward-roger")
    expected = spec["krmodcomp"]
    assert test.f == pytest.approx(expected["F"], rel=KR_RTOL)
    assert test.f_scaling == pytest.approx(expected["F_scaling"], rel=KR_RTOL)
    assert test.table["dendf"].iloc[0] == pytest.approx(expected["ddf"], rel=KR_RTOL)
    assert test.p == pytest.approx(expected["p"], rel=KR_RTOL)


@pytest.mark.parametrize("case", sorted(CASES))
def test_unreliable_df_are_said_plainly(case):
    """A fit on the boundary gets a note on its df; one next to it a note that they are rough."""
    spec = CASES[case]
    fit = fit_of(case)
    notes = " ".join(fit.fixed_effects.attrs["notes"])
    if spec["is_singular"]:
        assert fit.is_singular
        assert "Satterthwaite df are unreliable" in notes
        assert any("unreliable" in n for n in fit.notes)
    elif fit.estimates.nearly_singular_terms:
        assert "almost perfectly correlated" in notes
    joint = fit.wald_test([python_term(t) for t in spec["hypothesis"]])
    assert set(fit.fixed_effects.attrs["notes"]) <= set(joint.notes)


def test_chapter_three_gets_lmertest_df_not_the_residual_df():
    """Chapter 3's group-level model: lmerTest's df about 2 (4 centres), not 36."""
    fit = fit_of("centers_level2_reml")
    assert (fit.fixed_effects["df"] < 2.2).all()
    joint = fit.wald_test(["w", "x:w"])
    assert joint.table["dendf"].iloc[0] == pytest.approx(2.0468, rel=1e-3)


def test_variance_component_standard_errors_next_to_the_boundary():
    """Chapter 3's fit (correlation -0.9999): the delta-method SEs agree with a dense
    Hessian taken directly in the variances (test_variance_se's independent reference);
    terms on the boundary have none. Steps in the variances must stay below the distance
    to a singular covariance (1e-4 in the correlation), where the dense differences carry
    rounding noise of a few 1e-3 (steps 3e-6 to 3e-5 give 133.8 to 139.3 for the first
    SE), hence the tolerance."""
    from test_variance_se import dense_slope_standard_errors

    fit = fit_of("centers_level2_reml")
    expected = dense_slope_standard_errors(fit, 1e-5)
    np.testing.assert_allclose(fit.variance_components["std_error"], expected, rtol=5e-3)
    singular = fit_of("singular_slope_5g_reml").variance_components.set_index("group")
    assert singular.loc["g", "std_error"].isna().all()
    assert np.isfinite(singular.loc["Residual", "std_error"])


def test_a_correlation_of_one_leaks_no_numpy_warning():
    """Item 8 of issue 10: the information at a correlation of +1 once printed numpy's
    'invalid value encountered in scalar subtract'."""
    data = pd.read_csv(HERE / "data" / "near_perfect_correlation.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", mixnb.MixnbWarning)
        for reml in (True, False):
            fit = mixnb.lmm("y ~ x + (x | g)", data, reml=reml)
            _ = fit.variance_components, fit.fixed_effects, fit.notes
            fit.wald_test([[0, 1], [1, 0]])
            repr(fit)
            if reml:
                fit.wald_test([[0, 1], [1, 0]], ddf="kenward-roger")
    assert fit.is_singular
