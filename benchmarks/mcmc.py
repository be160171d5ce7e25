"""Speed of mixnb's Gibbs sampler (``mixnb.sample``): iterations per second by data size.

    python benchmarks/mcmc.py [--iterations 2000] [--chains 4] [--out benchmarks/results/mcmc.md]

Data are simulated as in ``benchmarks/run.py`` (``y = 1 + 0.5 x + u0_g + u1_g x + e``), at
1e3 and 1e5 rows with 50 rows per group (20 and 2000 groups), and at 1e5 rows with 10 rows
per group (10,000 groups); plus a crossed model ``y ~ x + (1 | g) + (1 | h)`` at 1e3 and
1e4 rows (the general sampler). Each case is fitted by REML first (not timed), then
sampled with 4 chains; an *iteration* advances all chains by one draw. Reported: sampling
iterations per second (the Gibbs loop alone, best of ``--repeats``), draws per second
(iterations x chains), the smallest bulk ESS per second of sampling, and the time of the
whole ``mixnb.sample`` call (sampling plus posterior summaries and diagnostics); and, as
a peer in the same run, the iterations per second of one chain of mixnb and of R's
MCMCpack ``MCMChregress`` (a compiled Gibbs sampler for the same one-factor Gaussian
model: fixed effects, random effects, an inverse-Wishart covariance and an inverse-gamma
residual variance; Debian's r-cran-mcmcpack), timed inside R with ``system.time`` around
the call only, with the same number of iterations and ``thin=10`` (MCMCpack keeps every
kept draw of every random effect; thinning only limits that memory). MCMCpack has no
crossed models, so the crossed rows have no peer.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import load_average, simulate  # noqa: E402

import mixnb  # noqa: E402
from mixnb.estimation.mcmc import run_gibbs  # noqa: E402


def simulate_small_groups(n: int, per_group: int) -> pd.DataFrame:
    """``benchmarks/run.py``'s model with ``per_group`` rows per group."""
    data = simulate(n)
    rng = np.random.default_rng([20240501, n, per_group])
    n_groups = n // per_group
    g = np.repeat(np.arange(n_groups), per_group)
    u = rng.standard_normal((n_groups, 2)) * [2.0, 0.5]
    data["g"] = g
    data["y"] = 1 + 0.5 * data["x"] + u[g, 0] + u[g, 1] * data["x"] + rng.standard_normal(n)
    return data


