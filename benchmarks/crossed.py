"""Speed of crossed and nested random effects: mixnb against lme4 and mixedlm, same run.

    python benchmarks/crossed.py [--repeats 3] [--small-repeats 15]
        [--out benchmarks/results/crossed.md] [--baseline /other/mixnb/checkout]
        [--cases name,name]

Cases (simulated with fixed seeds, plus real data): the shapes of issue 20.

* ``crossed 2000x500``: ``y ~ x + (1 | a) + (1 | b)``, 1e5 rows, 2000 x 500 levels.
* ``InstEval-shaped``: ``y ~ service + (1 | s) + (1 | d) + (1 | dept)``, 73,421 rows,
  2972 students x 1128 lecturers, each lecturer in one of 14 departments (the shape of
  lme4's ``InstEval``; simulated).
* ``nested 2e5``: ``y ~ x + (1 + x | school) + (1 | district)``, 2e5 rows, 1e4 schools in
  500 districts, a random slope at school level.
* real data (committed in ``tests/data/crossed/`` and ``data/``): ScotsSec (3435 pupils,
  148 primary x 19 secondary schools, crossed), egsingle (7230 scores, 1721 children in
  60 schools, random slopes at both levels), Penicillin (144 rows, 24 x 6 crossed),
  Pastes (60 rows, casks nested in batches).
* small simulated: 800 rows, 40 x 10 crossed; and 1e5 rows of the one-factor model
  ``y ~ x + (x | g)`` (``benchmarks/run.py``'s data): the batched path, which must not
  regress (``--baseline`` times it and the small models with another checkout's mixnb
  in the same run; not the larger shapes, where a checkout without the blocked system
  takes from a minute (ScotsSec) to ten minutes per fit).

Every fit is REML. Each package runs in its own process on the same CSV file; mixnb and
mixedlm time the whole user call from data frame to result (``mixnb.lmm``,
``mixedlm.lmer``), lme4 only ``lmer(...)`` inside R (``system.time``; reading the CSV and R's
start-up excluded). One untimed warm-up fit, then ``--repeats`` timed fits (``--small-repeats``
for models under 1000 rows); medians. Also reported: deviance evaluations (mixnb's
``n_evaluations``, which include the Newton polish and the optimum's checks; lme4's
``optinfo$feval`` at its default optimizer), mixnb's REML criterion minus lme4's, and the
peak RSS of the mixnb process (``ru_maxrss``, after reading the data and fitting).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _run():
    """benchmarks/run.py's helpers (imported late: a worker must import only the mixnb
    of its PYTHONPATH, and run.py puts this checkout first)."""
    import run

    return run


@dataclass(frozen=True)
class Case:
    name: str
    formula: str
    factors: tuple[str, ...]
    make: object  # () -> DataFrame
    #: timed with --baseline too (not the large crossed and nested cases, where a
    #: checkout without the blocked system takes minutes per fit)
    baseline: bool = False

    def data(self) -> pd.DataFrame:
        return self.make()


def crossed_2000x500() -> pd.DataFrame:
    rng = np.random.default_rng([20, 2000, 500])
    n = 100_000
    a, b = rng.integers(0, 2000, n), rng.integers(0, 500, n)
    x = rng.standard_normal(n)
    y = 1 + 0.5 * x + rng.normal(0, 1.0, 2000)[a] + rng.normal(0, 0.5, 500)[b]
    return pd.DataFrame({"y": y + rng.standard_normal(n), "x": x, "a": a, "b": b})


def insteval_shaped() -> pd.DataFrame:
    rng = np.random.default_rng([20, 73421])
    n, ns, nd, ndept = 73_421, 2972, 1128, 14
    s = rng.integers(0, ns, n)
    d = rng.integers(0, nd, n)
    dept_of = rng.integers(0, ndept, nd)
    service = rng.integers(0, 2, n)
    y = (
        3.2
        - 0.07 * service
        + rng.normal(0, 0.32, ns)[s]
        + rng.normal(0, 0.52, nd)[d]
        + rng.normal(0, 0.08, ndept)[dept_of[d]]
        + rng.normal(0, 1.18, n)
    )
    return pd.DataFrame({"y": y, "service": service, "s": s, "d": d, "dept": dept_of[d]})


def nested_2e5() -> pd.DataFrame:
    rng = np.random.default_rng([20, 200_000])
    n, n_school, n_district = 200_000, 10_000, 500
    school = rng.integers(0, n_school, n)
    district = school % n_district
    x = rng.standard_normal(n)
    u = rng.standard_normal((n_school, 2)) @ np.linalg.cholesky([[0.8, 0.1], [0.1, 0.3]]).T
    y = 1 + 0.5 * x + u[school, 0] + u[school, 1] * x + rng.normal(0, 0.6, n_district)[district]
    return pd.DataFrame(
        {"y": y + rng.standard_normal(n), "x": x, "school": school, "district": district}
    )


def small_crossed() -> pd.DataFrame:
    rng = np.random.default_rng([20, 800])
    n = 800
    a, b = rng.integers(0, 40, n), rng.integers(0, 10, n)
    x = rng.standard_normal(n)
    y = 1 + 0.5 * x + rng.normal(0, 1.0, 40)[a] + rng.normal(0, 0.7, 10)[b]
    return pd.DataFrame({"y": y + rng.standard_normal(n), "x": x, "a": a, "b": b})


def _committed(path: str) -> pd.DataFrame:
    return pd.read_csv(REPO / path)


CASES = [
    Case("crossed 2000x500, 1e5 rows", "y ~ x + (1 | a) + (1 | b)", ("a", "b"), crossed_2000x500),
    Case(
        "InstEval-shaped, 73k rows",
        "y ~ service + (1 | s) + (1 | d) + (1 | dept)",
        ("s", "d", "dept"),
        insteval_shaped,
    ),
    Case(
        "nested 2e5 rows, 1e4 schools",
        "y ~ x + (1 + x | school) + (1 | district)",
        ("school", "district"),
        nested_2e5,
    ),
    Case(
        "ScotsSec (real), crossed",
        "attain ~ verbal + sex + (1 | primary) + (1 | second)",
        ("primary", "second", "sex"),
        lambda: _committed("tests/data/crossed/scotssec.csv.gz"),
    ),
    Case(
        "egsingle (real), nested slopes",
        "math ~ year + (1 + year | childid) + (1 + year | schoolid)",
        ("childid", "schoolid"),
        lambda: _committed("tests/data/crossed/egsingle.csv.gz"),
    ),
    Case(
        "Penicillin (real), 144 rows",
        "diameter ~ 1 + (1 | plate) + (1 | sample)",
        ("plate", "sample"),
        lambda: _committed("data/penicillin.csv"),
        baseline=True,
    ),
    Case(
        "Pastes (real), 60 rows",
        "strength ~ 1 + (1 | batch) + (1 | batch:cask)",
        ("batch", "cask"),
        lambda: _committed("data/pastes.csv"),
        baseline=True,
    ),
    Case("small crossed, 800 rows", "y ~ x + (1 | a) + (1 | b)", ("a", "b"), small_crossed, True),
    Case(
        "one factor, 1e5 rows",
        "y ~ x + (x | g)",
        ("g",),
        lambda: _run().simulate(100_000),
        baseline=True,
    ),
]

R_SCRIPT = r"""
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); f <- as.formula(args[2]); repeats <- as.integer(args[3])
for (col in strsplit(args[4], ",")[[1]]) d[[col]] <- factor(d[[col]])
m <- lmer(f, data = d, REML = TRUE)
fit_once <- function(i) system.time(m <<- lmer(f, data = d, REML = TRUE))[["elapsed"]]
times <- sapply(seq_len(repeats), fit_once)
cat(toJSON(list(times = times, feval = m@optinfo$feval, criterion = REMLcrit(m)),
           digits = NA, auto_unbox = TRUE))
