"""Speed and agreement benchmark: mixnb.lmm against statsmodels MixedLM and R's lme4.

Run from the repository root::

    python benchmarks/run.py

See ``benchmarks/README.md`` for what is measured and what each option does.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout without `pip install -e`
    sys.path.insert(0, str(REPO))

import mixnb  # noqa: E402

SEED = 20240501
ROWS_PER_GROUP = 50
#: Simulation truth: y = 1 + 0.5 x + u0_g + u1_g x + e.
BETA = (1.0, 0.5)
SD_U0, SD_U1, CORR_U, SD_E = 2.0, 0.5, 0.3, 1.0
#: A single statsmodels fit (the untimed warm-up) longer than this gets one counted repeat.
SLOW_FIT_SECONDS = 180.0

MODELS = {
    # name: (mixnb / lme4 formula, statsmodels re_formula)
    "intercept": ("y ~ x + (1 | g)", None),
    "slope": ("y ~ x + (x | g)", "~x"),
}
#: Variance-component keys shared by the three packages: (term1, term2);
#: the residual variance is ("Residual", "").
VC_KEYS = {
    "intercept": [("Intercept", "Intercept"), ("Residual", "")],
    "slope": [("Intercept", "Intercept"), ("x", "x"), ("Intercept", "x"), ("Residual", "")],
}


# --------------------------------------------------------------------------- data


def simulate(n: int) -> pd.DataFrame:
    """``n`` rows, 50 per group, from the model in the module docstring; same data per ``n``."""
    rng = np.random.default_rng([SEED, n])
    n_groups = max(1, n // ROWS_PER_GROUP)
    g = np.repeat(np.arange(n_groups), ROWS_PER_GROUP)[:n]
    if g.size < n:  # n not a multiple of 50: the last group takes the rest
        g = np.concatenate([g, np.full(n - g.size, n_groups - 1)])
    cov = np.array([[SD_U0**2, CORR_U * SD_U0 * SD_U1], [CORR_U * SD_U0 * SD_U1, SD_U1**2]])
    u = rng.standard_normal((n_groups, 2)) @ np.linalg.cholesky(cov).T
    x = rng.standard_normal(n)
    e = rng.standard_normal(n) * SD_E
    y = BETA[0] + BETA[1] * x + u[g, 0] + u[g, 1] * x + e
    return pd.DataFrame({"y": y, "x": x, "g": g})


# --------------------------------------------------------------------------- results


@dataclass
class Fit:
    """One package's timing and estimates for one (size, model)."""

    times: list[float] = field(default_factory=list)
    fixed: dict[str, float] = field(default_factory=dict)
    vc: dict[tuple[str, str], float] = field(default_factory=dict)
    reml_crit: float | None = None
    converged: bool | None = None
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None  # reason, when not run

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None


def timed(call, repeats: int, warmup: bool = True):
    """Run ``call`` once untimed (warm-up), then ``repeats`` times timed.

    Returns (times, last result, warm-up seconds).
    """
    warm = None
    result = None
    if warmup:
        t0 = time.perf_counter()
        result = call()
        warm = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t0)
    return times, result, warm


# --------------------------------------------------------------------------- mixnb


def run_mixnb(data: pd.DataFrame, model: str, repeats: int) -> Fit:
    formula = MODELS[model][0]
    fit = Fit()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit.times, res, _ = timed(lambda: mixnb.lmm(formula, data, reml=True), repeats)
    for w in {str(w.message) for w in caught}:
        fit.notes.append(f"mixnb warning: {w}")
    fit.fixed = {str(k): float(v) for k, v in res.fixed_effects["estimate"].items()}
    for row in res.variance_components.itertuples(index=False):
        if row.group == "Residual":
            fit.vc[("Residual", "")] = float(row.estimate)
        else:
            fit.vc[(str(row.term1), str(row.term2))] = float(row.estimate)
    fit.reml_crit = float(res.reml_criterion)
    fit.converged = bool(res.converged)
    if not fit.converged:
        fit.notes.append("mixnb: converged=False")
    return fit


