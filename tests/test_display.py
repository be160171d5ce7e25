"""Rich display (HTML, Markdown, LaTeX), the SAS layout, equations and matrices."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import mixnb
from mixnb.display.equations import Equation, Matrices, latex_number
from mixnb.display.report import Report, Table, build_report
from mixnb.display.rich import format_cell, to_html, to_latex, to_markdown
from mixnb.display.sas import sas_summary
from mixnb.estimation.by_group import per_group_least_squares, shrinkage_factor
from mixnb.estimation.matrices import random_effects_covariance, random_effects_rows

EVIL = "<script>alert(1)</script>"


def quiet_lmm(formula: str, data: pd.DataFrame, **kw) -> mixnb.LmmResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mixnb.lmm(formula, data, **kw)


@pytest.fixture(scope="module")
def line(sleep) -> mixnb.OlsResult:
    return mixnb.ols("Reaction ~ Days", sleep)


@pytest.fixture(scope="module")
def evil_fit(sleep) -> mixnb.LmmResult:
    """A fit whose column names and levels are HTML."""
    data = sleep.rename(columns={"Days": EVIL, "Subject": "<b>subject</b>"}).copy()
    data["<b>subject</b>"] = "<i>" + data["<b>subject</b>"].astype(str) + "</i>"
    return mixnb.lmm(f"Reaction ~ `{EVIL}` + (`{EVIL}` | `<b>subject</b>`)", data)


def text_of(html: str) -> str:
    """The visible text of an HTML fragment (tags removed, entities decoded)."""
    import html as html_module

    return html_module.unescape(re.sub(r"<[^>]+>", " ", html))


# --------------------------------------------------------------------------- report


def test_lmm_report_follows_lme4_layout(slopes):
    report = build_report(slopes)
    assert report.title == "Linear mixed model fit by REML"
    assert report.subtitle == "Reaction ~ Days + (Days | Subject)"
    titles = [t.title for t in report.tables]
    assert titles[:3] == ["Random effects", "Random-effect covariances", "Fixed effects"]
    assert "Scaled residuals" in titles
    facts = {f.label: f.value for f in report.facts}
    assert facts["Observations"] == 180
    assert facts["Subject groups"] == 18
    assert facts["REML criterion"] == pytest.approx(slopes.reml_criterion)

    random = report.tables[0].frame
    assert list(random["Groups"]) == ["Subject", "", "Residual"]
    assert list(random["Name"]) == ["Intercept", "Days", ""]
    vc = slopes.variance_components
    assert random["Variance"].tolist() == pytest.approx(
        vc[vc["term1"] == vc["term2"]]["estimate"].tolist()
    )
    assert random["Std. Error"].iloc[0] == pytest.approx(vc["std_error"].iloc[0])
    assert random["Corr"].iloc[1] == f"{vc['sd_corr'].iloc[2]:.2f}"

    covariances = report.tables[1].frame
    assert covariances["Covariance"].iloc[0] == pytest.approx(vc["estimate"].iloc[2])
    assert covariances["Std. Error"].iloc[0] == pytest.approx(vc["std_error"].iloc[2])

    fixed = report.tables[2]
    assert list(fixed.frame.index) == ["Intercept", "Days"]
    assert fixed.frame["Estimate"].tolist() == pytest.approx(
        slopes.fixed_effects["estimate"].tolist()
    )
    assert fixed.format_of("Estimate") == "sig:5"


def test_ml_report_shows_information_criteria(sleep):
    fit = mixnb.lmm("Reaction ~ Days + (1 | Subject)", sleep, reml=False)
    facts = {f.label: f.value for f in build_report(fit).facts}
    assert facts["AIC"] == pytest.approx(fit.aic)
    assert facts["logLik"] == pytest.approx(fit.loglik)
    assert "REML criterion" not in facts
    assert "by maximum likelihood" in to_html(fit)


def test_ols_and_comparison_reports(sleep, line):
    report = build_report(line)
    facts = {f.label: f.value for f in report.facts}
    assert facts["R-squared"] == pytest.approx(line.rsquared)
    coefficients = report.tables[0]
    assert coefficients.title == "Coefficients"
    assert "Pr(>|t|)" in coefficients.frame.columns
    assert coefficients.format_of("Pr(>|t|)") == "p"

    comparison = mixnb.compare(mixnb.ols("Reaction ~ 1", sleep), line)
    report = build_report(comparison)
    assert [f.value for f in report.facts] == ["Reaction ~ 1", "Reaction ~ Days"]
    frame = report.tables[0].frame
    assert frame["F value"].iloc[1] == pytest.approx(comparison.f)
    assert np.isnan(frame["F value"].iloc[0])
    assert "Pr(&gt;F)" in to_html(comparison)


def test_generic_report_for_any_object_with_a_table():
    class Result:
        title = f"A test {EVIL}"
        table = pd.DataFrame(
            {"statistic": [2.5], "df": [3], "p": [0.01], "term": [EVIL]},
            index=pd.Index([EVIL], name="row"),
        )
        notes = [f"note {EVIL}"]

    report = build_report(Result())
    table = report.tables[0]
    assert table.index == "row"
    assert table.format_of("p-value") == "p"
    assert table.format_of("df") == "df"
    assert table.format_of("term") == "text"
    html = to_html(Result())
    assert "<script>" not in html
    assert text_of(html).count(EVIL) == 4  # title, index, cell, note
    assert "&lt;script&gt;" in to_markdown(Result())
    assert r"\textless{}script\textgreater{}" in to_latex(Result())


def test_generic_report_of_an_inference_result(slopes):
    from mixnb.results.inference import TestResult

    result = TestResult("Wald tests", pd.DataFrame({"F": [3.2], "numdf": [1], "p": [0.08]}))
    html = result._repr_html_()
    assert "Wald tests" in html and "NumDF" in html and "0.08" in html


def test_format_cell():
    assert format_cell(251.40510, "sig:5") == "251.41"
    assert format_cell(0.000012345, "sig:3") == "1.23e-05"
    assert format_cell(3.14159, "fixed:2") == "3.14"
    assert format_cell(3e-20, "p") == "< 2e-16"
    assert format_cell(0.0123, "p") == "0.0123"
    assert format_cell(17.0000004, "df") == "17"
    assert format_cell(24.789, "df") == "24.79"
    assert format_cell(178, "int") == "178"
    assert format_cell(np.nan, "sig:4") == ""
    assert format_cell(None, "text") == ""
    assert format_cell(float("inf"), "sig:4") == "Inf"
    assert format_cell("A", "sig:4") == "A"


# --------------------------------------------------------------------------- HTML


def test_html_shows_every_part_of_an_lmm(slopes):
    html = slopes._repr_html_()
    assert html.startswith('<div class="mixnb-report"')
    text = text_of(html)
    for piece in (
        "Linear mixed model fit by REML",
        "Reaction ~ Days + (Days | Subject)",
        "Random effects",
        "Fixed effects",
        "Scaled residuals",
        "Correlation of fixed effects",
        "251.41",  # intercept, 5 significant digits
        "612.1",  # subject intercept variance
        "654.9",  # residual variance
        "1743.6283",  # REML criterion
    ):
        assert piece in text, piece
    assert "<details>" in html  # the fixed-effect correlations are folded away
    assert "<script" not in html and "http" not in html  # no scripts, no external assets
    assert "var(--jp-content-font-color1" in html  # follows the JupyterLab theme


def test_html_escapes_every_user_string(evil_fit):
    html = evil_fit._repr_html_()
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text = text_of(html)
    assert EVIL in text  # shown as text: in the formula and the tables
    assert "<b>subject</b> groups" in text


def test_markdown_and_latex_escape_user_strings(evil_fit):
    markdown = evil_fit.to_markdown()
    assert "<script>" not in markdown.replace(f"`{EVIL}`", "")  # only inside the code span
    assert "&lt;b&gt;subject&lt;/b&gt;" in markdown
    latex = evil_fit.to_latex()
    assert "<" not in latex and ">" not in latex
    assert r"\textless{}script\textgreater{}" in latex
    assert latex.count(r"\begin{tabular}") == latex.count(r"\end{tabular}") >= 3


def test_markdown_tables_are_well_formed(slopes):
    markdown = slopes._repr_markdown_()
    assert markdown.startswith("**Linear mixed model fit by REML**")
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    header_cells = table[0].count("|")
    block = []
    for line in table:
        if block and line.count("|") != block[0].count("|"):
            block = []
        block.append(line)
        assert line.count("|") == block[0].count("|")
    assert header_cells >= 6
    assert r"Pr(&gt;\|t\|)" in markdown  # pipes escaped inside a table


def test_latex_uses_booktabs(line):
    latex = line.to_latex()
    assert latex.startswith(r"\textbf{Least-squares fit}")
    assert r"\toprule" in latex and r"\midrule" in latex and r"\bottomrule" in latex
    assert r"Reaction \textasciitilde{} Days" in latex


def test_notes_are_shown_in_a_visible_box(sleep):
    singular = quiet_lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff2"))
    html = singular._repr_html_()
    assert 'class="mixnb-note"' in html
    assert "Singular fit" in text_of(html)
    assert "> **Note:** Singular fit" in singular.to_markdown()

    data = sleep.copy()
    data.loc[[0, 5], "Reaction"] = np.nan
    dropped = quiet_lmm("Reaction ~ Days + (1 | Subject)", data)
    assert "2 of 180 rows were dropped" in text_of(dropped._repr_html_())


def test_rendering_a_report_directly():
    report = Report(
        title="T",
        tables=[Table(pd.DataFrame({"a": [1.5]}), {"a": "fixed:1"}, title="tab", collapsed=True)],
    )
    assert "<summary" in to_html(report) and "1.5" in to_html(report)
    assert "*tab*" in to_markdown(report)


# --------------------------------------------------------------------------- SAS


def test_sas_summary_layout(slopes):
    text = slopes.summary(style="sas")
    assert text == sas_summary(slopes)
    for heading in (
        "Model Information",
        "Dimensions",
        "Covariance Parameter Estimates",
        "Fit Statistics",
        "Solution for Fixed Effects",
    ):
        assert heading in text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("Cov Parm"))
    assert header.split() == ["Cov", "Parm", "Subject", "Estimate", "Standard", "Error"]
    un11 = next(line for line in lines if line.startswith("UN(1,1)")).split()
    assert un11[1] == "Subject" and float(un11[2]) == pytest.approx(612.09, abs=0.01)
    assert [line.split()[0] for line in lines if re.match(r"UN\(\d", line)] == [
        "UN(1,1)",
        "UN(2,1)",
        "UN(2,2)",
    ]
    residual = next(line for line in lines if re.match(r"Residual\s+\d", line)).split()
    assert float(residual[1]) == pytest.approx(slopes.sigma**2, rel=1e-4)
    assert "-2 Res Log Likelihood" in text
    effect_header = next(line for line in lines if line.startswith("Effect"))
    assert "DF" in effect_header and "t Value" in effect_header and "Pr > |t|" in effect_header
    days = next(line for line in lines if line.startswith("Days ")).split()
    assert days[-1] == "<.0001" and days[-3] == "17"


def test_sas_summary_without_df_and_p(sleep):
    fit = mixnb.lmm("Reaction ~ Days + (1 | Subject)", sleep)
    fit.__dict__["fixed_effects"] = fit.fixed_effects[["estimate", "std_error", "t"]]
    text = sas_summary(fit)
    effect_header = next(line for line in text.splitlines() if line.startswith("Effect"))
    assert "DF" not in effect_header and "Pr > |t|" not in effect_header
    assert "t Value" in effect_header
    assert "Intercept" in text and "Subject" in text


def test_sas_summary_names_levels_like_sas():
    fit = mixnb.lmm("angle ~ recipe + temp + (1 | recipe:replicate)", mixnb.load_dataset("cake"))
    text = sas_summary(fit)
    row = next(line for line in text.splitlines() if line.startswith("recipe ")).split()
    assert row[:2] == ["recipe", "B"]
    assert "Variance Components" in text


def test_sas_summary_with_crossed_factors_and_notes():
    fit = quiet_lmm(
        "diameter ~ 1 + (1 | plate) + (1 | sample)", mixnb.load_dataset("penicillin"), reml=False
    )
    text = sas_summary(fit)
    assert "Levels of plate" in text and "-2 Log Likelihood" in text
    singular = quiet_lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff2"))
    assert "NOTE: Singular fit" in sas_summary(singular)


# --------------------------------------------------------------------------- equations


def test_hierarchical_equation_with_symbols(slopes):
    equation = slopes.equation()
    assert isinstance(equation, Equation)
    latex = equation.latex
    assert r"\mathrm{Reaction}_{ij} = \beta_{0j} + \beta_{1j}\,\mathrm{Days}_{ij} + e_{ij}" in latex
    assert r"\beta_{0j} = \beta_{0} + u_{0j}" in latex
    assert r"\beta_{1j} = \beta_{1} + u_{1j}" in latex
    assert r"\sigma^2_{0} & \sigma_{01} \\ \sigma_{01} & \sigma^2_{1}" in latex
    assert r"e_{ij} \sim N\left(0,\ \sigma^2_e\right)" in latex
    assert equation._repr_latex_().startswith("$$") and "$$" in equation._repr_markdown_()
    assert "levels of `Subject`" in equation._repr_markdown_()


def test_combined_equation_with_estimates(slopes):
    latex = slopes.equation(form="combined", estimates=True).latex
    b0, b1 = slopes.fixed_effects["estimate"]
    assert f"\\left({latex_number(b0)} + {latex_number(b1)}\\,\\mathrm{{Days}}_{{ij}}\\right)" in (
        latex
    )
    assert r"\left(u_{0j} + u_{1j}\,\mathrm{Days}_{ij} + e_{ij}\right)" in latex
    cov = slopes.estimates.covariances[0]
    assert latex_number(cov[0, 0]) in latex and latex_number(cov[0, 1]) in latex
    assert latex_number(slopes.sigma**2) in latex
    assert r"V = Z\Omega Z' + \sigma^2_e I" in latex


def test_equation_signs_and_crossed_factors():
    fit = mixnb.lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", mixnb.load_dataset("penicillin"))
    latex = fit.equation().latex
    assert r"\beta_{0jk} = \beta_{0} + u_{0j} + v_{0k}" in latex
    assert r"\sigma^2_{u0}" in latex and r"\sigma^2_{v0}" in latex
    ols = mixnb.ols("y ~ x", pd.DataFrame({"x": [0.0, 1, 2, 3], "y": [5.0, 3.1, 0.9, -1.0]}))
    assert r"= 5.03 - 2.02\,\mathrm{x}_{i} + e_{i}" in ols.equation(estimates=True).latex
    with pytest.raises(ValueError, match="form must be one of"):
        fit.equation(form="matrix")


def test_equation_escapes_names(evil_fit):
    equation = evil_fit.equation()
    assert "<" not in equation.latex and ">" not in equation.latex
    assert r"\lt script\gt" in equation.latex


def test_ols_equation(line):
    latex = line.equation().latex
    assert r"\mathrm{Reaction}_{i} = \beta_{0} + \beta_{1}\,\mathrm{Days}_{i} + e_{i}" in latex
    assert "251.4 + 10.47" in line.equation(estimates=True).latex


# --------------------------------------------------------------------------- matrices


def _dense_v(fit: mixnb.LmmResult) -> np.ndarray:
    rows = np.arange(fit.nobs)
    z = random_effects_rows(fit.design, rows)
    omega = random_effects_covariance(fit.design, fit.estimates.covariances, np.arange(z.shape[1]))
    return z @ omega @ z.T + fit.sigma**2 * np.eye(fit.nobs)


@pytest.mark.parametrize(
    "dataset, formula",
    [
        ("dyestuff", "Yield ~ 1 + (1 | Batch)"),
        ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
        ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    ],
)
def test_marginal_covariance_is_z_omega_z_plus_w(dataset, formula):
    fit = mixnb.lmm(formula, mixnb.load_dataset(dataset))
    dense = _dense_v(fit)
    rows = np.array([0, 1, 2, 7, 11, 25])
    assert fit.marginal_covariance(rows) == pytest.approx(dense[np.ix_(rows, rows)])
    # the marginal variance of one row: intercept variance(s) plus the residual
    if dataset != "sleepstudy":
        variances = sum(c[0, 0] for c in fit.estimates.covariances)
        assert dense[0, 0] == pytest.approx(variances + fit.sigma**2)


def test_matrices_show_the_first_groups(slopes):
    matrices = slopes.matrices(max_rows=8)
    assert isinstance(matrices, Matrices)
    names = [body.split("=")[0].strip() for _, body in matrices.blocks]
    assert names == ["y", "Z", r"\Omega", "W", "V"]
    assert "Rows 1, 2, 3, 4, 11, 12, 13, 14 of 180" in matrices.caption
    z_block = matrices.blocks[1][1]
    assert r"\mathrm{308{:}Intercept}" in z_block and r"\mathrm{309{:}Days}" in z_block
    assert r"\cdots" in z_block and r"\vdots" in z_block
    v_block = matrices.blocks[4][1]
    v = slopes.marginal_covariance(np.array([0, 1, 2, 3, 10, 11, 12, 13]))
    assert latex_number(v[0, 0]) in v_block and latex_number(v[0, 1]) in v_block
    assert "$$" in matrices._repr_markdown_() and matrices.caption in matrices._repr_markdown_()


def test_matrices_of_a_small_data_set_are_complete():
    data = pd.DataFrame({"g": ["a", "a", "b", "b", "c", "c"], "y": [1.0, 2.0, 4.0, 3.5, 6.0, 7.5]})
    fit = quiet_lmm("y ~ 1 + (1 | g)", data)
    matrices = fit.matrices()
    assert matrices.caption.startswith("All 6 rows")
    assert all(r"\vdots" not in body and r"\cdots" not in body for _, body in matrices.blocks)


# --------------------------------------------------------------------------- by group


def test_per_group_least_squares_matches_polyfit(slopes, sleep):
    own = per_group_least_squares(slopes.design)
    assert list(own.columns) == ["Intercept", "Days", "n"]
    for subject in (308, 335, 372):
        rows = sleep[sleep["Subject"] == subject]
        slope, intercept = np.polyfit(rows["Days"], rows["Reaction"], 1)
        assert own.loc[subject, "Days"] == pytest.approx(slope)
        assert own.loc[subject, "Intercept"] == pytest.approx(intercept)
        assert own.loc[subject, "n"] == 10
    with pytest.raises(mixnb.ModelError, match="no grouping factor"):
        per_group_least_squares(slopes.design, "Days")


def test_per_group_least_squares_leaves_out_groups_too_small():
    data = pd.DataFrame(
        {
            "g": ["a"] * 4 + ["b"] * 4 + ["c"],
            "x": [0.0, 1, 2, 3, 0, 1, 2, 3, 5],
            "y": [1.0, 2.2, 2.9, 4.1, 3.0, 2.1, 0.9, 0.2, 7.0],
        }
    )
    fit = quiet_lmm("y ~ x + (x | g)", data)
    own = per_group_least_squares(fit.design)
    assert own.loc["c", ["Intercept", "x"]].isna().all()
    assert own.loc["a", "x"] == pytest.approx(np.polyfit(data["x"][:4], data["y"][:4], 1)[0])


def test_shrinkage_factor():
    assert shrinkage_factor(10, 4.0, 40.0) == 0.5
    assert shrinkage_factor(1, 0.0, 1.0) == 0.0
    assert shrinkage_factor(1000, 1.0, 1.0) == pytest.approx(1000 / 1001)
