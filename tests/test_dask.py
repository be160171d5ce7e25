"""Fits on Dask from per-group cross-products against the in-memory fit of the same rows.

A small ``dask.distributed`` LocalCluster (2 workers, threads, no processes) runs every
Dask test. Parity: estimates, standard errors, Satterthwaite df, variance components with
their standard errors, BLUPs and their conditional SDs, and the deviance agree with
``mixnb.lmm`` on the pandas DataFrame to 1e-8 relative (BLUPs relative to their largest
absolute value; the deviance to 1e-10 relative); found: estimates and theta about 1e-14,
Satterthwaite df 8e-10. The variance components' standard errors come from a
finite-difference Hessian whose rounding noise is about 1e-8 for a small covariance: the
in-memory fit of the same rows in another order moves them by 1.5e-8, so they are held to
1e-7. The simulated data have a clear optimum: on a flat likelihood the optimiser's own
resolution (about 1e-6 in theta for sleepstudy, where re-ordering the rows moves the
in-memory fit as much) is the limit, not the sums. The sums' rounding (1e-16) can change
the optimiser's path: its end point then moves by up to about 1e-9 of theta's scale, so
theta is compared relative to its largest entry and a covariance relative to the product
of its two SDs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixnb
from mixnb.errors import (
    DataError,
    FormulaError,
    MissingDataWarning,
    MixnbError,
    ModelError,
    RowsNotAvailableError,
)

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")

RTOL = 1e-8
#: variance-component standard errors: finite-difference Hessian (see the module docstring)
RTOL_VC_SE = 1e-7


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


def simulate(n: int = 4000, groups: int = 80, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    c = rng.choice(["a", "b", "c", "d"], n)
    b0, b1 = rng.normal(size=groups), 0.5 * rng.normal(size=groups)
    y = 1 + 0.5 * x + b0[g] + b1[g] * x + (c == "b") + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": g, "c": c})


def relative(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def assert_parity(fit, ref, factor: str = "g", rtol: float = RTOL, rtol_df: float = RTOL) -> None:
    columns = ["estimate", "std_error"]
    assert list(fit.fixed_effects.index) == list(ref.fixed_effects.index)
    assert relative(fit.fixed_effects[columns], ref.fixed_effects[columns]) < rtol
    assert relative(fit.fixed_effects["df"], ref.fixed_effects["df"]) < rtol_df
    vc_fit, vc_ref = fit.variance_components, ref.variance_components
    sd = np.sqrt(vc_ref["estimate"].where(vc_ref["term1"] == vc_ref["term2"]))
    sd1 = vc_ref[["group", "term1"]].apply(lambda r: _sd(vc_ref, r["group"], r["term1"]), axis=1)
    sd2 = vc_ref[["group", "term2"]].apply(lambda r: _sd(vc_ref, r["group"], r["term2"]), axis=1)
    scale = sd.fillna(sd1 * sd2) ** np.where(sd.notna(), 2, 1)
    assert np.max(np.abs(vc_fit["estimate"] - vc_ref["estimate"]) / scale) < rtol
    assert relative(vc_fit["std_error"], vc_ref["std_error"]) < RTOL_VC_SE
    assert np.abs(fit.theta - ref.theta).max() < rtol * np.abs(ref.theta).max()
    blups, blups_ref = fit.random_effects[factor], ref.random_effects[factor]
    assert blups.index.equals(blups_ref.index)
    scale = np.abs(blups_ref.to_numpy()).max()
    assert np.abs(blups.to_numpy() - blups_ref.to_numpy()).max() < rtol * scale
    assert relative(fit.random_effects_sd[factor], ref.random_effects_sd[factor]) < rtol
    assert abs(fit.deviance - ref.deviance) < 1e-10 * abs(ref.deviance)
    assert fit.nobs == ref.nobs and fit.n_dropped == ref.n_dropped
    assert fit.ngroups == ref.ngroups


def _sd(vc: pd.DataFrame, group: str, term: str) -> float:
    """The SD of ``term`` in ``group`` from a variance-components table."""
    if group == "Residual":
        return float(np.sqrt(vc.loc[vc["group"] == "Residual", "estimate"].iloc[0]))
    row = vc[(vc["group"] == group) & (vc["term1"] == term) & (vc["term2"] == term)]
    return float(np.sqrt(row["estimate"].iloc[0]))


@pytest.mark.parametrize("reml", [True, False])
def test_parity_with_the_in_memory_fit(client, reml):
    data = simulate()
    ddf = dd.from_pandas(data, npartitions=5)
    fit = mixnb.lmm("y ~ x + (x | g)", ddf, reml=reml)
    ref = mixnb.lmm("y ~ x + (x | g)", data, reml=reml)
    assert isinstance(fit, mixnb.results.crossproducts.CrossproductsResult)
    assert fit.n_partitions == 5
    assert_parity(fit, ref)
    assert fit.converged
    if not reml:
        assert abs(fit.aic - ref.aic) < 1e-10 * abs(ref.aic)


def test_parquet_input(client, tmp_path):
    data = simulate(seed=2)
    dd.from_pandas(data, npartitions=4).to_parquet(tmp_path / "rows")
    ddf = dd.read_parquet(tmp_path / "rows")
    assert ddf.npartitions == 4
    fit = mixnb.lmm("y ~ x + (x | g)", ddf)
    assert_parity(fit, mixnb.lmm("y ~ x + (x | g)", data))
    assert fit.n_partitions == 4


def test_missing_rows_are_counted_across_partitions(client):
    data = simulate(seed=3)
    data.loc[[3, 1500, 3999], "y"] = np.nan
    data.loc[[10, 2500], "x"] = np.nan
    data.loc[2500, "y"] = np.nan  # both missing: one row, counted once per column
    ddf = dd.from_pandas(data, npartitions=4)
    with pytest.warns(MissingDataWarning, match="5 of 4000 rows were dropped"):
        fit = mixnb.lmm("y ~ x + (x | g)", ddf)
    with pytest.warns(MissingDataWarning):
        ref = mixnb.lmm("y ~ x + (x | g)", data)
    assert fit.n_dropped == ref.n_dropped == 5
    assert fit.design.dropped_by_column == ref.design.dropped_by_column == {"y": 4, "x": 2}
    assert_parity(fit, ref)
    assert any("5 of 4000 rows were dropped" in note for note in fit.notes)


def test_categorical_levels_missing_from_some_partitions(client):
    data = simulate(seed=4)
    # level "d" only in the last partitions, level "a" only in the first ones
    first = data.index < 2000
    data.loc[first & (data["c"] == "d"), "c"] = "b"
    data.loc[~first & (data["c"] == "a"), "c"] = "c"
    ddf = dd.from_pandas(data, npartitions=4)
    formula = "y ~ x + c + (x | g)"
    fit = mixnb.lmm(formula, ddf)
    ref = mixnb.lmm(formula, data)
    assert list(fit.fixed_effects.index) == ["Intercept", "x", "c[T.b]", "c[T.c]", "c[T.d]"]
    assert_parity(fit, ref)
    # predictions partition by partition, the recipe for residuals
    predicted = ddf.map_partitions(fit.predict, meta=("predicted", float)).compute()
    expected = ref.predict(data)
    assert np.abs(predicted - expected).max() < 1e-8 * np.abs(expected).max()
    with pytest.raises(DataError, match="did not have"):
        fit.predict(data.head(3).assign(c="zz"))


def test_string_groups_and_an_interaction_factor(client):
    data = simulate(seed=5)
    data["site"] = np.where(data["g"] % 2 == 0, "north", "south")
    data["unit"] = "u" + (data["g"] // 2).astype(str)
    ddf = dd.from_pandas(data, npartitions=3)
    formula = "y ~ x + (1 | site:unit)"
    fit = mixnb.lmm(formula, ddf)
    ref = mixnb.lmm(formula, data)
    assert_parity(fit, ref, factor="site:unit")
    expected = ref.predict(data.head(20))
    assert np.abs(fit.predict(data.head(20)) - expected).max() < 1e-8 * np.abs(expected).max()


def test_a_categorical_grouping_column_keeps_its_order(client):
    data = simulate(seed=19, groups=20)
    order = [f"k{i}" for i in reversed(range(20))] + ["unused"]
    data["g"] = pd.Categorical("k" + data["g"].astype(str), categories=order)
    fit = mixnb.lmm("y ~ x + (x | g)", dd.from_pandas(data, npartitions=3))
    ref = mixnb.lmm("y ~ x + (x | g)", data)
    assert fit.random_effects["g"].index.tolist() == ref.random_effects["g"].index.tolist()
    # 20 groups: a flat likelihood, where the in-memory fit of the rows in another order
    # moves theta by 9e-9 itself (the optimiser's resolution)
    assert_parity(fit, ref, rtol=1e-7, rtol_df=1e-7)


def test_aliased_columns_are_dropped_as_in_memory(client):
    from mixnb.errors import RankDeficiencyWarning

    data = simulate(seed=20).assign(x2=lambda d: 2 * d["x"] - 1)
    formula = "y ~ x + x2 + (1 | g)"
    with pytest.warns(RankDeficiencyWarning, match="'x2'"):
        fit = mixnb.lmm(formula, dd.from_pandas(data, npartitions=3))
    with pytest.warns(RankDeficiencyWarning):
        ref = mixnb.lmm(formula, data)
    assert fit.dropped_fixed_effects == ref.dropped_fixed_effects == ["x2"]
    assert_parity(fit, ref)


def test_two_random_terms_on_one_factor(client):
    data = simulate(seed=6)
    formula = "y ~ x + (1 | g) + (0 + x | g)"
    fit = mixnb.lmm(formula, dd.from_pandas(data, npartitions=3))
    assert_parity(fit, mixnb.lmm(formula, data))


def test_transformed_and_interacting_predictors(client):
    data = simulate(seed=13)
    ddf = dd.from_pandas(data, npartitions=3)
    for formula in ("y ~ x + I(x**2) + (x | g)", "y ~ np.log(np.abs(x)) + x:c + (1 | g)"):
        assert_parity(mixnb.lmm(formula, ddf), mixnb.lmm(formula, data))
    # a transformed response (design.py's response handling, shared with the in-memory fit)
    positive = data.assign(y=np.exp(data["y"] / 5))
    formula = "np.log(y) ~ x + (x | g)"
    fit = mixnb.lmm(formula, dd.from_pandas(positive, npartitions=3))
    assert_parity(fit, mixnb.lmm(formula, positive))


def test_chunks_without_dask_give_the_same_fit():
    data = simulate(seed=7)
    formula = "y ~ x + c + (x | g)"
    levels = {"c": ["a", "b", "c", "d"]}
    chunks = [
        mixnb.crossproducts(formula, part, levels=levels)
        for idx in np.array_split(np.arange(len(data)), 6)
        for part in [data.iloc[idx]]
    ]
    fit = mixnb.from_crossproducts(mixnb.combine_crossproducts(*chunks))
    assert_parity(fit, mixnb.lmm(formula, data))
    # chunks encoded with different levels cannot be added
    few = data[data["c"] != "d"]
    with pytest.raises(MixnbError, match="same levels="):
        mixnb.combine_crossproducts(mixnb.crossproducts(formula, few), chunks[0])


def test_from_crossproducts_of_another_engine():
    # what an engine without Python at the data would form: sums per group and in total
    data = simulate(seed=8)
    data["one"] = 1.0
    levels = np.sort(data["g"].unique())
    codes = np.searchsorted(levels, data["g"])
    z = data[["one", "x"]].to_numpy()
    xy = data[["one", "x", "y"]].to_numpy()
    ztz = np.einsum("ni,nj,ng->ijg", z, z, np.eye(len(levels))[codes])
    ztxy = np.einsum("ni,nc,ng->icg", z, xy, np.eye(len(levels))[codes])
    cp = mixnb.estimation.crossproducts.GroupCrossproducts(
        levels=pd.Index(levels, name="g"),
        ztz=ztz,
        ztxy=ztxy,
        xytxy=xy.T @ xy,
        z_sums=z.sum(axis=0),
        nobs=len(data),
        fixed_columns=["Intercept", "x"],
        random_columns=[["Intercept", "x"]],
        factor_name="g",
        response_name="y",
    )
    fit = mixnb.from_crossproducts(cp)
    assert fit.formula == "y ~ x + (1 + x | g)"
    assert_parity(fit, mixnb.lmm("y ~ x + (x | g)", data))
    with pytest.raises(MixnbError, match="without an encoding"):
        fit.predict(data.head())
    bad = mixnb.estimation.crossproducts.GroupCrossproducts(
        **{**cp.__dict__, "ztxy": ztxy[:, :2, :]}
    )
    with pytest.raises(DataError, match="ztxy has shape"):
        mixnb.from_crossproducts(bad)


def test_what_the_statistics_cannot_give(client):
    data = simulate(seed=9)
    data["h"] = data["g"] % 7
    ddf = dd.from_pandas(data, npartitions=2)
    with pytest.raises(ModelError, match="several grouping factors"):
        mixnb.lmm("y ~ x + (1 | g) + (1 | h)", ddf)
    with pytest.raises(ModelError, match="several grouping factors"):
        mixnb.lmm("y ~ x + (1 | h/g)", ddf)
    with pytest.raises(FormulaError, match="stateful transform"):
        mixnb.lmm("y ~ x + (center(x) | g)", ddf)
    with pytest.raises(DataError, match="'z' that is not in the data"):
        mixnb.lmm("y ~ z + (1 | g)", ddf)
    with pytest.raises(FormulaError, match="no random-effect term"):
        mixnb.lmm("y ~ x", ddf)
    with pytest.raises(MixnbError, match="needs the rows"):
        mixnb.lmm("y ~ x + (1 | g)", ddf, method="IGLS")
    fit = mixnb.lmm("y ~ x + c + (x | g)", ddf)
    for call in (
        fit.residuals,
        fit.fitted,
        fit.anova,
        fit.confint,
        fit.homogeneity_test,
        lambda: fit.test_fixed("kenward-roger"),
        lambda: fit.residual_quantiles,
        lambda: fit.design.fixed.matrix,
        lambda: fit.model_matrices([0, 1]),
    ):
        with pytest.raises(RowsNotAvailableError, match="needs the individual rows"):
            call()
    # what the statistics do give beyond the default table
    assert fit.wald_test("c").table["numdf"].iloc[0] == 3
    ref = mixnb.lmm("y ~ x + c + (x | g)", data)
    assert fit.test_fixed("residual")["df"].iloc[0] == ref.test_fixed("residual")["df"].iloc[0]
    assert fit.test_fixed("residual")["df"].iloc[0] == fit.nobs - 5
    assert np.isinf(fit.test_fixed("normal")["df"]).all()


def test_a_single_group_and_an_unidentifiable_model_are_refused(client):
    data = simulate(n=200, groups=1, seed=10)
    with pytest.raises(ModelError, match="has 1 level"):
        mixnb.lmm("y ~ x + (1 | g)", dd.from_pandas(data, npartitions=2))
    data = simulate(n=100, groups=100, seed=10).assign(g=np.arange(100))
    with pytest.raises(ModelError, match="random effects"):
        mixnb.lmm("y ~ x + (1 | g)", dd.from_pandas(data, npartitions=2))


def test_summary_and_rich_output(client):
    data = simulate(seed=11)
    fit = mixnb.lmm("y ~ x + (x | g)", dd.from_pandas(data, npartitions=2))
    text = str(fit.summary())
    assert "from per-group cross-products" in text.splitlines()[0]
    assert "Scaled residuals" not in text
    assert "Number of obs: 4000, groups:  g, 80" in text
    assert "summed over 2 partitions" in text
    html = fit._repr_html_()
    assert "Fixed effects" in html and "Scaled residuals" not in html
    with pytest.raises(MixnbError, match="choose one of 'lme4'"):
        fit.summary(style="sas")


def test_the_user_frame_is_not_modified(client):
    data = simulate(seed=12)
    ddf = dd.from_pandas(data, npartitions=2)
    before = ddf.compute().copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mixnb.lmm("y ~ x + c + (x | g)", ddf)
    pd.testing.assert_frame_equal(ddf.compute(), before)


def test_bad_values_in_a_later_partition_are_refused_clearly(client):
    data = simulate(seed=14)
    data.loc[3900, "x"] = np.inf
    with pytest.raises(DataError, match="infinite value"):
        mixnb.lmm("y ~ x + (1 | g)", dd.from_pandas(data, npartitions=4))
    data = simulate(seed=14)
    data.loc[:999, "y"] = np.nan  # the whole first partition: learned from the second
    ddf = dd.from_pandas(data, npartitions=4)
    with pytest.warns(MissingDataWarning, match="1000 of 4000 rows"):
        fit = mixnb.lmm("y ~ x + (1 | g)", ddf)
    with pytest.warns(MissingDataWarning):
        assert_parity(fit, mixnb.lmm("y ~ x + (1 | g)", data))
    with pytest.raises(DataError, match="No rows are left"):
        mixnb.lmm("y ~ x + (1 | g)", dd.from_pandas(data.assign(y=np.nan), npartitions=2))


def test_the_system_in_slices_gives_the_same_fit():
    # many groups are evaluated in slices in parallel threads: force slices on small data
    from mixnb.estimation.crossproducts import SlicedSystem, fit_crossproducts, grouped_system

    data = simulate(seed=15)
    formula = "y ~ x + (x | g)"
    chunk = mixnb.crossproducts(formula, data)
    cp = mixnb.estimation.crossproducts.finish(chunk.statistics, chunk.encoding)
    assert isinstance(grouped_system(cp, cp.ztxy, slice_groups=30), SlicedSystem)
    fit = fit_crossproducts(cp, slice_groups=30)
    result = mixnb.results.crossproducts.CrossproductsResult(cp, fit, formula, chunk.encoding)
    # the sums over groups in another order move the optimiser's end point within its
    # resolution (here theta by 7e-9, the REML criterion by 4e-12 above the in-memory
    # optimum), which moves a variance by 1.6e-8 and the Satterthwaite df by 2e-8
    assert_parity(result, mixnb.lmm(formula, data), rtol=1e-7, rtol_df=1e-7)


def test_likelihood_ratio_tests_from_the_statistics(client):
    data = simulate(seed=16)
    ddf = dd.from_pandas(data, npartitions=3)
    for small, big, reml in (
        ("y ~ x + (1 | g)", "y ~ x + (x | g)", False),
        ("y ~ 1 + (1 | g)", "y ~ x + (1 | g)", True),  # REML fits refitted by ML
    ):
        table = mixnb.compare(mixnb.lmm(small, ddf, reml=reml), mixnb.lmm(big, ddf, reml=reml))
        ref = mixnb.compare(mixnb.lmm(small, data, reml=reml), mixnb.lmm(big, data, reml=reml))
        for column in ("loglik", "chisq", "p"):
            assert relative(table.table[column].iloc[1], ref.table[column].iloc[1]) < RTOL
        assert table.notes == ref.notes
    other = dd.from_pandas(simulate(seed=17), npartitions=2)
    with pytest.raises(ModelError, match="different data"):
        mixnb.compare(mixnb.lmm("y ~ x + (1 | g)", ddf), mixnb.lmm("y ~ x + (x | g)", other))


def test_a_fit_travels_to_the_workers():
    import pickle

    data = simulate(seed=18)
    fit = mixnb.from_crossproducts(mixnb.crossproducts("y ~ x + c + (x | g)", data))
    copy = pickle.loads(pickle.dumps(fit))
    pd.testing.assert_series_equal(copy.predict(data.head(50)), fit.predict(data.head(50)))