# --------------------------------------------------------------------------- statsmodels


def run_statsmodels(data: pd.DataFrame, model: str, repeats: int) -> Fit:
    import statsmodels.formula.api as smf

    re_formula = MODELS[model][1]
    fit = Fit()

    def call(method=None):
        kwargs = {} if method is None else {"method": method}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return smf.mixedlm("y ~ x", data, groups=data["g"], re_formula=re_formula).fit(
                reml=True, **kwargs
            )

    def ok(res) -> bool:
        return res is not None and bool(getattr(res, "converged", False))

    method = None
    t0 = time.perf_counter()
    try:
        res = call()
    except Exception as exc:  # noqa: BLE001 - report, then try lbfgs
        res = None
        fit.notes.append(f"statsmodels default method failed ({type(exc).__name__}: {exc})")
    warm = time.perf_counter() - t0
    if not ok(res):
        if res is not None:
            fit.notes.append("statsmodels default method did not converge")
        method = "lbfgs"
        fit.notes.append('statsmodels refitted (and timed) with method="lbfgs"')
        t0 = time.perf_counter()
        res = call(method)
        warm = time.perf_counter() - t0
    if warm > SLOW_FIT_SECONDS and repeats > 1:
        fit.notes.append(
            f"statsmodels: one fit took {warm:.0f} s (> {SLOW_FIT_SECONDS:.0f} s), "
            "so it was timed once instead of the usual repeats"
        )
        repeats = 1
    fit.times, res, _ = timed(lambda: call(method), repeats, warmup=False)
    fit.converged = ok(res)
    if not fit.converged:
        fit.notes.append("statsmodels: converged=False")
    fit.fixed = {str(k): float(v) for k, v in res.fe_params.items()}
    cov_re = np.asarray(res.cov_re)  # already on the data scale (multiplied by scale)
    fit.vc[("Intercept", "Intercept")] = float(cov_re[0, 0])
    if cov_re.shape[0] > 1:
        fit.vc[("x", "x")] = float(cov_re[1, 1])
        fit.vc[("Intercept", "x")] = float(cov_re[0, 1])
    fit.vc[("Residual", "")] = float(res.scale)
    return fit


