#!/usr/bin/env python3
"""Build the two synthetic data sets that reproduce the seed slides.

The seed is R. Sturdivant, "My Favorite (Mixed) Models: An Overview" (CDAS, Feb 2007);
``shared/seed/SLIDES.md`` restates its numbers.  The original data are not published, so
this script *constructs* data whose fits give the numbers on the slides (to the digits
shown), writes them next to this file and prints a check table:

* ``batting.csv``            20 players x (10 day + 10 night games), section 9 (SAS PROC MIXED).
  Exact construction: the design is balanced, so every number is a closed-form function of
  a few sums of squares, which are set exactly (values on a 1e-6 grid).
* ``treatment_centers.csv``  40 subjects in 4 centers, sections 1-3 and 6-7.  The slide
  numbers are not all mutually consistent (see ``data/README.md``); the data come from
  a numerical search (not yet part of this script) and are rebuilt here from the 17 numbers in
  ``TC_PARAMS`` (center means/spreads of ``use``, each center's own line, residual scale)
  plus fixed-seed patterns.  Targets that provably conflict are reported as CONFLICT and
  do not fail the check; any other miss makes the script exit with status 1.

Usage::

    python data/make_seed_data.py            # build, write the CSVs, check (exit 1 on failure)
    python data/make_seed_data.py --no-write # check only what would be written

Everything is deterministic (fixed seeds) and the default run takes a few seconds.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))

# ----------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------


def rounds_to(value: float, shown: float, decimals: int) -> bool:
    """True if `value` is displayed as `shown` when rounded to `decimals` places."""
    h = 0.5 * 10.0 ** (-decimals)
    return shown - h <= value < shown + h


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, dataset, name, shown, value, ok, note=""):
        self.rows.append((dataset, name, shown, value, ok, note))

    def num(self, dataset, name, shown, decimals, value, conflict=None):
        ok = rounds_to(value, shown, decimals)
        self.add(dataset, name, f"{shown:.{decimals}f}", value, ok,
                 "" if ok or conflict is None else f"CONFLICT: {conflict}")

    def less(self, dataset, name, bound, value, conflict=None):
        ok = value < bound
        self.add(dataset, name, f"< {bound:g}", value, ok,
                 "" if ok or conflict is None else f"CONFLICT: {conflict}")

    def show(self) -> int:
        print(f"{'data':10s} {'quantity':34s} {'slide':>10s} {'achieved':>14s}  ok")
        fails = 0
        for ds, name, shown, value, ok, note in self.rows:
            flag = "yes" if ok else ("conflict" if note.startswith("CONFLICT") else "NO")
            fails += (not ok) and not note.startswith("CONFLICT")
            v = f"{value:.6g}" if isinstance(value, (float, np.floating)) else str(value)
            print(f"{ds:10s} {name:34s} {shown:>10s} {v:>14s}  {flag} {note}")
        n = len(self.rows)
        nconf = sum(1 for r in self.rows if not r[4] and r[5].startswith("CONFLICT"))
        print(f"\n{n} checks: {n - fails - nconf} reproduced, {nconf} documented conflicts, "
              f"{fails} failures")
        return fails


# ----------------------------------------------------------------------------------------
# batting: 20 players, 10 day and 10 night games each (section 9)
# ----------------------------------------------------------------------------------------

NP, NG = 20, 10
UNIT = 1e-6  # the averages are stored on a 1e-6 grid so that all sums are exact


def make_batting(seed: int = 20070202) -> pd.DataFrame:
    """Exact construction for ``average ~ day + (1 | player)`` (REML) on a balanced design.

    With 20 players x 2 conditions x 10 games the REML estimates are the ANOVA ones:
    beta = night mean - day mean, s2 = SSE(player + day)/379,
    su2 = (SSP/19 - s2)/20 with SSP the between-player sum of squares, and
    SE(intercept)^2 = su2/20 + s2/200, SE(night)^2 = s2/100;  OLS: s2_ols = (SSE + SSP)/398.
    The targets below are the centres of the windows that the slide's rounding allows
    (several windows are only ~1e-6 wide; see data/README.md).
    """
    rng = np.random.default_rng(seed)
    d = 0.2849863            # day mean            0.28499, intercept 0.2850
    beta = -0.0045026        # night - day         -0.0045; t -4.38; OLS t -1.82, p 0.0696
    s2 = 1.05468e-4          # residual variance   0.000105; SE(night) 0.001027
    se_int_ols = 0.001749828  # OLS SE(intercept)  0.00174983 and SE(night) 0.00247463
    s2_ols = 200 * se_int_ols ** 2
    ssp = 398 * s2_ols - 379 * s2
    su2 = (ssp / 19 - s2) / 20          # 0.000531; SE(intercept) 0.005203
    shrink = 20 * su2 / (20 * su2 + s2)
    ybar = d + beta / 2
    # players 1..4: raw day / night means and model (BLUP) day / night predictions on the slide
    shown = [(0.24943, 0.24545, 0.25004, 0.24554), (0.26905, 0.26712, 0.27048, 0.26598),
             (0.29949, 0.29169, 0.29772, 0.29321), (0.26852, 0.26626, 0.26979, 0.26529)]
    D = np.zeros(NP)
    Nt = np.zeros(NP)
    for i, (dd, nn, md, mn) in enumerate(shown):
        lo = max(md - 5e-6, mn - 5e-6 - beta)
        hi = min(md + 5e-6, mn + 5e-6 - beta)
        ybar_i = ybar + ((lo + hi) / 2 - d) / shrink   # model day = d + shrink*(ybar_i - ybar)
        delta = ybar_i - (dd + nn) / 2
        assert abs(delta) < 4e-6
        D[i], Nt[i] = dd + delta, nn + delta
    # players 5..20: random means, random day/night differences, then adjusted exactly
    m = 0.285 + 0.023 * rng.standard_normal(NP - 4)
    g = beta + 0.003 * rng.standard_normal(NP - 4)
    need_sum = NP * ybar - np.sum((D[:4] + Nt[:4]) / 2)
    need_ss = ssp / (2 * NG) - np.sum(((D[:4] + Nt[:4]) / 2 - ybar) ** 2)
    m = m - m.mean() + need_sum / (NP - 4)
    dev = m - m.mean()
    m = m.mean() + dev * np.sqrt((need_ss - (NP - 4) * (m.mean() - ybar) ** 2) / np.sum(dev ** 2))
    g = g - g.mean() + (NP * beta - np.sum(Nt[:4] - D[:4])) / (NP - 4)
    D[4:], Nt[4:] = m - g / 2, m + g / 2
    # integer cell sums (units of 1e-6), overall sums exact
    SD = np.round(D * NG / UNIT).astype(np.int64)
    SN = np.round(Nt * NG / UNIT).astype(np.int64)
    SD[-1] += int(round(NP * NG * d / UNIT)) - SD.sum()
    SN[-1] += int(round(NP * NG * (d + beta) / UNIT)) - SN.sum()
    cells = np.stack([SD, SN], 1)
    cm = cells / NG
    inter = cm - cm.mean(1, keepdims=True) - cm.mean(0, keepdims=True) + cm.mean()
    ss_within = 379 * s2 / UNIT ** 2 - NG * np.sum(inter ** 2)
    e = rng.standard_normal((NP, 2, NG))
    e -= e.mean(2, keepdims=True)
    e *= np.sqrt(ss_within / np.sum(e ** 2))
    vals = np.round(cm[:, :, None] + e).astype(np.int64)
    for i in range(NP):                       # each cell sum exact
        for c in range(2):
            diff = int(cells[i, c] - vals[i, c].sum())
            order = np.argsort(-np.abs(e[i, c]))
            for j in range(abs(diff)):
                vals[i, c, order[j % NG]] += np.sign(diff)

    def within_ss(v):
        r = v - v.mean(2, keepdims=True)
        return float(np.sum(r ** 2))

    for _ in range(5000):                     # sum-preserving +1/-1 moves to fix the SS
        gap = ss_within - within_ss(vals)
        if abs(gap) < 50:
            break
        i, c = rng.integers(NP), rng.integers(2)
        v = vals[i, c]
        srt = np.argsort(v)
        for p in range(NG - 1):
            a, b = (srt[p + 1], srt[p]) if gap > 0 else (srt[p], srt[p + 1])
            ch = 2 * (v[a] - v[b]) + 2
            if abs(gap - ch) < abs(gap):
                v[a] += 1
                v[b] -= 1
                break
    rows = []
    for i in range(NP):
        games = [("D", x) for x in vals[i, 0]] + [("N", x) for x in vals[i, 1]]
        for gnum, j in enumerate(rng.permutation(2 * NG), 1):
            rows.append((i + 1, gnum, games[j][0], round(games[j][1] * UNIT, 6)))
    return pd.DataFrame(rows, columns=["player", "game", "day", "average"])


def check_batting(df: pd.DataFrame, tab: Table) -> dict:
    import statsmodels.formula.api as smf

    ds = "batting"
    df = df.copy()
    df["day"] = pd.Categorical(df["day"], ["D", "N"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm = smf.mixedlm("average ~ day", df, groups=df["player"]).fit(
            reml=True, method=["bfgs"], gtol=1e-12, maxiter=2000)
    fe = mm.fe_params.values
    se = np.sqrt(np.diag(mm.cov_params()))[:2]
    su2, s2 = float(mm.cov_re.iloc[0, 0]), float(mm.scale)
    ols = smf.ols("average ~ day", df).fit()
    tab.num(ds, "REML intercept", 0.2850, 4, fe[0])
    tab.num(ds, "REML SE(intercept)", 0.005203, 6, se[0])
    tab.num(ds, "REML t(intercept)", 54.77, 2, fe[0] / se[0])
    tab.num(ds, "REML DAY N", -0.0045, 4, fe[1])
    tab.num(ds, "REML SE(DAY N)", 0.001027, 6, se[1])
    tab.num(ds, "REML t(DAY N)", -4.38, 2, fe[1] / se[1])
    tab.num(ds, "player intercept variance", 0.000531, 6, su2)
    tab.num(ds, "residual variance", 0.000105, 6, s2)
    tab.num(ds, "OLS intercept", 0.2850, 4, ols.params.iloc[0])
    tab.num(ds, "OLS SE(intercept)", 0.00174983, 8, ols.bse.iloc[0])
    tab.num(ds, "OLS t(intercept)", 162.87, 2, ols.tvalues.iloc[0])
    tab.num(ds, "OLS DAY N", -0.0045, 4, ols.params.iloc[1])
    tab.num(ds, "OLS SE(DAY N)", 0.00247463, 8, ols.bse.iloc[1])
    tab.num(ds, "OLS t(DAY N)", -1.82, 2, ols.tvalues.iloc[1])
    tab.num(ds, "OLS p(DAY N)", 0.0696, 4, ols.pvalues.iloc[1])
    means = df.groupby("day", observed=True)["average"].mean()
    tab.num(ds, "day average", 0.28499, 5, means["D"])
    tab.num(ds, "night average", 0.28048, 5, means["N"])
    shown = [(0.24943, 0.24545, 0.25004, 0.24554), (0.26905, 0.26712, 0.27048, 0.26598),
             (0.29949, 0.29169, 0.29772, 0.29321), (0.26852, 0.26626, 0.26979, 0.26529)]
    for p, (dd, nn, md, mn) in enumerate(shown, 1):
        g = df[df.player == p].groupby("day", observed=True)["average"].mean()
        u = float(mm.random_effects[p].iloc[0])
        tab.num(ds, f"player {p} day mean", dd, 5, g["D"])
        tab.num(ds, f"player {p} night mean", nn, 5, g["N"])
        tab.num(ds, f"player {p} model day", md, 5, fe[0] + u)
        tab.num(ds, f"player {p} model night", mn, 5, fe[0] + fe[1] + u)
    return dict(fe=fe, se=se, su2=su2, s2=s2)


# ----------------------------------------------------------------------------------------
# treatment centers: 40 subjects in 4 centers (sections 1-3, 6-7)
# ----------------------------------------------------------------------------------------

J, NJ = 4, 10
N = J * NJ
CENTER = np.repeat(np.arange(J), NJ)

# found by `--search` (see search_treatment_centers); order:
# mean of use (4 centers), log sd of use (4), own intercept (4), own slope (4), log residual scale
TC_PARAMS = np.array([
    9.51479493, 9.19675735, 10.79202137, 7.35335015,
    2.16892259, 2.15026626, 2.41769660, 0.77454987,
    79.93433129, 78.61345031, 72.44076081, 36.41528506,
    -1.85738535, -2.02897128, -1.97968627, 1.93237246,
    0.67932134,
])

def _patterns(seed: int = 20070201):
    """Fixed within-center shapes: standardized `use`, residuals orthogonal to (1, use)."""
    rng = np.random.default_rng(seed)
    zx, ep = [], []
    for _ in range(J):
        z = rng.normal(size=NJ)
        z = z - z.mean()
        z /= np.sqrt(z @ z / (NJ - 1))
        zx.append(np.sort(z))
        e = rng.normal(size=NJ)
        A = np.column_stack([np.ones(NJ), zx[-1]])
        e = e - A @ np.linalg.lstsq(A, e, rcond=None)[0]
        e /= np.sqrt(e @ e / (NJ - 2))
        ep.append(e)
    return zx, ep


ZX, EP = _patterns()


def tc_xy(par):
    par = np.asarray(par, float)
    mx, lsx, a, b, ls = par[0:4], par[4:8], par[8:12], par[12:16], par[16]
    x = np.concatenate([mx[j] + np.exp(lsx[j]) * ZX[j] for j in range(J)])
    y = np.concatenate([a[j] + b[j] * x[j * NJ:(j + 1) * NJ] + np.exp(ls) * EP[j]
                        for j in range(J)])
    return x, y


def make_treatment_centers(par=TC_PARAMS, use_dec=1, ret_dec=2) -> pd.DataFrame:
    x, y = tc_xy(par)
    return pd.DataFrame({"subject": np.arange(1, N + 1), "center": CENTER + 1,
                         "use": np.round(x, use_dec), "return": np.round(y, ret_dec)})


# --- a small dense REML for the random-slope model y = Xb + Zu + e, u_j ~ N(0, Omega) -------

def _blocks(x):
    return [np.column_stack([np.ones(NJ), x[CENTER == j]]) for j in range(J)]


def _V(theta, Zs):
    s0, s01, s1, se2 = theta
    Om = np.array([[s0, s01], [s01, s1]])
    V = np.zeros((N, N))
    for j, Zj in enumerate(Zs):
        sl = slice(j * NJ, (j + 1) * NJ)
        V[sl, sl] = Zj @ Om @ Zj.T
    return V + se2 * np.eye(N)


def _reml_parts(x, y, theta):
    """REML deviance, gradient and observed Hessian (all of -2 log L_R) in
    theta = (intercept variance, covariance, slope variance, residual variance)."""
    Zs = _blocks(x)
    X = np.column_stack([np.ones(N), x])
    V = _V(theta, Zs)
    L = np.linalg.cholesky(V)
    Vi = np.linalg.inv(V)
    H = X.T @ Vi @ X
    P = Vi - Vi @ X @ np.linalg.solve(H, X.T @ Vi)
    b = np.linalg.solve(H, X.T @ Vi @ y)
    r = y - X @ b
    dev = 2 * np.sum(np.log(np.diag(L))) + r @ Vi @ r + np.linalg.slogdet(H)[1]
    dV = [_V(e + (0.0,), Zs) for e in ((1, 0, 0), (0, 1, 0), (0, 0, 1))] + [np.eye(N)]
    Py = P @ y
    PV = [P @ D for D in dV]
    g = np.array([np.trace(PV[a]) - Py @ dV[a] @ Py for a in range(4)])
    Hs = np.array([[-np.sum(PV[a] * PV[c].T) + 2 * Py @ dV[a] @ P @ dV[c] @ Py
                    for c in range(4)] for a in range(4)])
    return dev, g, Hs


def reml_fit(x, y, theta0=None, tol=1e-12):
    """Newton-Raphson on the REML deviance (with step halving)."""
    if theta0 is None:
        bs, sse = [], 0.0
        for Zj, yj in zip(_blocks(x), np.split(y, J)):
            bj = np.linalg.lstsq(Zj, yj, rcond=None)[0]
            bs.append(bj)
            sse += np.sum((yj - Zj @ bj) ** 2)
        C = np.cov(np.array(bs).T)
        theta0 = [C[0, 0], C[0, 1], C[1, 1], sse / (N - 2 * J)]
    th = np.array(theta0, float)
    dev, g, H = _reml_parts(x, y, th)
    for _ in range(200):
        w = np.linalg.eigvalsh(H)
        step = np.linalg.solve(H if w.min() > 0 else H + (1e-3 - w.min()) * np.eye(4), g)
        lam = 1.0
        while True:
            tn = th - lam * step
            try:
                dn, gn, Hn = _reml_parts(x, y, tn)
                if dn <= dev + 1e-12:
                    break
            except np.linalg.LinAlgError:
                pass
            lam /= 2
            if lam < 1e-10:
                return th
        done = np.max(np.abs(tn - th) / np.maximum(np.abs(th), 1e-3)) < tol
        th, dev, g, H = tn, dn, gn, Hn
        if done:
            break
    return th


def mixed_summary(x, y, theta):
    """Fixed effects, their SEs, conditional modes (BLUPs) and the variance-component SEs
    under four definitions of the information matrix."""
    Zs = _blocks(x)
    X = np.column_stack([np.ones(N), x])
    V = _V(theta, Zs)
    Vi = np.linalg.inv(V)
    Hinv = np.linalg.inv(X.T @ Vi @ X)
    b = Hinv @ X.T @ Vi @ y
    r = y - X @ b
    Om = np.array([[theta[0], theta[1]], [theta[1], theta[2]]])
    Vir = Vi @ r
    u = np.array([Om @ Zs[j].T @ Vir[j * NJ:(j + 1) * NJ] for j in range(J)])
    dV = [_V(e + (0.0,), Zs) for e in ((1, 0, 0), (0, 1, 0), (0, 0, 1))] + [np.eye(N)]
    P = Vi - Vi @ X @ Hinv @ X.T @ Vi
    ses = {}
    for name, M, w in (("REML", P, P @ y), ("ML", Vi, Vir)):
        MV = [M @ D for D in dV]
        expct = np.array([[0.5 * np.sum(MV[a] * MV[c].T) for c in range(4)] for a in range(4)])
        obs = np.array([[-0.5 * np.sum(MV[a] * MV[c].T) + w @ dV[a] @ M @ dV[c] @ w
                         for c in range(4)] for a in range(4)])
        ses[f"{name} expected"] = np.sqrt(np.diag(np.linalg.inv(expct)))
        with np.errstate(invalid="ignore"):
            ses[f"{name} observed"] = np.sqrt(np.diag(np.linalg.inv(obs)))
    return b, np.sqrt(np.diag(Hinv)), u, ses


def numeric_observed_se(x, y, theta):
    """Cross-check: 2 * inverse of the numerical Hessian of the REML deviance."""
    Zs = _blocks(x)
    X = np.column_stack([np.ones(N), x])

    def f(th):
        V = _V(th, Zs)
        L = np.linalg.cholesky(V)
        Vi = np.linalg.inv(V)
        Hm = X.T @ Vi @ X
        b = np.linalg.solve(Hm, X.T @ Vi @ y)
        r = y - X @ b
        return 2 * np.sum(np.log(np.diag(L))) + r @ Vi @ r + np.linalg.slogdet(Hm)[1]

    h = 1e-5 * np.maximum(np.abs(theta), 1e-2)
    Hs = np.zeros((4, 4))
    for a in range(4):
        for c in range(4):
            ea = np.zeros(4)
            ec = np.zeros(4)
            ea[a], ec[c] = h[a], h[c]
            Hs[a, c] = (f(theta + ea + ec) - f(theta + ea - ec) - f(theta - ea + ec)
                        + f(theta - ea - ec)) / (4 * h[a] * h[c])
    return np.sqrt(np.diag(np.linalg.inv(Hs / 2)))


# known, documented conflicts among the slide numbers (see data/README.md)
TC_CONFLICTS: dict[str, str] = {
    "mm_s0": "REML: intercept var >= sum(u0^2)/3 >= 413.9 for the slide's BLUPs",
    "dum_r2": "0.99 needs SSE(dummies) <= ~76; sigma^2 = 4 + significant D3:use give >= ~200",
    "dum_p2": "p(D1) < 1e-4 here contradicts interaction p(D1) = 0.0015 (t_int >= 1.2 t_dum)",
}


def check_treatment_centers(df: pd.DataFrame, tab: Table, se_def: str = "ML expected") -> dict:
    import statsmodels.formula.api as smf

    ds = "centers"
    d = df.rename(columns={"return": "ret"}).copy()
    for k in (1, 2, 3):
        d[f"D{k}"] = (d["center"] == k + 1).astype(float)
    C = TC_CONFLICTS.get
    pool = smf.ols("ret ~ use", d).fit()
    dum = smf.ols("ret ~ use + D1 + D2 + D3", d).fit()
    itr = smf.ols("ret ~ use + D1 + D2 + D3 + D3:use", d).fit()
    tab.num(ds, "pooled intercept", 72.9, 1, pool.params["Intercept"], C("pool_b0"))
    tab.num(ds, "pooled slope", -1.8, 1, pool.params["use"], C("pool_b1"))
    tab.num(ds, "pooled R^2", 0.69, 2, pool.rsquared, C("pool_r2"))
    tab.less(ds, "pooled p(slope)", 1e-4, pool.pvalues["use"], C("pool_p1"))
    names = ["Intercept", "use", "D1", "D2", "D3"]
    for nm, v, key in zip(names, (80.8, -2.0, -2.9, -8.8, -15.8), range(5)):
        tab.num(ds, f"dummies {nm}", v, 1, dum.params[nm], C(f"dum_b{key}"))
    for k, v in ((1, 77.9), (2, 72.0), (3, 65.0)):
        tab.num(ds, f"dummies center {k + 1} intercept", v, 1,
                dum.params["Intercept"] + dum.params[f"D{k}"], C(f"dum_l{k + 1}"))
    tab.num(ds, "dummies R^2", 0.99, 2, dum.rsquared, C("dum_r2"))
    for nm, key in zip(names, range(5)):
        tab.less(ds, f"dummies p({nm})", 1e-4, dum.pvalues[nm], C(f"dum_p{key}"))
    names_i = names + ["D3:use"]
    for nm, v, key in zip(names_i, (80.7, -2.0, -2.9, -8.9, -44.1, 3.8), range(6)):
        tab.num(ds, f"interaction {nm}", v, 1, itr.params[nm], C(f"int_b{key}"))
    for k, v in ((1, 77.8), (2, 71.8), (3, 36.6)):
        tab.num(ds, f"interaction center {k + 1} intercept", v, 1,
                itr.params["Intercept"] + itr.params[f"D{k}"], C(f"int_l{k + 1}"))
    tab.num(ds, "interaction center 4 slope", 1.8, 1, itr.params["use"] + itr.params["D3:use"],
            C("int_s4"))
    for nm, key in zip(names_i, range(6)):
        if nm == "D1":
            tab.num(ds, "interaction p(D1)", 0.0015, 4, itr.pvalues[nm], C("int_p2"))
        else:
            tab.less(ds, f"interaction p({nm})", 1e-4, itr.pvalues[nm], C(f"int_p{key}"))
    ratio = (itr.bse[names] / dum.bse[names])
    tab.add(ds, "SE ratio interaction/dummies > 2", "some",
            f"max {ratio.max():.2f} ({ratio.idxmax()})", bool(ratio.max() > 2))
    tab.add(ds, "interaction R^2 (slide: 0.97)", "info", f"{itr.rsquared:.4f}", True,
            "R^2 cannot fall when a term is added")

    # --- random-slope model, REML: statsmodels for estimates, numpy for the SE definitions
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        md = smf.mixedlm("ret ~ use", d, groups=d["center"], re_formula="~use")
        mm = md.fit(reml=True, method=["bfgs", "lbfgs"], gtol=1e-10, maxiter=5000)
    fe = mm.fe_params.values
    cov = mm.cov_re.values
    s2 = float(mm.scale)
    x, y = d["use"].to_numpy(float), d["ret"].to_numpy(float)
    th = reml_fit(x, y)
    b, seb, u, ses = mixed_summary(x, y, th)
    sm_theta = np.array([cov[0, 0], cov[0, 1], cov[1, 1], s2])
    rel = np.max(np.abs(sm_theta / th - 1))
    tab.add(ds, "statsmodels == numpy REML", "", f"{rel:.1e}", bool(rel < 1e-4))
    tab.num(ds, "REML intercept", 66.9, 1, fe[0], C("mm_b0"))
    tab.num(ds, "REML SE(intercept)", 10.2, 1, seb[0], C("mm_se0"))
    tab.num(ds, "REML slope", -1.0, 1, fe[1], C("mm_b1"))
    tab.num(ds, "REML SE(slope)", 0.96, 2, seb[1], C("mm_se1"))
    tab.num(ds, "residual variance", 4.0, 1, s2, C("mm_s2"))
    tab.num(ds, "intercept variance", 412.8, 1, cov[0, 0], C("mm_s0"))
    tab.num(ds, "slope variance", 3.6, 1, cov[1, 1], C("mm_s1"))
    tab.num(ds, "intercept-slope covariance", -38.1, 1, cov[0, 1], C("mm_s01"))
    se = ses[se_def]
    tab.num(ds, f"SE residual var ({se_def})", 0.97, 2, se[3], C("se_s2"))
    tab.num(ds, f"SE intercept var ({se_def})", 293.6, 1, se[0], C("se_s0"))
    tab.num(ds, f"SE slope var ({se_def})", 2.6, 1, se[2], C("se_s1"))
    tab.num(ds, f"SE covariance ({se_def})", 27.3, 1, se[1], C("se_s01"))
    re = mm.random_effects
    shown = zip((12.9, 11.7, 5.7, -30.2), (-0.86, -1.03, -0.98, 2.87),
                (79.8, 78.6, 72.6, 36.7), (-1.86, -2.03, -1.98, 1.87))
    for j, (u0s, u1s, c0s, c1s) in enumerate(shown, 1):
        u0, u1 = re[j].iloc[0], re[j].iloc[1]
        tab.num(ds, f"BLUP u0 center {j}", u0s, 1, u0, C(f"u0_{j}"))
        tab.num(ds, f"BLUP u1 center {j}", u1s, 2, u1, C(f"u1_{j}"))
        tab.num(ds, f"center {j} intercept b0+u0", c0s, 1, fe[0] + u0, C(f"c0_{j}"))
        tab.num(ds, f"center {j} slope b1+u1", c1s, 2, fe[1] + u1, C(f"c1_{j}"))
    return dict(theta=th, ses=ses, fe=fe, seb=seb, u=u,
                numeric_observed=numeric_observed_se(x, y, th))


# ----------------------------------------------------------------------------------------
# optional: lme4 cross-check
# ----------------------------------------------------------------------------------------

R_CHECK = r"""
suppressMessages(library(lme4))
b <- read.csv("%(bat)s"); b$day <- factor(b$day, levels = c("D", "N"))
m1 <- lmer(average ~ day + (1 | player), b, REML = TRUE)
cat("batting", sprintf("%%.8g", c(fixef(m1), sqrt(diag(as.matrix(vcov(m1)))),
    as.data.frame(VarCorr(m1))$vcov)), "\n")