"""


def worker(args: argparse.Namespace) -> None:
    """One package's fits of one case, in this process; JSON on stdout."""
    import resource
    import warnings

    data = pd.read_csv(args.csv, dtype={c: str for c in args.factors.split(",")})
    times, out = [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if args.worker == "mixnb":
            import mixnb

            def fit():
                return mixnb.lmm(args.formula, data, reml=True)

        else:
            import mixedlm

            def fit():
                return mixedlm.lmer(args.formula, data, REML=True)

        result = fit()
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = fit()
            times.append(time.perf_counter() - t0)
    if args.worker == "mixnb":
        est = result.estimates
        out = {"n_evaluations": est.n_evaluations, "criterion": est.objective}
        t0 = time.perf_counter()
        result.fixed_effects  # noqa: B018 - Satterthwaite df, computed on first access
        out["df_seconds"] = time.perf_counter() - t0
    else:
        out = {"criterion": float(result.REMLcrit())}
    out["times"] = times
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_python(kind: str, csv: Path, case: Case, repeats: int, path: Path | None = None):
    env = dict(os.environ, PYTHONPATH=str(path or REPO))
    cmd = [sys.executable, __file__, "--worker", kind, "--csv", str(csv), "--formula"]
    cmd += [case.formula, "--factors", ",".join(case.factors), "--repeats", str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_r(csv: Path, case: Case, repeats: int, tmp: Path):
    if shutil.which("Rscript") is None:
        return {"error": "no Rscript"}
    script = tmp / "fit.R"
    script.write_text(R_SCRIPT)
    cmd = ["Rscript", str(script), str(csv), case.formula, str(repeats), ",".join(case.factors)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def have_mixedlm() -> str | None:
    try:
        import importlib.metadata

        return importlib.metadata.version("mixedlm")
    except Exception:  # noqa: BLE001 - not installed
        return None


def _median(res: dict) -> float | None:
    return statistics.median(res["times"]) if "times" in res else None


def _s(t: float | None) -> str:
    if t is None:
        return "-"
    return f"{t * 1000:.0f} ms" if t < 1 else f"{t:.2f} s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--small-repeats", type=int, default=15)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "crossed.md"))
    ap.add_argument("--baseline", default=None, help="another checkout's root, for mixnb")
    ap.add_argument("--cases", default=None, help="comma-separated case names (prefixes)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--csv", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--formula", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--factors", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    cases = CASES
    if args.cases:
        wanted = [w.strip() for w in args.cases.split(",")]
        cases = [c for c in CASES if any(c.name.startswith(w) for w in wanted)]
    run = _run()
    loads_before = run.load_average()
    mixedlm_version = have_mixedlm()
    rows = []
    with tempfile.TemporaryDirectory(prefix="mixnb-crossed-") as tmp_name:
        tmp = Path(tmp_name)
        for case in cases:
            data = case.data()
            csv = tmp / "data.csv"
            data.to_csv(csv, index=False)
            repeats = args.small_repeats if len(data) < 1000 else args.repeats
            print(f"{case.name}: {len(data)} rows", file=sys.stderr)
            ours = run_python("mixnb", csv, case, repeats)
            base = None
            if args.baseline and case.baseline:
                base = run_python("mixnb", csv, case, repeats, Path(args.baseline))
            lme4 = run_r(csv, case, repeats, tmp)
            peer = run_python("mixedlm", csv, case, repeats) if mixedlm_version else None
            rows.append((case, len(data), ours, base, lme4, peer))
            print(f"  mixnb {_s(_median(ours))} lme4 {_s(_median(lme4))}", file=sys.stderr)
    lines = ["# Crossed and nested random effects: mixnb, lme4 and mixedlm in the same run", ""]
    lines += [
        "Command: `python benchmarks/crossed.py"
        + (" --baseline ..." if args.baseline else "")
        + "`",
        "",
    ]
    lines += run.machine_header(run.r_info(), (loads_before, run.load_average()))
    lines += ["", f"mixedlm: {mixedlm_version or 'not installed'}", ""]
    head = "| case | rows | mixnb | " + ("mixnb baseline | " if args.baseline else "")
    head += "lme4 | mixedlm | lme4 / mixnb | evaluations mixnb / lme4 | criterion - lme4 | "
    head += "mixnb peak RSS | Satterthwaite df |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for case, n, ours, base, lme4, peer in rows:
        t_ours, t_r = _median(ours), _median(lme4)
        ratio = f"{t_r / t_ours:.1f}x" if t_ours and t_r else "-"
        crit = (
            f"{ours['criterion'] - lme4['criterion']:.1e}"
            if "criterion" in ours and "criterion" in lme4
            else "-"
        )
        evals = f"{ours.get('n_evaluations', '-')} / {lme4.get('feval', '-')}"
        cells = [case.name, f"{n:,}", _s(t_ours)]
        if args.baseline:
            cells.append(_s(_median(base)) if base else "-")
        cells += [_s(t_r), _s(_median(peer)) if peer else "-", ratio, evals, crit]
        cells += [f"{ours.get('maxrss_mb', 0):.0f} MB", _s(ours.get("df_seconds"))]
        lines.append("| " + " | ".join(cells) + " |")
        for label, res in (("mixnb", ours), ("lme4", lme4), ("mixedlm", peer), ("baseline", base)):
            if res and "error" in res:
                lines.append(f"|  {label} failed: {res['error']} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
