"""``fit.summary()``: the Summary object, its styles, and the lme4 layout checked as a whole.

The expected lme4-layout texts are ``tests/reference/lme4_summary_{reml,ml}.txt`` filled with
the numbers lme4 printed (``tests/reference/summary_layout.R`` -> ``summary_layout.json``),
each formatted here by Python's own format specs, not by mixnb's formatting code.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from IPython.core.formatters import DisplayFormatter

import mixnb
from mixnb.display.report import Report
from mixnb.display.rich import render_markdown
from mixnb.display.summary import Summary

REFERENCE = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def sleep():
    return mixnb.load_dataset("sleepstudy")


@pytest.fixture(scope="module")
def slopes(sleep):
    return mixnb.lmm("Reaction ~ Days + (Days | Subject)", sleep)


# --------------------------------------------------------------------------- the whole text


def _r_p(p: float) -> str:
    """R's format.pval as lmerTest prints it: below 2.2e-16 '< 2e-16', else 3 digits."""
    if p < 2.2e-16:
        return "< 2e-16"
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.2e}"


def _expected(key: str) -> str:
    ref = json.loads((REFERENCE / "summary_layout.json").read_text())[key]
    q = ref["scaled_residual_quantiles"]
    vc = ref["varcorr"]
    variances = [r for r in vc if r["var2"] is None]
    (corr,) = [r for r in vc if r["var2"] is not None]
    co = ref["coefficients"]
    values = {
        "formula": ref["formula"],
        **{f"q{i}": f"{v:.4f}" for i, v in enumerate(q)},
        **{f"var{i}": f"{r['vcov']:#.4g}" for i, r in enumerate(variances)},
        **{f"sd{i}": f"{r['sdcor']:#.4g}" for i, r in enumerate(variances)},
        "corr01": f"{corr['sdcor']:.2f}",
        "nobs": ref["nobs"],
        "ngroups": ref["ngroups"]["Subject"],
        **{f"est{i}": f"{c['Estimate']:#.5g}" for i, c in enumerate(co)},
        **{f"se{i}": f"{c['Std. Error']:#.4g}" for i, c in enumerate(co)},
        **{f"df{i}": f"{c['df']:#.4g}" for i, c in enumerate(co)},
        **{f"t{i}": f"{c['t value']:.3f}" for i, c in enumerate(co)},
        **{f"p{i}": _r_p(c["Pr(>|t|)"]) for i, c in enumerate(co)},
        "fecorr": f"{ref['fixef_correlation']:.3f}",
    }
    if ref["reml"]:
        values["criterion"] = f"{ref['reml_criterion']:.4f}"
        name = "lme4_summary_reml.txt"
    else:
        ic = ref["aictab"]
        values.update(
            aic=f"{ic['AIC']:#.6g}",
            bic=f"{ic['BIC']:#.6g}",
            loglik=f"{ic['logLik']:#.6g}",
            deviance=f"{ic['deviance']:#.6g}",
            npar=ref["npar"],
        )
        name = "lme4_summary_ml.txt"
    return (REFERENCE / name).read_text().format(**values).rstrip("\n")


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_lme4_summary_whole_text_matches_lme4s_numbers(sleep, reml):
    fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", sleep, reml=reml)
    expected = _expected("sleepstudy_rs_reml" if reml else "sleepstudy_rs_ml")
    assert str(fit.summary()) == expected


# --------------------------------------------------------------------------- the object


def _all_results(sleep, slopes):
    line = mixnb.ols("Reaction ~ Days", sleep)
    epil = mixnb.load_dataset("epil")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.McmcWarning)  # a short run, for its layout only
        posterior = mixnb.sample(
            mixnb.lmm("Reaction ~ Days + (1 | Subject)", sleep),
            iterations=200,
            burn_in=50,
            chains=2,
            seed=1,
            progress=False,
        )
    return {
        "lmm": slopes,
        "ols": line,
        "comparison": mixnb.compare(mixnb.ols("Reaction ~ 1", sleep), line),
        "lrt": mixnb.compare(mixnb.lmm("Reaction ~ Days + (1 | Subject)", sleep), slopes),
        "wald": slopes.wald_test("Days"),
        "anova": slopes.anova(),
        "gee": mixnb.gee("y ~ trt + base + age", epil, groups="subject", family="poisson"),
        "mcmc": posterior,
    }


def test_every_result_summary_is_a_str_that_renders_rich(sleep, slopes):
    formatter = DisplayFormatter()
    for kind, result in _all_results(sleep, slopes).items():
        s = result.summary()
        assert isinstance(s, Summary) and isinstance(s, str), kind
        text = str(s)
        assert type(text) is str and "\n" in text, kind
        assert repr(s) == text and repr(result) == text, kind  # a console shows the layout
        bundle, _ = formatter.format(s)
        assert bundle["text/plain"] == text, kind  # not a quoted one-liner full of \n
        assert bundle["text/html"].startswith('<div class="mixnb-report"'), kind
        assert bundle["text/html"] == result._repr_html_(), kind


def test_summary_styles_are_case_insensitive_and_unknown_ones_refused(slopes, sleep):
    assert str(slopes.summary(style="SAS")) == str(slopes.summary(style="sas"))
    assert slopes.summary(style="Lme4").style == "lme4"
    assert "The Mixed Procedure" in slopes.summary(style="SAS")
    for bad in ("stata", "spss", ""):
        with pytest.raises(mixnb.MixnbError) as err:
            slopes.summary(style=bad)
        assert "'lme4', 'sas'" in str(err.value) and repr(bad) in str(err.value)
    with pytest.raises(mixnb.MixnbError, match="choose one of 'r'"):
        mixnb.ols("Reaction ~ Days", sleep).summary(style="lme4")


def test_sas_summary_renders_as_a_monospaced_block_with_its_text_escaped(slopes):
    s = slopes.summary(style="sas", ddf="between-within")
    html = s._repr_html_()
    assert html.startswith('<pre class="mixnb-summary"') and "Between-Within" in html
    assert "Covariance Parameter Estimates" in html


def test_summary_ddf_applies_to_the_lme4_layout(slopes):
    text = str(slopes.summary(ddf="kenward-roger"))
    assert "Fixed effects (t tests with Kenward-Roger's degrees of freedom" in text
    kr = slopes.test_fixed("kenward-roger")
    assert f"{kr['df'].iloc[0]:#.4g}" in text


# --------------------------------------------------------------------------- markdown fence


CRAFTED = "y ~ x` <img src=x onerror=alert(1)> `` ``` z"


def test_markdown_fences_a_formula_longer_than_any_backtick_run():
    from markdown_it import MarkdownIt

    markdown = render_markdown(Report(title="Fit", subtitle=CRAFTED))
    html = MarkdownIt("commonmark").render(markdown)
    assert "<img" not in html  # the formula never leaves its code span
    code = html.split("<code>", 1)[1].split("</code>", 1)[0]
    assert code == CRAFTED.replace("<", "&lt;").replace(">", "&gt;")


def test_markdown_of_a_fit_whose_formula_quotes_names_in_backticks(sleep):
    from markdown_it import MarkdownIt

    fit = mixnb.lmm("`Reaction` ~ `Days` + (1 | Subject)", sleep)
    html = MarkdownIt("commonmark").render(fit.to_markdown())
    assert "<code>`Reaction` ~ `Days` + (1 | Subject)</code>" in html
