"""A newcomer's first hour (issue 12) and numbers a student can trust (issue 10, items 5-6).

Each test tries what a new user would and checks that it works, or that mixnb says clearly
what is wrong and how to fix it, never with another library's traceback.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest

import mixnb
import mixnb.charts
from mixnb.estimation import igls

F = "Reaction ~ Days + (1 | Subject)"


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --------------------------------------------------------------------------- data that crashed


@pytest.mark.parametrize("fit", [mixnb.lmm, mixnb.ols])
def test_one_row_of_data_is_a_clear_error(sleep, fit, quiet):
    formula = F if fit is mixnb.lmm else "Reaction ~ Days"
    with pytest.raises(mixnb.DataError, match=r"Only one row of data"):
        fit(formula, sleep.iloc[:1])


def test_fewer_rows_than_coefficients_is_a_clear_error(sleep, quiet):
    with pytest.raises(mixnb.ModelError, match=r"3 fixed-effect coefficient\(s\) but only 3 rows"):
        mixnb.ols("Reaction ~ Days + I(Days**2)", sleep.iloc[[0, 1, 2]])


@pytest.mark.parametrize("method", ["PLS", "IGLS", "RIGLS"])
def test_a_constant_response_is_refused_without_iterating(sleep, method, monkeypatch, quiet):
    def never(*args, **kwargs):  # pragma: no cover - reached only if the check is missing
        raise AssertionError("IGLS must not start on a constant response")

    monkeypatch.setattr(igls, "fit_igls", never)
    with pytest.raises(mixnb.DataError, match=r"same value \(250\) in every row"):
        mixnb.lmm(F, sleep.assign(Reaction=250.0), method=method)


def test_duplicated_column_names_are_named(sleep, quiet):
    doubled = pd.concat([sleep, sleep[["Days"]]], axis=1)
    with pytest.raises(mixnb.DataError, match=r"more than one column named 'Days'"):
        mixnb.lmm(F, doubled)
    # a duplicated column the formula does not use does no harm
    unused = sleep.assign(x=1.0, z=2.0).rename(columns={"z": "x"})
    mixnb.lmm(F, unused)


def test_integer_column_names_are_accepted_like_the_model_builder(sleep, quiet):
    """``df.columns = [0, 1, 2]`` and "`0` ~ `1` + (1 | `2`)": `1` is the column, not 1."""
    numbered = sleep.copy()
    numbered.columns = [0, 1, 2]
    before = numbered.copy()
    fit = mixnb.lmm("`0` ~ `1` + (`1` | `2`)", numbered)
    named = mixnb.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    assert fit.reml_criterion == pytest.approx(named.reml_criterion, rel=1e-12)
    np.testing.assert_allclose(
        fit.fixed_effects["estimate"].to_numpy(),
        named.fixed_effects["estimate"].to_numpy(),
        rtol=1e-7,
    )
    assert fit.design.fixed.columns == ["Intercept", "`1`"]
    assert fit.design.response_name == "0" and fit.design.random[0].factor.name == "2"
    pd.testing.assert_frame_equal(numbered, before)
    # predictions for new rows with the same integer names, with and without groups
    np.testing.assert_allclose(fit.predict(numbered.head()), named.predict(sleep.head()))
    fixed_only = fit.predict(numbered[[1]].head(), include_random=False)
    np.testing.assert_allclose(fixed_only, named.predict(sleep.head(), include_random=False))
    ols = mixnb.ols("`0` ~ `1`", numbered)
    assert ols.predict(numbered.head()).to_numpy() == pytest.approx(
        mixnb.ols("Reaction ~ Days", sleep).predict(sleep.head()).to_numpy(), rel=1e-12
    )


def test_multiindex_columns_say_how_to_flatten(sleep, quiet):
    data = sleep.copy()
    data.columns = pd.MultiIndex.from_tuples([("a", "Reaction"), ("a", "Days"), ("b", "Subject")])
    with pytest.raises(mixnb.DataError, match=r"MultiIndex columns") as err:
        mixnb.lmm(F, data)
    message = str(err.value)
    assert "'_'.join(map(str, c))" in message and "'a_Reaction'" in message
    flat = data.copy()
    flat.columns = ["_".join(map(str, c)) for c in flat.columns]
    mixnb.lmm("a_Reaction ~ a_Days + (1 | b_Subject)", flat)  # the advice works


def test_a_datetime_predictor_says_convert_to_days(sleep, quiet):
    data = sleep.assign(date=pd.Timestamp("2024-01-01") + pd.to_timedelta(sleep.Days, unit="D"))
    with pytest.raises(mixnb.DataError, match=r"'date' holds dates/times.*number of days"):
        mixnb.lmm("Reaction ~ date + (1 | Subject)", data)
    # dates are fine as groups
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.SingularFitWarning)
        fit = mixnb.lmm("Reaction ~ Days + (1 | date)", data)
    assert fit.design.random[0].factor.n_levels == 10
    # and as categories of a fixed effect
    ols = mixnb.ols("Reaction ~ C(date)", data)
    assert len(ols.coefficients) == 10


def test_formula_errors_carry_no_terminal_colour_codes(sleep):
    with pytest.raises(mixnb.FormulaError) as err:
        mixnb.lmm("Reaction ~ ((1|Subject)|Subject)", sleep)
    assert "another random term left of its bar" in str(err.value)
    with pytest.raises(mixnb.FormulaError) as err:
        mixnb.lmm("Reaction ~ Days + (1 | Subject) + C(Days, levels=[)", sleep)
    assert "\x1b[" not in str(err.value)
    for bad in ("Reaction ~ Days ++ (1|Subject)", "Reaction ~ Days + (1|Subject) + (x"):
        with pytest.raises(mixnb.FormulaError) as err:
            mixnb.lmm(bad, sleep)
        assert "\x1b[" not in str(err.value)


def test_plain_message_strips_ansi_and_marker_glyphs():
    from mixnb.design import plain_message

    raw = ValueError("Operator `|` is incorrectly used.\n\n(1\u29db\x1b[1;31m|\x1b[0m\u29daS)")
    assert plain_message(raw) == "Operator `|` is incorrectly used.\n\n(1|S)"


# --------------------------------------------------------------------------- messages that misled


def test_a_missing_bar_is_named(sleep):
    with pytest.raises(mixnb.FormulaError, match=r"'\(Days Subject\)' has no bar") as err:
        mixnb.lmm("Reaction ~ Days + (Days Subject)", sleep)
    assert "(Days | Subject)" in str(err.value)
    assert "has no random-effect term" not in str(err.value)


@pytest.mark.parametrize("method", ["ML", "ml", "MLE"])
def test_method_ml_points_to_reml_false(sleep, method):
    with pytest.raises(mixnb.MixnbError, match=r"reml=False for maximum likelihood"):
        mixnb.lmm(F, sleep, method=method)


def test_upper_case_reml_keyword_gets_did_you_mean(sleep):
    with pytest.raises(mixnb.MixnbError, match=r"no argument 'REML'\. Did you mean reml=False\?"):
        mixnb.lmm(F, sleep, REML=False)
    with pytest.raises(mixnb.MixnbError, match=r"ols\(\) has no argument 'weight'"):
        mixnb.ols("Reaction ~ Days", sleep, weight=1)


@pytest.mark.parametrize("value", ["False", "true", 0, None])
def test_reml_must_be_a_boolean(sleep, value):
    with pytest.raises(mixnb.MixnbError, match=r"reml must be True or False") as err:
        mixnb.lmm(F, sleep, reml=value)
    if value == "False":
        assert "reml=False without quotes" in str(err.value)


def test_singular_text_for_a_correlation_of_one_says_lockstep():
    from tests.test_bad_input import DATA

    data = pd.read_csv(DATA / "near_perfect_correlation.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = mixnb.lmm("y ~ x + (x | g)", data, reml=False)
    notes = [str(w.message) for w in caught if issubclass(w.category, mixnb.SingularFitWarning)]
    assert fit.is_singular and notes
    assert "perfectly correlated" in notes[0] and "lockstep" in notes[0]
    assert "differ no more than the residual noise" not in notes[0]


def test_compare_counts_the_added_covariance(sleep):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.MixnbWarning)
        ri = mixnb.lmm(F, sleep, reml=False)
        rs = mixnb.lmm("Reaction ~ Days + (Days | Subject)", sleep, reml=False)
    text = str(mixnb.compare(ri, rs))
    assert "adds 1 variance and 1 covariance to m1 (2 df)" in text
    assert "variance(s)" not in text


def test_predict_without_random_effects_needs_no_grouping_column(sleep, quiet):
    fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    new = pd.DataFrame({"Days": [0.0, 5.0, np.nan]})
    predicted = fit.predict(new, include_random=False)
    beta = fit.fixed_effects["estimate"]
    expected = beta["Intercept"] + beta["Days"] * new["Days"]
    np.testing.assert_allclose(predicted, expected, rtol=1e-12)
    with pytest.raises(mixnb.DataError, match=r"'Subject' that is not in the data"):
        fit.predict(new)


# --------------------------------------------------------------------------- issue 10, item 5


def _merging_pairs() -> pd.DataFrame:
    """Four (f1, f2) groups, two of which join to the same string 'a:b:c'."""
    rng = np.random.default_rng(7)
    pairs = [("a:b", "c"), ("a", "b:c"), ("x", "y"), ("u", "v")]
    means = [-10.0, 10.0, 0.0, 5.0]
    rows = []
    for (f1, f2), mean in zip(pairs, means, strict=True):
        for value in rng.normal(mean, 1.0, 12):
            rows.append({"y": value, "f1": f1, "f2": f2})
    return pd.DataFrame(rows)


def test_interaction_groups_are_pairs_of_codes_not_joined_strings(quiet):
    data = _merging_pairs()
    fit = mixnb.lmm("y ~ 1 + (1 | f1:f2)", data)
    factor = fit.design.random[0].factor
    assert factor.n_levels == 4
    assert factor.levels.is_unique
    # the same model with the pair coded by hand as one column
    coded = data.assign(pair=pd.factorize(pd.Series(list(zip(data.f1, data.f2))))[0].astype(str))
    by_hand = mixnb.lmm("y ~ 1 + (1 | pair)", coded)
    assert fit.reml_criterion == pytest.approx(by_hand.reml_criterion, rel=1e-10)
    assert fit.sigma == pytest.approx(by_hand.sigma, rel=1e-6)
    # predictions find each pair's own random effect
    predicted = fit.predict(data.drop_duplicates(["f1", "f2"]))
    assert np.unique(np.round(predicted.to_numpy(), 6)).size == 4


def test_nested_slash_groups_do_not_merge_when_joined():
    data = _merging_pairs()  # (f1, f2): ('a:b','c') and ('a','b:c') join alike
    # each f2 holds one f1 here, so the two variances are not separately identified and
    # the fit may rightly warn that the likelihood is flat: only the grouping is tested
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.ConvergenceWarning)
        fit = mixnb.lmm("y ~ 1 + (1 | f2/f1)", data)
    nested = fit.design.random[1].factor
    assert nested.name == "f1:f2"
    assert nested.n_levels == 4 and nested.levels.is_unique


# --------------------------------------------------------------------------- issue 10, item 6


def test_a_transformation_giving_minus_infinity_is_named(sleep, quiet):
    with pytest.raises(mixnb.DataError, match=r"'np.log\(Days\)' is not finite .* in 18 of 180"):
        mixnb.lmm("Reaction ~ np.log(Days) + (1 | Subject)", sleep)


def test_a_response_too_large_to_square_is_refused(sleep, quiet):
    with pytest.raises(mixnb.DataError, match=r"squares overflow.*Change its units"):
        mixnb.lmm(F, sleep.assign(Reaction=sleep.Reaction * 1e300))


def test_a_complex_response_is_refused(sleep, quiet):
    with pytest.raises(mixnb.DataError, match=r"complex numbers"):
        mixnb.lmm(F, sleep.assign(Reaction=sleep.Reaction + 1j))
    with pytest.raises(mixnb.DataError, match=r"complex numbers"):
        mixnb.lmm("np.exp(1j * Reaction) ~ Days + (1 | Subject)", sleep)


def test_a_transformed_response_works(sleep, quiet):
    fit = mixnb.lmm("np.log(Reaction) ~ Days + (1 | Subject)", sleep)
    by_hand = mixnb.lmm("logR ~ Days + (1 | Subject)", sleep.assign(logR=np.log(sleep.Reaction)))
    assert fit.reml_criterion == pytest.approx(by_hand.reml_criterion, rel=1e-12)
    assert fit.design.response_name == "np.log(Reaction)"
    ols = mixnb.ols("np.log(Reaction) ~ Days", sleep)
    assert ols.design.y == pytest.approx(np.log(sleep.Reaction.to_numpy()), rel=1e-15)


# --------------------------------------------------------------------------- charts of big fits


@pytest.fixture(scope="module")
def million():
    rng = np.random.default_rng(1)
    n, groups = 1_000_000, 2000
    g = rng.integers(0, groups, n)
    x = rng.uniform(0, 10, n)
    y = 5 + 2 * x + rng.normal(0, 2, groups)[g] + rng.normal(0, 0.5, groups)[g] * x
    data = pd.DataFrame({"y": y + rng.normal(0, 1, n), "x": x, "g": g.astype(str)})
    data["h"] = (g % 5).astype(str)
    return {
        "slopes": mixnb.lmm("y ~ x + h + (x | g)", data),
        "intercepts": mixnb.lmm("y ~ 1 + (1 | g)", data),
        "ols": mixnb.ols("y ~ x + h", data),
        "pooling": mixnb.lmm("y ~ x + (1 | g)", data),
    }


CHARTS = {
    "residual_diagnostics": lambda f: mixnb.charts.residual_diagnostics(f["slopes"]),
    "residual_diagnostics_ols": lambda f: mixnb.charts.residual_diagnostics(f["ols"]),
    "spaghetti": lambda f: mixnb.charts.spaghetti(f["slopes"]),
    "spaghetti_facet": lambda f: mixnb.charts.spaghetti(f["slopes"], facet=True),
    "spaghetti_strip": lambda f: mixnb.charts.spaghetti(f["intercepts"]),
    "caterpillar": lambda f: mixnb.charts.caterpillar(f["slopes"]),
    "shrinkage": lambda f: mixnb.charts.shrinkage(f["slopes"]),
    "shrinkage_1d": lambda f: mixnb.charts.shrinkage(f["intercepts"]),
    "scatter_with_line": lambda f: mixnb.charts.scatter_with_line(f["slopes"]),
    "group_lines": lambda f: mixnb.charts.group_lines(f["ols"], "h"),
    "live_pooling": lambda f: mixnb.charts.live_pooling(f["pooling"]),
}


@pytest.mark.parametrize("name", list(CHARTS))
def test_every_chart_of_a_million_row_fit_is_small_and_says_so(million, name):
    start = time.perf_counter()
    spec = CHARTS[name](million).to_dict()  # altair's MaxRowsError would be raised here
    elapsed = time.perf_counter() - start
    sizes = [len(rows) for rows in spec.get("datasets", {}).values()]
    assert sizes and max(sizes) <= 4000
    notes = " ".join(spec["title"]["subtitle"])
    assert "showing" in notes and ("random sample" in notes or "evenly spaced" in notes)
    assert elapsed < 10, f"{name} took {elapsed:.1f} s"


def test_small_fits_are_drawn_whole(sleep):
    fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    for make in (mixnb.charts.residual_diagnostics, mixnb.charts.spaghetti):
        spec = make(fit).to_dict()
        assert "showing" not in " ".join(spec["title"]["subtitle"])
        assert max(len(rows) for rows in spec["datasets"].values()) == 180


def test_caterpillar_of_many_groups_keeps_the_extremes(million):
    fit = million["slopes"]
    spec = mixnb.charts.caterpillar(fit).to_dict()
    modes = fit.random_effects["g"]["Intercept"]
    shown = {row["group"] for rows in spec["datasets"].values() for row in rows if "group" in row}
    assert {str(modes.idxmin()), str(modes.idxmax())} <= shown


# --------------------------------------------------------------------------- command line


def _help(capsys, *argv: str) -> str:
    from mixnb.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_cli_help_reads_as_plain_text(capsys):
    text = _help(capsys)
    assert "``" not in text and ":func:" not in text
    assert "tutorials" in text and "assignment" in text and "--version" in text


def test_cli_has_a_version(capsys):
    from mixnb.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"mixnb {mixnb.__version__}"


def test_cli_subcommands_describe_themselves_and_show_defaults(capsys):
    text = _help(capsys, "tutorials")
    assert "Execute the chapter notebooks" in text
    flat = " ".join(text.split())
    for option in (
        "--jobs JOBS notebooks executed at once, each in its own kernel (default: 2)",
        "--timeout TIMEOUT seconds allowed for one cell (default: 300)",
        "--out OUT folder to write the site into (default: site)",
    ):
        assert option in flat
    assert "(300)" not in text and "(site/)" not in text
    text = _help(capsys, "assignment")
    assert "Release the student copy" in text
    flat = " ".join(_help(capsys, "assignment", "grade").split())
    assert "--jobs N submissions graded at the same time (default: 2)" in flat


# --------------------------------------------------------------------------- the site build


def test_altair_dot_json_mime_type_is_renamed_for_nbformat():
    from mixnb.teaching.tutorials import _standard_mime_types

    msg = {"content": {"data": {"application/vnd.vegalite.v6.json": {"mark": "point"}}}}
    _standard_mime_types(msg)
    assert msg["content"]["data"] == {"application/vnd.vegalite.v6+json": {"mark": "point"}}
    other = {"content": {"data": {"text/plain": "x"}}}
    _standard_mime_types(other)
    assert other == {"content": {"data": {"text/plain": "x"}}}


def test_a_notebook_with_altairs_mimetype_renderer_executes_quietly(tmp_path, capfd):
    """No TCP warning from the kernel; altair's 'mimetype' output is kept and drawable."""
    import nbformat

    from mixnb.teaching.tutorials import Chapter, execute_notebooks, inline_vegalite

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import altair as alt, pandas as pd\nalt.renderers.enable('mimetype')\n"
            "alt.Chart(pd.DataFrame({'x': range(200)})).mark_point().encode(x='x')"
        )
    ]
    path = tmp_path / "01_mime.ipynb"
    nbformat.write(nb, path)
    chapter = Chapter(source=path, notebook=nbformat.read(path, as_version=4))
    execute_notebooks([chapter], timeout=120, jobs=1, log=lambda message: None)
    err = capfd.readouterr().err
    assert "without encryption" not in err
    nbformat.validate(chapter.notebook)
    data = chapter.notebook.cells[0].outputs[-1]["data"]
    assert any(key.endswith("+json") and "vegalite" in key for key in data)
    assert inline_vegalite(chapter.notebook, "01_mime")


