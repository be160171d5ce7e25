"""Speed of mixnb's Gibbs sampler (``mixnb.sample``): iterations per second by data size.

    python benchmarks/mcmc.py [--iterations 2000] [--chains 4] [--out benchmarks/results/mcmc.md]

Data are simulated as in ``benchmarks/run.py`` (``y = 1 + 0.5 x + u0_g + u1_g x + e``), at
1e3 and 1e5 rows with 50 rows per group (20 and 2000 groups), and at 1e5 rows with 10 rows
per group (10,000 groups); plus a crossed model ``y ~ x + (1 | g) + (1 | h)`` at 1e3 and
1e4 rows (the general sampler). Each case is fitted by REML first (not timed), then
sampled with 4 chains; an *iteration* advances all chains by one draw. Reported: sampling
iterations per second (the Gibbs loop alone, best of ``--repeats``), draws per second
(iterations x chains), the smallest bulk ESS per second of sampling, and the time of the
whole ``mixnb.sample`` call (sampling plus posterior summaries and diagnostics).
"""

from __future__ import annotations

import argparse
import sys
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
        best = np.inf
        for _ in range(args.repeats):
            start = time.perf_counter()
            run_gibbs(
                fit.design,
                fit.estimates,
                iterations=args.iterations,
                burn_in=args.burn_in,
                chains=args.chains,
                seed=1,
                progress=False,
            )
            best = min(best, time.perf_counter() - start)
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
            }
        )
        print(label, formula, rows[-1]["iterations / s"], "it/s", file=sys.stderr)
    table = pd.DataFrame(rows)
    header = [
        "# mixnb.sample: Gibbs sampler speed",
        "",
        f"{args.chains} chains, {args.burn_in} burn-in + {args.iterations} iterations; "
        f"best of {args.repeats}; numpy {np.__version__}; "
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
