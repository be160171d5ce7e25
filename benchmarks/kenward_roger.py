"""Kenward-Roger benchmark: mixnb's block algebra against pbkrtest, in the same run.

Run from the repository root::

    python benchmarks/kenward_roger.py

See ``benchmarks/README.md`` ("Kenward-Roger") for what is measured.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (  # noqa: E402  (the shared helpers of benchmarks/run.py)
    REPO,
    fmt_rows,
    fmt_s,
    load_average,
    machine_header,
    parse_sizes,
    r_info,
    simulate,
    timed,
)

import mixnb  # noqa: E402
from mixnb.estimation.wald import FixedEffectsTests  # noqa: E402

FORMULA = "y ~ x + (x | g)"
#: The joint hypothesis: both fixed effects (Intercept and x) are zero, a 2-df F test.
HYPOTHESIS = [[1.0, 0.0], [0.0, 1.0]]

R_SCRIPT = r"""
suppressPackageStartupMessages({library(lme4); library(pbkrtest)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$g <- factor(d$g)
fit <- lmer(y ~ x + (x | g), data = d, REML = TRUE)
L <- diag(2)
seconds <- system.time(test <- KRmodcomp(fit, L))[["elapsed"]]
ft <- test$test
phi_a <- vcovAdj(fit)
cat(seconds, ft["Ftest", "stat"], ft["Ftest", "ddf"], ft["Ftest", "F.scaling"],
    Lb_ddf(matrix(c(0, 1), 1), vcov(fit), phi_a), sep = "\n")
"""


def run_mixnb(n: int, repeats: int) -> dict:
    data = simulate(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.MixnbWarning)
        fit = mixnb.lmm(FORMULA, data, reml=True)

    def kenward_roger():
        tests = FixedEffectsTests(fit.design, fit.estimates, "kenward-roger")
        return tests.coefficient_table(), tests.f_test(np.array(HYPOTHESIS))

    times, (table, test), _ = timed(kenward_roger, repeats)
    return {
        "seconds": statistics.median(times),
        "F": test.f,
        "ddf": test.dendf,
        "scaling": test.f_scaling,
        "df_x": float(table.loc["x", "df"]),
    }


def run_pbkrtest(n: int) -> dict | str:
    with tempfile.TemporaryDirectory(prefix="mixnb-kr-") as tmp:
        csv, script = Path(tmp, "data.csv"), Path(tmp, "kr.R")
        simulate(n).to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        proc = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True)
    if proc.returncode != 0:
        return "R failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    seconds, f, ddf, scaling, df_x = (float(v) for v in proc.stdout.split())
    return {"seconds": seconds, "F": f, "ddf": ddf, "scaling": scaling, "df_x": df_x}


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e3,5e3,1e4,2e4,1e5,1e6", help="comma-separated rows")
    ap.add_argument("--pbkrtest-max", type=float, default=2e4, help="largest size for pbkrtest")
    ap.add_argument("--repeats", type=int, default=3, help="timed mixnb repeats (median)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "kenward_roger.md"))
    args = ap.parse_args(argv)
    sizes = parse_sizes(args.sizes)
    r = r_info()
    start_load, t_start = load_average(), time.perf_counter()
    rows = []
    for n in sizes:
        print(f"[kr] {fmt_rows(n)} rows: mixnb", file=sys.stderr, flush=True)
        mine = run_mixnb(n, args.repeats)
        theirs: dict | str = "skipped¹" if n > args.pbkrtest_max else "R not available"
        if r and n <= args.pbkrtest_max:
            print(f"[kr] {fmt_rows(n)} rows: pbkrtest", file=sys.stderr, flush=True)
            theirs = run_pbkrtest(n)
        rows.append((n, mine, theirs))
    loads = (start_load, load_average())
    minutes = (time.perf_counter() - t_start) / 60

    lines = ["# Kenward-Roger benchmark", ""] + machine_header(r, loads)
    lines += [
        "- pbkrtest: "
        + (
            subprocess.run(
                ["Rscript", "-e", 'cat(as.character(packageVersion("pbkrtest")))'],
                capture_output=True,
                text=True,
            ).stdout
            if r
            else "not available"
        ),
        "",
        "| rows | groups | mixnb KR (s) | pbkrtest KR (s) | pbkrtest / mixnb | ddf mixnb | "
        "ddf pbkrtest | F scaling mixnb | F scaling pbkrtest | rel. diff F / ddf / df(x) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, mine, theirs in rows:
        groups = max(1, n // 50)
        if isinstance(theirs, dict):
            diff = (
                f"{rel(mine['F'], theirs['F']):.1e} / {rel(mine['ddf'], theirs['ddf']):.1e} / "
                f"{rel(mine['df_x'], theirs['df_x']):.1e}"
            )
            cells = [
                fmt_s(theirs["seconds"]),
                f"{theirs['seconds'] / mine['seconds']:.0f}×",
                f"{mine['ddf']:.4f}",
                f"{theirs['ddf']:.4f}",
                f"{mine['scaling']:.6f}",
                f"{theirs['scaling']:.6f}",
                diff,
            ]
        else:
            cells = [theirs, "—", f"{mine['ddf']:.4f}", "—", f"{mine['scaling']:.6f}", "—", "—"]
        lines.append(
            f"| {fmt_rows(n)} | {groups:,} | {fmt_s(mine['seconds'])} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        f"Model `{FORMULA}` (REML) on `benchmarks/run.py`'s simulated data (50 rows per group, "
        "same seed per size). Timed: the Kenward-Roger step alone, after the fit: for mixnb "
        "`FixedEffectsTests(..., 'kenward-roger')` building the coefficient table and the 2-df "
        f"F test of Intercept and x (median of {args.repeats} after a warm-up); for pbkrtest "
        "`KRmodcomp(fit, diag(2))` in R, which computes `vcovAdj(fit)` once (`system.time`, "
        "elapsed, once; the df of x come from `Lb_ddf` outside the timing). "
        "Each package tests its own fit (lme4 default optimizer in R), so the last column "
        "also carries the optimizers' differences.",
        f"¹ pbkrtest is not run above {fmt_rows(int(args.pbkrtest_max))} rows "
        "(`--pbkrtest-max`): its n x n sparse matrices make it slow there.",
        f"The run took {minutes:.1f} min (`python benchmarks/kenward_roger.py`).",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
