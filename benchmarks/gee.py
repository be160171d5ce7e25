"""Speed benchmark: mixnb.gee against statsmodels' GEE on the same data, in the same run.

Run from the repository root::

    python benchmarks/gee.py              # 1e5 and 1e6 rows
    python benchmarks/gee.py --rows 1e4   # other sizes

See ``benchmarks/README.md`` ("GEE") for what is measured.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import mixnb  # noqa: E402
from benchmarks.run import load_average, machine_header, timed  # noqa: E402

SEED = 20241202
CLUSTER_SIZE = 10
#: name: (family, working correlation)
MODELS = {
    "binomial, exchangeable": ("binomial", "exchangeable"),
    "gaussian, ar1": ("gaussian", "ar1"),
}


def simulate(n_rows: int, family: str) -> pd.DataFrame:
    """Clusters of 10 visits; a cluster effect (sd 1) makes the rows within it correlated."""
    rng = np.random.default_rng([SEED, n_rows])
    k = n_rows // CLUSTER_SIZE
    g = np.repeat(np.arange(k), CLUSTER_SIZE)
    t = np.tile(np.arange(CLUSTER_SIZE), k)
    x = rng.normal(size=n_rows)
    z = np.repeat(rng.integers(0, 2, size=k), CLUSTER_SIZE)
    u = np.repeat(rng.normal(size=k), CLUSTER_SIZE)
    eta = -0.5 + 0.5 * x + 0.8 * z + 0.1 * t + u
    if family == "binomial":
        y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    else:
        # AR(1) errors within a cluster on top of the cluster effect
        e = np.empty(n_rows)
        e[t == 0] = rng.normal(size=k)
        for j in range(1, CLUSTER_SIZE):
            e[t == j] = 0.6 * e[t == j - 1] + np.sqrt(1 - 0.36) * rng.normal(size=k)
        y = eta + e
    return pd.DataFrame({"y": y, "x": x, "z": z, "t": t, "g": g})


def fit_mixnb(data: pd.DataFrame, family: str, correlation: str):
    return mixnb.gee(
        "y ~ x + z + t", data, groups="g", family=family, correlation=correlation, time="t"
    )


def fit_statsmodels(data: pd.DataFrame, family: str, correlation: str):
    import statsmodels.api as sm

    fam = sm.families.Binomial() if family == "binomial" else sm.families.Gaussian()
    cov = (
        sm.cov_struct.Exchangeable()
        if correlation == "exchangeable"
        else sm.cov_struct.Autoregressive(grid=True)
    )
    model = sm.GEE.from_formula(
        "y ~ x + z + t", groups="g", data=data, time=data["t"], family=fam, cov_struct=cov
    )
    return model.fit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", type=float, default=[1e5, 1e6])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "gee.md"))
    args = parser.parse_args(argv)
    rows = []
    load_start = load_average()
    for n in (int(r) for r in args.rows):
        repeats = 3 if n <= 1e5 else 1
        for name, (family, correlation) in MODELS.items():
            data = simulate(n, family)
            print(f"{n} rows, {name} ...", file=sys.stderr)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                times, fit, _ = timed(
                    functools.partial(fit_mixnb, data, family, correlation), repeats
                )
                t_mixnb = statistics.median(times)
                times, sm_fit, _ = timed(
                    functools.partial(fit_statsmodels, data, family, correlation), repeats
                )
                t_sm = statistics.median(times)
            est = fit.coefficients["estimate"].to_numpy()
            sm_est = np.asarray(sm_fit.params)
            se = fit.standard_errors["robust"].to_numpy()
            sm_se = np.asarray(sm_fit.bse)
            rows.append(
                {
                    "rows": f"{n:.0e}",
                    "clusters": n // CLUSTER_SIZE,
                    "model": name,
                    "mixnb (s)": f"{t_mixnb:.3f}",
                    "statsmodels (s)": f"{t_sm:.3f}",
                    "speed-up": f"{t_sm / t_mixnb:.1f}x",
                    "mixnb iterations": fit.iterations,
                    "max rel. diff. estimates": f"{np.max(np.abs(est / sm_est - 1)):.1e}",
                    "max rel. diff. robust SE": f"{np.max(np.abs(se / sm_se - 1)):.1e}",
                }
            )
    columns = list(rows[0])
    table = "\n".join(
        ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        + ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    )
    text = (
        "# mixnb.gee vs statsmodels GEE\n\n"
        # the shared header without its lme4 line (R is not part of this benchmark)
        + "\n".join(machine_header(None, (load_start, load_average()))[:-1])
        + "\n- repeats: median of 3 timed fits after a warm-up up to 1e5 rows, 1 above\n\n"
        + table
        + "\n"
    )
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
