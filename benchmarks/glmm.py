"""Speed benchmark: mixnb.glmm against lme4's glmer on the same data, in the same run.

Run from the repository root::

    python benchmarks/glmm.py               # every model
    python benchmarks/glmm.py --quick       # the small ones only

Models (Laplace approximation, binomial logit):

* ``binary 1e5 x 2000``: ``y ~ x + z + (1 | g)``, 100 000 rows, 2000 groups of 50
  (simulated, fixed seed; sd of the group effect 1);
* ``VerbAgg crossed``: lme4's VerbAgg, ``r2 ~ Anger + Gender + btype + situ + (1 | id) +
  (1 | item)`` (7584 rows, 316 x 24 crossed);
* ``guImmun 3 levels``: mlmRev's guImmun, children in mothers in communities,
  ``immun ~ kid2p + mom25p + ord + ethn + rural + pcInd81 + (1 | comm/mom)``.

glmer runs with its defaults (``glmerControl()``: bobyqa then Nelder-Mead, its default
tolerances), timed inside R around the ``glmer`` call alone (data already loaded);
mixnb's time covers the whole ``mixnb.glmm`` call. Each is the median of ``--repeats``
runs after one warm-up. The table also shows the log-likelihood difference (mixnb minus
glmer): positive means mixnb's optimum is higher. Results go to
``benchmarks/results/glmm.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import mixnb  # noqa: E402
from benchmarks.run import load_average, machine_header, r_info, timed  # noqa: E402

SEED = 20241202

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = TRUE)
for (v in strsplit(args[4], ",")[[1]]) d[[v]] <- factor(d[[v]])
f <- as.formula(args[2])
repeats <- as.integer(args[3])
fit <- glmer(f, data = d, family = binomial)  # warm-up
times <- numeric(repeats)
for (i in seq_len(repeats)) {
  times[i] <- system.time(fit <- glmer(f, data = d, family = binomial))[["elapsed"]]
}
cat(jsonlite::toJSON(list(times = times, loglik = as.numeric(logLik(fit)),
                          fixef = unname(fixef(fit))), digits = NA))
"""


def simulate_binary(n_rows: int = 100_000, n_groups: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    g = np.repeat(np.arange(n_groups), n_rows // n_groups)
    x = rng.normal(size=len(g))
    z = rng.integers(0, 2, size=len(g))
    eta = -0.5 + 0.6 * x - 0.4 * z + rng.normal(size=n_groups)[g]
    y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "x": x, "z": z, "g": g})


def models(quick: bool) -> dict[str, tuple[str, pd.DataFrame, list[str]]]:
    """name -> (formula, data, columns R must treat as factors)."""
    out = {
        "VerbAgg crossed": (
            "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
            mixnb.load_dataset("verbagg"),
            ["id"],
        ),
        "guImmun 3 levels": (
            "immun ~ kid2p + mom25p + ord + ethn + rural + pcInd81 + (1 | comm/mom)",
            mixnb.load_dataset("guimmun"),
            ["comm", "mom"],
        ),
    }
    if not quick:
        out = {"binary 1e5 x 2000": ("y ~ x + z + (1 | g)", simulate_binary(), ["g"]), **out}
    return out


def run_glmer(formula: str, data: pd.DataFrame, factors: list[str], repeats: int):
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "data.csv", Path(tmp) / "fit.R"
        data.to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        proc = subprocess.run(
            ["Rscript", str(script), str(csv), formula, str(repeats), ",".join(factors)],
            capture_output=True,
            text=True,
        )
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return None
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "times": [float(t) for t in np.atleast_1d(out["times"])],
        "loglik": float(np.atleast_1d(out["loglik"])[0]),
        "fixef": np.asarray(out["fixef"], dtype=float),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    loads_before = load_average()
    rows = []
    for name, (formula, data, factors) in models(args.quick).items():
        print(f"{name}: mixnb ...", file=sys.stderr)

        def call(formula=formula, data=data):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return mixnb.glmm(formula, data)

        times, fit, _ = timed(call, args.repeats)
        print(f"{name}: mixnb {statistics.median(times):.2f} s; glmer ...", file=sys.stderr)
        r = run_glmer(formula, data, factors, args.repeats)
        ours = statistics.median(times)
        theirs = statistics.median(r["times"]) if r else None
        rows.append(
            {
                "model": name,
                "rows": len(data),
                "mixnb (s)": f"{ours:.2f}",
                "glmer (s)": f"{theirs:.2f}" if theirs else "n/a",
                "glmer / mixnb": f"{theirs / ours:.1f}x" if theirs else "n/a",
                "logLik mixnb - glmer": f"{fit.loglik - r['loglik']:+.2e}" if r else "n/a",
                "max |beta diff|": (
                    f"{np.max(np.abs(fit.estimates.beta - np.array(r['fixef']))):.1e}"
                    if r
                    else "n/a"
                ),
            }
        )
        print(" | ".join(map(str, rows[-1].values())), file=sys.stderr)
    columns = list(rows[0])
    table = "\n".join(
        ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        + ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    )
    header = machine_header(r_info(), (loads_before, load_average()))
    text = "\n".join(["# GLMM benchmark (mixnb.glmm vs lme4::glmer)", "", *header, "", table, ""])
    (REPO / "benchmarks" / "results" / "glmm.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