# --------------------------------------------------------------------------- lme4

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
csv <- args[1]; repeats <- as.integer(args[2]); out <- args[3]; models <- args[4:length(args)]
suppressPackageStartupMessages(library(lme4))
d <- read.csv(csv, colClasses = c("numeric", "numeric", "integer"))
formulas <- list(intercept = y ~ x + (1 | g), slope = y ~ x + (x | g))
con <- file(out, "w")
emit <- function(...) writeLines(paste(..., sep = "\t"), con)
for (m in models) {
  f <- formulas[[m]]
  fit <- lmer(f, data = d, REML = TRUE)  # warm-up, not counted
  times <- numeric(repeats)
  for (i in seq_len(repeats)) {
    times[i] <- system.time(fit <- lmer(f, data = d, REML = TRUE))[["elapsed"]]
  }
  emit(m, "times", paste(sprintf("%.6f", times), collapse = ","))
  fe <- fixef(fit)
  for (k in names(fe)) emit(m, "fixed", k, sprintf("%.17g", fe[[k]]))
  vc <- as.data.frame(VarCorr(fit))
  for (i in seq_len(nrow(vc))) {
    v1 <- ifelse(is.na(vc$var1[i]), "", vc$var1[i])
    v2 <- ifelse(is.na(vc$var2[i]), v1, vc$var2[i])
    if (vc$grp[i] == "Residual") { v1 <- "Residual"; v2 <- "" }
    emit(m, "vc", v1, v2, sprintf("%.17g", vc$vcov[i]))
  }
  emit(m, "remlcrit", sprintf("%.17g", REMLcrit(fit)))
  msgs <- c(fit@optinfo$conv$lme4$messages, fit@optinfo$warnings)
  emit(m, "singular", isSingular(fit))
  for (msg in unlist(msgs)) emit(m, "message", gsub("[\t\n]", " ", msg))
}
close(con)
"""


def r_info() -> dict[str, str] | None:
    """R and lme4 versions (and R's BLAS) if Rscript is on PATH and lme4 loads; else None."""
    if shutil.which("Rscript") is None:
        return None
    code = (
        "suppressPackageStartupMessages(library(lme4)); "
        'cat(R.version.string, as.character(packageVersion("lme4")), '
        'as.character(packageVersion("Matrix")), extSoftVersion()[["BLAS"]], sep = "\\n")'
    )
    try:
        out = subprocess.run(
            ["Rscript", "-e", code], capture_output=True, text=True, timeout=120, check=True
        ).stdout.splitlines()
    except (subprocess.SubprocessError, OSError):
        return None
    if len(out) < 3:
        return None
    return {"R": out[0], "lme4": out[1], "Matrix": out[2], "BLAS": out[3] if len(out) > 3 else ""}


def run_lme4(data: pd.DataFrame, models: list[str], repeats: int) -> dict[str, Fit]:
    fits = {m: Fit() for m in models}
    with tempfile.TemporaryDirectory(prefix="mixnb-bench-") as tmp:
        csv, script, out = Path(tmp, "data.csv"), Path(tmp, "fit.R"), Path(tmp, "out.tsv")
        data.to_csv(csv, index=False)  # full float precision
        script.write_text(R_SCRIPT)
        proc = subprocess.run(
            ["Rscript", str(script), str(csv), str(repeats), str(out), *models],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not out.exists():
            for f in fits.values():
                f.skipped = "R failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
            return fits
        for line in out.read_text().splitlines():
            m, kind, *rest = line.split("\t")
            f = fits[m]
            if kind == "times":
                f.times = [float(t) for t in rest[0].split(",")]
            elif kind == "fixed":
                f.fixed["Intercept" if rest[0] == "(Intercept)" else rest[0]] = float(rest[1])
            elif kind == "vc":
                t1, t2 = (s.replace("(Intercept)", "Intercept") for s in rest[:2])
                f.vc[(t1, t2)] = float(rest[2])
            elif kind == "remlcrit":
                f.reml_crit = float(rest[0])
            elif kind == "singular" and rest[0] == "TRUE":
                f.notes.append("lme4: singular fit")
            elif kind == "message":
                f.notes.append(f"lme4 message: {rest[0]}")
    for f in fits.values():
        f.converged = not any(n.startswith("lme4 message") for n in f.notes)
    return fits


# --------------------------------------------------------------------------- agreement


def max_rel_diff(a: dict, b: dict, keys) -> float:
    """max |a_k - b_k| / |b_k| over ``keys`` (b is the reference)."""
    out = 0.0
    for k in keys:
        ref = b[k]
        out = max(out, abs(a[k] - ref) / max(abs(ref), 1e-12))
    return out


def agreement(mine: Fit, other: Fit, model: str) -> tuple[float, float] | None:
    if other.skipped or not other.fixed:
        return None
    fe = max_rel_diff(mine.fixed, other.fixed, ["Intercept", "x"])
    vc = max_rel_diff(mine.vc, other.vc, VC_KEYS[model])
    return fe, vc


# --------------------------------------------------------------------------- header


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine_header(r: dict[str, str] | None, loads: tuple[str, str]) -> list[str]:
    import scipy
    import statsmodels

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    except OSError:
        nproc = str(len(os.sched_getaffinity(0)))
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass

    blas = "?"
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{cfg.get('name')} {cfg.get('version')}"
    except Exception:  # noqa: BLE001 - older numpy: no mode="dicts"
        pass
    try:
        import threadpoolctl

        pools = threadpoolctl.threadpool_info()
        blas += " | threadpoolctl: " + "; ".join(
            f"{p.get('internal_api')} {p.get('version')} {p.get('num_threads')} threads "
            f"({p.get('threading_layer')}, {p.get('architecture')})"
            for p in pools
        )
    except ImportError:
        blas += " (threadpoolctl not installed: thread count not recorded)"
    env = ", ".join(
        f"{k}={os.environ[k]}"
        for k in (
            "OPENBLAS_CORETYPE",
            "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
        )
        if k in os.environ
    )

    def git(*a):
        try:
            return subprocess.run(
                ["git", "-C", str(REPO), *a], capture_output=True, text=True
            ).stdout.strip()
        except OSError:
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "mixnb")
    lines = [
        f"- Date: {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {nproc} CPUs (nproc), {cpu}, {mem} RAM, {platform.platform()}",
        f"- Python {platform.python_version()}; mixnb {mixnb.__version__} (git {commit}"
        + (", with uncommitted changes under mixnb/" if dirty else "")
        + f"); numpy {np.__version__}; scipy {scipy.__version__}; pandas {pd.__version__}; "
        f"statsmodels {statsmodels.__version__}",
        f"- numpy BLAS: {blas}",
        f"- BLAS-related environment: {env or 'none set'}",
        f"- Load average (1/5/15 min) at start: {loads[0]}; at end: {loads[1]} "
        "(other processes running on the machine slow every column)",
    ]
    if r:
        lines.append(f"- {r['R']}; lme4 {r['lme4']}; Matrix {r['Matrix']}; R BLAS: {r['BLAS']}")
    else:
        lines.append("- R / lme4: not available (Rscript missing or lme4 does not load)")
    return lines


# --------------------------------------------------------------------------- table


def fmt_s(t: float | None) -> str:
    if t is None:
        return "—"
    return f"{t:.3f}" if t >= 0.01 else f"{t:.4f}"


def fmt_ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:.1f}×"