t <- read.csv("%(tc)s", check.names = FALSE); names(t)[names(t) == "return"] <- "ret"
m2 <- lmer(ret ~ use + (use | center), t, REML = TRUE,
           control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10)))
vc <- as.data.frame(VarCorr(m2))
cat("centers", sprintf("%%.8g", c(fixef(m2), sqrt(diag(as.matrix(vcov(m2)))), vc$vcov)), "\n")
"""


def lme4_check(bat_path, tc_path):
    if shutil.which("Rscript") is None:
        print("lme4 check: Rscript not found, skipped")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_CHECK % {"bat": bat_path, "tc": tc_path})
        script = fh.name
    try:
        out = subprocess.run(["Rscript", script], capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(script)
    if out.returncode != 0:
        print("lme4 check: R failed (lme4 installed?)\n" + out.stderr[-500:])
        return
    print("lme4 (REML) output:")
    for line in out.stdout.strip().splitlines():
        print("   ", line)
    print("    batting: intercept, night, SE(int), SE(night), player var, residual var")
    print("    centers: intercept, slope, SE(int), SE(slope), int var, slope var, cov, "
          "residual var")


# ----------------------------------------------------------------------------------------
# parameter search for treatment_centers (slow; results are frozen in TC_PARAMS)
# ----------------------------------------------------------------------------------------

def search_treatment_centers(start=TC_PARAMS, max_nfev=400):  # pragma: no cover - slow
    raise SystemExit("the search that produced TC_PARAMS is not part of this script yet")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-write", action="store_true", help="do not write the CSV files")
    ap.add_argument("--search", action="store_true", help="re-run the treatment_centers search")
    args = ap.parse_args(argv)
    if args.search:
        search_treatment_centers()
    bat = make_batting()
    tc = make_treatment_centers()
    bat_path = os.path.join(HERE, "batting.csv")
    tc_path = os.path.join(HERE, "treatment_centers.csv")
    if not args.no_write:
        bat.to_csv(bat_path, index=False, float_format="%.6f")
        tc.to_csv(tc_path, index=False)
        print(f"wrote {bat_path} ({len(bat)} rows) and {tc_path} ({len(tc)} rows)\n")
    # check what is on disk (after the CSV round trip) if written, else the in-memory frames
    if not args.no_write:
        bat = pd.read_csv(bat_path)
        tc = pd.read_csv(tc_path)
    tab = Table()
    check_batting(bat, tab)
    res = check_treatment_centers(tc, tab)
    fails = tab.show()
    print("\nVariance-component SEs (intercept var, covariance, slope var, residual var); "
          "slide: 293.6, 27.3, 2.6, 0.97")
    for k, v in res["ses"].items():
        print(f"    {k:14s} " + "  ".join(f"{s:9.3f}" for s in v))
    print(f"    {'REML obs (num)':14s} " + "  ".join(f"{s:9.3f}" for s in res["numeric_observed"]))
    if not args.no_write:
        lme4_check(bat_path, tc_path)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
