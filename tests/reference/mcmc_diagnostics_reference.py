"""Reference values of R-hat, bulk/tail ESS and MCSE from ArviZ for tests/test_mcmc_diagnostics.py.

Run with arviz-stats installed (it needs numpy >= 2 and Python >= 3.11, so it is not a
mixnb dependency):

    python -m venv /tmp/az && /tmp/az/bin/pip install arviz-stats==0.8.0
    /tmp/az/bin/python tests/reference/mcmc_diagnostics_reference.py

The draws are re-created in the test from the same seeds (numpy's PCG64 stream is stable
across versions); ``checksum`` guards that.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def reference_draws() -> dict[str, np.ndarray]:
    """The test cases: (chains, draws) arrays, each from its own seed."""
    out = {}
    rng = np.random.default_rng(20211)
    out["iid_normal"] = rng.standard_normal((4, 500))
    for phi in (0.5, 0.9):
        rng = np.random.default_rng(int(phi * 100))
        e = rng.standard_normal((4, 1000))
        x = np.empty_like(e)
        x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
        for t in range(1, e.shape[1]):
            x[:, t] = phi * x[:, t - 1] + e[:, t]
        out[f"ar1_{phi}"] = x
    rng = np.random.default_rng(7)
    out["cauchy"] = rng.standard_cauchy((4, 400))
    rng = np.random.default_rng(8)
    shifted = rng.standard_normal((4, 300))
    shifted[0] += 1.0  # one chain elsewhere: R-hat must notice
    out["shifted_chain"] = shifted
    rng = np.random.default_rng(9)
    scaled = rng.standard_normal((4, 300))
    scaled[1] *= 3.0  # same location, different scale: the folded R-hat notices
    out["scaled_chain"] = scaled
    rng = np.random.default_rng(10)
    out["odd_length"] = rng.gamma(2.0, size=(3, 301))
    return out


def main() -> None:
    import arviz_stats
    from arviz_stats.base import array_stats

    cases = {}
    for name, x in reference_draws().items():
        cases[name] = {
            "checksum": float(x.sum()),
            "rhat": float(array_stats.rhat(x, method="rank")),
            "ess_bulk": float(array_stats.ess(x, method="bulk")),
            "ess_tail": float(array_stats.ess(x, method="tail", prob=(0.05, 0.95))),
            "ess_mean": float(array_stats.ess(x, method="mean")),
            "mcse_mean": float(array_stats.mcse(x, method="mean")),
        }
    out = {"arviz_stats": arviz_stats.__version__, "numpy": np.__version__, "cases": cases}
    path = Path(__file__).with_name("mcmc_diagnostics_reference.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