def fmt_diff(d: tuple[float, float] | None) -> str:
    return "—" if d is None else f"{d[0]:.1e} / {d[1]:.1e}"


def fmt_rows(n: int) -> str:
    e = math.log10(n)
    return f"1e{int(e)}" if e.is_integer() else f"{n:,}"


def parse_sizes(text: str) -> list[int]:
    return [int(float(s)) for s in text.split(",") if s.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e3,1e4,1e5,1e6", help="comma-separated row counts")
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repeats per fit (default: 5 for sizes <= 1e5, 3 above)",
    )
    ap.add_argument("--no-statsmodels", action="store_true", help="skip statsmodels")
    ap.add_argument("--no-lme4", action="store_true", help="skip lme4 (R)")
    ap.add_argument(
        "--statsmodels-max",
        default="1e5",
        help="largest size statsmodels is fitted at (default 1e5)",
    )
    ap.add_argument("--out", default="benchmarks/results/latest.md", help="Markdown output")
    args = ap.parse_args(argv)

    sizes = parse_sizes(args.sizes)
    sm_max = int(float(args.statsmodels_max))
    r = None if args.no_lme4 else r_info()
    started, load_at_start = time.perf_counter(), load_average()
    rows, notes, sm_slope_at_max = [], [], None

    for n in sizes:
        repeats = args.repeats or (5 if n <= 100_000 else 3)
        data = simulate(n)
        print(f"[{fmt_rows(n)} rows, {repeats} repeats]", file=sys.stderr, flush=True)
        lme4_fits = {}
        if r is not None:
            t0 = time.perf_counter()
            lme4_fits = run_lme4(data, list(MODELS), repeats)
            print(f"  lme4 done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        for model in MODELS:
            mine = run_mixnb(data, model, repeats)
            print(f"  mixnb {model}: {fmt_s(mine.median)} s", file=sys.stderr, flush=True)
            if args.no_statsmodels:
                sm = Fit(skipped="--no-statsmodels")
            elif n > sm_max:
                sm = Fit(skipped=f"> {fmt_rows(sm_max)} rows")
            else:
                sm = run_statsmodels(data, model, repeats)
                print(f"  statsmodels {model}: {fmt_s(sm.median)} s", file=sys.stderr, flush=True)
                if model == "slope" and n == max(s for s in sizes if s <= sm_max):
                    sm_slope_at_max = (n, sm.median)
            if r is None:
                lm = Fit(skipped="--no-lme4" if args.no_lme4 else "R/lme4 not available")
            else:
                lm = lme4_fits[model]
            crit = (
                None
                if lm.reml_crit is None or mine.reml_crit is None
                else mine.reml_crit - lm.reml_crit
            )
            rows.append(
                [
                    fmt_rows(n),
                    "`" + MODELS[model][0].replace("|", "\\|") + "`",
                    fmt_s(mine.median),
                    fmt_s(sm.median) if not sm.skipped else "skipped¹",
                    fmt_s(lm.median) if not lm.skipped else "skipped",
                    fmt_ratio(sm.median, mine.median),
                    fmt_ratio(lm.median, mine.median),
                    fmt_diff(agreement(mine, sm, model)),
                    fmt_diff(agreement(mine, lm, model)),
                    "—" if crit is None else f"{crit:+.1e}",
                ]
            )
            for pkg_fit in (mine, sm, lm):
                for note in pkg_fit.notes:
                    notes.append(f"{fmt_rows(n)} rows, `{MODELS[model][0]}`: {note}")
            if lm.skipped and lm.skipped.startswith("R failed"):
                notes.append(f"{fmt_rows(n)} rows: lme4 {lm.skipped}")

    total = time.perf_counter() - started
    header = [
        "| rows | model | mixnb (s) | statsmodels (s) | lme4 (s) | statsmodels / mixnb "
        "| lme4 / mixnb | rel. diff vs statsmodels (FE / VC) | rel. diff vs lme4 (FE / VC) "
        "| REML crit. mixnb − lme4 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    table = header + ["| " + " | ".join(row) + " |" for row in rows]
    out_lines = [
        "# mixnb benchmark",
        "",
        *machine_header(r, (load_at_start, load_average())),
        "",
        *table,
        "",
        "Times are medians of the timed repeats (5 up to 1e5 rows, 3 above, unless "
        "`--repeats`), after one untimed warm-up fit; mixnb and statsmodels time the whole "
        "call (formula and data frame to result) with `time.perf_counter`, lme4 times only "
        "`lmer(...)` in R (`system.time`, elapsed). Data: 50 rows per group, "
        "y = 1 + 0.5 x + u0 + u1 x + e, sd(u0) = 2, sd(u1) = 0.5, corr = 0.3, sd(e) = 1. "
        "Rel. diff: max |mixnb − other| / |other| over the fixed effects (FE) and over the "
        "variance components (VC: variances, covariance and residual variance). All fits REML.",
        "",
    ]
    if any("skipped¹" in row for row in rows):
        extra = ""
        if sm_slope_at_max is not None:
            extra = (
                f"; for scale, its random-slope fit at {fmt_rows(sm_slope_at_max[0])} rows "
                f"takes {fmt_s(sm_slope_at_max[1])} s in this run"
            )
        out_lines.append(
            f"¹ statsmodels is not fitted above {fmt_rows(sm_max)} rows (`--statsmodels-max`) "
            f"because it is too slow there{extra}."
            if not args.no_statsmodels
            else "¹ statsmodels skipped (`--no-statsmodels`)."
        )
        out_lines.append("")
    if notes:
        out_lines += ["Notes:", ""] + [f"- {n}" for n in dict.fromkeys(notes)] + [""]
    else:
        out_lines += ["Notes: all fits converged, no warnings.", ""]
    command = " ".join(["python benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)])
    out_lines.append(f"The run took {total / 60:.1f} min (`{command}`).")
    text = "\n".join(out_lines) + "\n"
    print(text)
    out = Path(args.out)
    if not out.is_absolute():
        out = Path.cwd() / out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
