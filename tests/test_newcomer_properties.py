"""Robustness, proved: generated data frames and formulas either fit or raise a mixnb error.

hypothesis draws small data frames (float, integer, boolean, categorical, datetime and
complex columns; NaN and inf; duplicated, numeric and odd column names; tiny and degenerate
groups) and formulas over their columns (random intercepts and slopes, interactions and
nesting of grouping factors, transformations, a few malformed ones). Each call must either
return a fit whose summary can be printed, or raise a :class:`mixnb.MixnbError`: never
another exception type and never a numpy (or any non-mixnb) warning, which this test turns
into errors. The caller's frame must come back unchanged.

The examples are derandomised and bounded (``max_examples``), so CI sees the same cases in
a few seconds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import mixnb  # noqa: E402

NAMES = ["y", "x", "g", "h", "my x", "a.b", "0", "1", "Intercept", "g"]
LEVELS = ["a", "b", "c", "a:b", "b:c", "1", ""]


@st.composite
def columns(draw, n: int) -> pd.Series:
    """One column of ``n`` values of a drawn kind."""
    kind = draw(
        st.sampled_from(
            ["float", "float", "int", "bool", "levels", "levels", "category", "date", "const"]
            + ["complex", "huge"]
        )
    )
    if kind in ("float", "huge"):
        values = draw(
            st.lists(
                st.floats(allow_nan=True, allow_infinity=True, width=64) | st.floats(-100, 100),
                min_size=n,
                max_size=n,
            )
        )
        series = pd.Series(values, dtype=float)
        return series * 1e200 if kind == "huge" else series
    if kind == "int":
        return pd.Series(draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n)))
    if kind == "bool":
        return pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if kind in ("levels", "category"):
        values = draw(st.lists(st.sampled_from(LEVELS[: draw(st.integers(1, 7))]), min_size=n,
                               max_size=n))  # fmt: skip
        series = pd.Series(values, dtype=object)
        if draw(st.booleans()):
            series[series == ""] = None
        return series.astype("category") if kind == "category" else series
    if kind == "date":
        days = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
        return pd.Timestamp("2024-01-01") + pd.to_timedelta(pd.Series(days), unit="D")
    if kind == "const":
        return pd.Series([draw(st.floats(-10, 10))] * n)
    return pd.Series(draw(st.lists(st.floats(-5, 5), min_size=n, max_size=n))) * (1 + 1j)


@st.composite
def sane_frames(draw) -> pd.DataFrame:
    """A data set a model can use (numeric y and x, repeated groups), then one thing odd."""
    n = draw(st.integers(4, 30))
    n_groups = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    g = rng.integers(0, n_groups, n)
    data = pd.DataFrame(
        {
            "y": rng.normal(size=n) + rng.normal(size=n_groups)[g],
            "x": rng.normal(size=n),
            "g": np.array(LEVELS[:n_groups] + ["z"] * 6, dtype=object)[g],
            "h": rng.integers(0, draw(st.integers(1, 4)), n).astype(str),
            "my x": rng.uniform(0, 3, n).round(draw(st.integers(0, 3))),
        }
    )
    odd = draw(st.sampled_from(["none", "none", "column", "nan", "name", "rows"]))
    if odd == "column":
        data[draw(st.sampled_from(list(data.columns)))] = draw(columns(n)).to_numpy()
    elif odd == "nan":
        data.iloc[draw(st.integers(0, n - 1)), draw(st.integers(0, 4))] = np.nan
    elif odd == "name":
        names = list(data.columns)
        names[draw(st.integers(0, 4))] = draw(st.sampled_from(NAMES + [0, 1]))
        data.columns = names
    elif odd == "rows":
        data = data.iloc[: draw(st.integers(0, 3))]
    return data


@st.composite
def wild_frames(draw) -> pd.DataFrame:
    """Columns of any kind under any of the names, duplicates included."""
    n = draw(st.integers(0, 30))
    k = draw(st.integers(1, 5))
    names = [draw(st.sampled_from(NAMES)) for _ in range(k)]
    if draw(st.booleans()):  # the usual names, so that many formulas find their columns
        names = ["y", "x", "g", "h", "my x"][:k]
    data = pd.concat([draw(columns(n)).rename(None) for _ in range(k)], axis=1)
    data.columns = [int(c) if c.isdigit() and draw(st.booleans()) else c for c in names]
    return data


def frames():
    return sane_frames() | wild_frames()


def _q(name: str) -> str:
    return name if name.isidentifier() else f"`{name}`"


@st.composite
def formulas(draw) -> tuple[str, bool]:
    """A formula over the usual names (and a few malformed ones); whether it is mixed."""
    y, x, g, h = (_q(draw(st.sampled_from(NAMES))) for _ in range(4))
    if draw(st.integers(0, 3)):  # mostly the usual names, so that most formulas can fit
        y, x, g, h = "y", draw(st.sampled_from(["x", "`my x`", "h"])), "g", "h"
    fixed = draw(st.sampled_from([x, "1", f"{x} + {h}", f"np.log({x})", f"C({h})", f"{x}:{h}"]))
    valid = [
        "",
        f"(1 | {g})",
        f"({x} | {g})",
        f"({x} || {g})",
        f"(1 | {g}:{h})",
        f"(1 | {g}/{h})",
        f"(1 | {g}) + (1 | {h})",
    ]
    malformed = [f"({x} {g})", f"((1 | {g}) | {g})", f"(1 | {g}"]
    random = draw(st.sampled_from(valid * 3 + malformed))
    text = f"{y} ~ {fixed}" + (f" + {random}" if random else "")
    return text, "|" in random


@settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=frames(), formula=formulas(), reml=st.booleans())
def test_every_call_fits_or_raises_a_mixnb_error(data, formula, reml):
    text, mixed = formula
    before = data.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", mixnb.MixnbWarning)
        try:
            fit = mixnb.lmm(text, data, reml=reml) if mixed else mixnb.ols(text, data)
            str(fit.summary())
        except mixnb.MixnbError:
            pass
    pd.testing.assert_frame_equal(data, before, check_exact=True)
    assert list(data.columns) == list(before.columns)


def test_the_generators_reach_both_outcomes():
    """The property is not vacuous: the generated cases include fits and refusals."""
    outcomes = {"fit": 0, "refused": 0}

    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(data=frames(), formula=formulas())
    def probe(data, formula):
        text, mixed = formula
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                mixnb.lmm(text, data) if mixed else mixnb.ols(text, data)
                outcomes["fit"] += 1
            except mixnb.MixnbError:
                outcomes["refused"] += 1

    probe()
    assert outcomes["fit"] > 0 and outcomes["refused"] > 0, outcomes


def test_a_fixed_example_of_each_kind_behaves():
    """Deterministic companions of the property: a clean fit and a refused degenerate case."""
    rng = np.random.default_rng(3)
    g = np.repeat(list("abcdef"), 5)
    data = pd.DataFrame({"y": rng.normal(size=30) + (g == "a"), "x": rng.normal(size=30), "g": g})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", mixnb.MixnbWarning)
        fit = mixnb.lmm("y ~ x + (1 | g)", data)
    assert np.isfinite(fit.reml_criterion)
    with pytest.raises(mixnb.MixnbError):
        mixnb.lmm("y ~ x + (1 | g)", data.iloc[:1])