def test_a_fit_whose_every_variance_is_held_at_zero_finishes(quiet):
    """Found by the property test: the re-search with every entry held on the boundary
    returns no iteration count (scipy), which crashed with an AttributeError."""
    data = pd.DataFrame(
        {
            "y": [1.587504, 1.051981, 0.411412, 1.665595],
            "x": [-0.703735, -1.265421, -0.623274, 0.041326],
            "g": ["b", "b", "b", "a"],
            "h": ["0", "0", "0", "0"],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.MixnbWarning)
        fit = mixnb.lmm("y ~ x + (1 | g/h)", data)
    assert np.isfinite(fit.reml_criterion)


def test_sixway_of_many_chains_stays_under_altairs_row_limit():
    """4 chains x 1999 draws made a 7996-row trace (altair's MaxRowsError)."""
    from mixnb.charts.mcmc import _ordinal

    fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.McmcWarning)
        post = mixnb.sample(fit, iterations=1999, chains=4, seed=1, progress=False)
    spec = mixnb.charts.sixway(post).to_dict()
    assert max(len(rows) for rows in spec["datasets"].values()) <= 4000
    assert spec["vconcat"][0]["hconcat"][0]["title"] == "Trace (every 2nd draw)"
    assert [_ordinal(k) for k in (1, 2, 3, 4, 11, 12, 13, 21, 22, 36)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "36th"
    ]  # fmt: skip


@pytest.mark.parametrize("offset", [1e7, 1e9])
def test_a_response_with_a_huge_offset_says_subtract_a_constant(sleep, offset, quiet):
    """Reaction + 1e7 lost 0.04 of the REML criterion (cancelling sums of squares), + 1e9
    crashed with a math domain error."""
    with pytest.raises(mixnb.DataError, match=r"5th significant digit.*Subtract a constant"):
        mixnb.lmm(F, sleep.assign(Reaction=sleep.Reaction + offset))
    # the advice works, and a moderate offset fits as the original does
    moved = mixnb.lmm(F, sleep.assign(Reaction=sleep.Reaction + 1e5))
    assert moved.reml_criterion == pytest.approx(mixnb.lmm(F, sleep).reml_criterion, rel=1e-8)


def test_a_response_reproduced_exactly_by_the_predictors_is_refused(sleep, quiet):
    for formula in ("Reaction ~ Reaction", "y ~ Days + (1 | Subject)"):
        data = sleep.assign(y=3.0 + 2.0 * sleep.Days)
        fit = mixnb.ols if "|" not in formula else mixnb.lmm
        with pytest.raises(mixnb.ModelError, match=r"reproduce the response .* exactly"):
            fit(formula, data)