def simulate_crossed(n: int) -> pd.DataFrame:
    rng = np.random.default_rng([20240502, n])
    g = rng.integers(0, max(n // 50, 2), n)
    h = rng.integers(0, 30, n)
    x = rng.standard_normal(n)
    y = 1 + 0.5 * x + rng.normal(0, 2, g.max() + 1)[g] + rng.normal(0, 1, 30)[h]
    return pd.DataFrame({"y": y + rng.standard_normal(n), "x": x, "g": g, "h": h})


CASES = [
    ("1e3 rows, 20 groups", "y ~ x + (x | g)", lambda: simulate(1000)),
    ("1e5 rows, 2000 groups", "y ~ x + (x | g)", lambda: simulate(100_000)),
    ("1e5 rows, 10000 groups", "y ~ x + (x | g)", lambda: simulate_small_groups(100_000, 10)),
    ("1e5 rows, 10000 groups", "y ~ x + (1 | g)", lambda: simulate_small_groups(100_000, 10)),
    ("1e3 rows, crossed 20 x 30", "y ~ x + (1 | g) + (1 | h)", lambda: simulate_crossed(1000)),
    ("1e4 rows, crossed 200 x 30", "y ~ x + (1 | g) + (1 | h)", lambda: simulate_crossed(10_000)),
]


MCMCPACK = """
suppressPackageStartupMessages(library(MCMCpack))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
random <- as.formula(args[2])
q <- as.integer(args[3])
best <- Inf
for (i in seq_len(as.integer(args[6]))) {
  t <- system.time(MCMChregress(fixed = y ~ x, random = random, group = "g", data = d,
                                burnin = as.integer(args[4]), mcmc = as.integer(args[5]),
                                thin = 10, verbose = 0, seed = 1, r = q, R = diag(q)))
  best <- min(best, t[["elapsed"]])
}
cat(best)
"""


def mcmcpack_seconds(
    data: pd.DataFrame, formula: str, burn_in: int, iterations: int, repeats: int
) -> float | None:
    """Best elapsed seconds of R's ``MCMCpack::MCMChregress`` on a one-factor model
    (``None`` without R, MCMCpack, or for a model it cannot fit)."""
    if shutil.which("Rscript") is None or "|" not in formula or formula.count("|") > 1:
        return None
    random = "~ x" if "(x | g)" in formula else "~ 1"
    q = 2 if random == "~ x" else 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        data[["y", "x", "g"]].to_csv(path, index=False)
        script = Path(tmp) / "run.R"
        script.write_text(MCMCPACK)
        done = subprocess.run(
            ["Rscript", str(script), str(path), random, str(q), str(burn_in), str(iterations),
             str(repeats)],
            capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
    if done.returncode != 0:
        print("MCMCpack failed:", done.stderr[-500:], file=sys.stderr)
        return None
    return float(done.stdout.split()[-1])  # MCMCpack prints a greeting first


def best_of(fit, args: argparse.Namespace, chains: int) -> float:
    """Best of ``args.repeats`` timings of the Gibbs loop alone, in seconds."""
    best = np.inf
    for _ in range(args.repeats):
        start = time.perf_counter()
        run_gibbs(
            fit.design,
            fit.estimates,
            iterations=args.iterations,
            burn_in=args.burn_in,
            chains=chains,
            seed=1,
            progress=False,
        )
        best = min(best, time.perf_counter() - start)
    return best


def _markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    cells = [[str(v).replace("|", "\\|") for v in row] for row in table.itertuples(index=False)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--burn-in", type=int, default=200)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "mcmc.md"))
    args = parser.parse_args(argv)
    load_start = load_average()
    rows = []
    for label, formula, make in CASES:
        data = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mixnb.MixnbWarning)
            fit = mixnb.lmm(formula, data)
        total = args.iterations + args.burn_in

        best = best_of(fit, args, args.chains)
        one_chain = best_of(fit, args, 1)
        peer = mcmcpack_seconds(data, formula, args.burn_in, args.iterations, args.repeats)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mixnb.McmcWarning)
            post = mixnb.sample(
                fit,
                iterations=args.iterations,
                burn_in=args.burn_in,
                chains=args.chains,
                seed=1,
                progress=False,
            )
            _ = post.posterior
        whole = time.perf_counter() - start
        it_s = total / best
        rows.append(
            {
                "data": label,
                "model": formula,
                "sampler": post.result.sampler,
                "iterations / s": f"{it_s:,.0f}",
                "draws / s": f"{it_s * args.chains:,.0f}",
                "min bulk ESS / s": f"{post.posterior['ess_bulk'].min() / best:,.0f}",
                "max R-hat": f"{post.max_rhat:.3f}",
                "mixnb.sample (s)": f"{whole:.2f}",
                "1 chain: it / s": f"{total / one_chain:,.0f}",
                "MCMCpack 1 chain: it / s": "-" if peer is None else f"{total / peer:,.0f}",
            }
        )
        print(label, formula, rows[-1]["iterations / s"], "it/s", file=sys.stderr)
    table = pd.DataFrame(rows)
    header = [
        "# mixnb.sample: Gibbs sampler speed",
        "",
        f"{args.chains} chains, {args.burn_in} burn-in + {args.iterations} iterations; "
        f"best of {args.repeats}; numpy {np.__version__}; peer: R's MCMCpack MCMChregress "
        "(one chain, thin=10, timed inside R); "
        f"load average {load_start} at start, {load_average()} at end.",
        "",
    ]
    text = "\n".join(header) + _markdown(table) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
