"""Convergence diagnostics of Markov chains: rank-normalised split R-hat, bulk and tail ESS, MCSE.

All functions take the draws of one scalar quantity as an array ``(chains, draws)`` and
follow Vehtari, Gelman, Simpson, Carpenter and Bürkner (2021), "Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC",
*Bayesian Analysis* 16(2), 667-718, as ArviZ implements them:

* every chain is split in half (a trend inside a chain then shows as disagreement between
  its halves);
* draws are replaced by the normal scores of their ranks over all chains,
  ``Phi^-1((r - 3/8) / (S + 1/4))`` (so heavy tails and infinite variances do no harm);
* R-hat is the larger of the classic Gelman-Rubin statistic of the rank-normalised split
  chains and of the same for the *folded* draws ``|x - median(x)|`` (which catches chains
  that agree in location but not in scale);
* the effective sample size is ``S / tau`` with ``tau = -1 + 2 sum_t rho_t`` summed by
  Geyer's initial monotone sequence over the autocorrelations ``rho_t`` pooled across
  chains; *bulk* ESS is that of the rank-normalised split chains, *tail* ESS the smaller
  ESS of the indicators ``x <= q05`` and ``x <= q95``;
* the Monte Carlo standard error of the posterior mean is ``sd / sqrt(ESS_mean)``, with the
  ESS of the untransformed split chains.

Tested against ArviZ (arviz-stats 0.8) on stored draws and against AR(1) chains whose ESS
is known in closed form (``tests/test_mcmc_diagnostics.py``). ArviZ itself is not a
dependency: it requires numpy 2 and Python 3.11, above mixnb's floor.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

#: Vehtari et al.'s thresholds: R-hat below this and ESS above :data:`ESS_MIN` for every
#: parameter before the draws are trusted.
RHAT_MAX = 1.01
ESS_MIN = 400


def _as_chains(draws: np.ndarray) -> np.ndarray:
    x = np.asarray(draws, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError("draws must be an array (chains, draws)")
    return x


def split_chains(draws: np.ndarray) -> np.ndarray:
    """Each chain cut into its first and last half (the middle draw dropped when odd)."""
    x = _as_chains(draws)
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half :]], axis=0)


def rank_normalize(draws: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks over all draws: ``Phi^-1((r - 3/8) / (S + 1/4))``."""
    x = _as_chains(draws)
    ranks = stats.rankdata(x, method="average").reshape(x.shape)
    return stats.norm.ppf((ranks - 0.375) / (x.size + 0.25))


def _rhat_basic(x: np.ndarray) -> float:
    """Gelman and Rubin's potential scale reduction of chains ``(m, n)``."""
    n = x.shape[1]
    within = x.var(axis=1, ddof=1).mean()
    between = n * x.mean(axis=1).var(ddof=1)
    if not np.isfinite(within) or within <= 0:
        return float("nan")
    return float(np.sqrt(((n - 1) / n * within + between / n) / within))


def rhat(draws: np.ndarray) -> float:
    """Rank-normalised split R-hat (the larger of the bulk and the folded statistic).

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(1).standard_normal((4, 1000))
    >>> rhat(draws) < 1.01
    True
    """
    x = split_chains(draws)
    if np.ptp(x) == 0:
        return float("nan")
    bulk = _rhat_basic(rank_normalize(x))
    folded = np.abs(x - np.median(x))
    tail = _rhat_basic(rank_normalize(folded))
    return max(bulk, tail)


def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Biased autocovariances (divided by n) of each row, lags 0 .. n-1, by FFT."""
    n = x.shape[1]
    centred = x - x.mean(axis=1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, n=size, axis=1)
    return np.fft.irfft(spectrum * np.conjugate(spectrum), n=size, axis=1)[:, :n] / n


def ess_basic(x: np.ndarray) -> float:
    """Effective sample size of chains ``(m, n)`` (Geyer's initial monotone sequence)."""
    x = _as_chains(x)
    m, n = x.shape
    if n < 4 or np.ptp(x) == 0:
        return float("nan")
    acov = _autocovariance(x)
    mean_var = acov[:, 0].mean() * n / (n - 1)
    var_plus = mean_var * (n - 1) / n
    if m > 1:
        var_plus += x.mean(axis=1).var(ddof=1)
    rho = np.zeros(n)
    rho[0] = 1.0
    rho_even = 1.0
    rho_odd = 1.0 - (mean_var - acov[:, 1].mean()) / var_plus
    rho[1] = rho_odd
    # Geyer's initial positive sequence: sums of adjacent pairs while they stay positive
    t = 1
    while t < n - 3 and rho_even + rho_odd > 0:
        rho_even = 1.0 - (mean_var - acov[:, t + 1].mean()) / var_plus
        rho_odd = 1.0 - (mean_var - acov[:, t + 2].mean()) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t + 1] = rho_even
            rho[t + 2] = rho_odd
        t += 2
    max_t = t - 2
    if rho_even > 0:
        rho[max_t + 1] = rho_even
    # ... made monotone
    t = 1
    while t <= max_t - 2:
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = (rho[t - 1] + rho[t]) / 2.0
            rho[t + 2] = rho[t + 1]
        t += 2
    total = m * n
    tau = -1.0 + 2.0 * rho[: max_t + 1].sum() + rho[max_t + 1 : max_t + 2].sum()
    tau = max(tau, 1.0 / np.log10(total))
    return float(total / tau)


def ess_bulk(draws: np.ndarray) -> float:
    """Bulk effective sample size: ESS of the rank-normalised split chains.

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(1).standard_normal((4, 1000))
    >>> 3000 < ess_bulk(draws) < 5000
    True
    """
    x = split_chains(draws)
    if np.ptp(x) == 0:
        return float("nan")
    return ess_basic(rank_normalize(x))


def ess_tail(draws: np.ndarray) -> float:
    """Tail effective sample size: the smaller ESS of ``x <= q05`` and ``x <= q95``."""
    x = _as_chains(draws)
    if np.ptp(x) == 0:
        return float("nan")
    q05, q95 = np.quantile(x, [0.05, 0.95])
    return min(
        ess_basic(split_chains((x <= q05).astype(float))),
        ess_basic(split_chains((x <= q95).astype(float))),
    )


def ess_mean(draws: np.ndarray) -> float:
    """ESS for the posterior mean: that of the (untransformed) split chains."""
    return ess_basic(split_chains(draws))


def mcse_mean(draws: np.ndarray) -> float:
    """Monte Carlo standard error of the posterior mean: ``sd / sqrt(ESS_mean)``."""
    x = _as_chains(draws)
    return float(x.std(ddof=1) / np.sqrt(ess_mean(x)))


def autocorrelation(draws: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelations at lags ``0 .. max_lag`` averaged over chains (for charts)."""
    x = _as_chains(draws)
    acov = _autocovariance(x)[:, : max_lag + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (acov / acov[:, :1]).mean(axis=0)
