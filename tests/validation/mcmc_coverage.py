"""Coverage of mixnb.sample's 95% credible intervals over repeated simulated data sets.

    python tests/validation/mcmc_coverage.py [--datasets 200] [--prior mlwin] [--out PATH.json]

Each data set comes from :func:`mixnb.simulation.simulate_groups` (the seed's random-slope
model: 20 groups of 8 rows, intercept 50, slope 2, SDs 5 and 1, correlation 0.3, residual
SD 3; data set ``k`` from seed ``1000 + k``), is fitted by REML and sampled with MLwiN's
default priors or (``--prior uniform``) flat ones (2 chains, 200 burn-in, 1000 kept draws
each, seed ``k``). The share of data sets whose equal-tailed 95% interval holds the true
value is reported per parameter, with its binomial standard error; ``tests/test_mcmc.py``
runs a quick version. The result is stated in docs/mcmc.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

TRUTH = {"intercept": 50.0, "slope": 2.0, "sd_intercept": 5.0, "sd_slope": 1.0, "corr": 0.3}
SD_RESIDUAL = 3.0


def targets() -> dict[str, float]:
    cov = TRUTH["corr"] * TRUTH["sd_intercept"] * TRUTH["sd_slope"]
    return {
        "Intercept": TRUTH["intercept"],
        "x": TRUTH["slope"],
        "group: var(Intercept)": TRUTH["sd_intercept"] ** 2,
        "group: var(x)": TRUTH["sd_slope"] ** 2,
        "group: cov(Intercept, x)": cov,
        "Residual: var": SD_RESIDUAL**2,
        "group: cor(Intercept, x)": TRUTH["corr"],
    }


def main(argv: list[str] | None = None) -> int:
    import mixnb
    from mixnb.simulation import simulate_groups

    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--prior", default="mlwin", choices=["mlwin", "uniform"])
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args(argv)
    hits = dict.fromkeys(targets(), 0)
    above = dict.fromkeys(targets(), 0)  # the truth above the interval
    widths = {k: [] for k in targets()}
    start = time.perf_counter()
    done = 0
    for k in range(args.datasets):
        data = simulate_groups(
            n_groups=20, n_per_group=8, sd_residual=SD_RESIDUAL, seed=1000 + k, **TRUTH
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mixnb.MixnbWarning)
            fit = mixnb.lmm("y ~ x + (x | group)", data)
            post = mixnb.sample(
                fit,
                iterations=1000,
                burn_in=200,
                chains=2,
                seed=k,
                progress=False,
                prior=args.prior,
            )
        table = post.posterior
        for name, value in targets().items():
            hits[name] += int(table.loc[name, "lower"] <= value <= table.loc[name, "upper"])
            above[name] += int(value > table.loc[name, "upper"])
            widths[name].append(table.loc[name, "upper"] - table.loc[name, "lower"])
        done += 1
        if done % 20 == 0:
            print(f"{done} data sets, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    result = {
        "datasets": done,
        "model": "y ~ x + (x | group), 20 groups x 8 rows",
        "prior": args.prior,
        "sampling": "2 chains, 200 burn-in, 1000 draws each",
        "coverage": {k: v / done for k, v in hits.items()},
        "coverage_se": {k: float(np.sqrt(0.95 * 0.05 / done)) for k in hits},
        "truth_above_interval": {k: v / done for k, v in above.items()},
        "truth_below_interval": {k: 1 - (hits[k] + above[k]) / done for k in hits},
        "median_width": {k: float(np.median(v)) for k, v in widths.items()},
        "seconds": round(time.perf_counter() - start, 1),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
