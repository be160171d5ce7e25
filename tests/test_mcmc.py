"""The Gibbs sampler: exact conditional draws, the posterior, reproducibility, warnings, display.

Monte Carlo tolerances are stated per test; every test is seeded, so each runs the same
draws every time.
"""

from __future__ import annotations

import warnings

import altair as alt
import numpy as np
import pandas as pd
import pytest
import scipy.linalg

import mixnb
import mixnb.charts
from mixnb.estimation import mcmc
from mixnb.estimation.covariance import CovarianceLayout
from mixnb.simulation import simulate_groups


def _quiet_sample(fit, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.McmcWarning)
        return mixnb.sample(fit, progress=False, **options)


def _dense_z(design) -> np.ndarray:
    """Z with lme4's column order (term, level, column), built row by row."""
    cols = []
    for block in design.random:
        q, levels = block.n_columns, block.factor.n_levels
        z = np.zeros((design.nobs, levels * q))
        for c in range(q):
            z[np.arange(design.nobs), block.factor.codes * q + c] = block.matrix[:, c]
        cols.append(z)
    return np.hstack(cols)


def _conditional_draws(fit, n_steps: int, chains: int = 4, seed: int = 0):
    """Draws of (beta, b) from the sampler's first block with the variances held at the
    fit's estimates: each step is one exact draw from (beta, b) | Omega, sigma^2, y."""
    est = fit.estimates
    sampler = mcmc.make_sampler(fit.design, est.beta, chains)
    rng = np.random.default_rng(seed)
    sigma2 = np.full(chains, est.sigma2)
    omegas = [np.broadcast_to(c, (chains, *c.shape)).copy() for c in est.covariances]
    betas, bs = [], []
    for _ in range(n_steps):
        beta, b = sampler.step(sigma2, omegas, rng.standard_normal((chains, sampler.n_normals)))
        betas.append(beta + est.beta)
        bs.append(np.concatenate([t.reshape(chains, -1) for t in sampler.per_term(b)], axis=1))
    return np.concatenate(betas), np.concatenate(bs)


def _exact_posterior(fit):
    """With the variances known and a flat prior, beta | y is N(GLS, (X'V^-1X)^-1) and
    (beta, b) | y is N(K^-1 C'y, sigma^2 K^-1), K = C'C + blockdiag(0, sigma^2 Omega^-1)."""
    design, est = fit.design, fit.estimates
    x, y, z = design.fixed.matrix, design.y, _dense_z(design)
    omega = scipy.linalg.block_diag(
        *[np.kron(np.eye(b.factor.n_levels), c) for b, c in zip(design.random, est.covariances)]
    )
    v = z @ omega @ z.T + est.sigma2 * np.eye(design.nobs)
    vinv_x = np.linalg.solve(v, x)
    cov_beta = np.linalg.inv(x.T @ vinv_x)
    mean_beta = cov_beta @ (vinv_x.T @ y)
    c = np.hstack([x, z])
    k = c.T @ c
    p = x.shape[1]
    k[p:, p:] += est.sigma2 * np.linalg.inv(omega)
    cov = est.sigma2 * np.linalg.inv(k)
    mean = np.linalg.solve(k, c.T @ y)
    # b: per term the (level, column) order of the sampler's per_term output
    return mean_beta, cov_beta, mean[p:], np.diag(cov)[p:]


def _check_against_exact(fit, n_steps):
    betas, bs = _conditional_draws(fit, n_steps)
    mean_beta, cov_beta, mean_b, var_b = _exact_posterior(fit)
    n = len(betas)
    se = np.sqrt(np.diag(cov_beta) / n)
    # means within 4 Monte Carlo standard errors (draws are independent)
    assert np.all(np.abs(betas.mean(axis=0) - mean_beta) < 4 * se)
    assert np.all(np.abs(bs.mean(axis=0) - mean_b) < 4 * np.sqrt(var_b / n))
    # variances: the sampling SD of a variance estimate is about var * sqrt(2 / n); 5 of them
    tol = 5 * np.sqrt(2 / n)
    np.testing.assert_allclose(np.cov(betas.T), cov_beta, rtol=tol, atol=tol * cov_beta.max())
    np.testing.assert_allclose(bs.var(axis=0, ddof=1), var_b, rtol=tol)


def test_grouped_block_draws_the_exact_conditional_posterior(slopes):
    _check_against_exact(slopes, 1500)


def test_general_block_draws_the_exact_conditional_posterior():
    fit = mixnb.lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", mixnb.load_dataset("penicillin"))
    _check_against_exact(fit, 1000)


def test_sparse_branch_draws_the_same_posterior(monkeypatch):
    monkeypatch.setattr(mcmc, "DENSE_LIMIT", 10)  # force sparse LU on 30 unknowns
    fit = mixnb.lmm("Yield ~ 1 + (1 | Batch) + (1 | Sample)", _two_factor_data())
    sampler = mcmc.make_sampler(fit.design, fit.estimates.beta, 1)
    assert not sampler.dense
    _check_against_exact(fit, 1000)


def _two_factor_data() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    a = np.repeat(np.arange(8), 12)
    s = np.tile(np.arange(12), 8)
    y = 10 + rng.normal(0, 2, 8)[a] + rng.normal(0, 1, 12)[s] + rng.normal(0, 1, len(a))
    return pd.DataFrame({"Yield": y, "Batch": a.astype(str), "Sample": s.astype(str)})


def test_inverse_wishart_draws_have_the_right_mean():
    # E[IW(df, S)] = S / (df - q - 1)
    rng = np.random.default_rng(2)
    scale = np.array([[4.0, 1.0], [1.0, 2.0]])
    n, df = 40000, 9.0
    normals = np.column_stack([rng.standard_normal(n), rng.chisquare(df - np.arange(2.0), (n, 2))])
    draws = mcmc.draw_inverse_wishart(np.full(n, df), np.broadcast_to(scale, (n, 2, 2)), normals)
    np.testing.assert_allclose(draws.mean(axis=0), scale / (df - 3), rtol=0.02)
    # the q = 1 case is the inverse gamma IG(df / 2, s / 2), mean s / (df - 2)
    one = mcmc.draw_inverse_wishart(
        np.full(n, df), np.full((n, 1, 1), 3.0), rng.chisquare(df, (n, 1))
    )
    assert one.mean() == pytest.approx(3.0 / (df - 2), rel=0.02)


def test_mlwin_priors_as_documented():
    prior = mcmc.make_prior("mlwin", [np.array([[5.0]]), np.array([[4.0, 1.0], [1.0, 2.0]])])
    assert (prior.terms[0].df, prior.terms[0].scale[0, 0]) == (0.002, 0.002)  # IG(.001, .001)
    assert prior.terms[1].df == 2.0
    np.testing.assert_allclose(prior.terms[1].scale, [[8.0, 2.0], [2.0, 4.0]])  # q * estimate
    assert (prior.residual_shape, prior.residual_rate) == (0.001, 0.001)
    flat = mcmc.make_prior("uniform", [np.eye(2)])
    assert flat.terms[0].df == -3.0 and not flat.terms[0].scale.any()


def test_posterior_means_are_close_to_reml_on_large_data():
    data = simulate_groups(n_groups=400, n_per_group=10, corr=0.3, seed=11)
    fit = mixnb.lmm("y ~ x + (x | group)", data)
    post = _quiet_sample(fit, iterations=1000, burn_in=200, chains=2, seed=3)
    reml = dict(zip(fit.design.fixed.columns, fit.estimates.beta))
    vc = fit.variance_components
    reml.update(
        {
            "group: var(Intercept)": vc.estimate[0],
            "group: var(x)": vc.estimate[1],
            "group: cov(Intercept, x)": vc.estimate[2],
            "Residual: var": vc.estimate[3],
        }
    )
    table = post.posterior
    for name, value in reml.items():
        # with 4000 rows the posterior is nearly normal around the likelihood estimate
        assert abs(table.loc[name, "mean"] - value) < 0.2 * table.loc[name, "sd"], name
    assert post.converged


def test_credible_intervals_cover_the_truth():
    # quick version of tests/validation/mcmc_coverage.py: 30 seeded data sets
    covered, total = {}, 0
    for rep in range(30):
        data = simulate_groups(n_groups=15, n_per_group=6, sd_slope=0.0, seed=100 + rep)
        truth = data.attrs["truth"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mixnb.SingularFitWarning)
            fit = mixnb.lmm("y ~ x + (1 | group)", data)
        post = _quiet_sample(fit, iterations=600, burn_in=100, chains=2, seed=rep)
        table = post.posterior
        targets = {
            "Intercept": truth["intercept"],
            "x": truth["slope"],
            "group: var(Intercept)": truth["sd_intercept"] ** 2,
            "Residual: var": truth["sd_residual"] ** 2,
        }
        for name, value in targets.items():
            inside = table.loc[name, "lower"] <= value <= table.loc[name, "upper"]
            covered[name] = covered.get(name, 0) + int(inside)
        total += 1
    rates = {k: v / total for k, v in covered.items()}
    # 95% intervals; with 30 data sets fewer than 25 hits has probability 0.003
    assert all(rate >= 25 / 30 for rate in rates.values()), rates


def test_same_seed_same_draws_and_chains_independent_of_their_number(slopes):
    a = _quiet_sample(slopes, iterations=50, burn_in=10, chains=2, seed=7)
    b = _quiet_sample(slopes, iterations=50, burn_in=10, chains=2, seed=7)
    c = _quiet_sample(slopes, iterations=50, burn_in=10, chains=3, seed=7)
    d = _quiet_sample(slopes, iterations=50, burn_in=10, chains=2, seed=8)
    pd.testing.assert_frame_equal(a.draws, b.draws)
    first = a.draws[a.draws.chain <= 2].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, c.draws[c.draws.chain <= 2].reset_index(drop=True))
    assert not np.allclose(a.draws["Days"], d.draws["Days"])


def test_tables_and_draws_frame(slopes):
    post = _quiet_sample(slopes, iterations=300, burn_in=50, chains=2, seed=1)
    assert list(post.draws.columns[:2]) == ["chain", "draw"]
    assert post.draws.shape == (600, 2 + 2 + 4 + 4)  # sampled 6, derived 3 SDs + 1 cor
    assert list(post.fixed_effects.index) == ["Intercept", "Days"]
    assert {"mean", "median", "sd", "lower", "upper", "mcse_mean", "ess_bulk", "rhat"} <= set(
        post.posterior.columns
    )
    vc = post.variance_components
    assert set(vc["quantity"]) == {"variance", "sd", "covariance", "correlation"}
    sd = post.draws["Subject: sd(Intercept)"]
    np.testing.assert_allclose(sd**2, post.draws["Subject: var(Intercept)"])
    corr = post.draws["Subject: cor(Intercept, Days)"]
    assert corr.between(-1, 1).all()
    long = post.draws_long()
    assert list(long.columns) == ["chain", "draw", "parameter", "value"]
    hpd = post.summarize(0.9, hpd=True)
    width = hpd["hpd_upper"] - hpd["hpd_lower"]
    equal_tailed = hpd["upper"] - hpd["lower"]
    # the shortest interval: never much wider (the two count draws slightly differently),
    # clearly shorter for a skewed posterior such as a variance's
    assert np.all(width <= 1.03 * equal_tailed)
    assert width["Subject: var(Intercept)"] < 0.97 * equal_tailed["Subject: var(Intercept)"]
    assert post.random_effects["Subject"].shape == (18, 2)
    assert (post.random_effects_sd["Subject"] > 0).all().all()
    cmp = post.versus_likelihood()
    assert list(cmp.index) == ["Subject: var(Intercept)", "Subject: var(Days)", "Residual: var"]
    ci = slopes.confint()
    assert cmp.loc["Residual: var", "profile_upper"] == pytest.approx(
        ci.loc["Residual: sd", "upper"] ** 2
    )


def test_short_chains_warn_in_plain_words(slopes):
    with pytest.warns(mixnb.McmcWarning, match="have not mixed"):
        post = mixnb.sample(slopes, iterations=20, burn_in=0, chains=2, seed=1, progress=False)
    assert not post.converged
    assert any("not mixed" in note for note in post.notes)


def test_bad_input_is_a_mixnb_error(slopes):
    with pytest.raises(mixnb.MixnbError, match="takes a fit"):
        mixnb.sample("not a fit")
    with pytest.raises(mixnb.MixnbError, match="iterations"):
        mixnb.sample(slopes, iterations=0)
    with pytest.raises(mixnb.MixnbError, match="prior"):
        mixnb.sample(slopes, prior="jeffreys")
    with pytest.raises(mixnb.MixnbError, match="burn_in"):
        mixnb.sample(slopes, burn_in=-1)


def test_flat_prior_with_too_few_groups_is_refused():
    fit = mixnb.lmm("return ~ use + (use | center)", mixnb.load_dataset("treatment_centers"))
    with pytest.raises(mixnb.ModelError, match="improper"):
        mixnb.sample(fit, prior="uniform", iterations=10)


def test_display_text_html_markdown(slopes):
    post = _quiet_sample(slopes, iterations=200, burn_in=20, chains=2, seed=1)
    text = repr(post)
    assert text.startswith("Linear mixed model estimated by MCMC")
    assert "R-hat" in text and "Subject: var(Intercept)" in text
    html = post._repr_html_()
    assert "Fixed effects (posterior" in html and "ESS bulk" in html
    assert "MLwiN" in post.to_markdown()


def test_charts(slopes):
    post = _quiet_sample(slopes, iterations=300, burn_in=20, chains=2, seed=1)
    six = mixnb.charts.sixway(post, "Days")
    assert isinstance(six, alt.VConcatChart)
    assert six.to_dict()["title"]["text"] == "MCMC diagnostics: Days"
    versus = mixnb.charts.posterior_vs_profile(post, "Subject: sd(Intercept)")
    assert isinstance(versus, alt.VConcatChart)
    mixnb.charts.to_svg(versus)
    with pytest.raises(mixnb.MixnbError, match="mixnb.sample"):
        mixnb.charts.sixway(slopes)
    with pytest.raises(mixnb.MixnbError, match="No parameter"):
        mixnb.charts.sixway(post, "nope")
    with pytest.raises(mixnb.MixnbError, match="not a variance"):
        post.versus_likelihood(["Days"])


def test_layout_helper_matches_lme4_order():
    # the sampler's entries follow LmmResult.variance_components (variances, then covariances)
    om = np.array([[[4.0, 1.0], [1.0, 2.0]]])
    np.testing.assert_allclose(mcmc._entries([om]), [[4.0, 2.0, 1.0]])
    assert CovarianceLayout((2,)).n_theta == 3


def _one_way_posterior_cdfs(data, prior_a=0.001, prior_c=0.001):
    """Marginal posterior CDFs of the two variances of the balanced one-way model under
    MLwiN's IG(0.001, 0.001) priors and a flat prior on the mean, by integration on a grid.

    Integrating the flat-prior mean out leaves the REML likelihood, which for J groups of
    n has the closed form (lambda = sigma^2 + n sigma_b^2)
    ``-2 log L = J(n-1) log sigma^2 + J log lambda + log(Jn / lambda) + SSW / sigma^2
    + SSB / lambda``.
    """
    groups = data.groupby("Batch")["Yield"]
    j, n = groups.ngroups, int(groups.size().iloc[0])
    means = groups.mean().to_numpy()
    ssw = float(((data["Yield"] - groups.transform("mean")) ** 2).sum())
    ssb = float(n * ((means - data["Yield"].mean()) ** 2).sum())
    u = np.linspace(np.log(1e-7), np.log(1e6), 2400)  # log sigma_b^2: the spike near 0 too
    w = np.linspace(np.log(200.0), np.log(3e4), 800)  # log sigma^2
    vb, v = np.exp(u)[:, None], np.exp(w)[None, :]
    lam = v + n * vb
    minus2 = j * (n - 1) * np.log(v) + j * np.log(lam) + np.log(j * n / lam) + ssw / v + ssb / lam
    log_prior = -(prior_a + 1) * (np.log(vb) + np.log(v)) - prior_c / vb - prior_c / v
    log_post = -0.5 * minus2 + log_prior + u[:, None] + w[None, :]  # densities in (u, w)
    dens = np.exp(log_post - log_post.max())
    cdf_b = np.cumsum(dens.sum(axis=1))
    cdf_e = np.cumsum(dens.sum(axis=0))
    return (np.exp(u), cdf_b / cdf_b[-1]), (np.exp(w), cdf_e / cdf_e[-1])


def test_full_posterior_matches_numerical_integration():
    # dyestuff: 6 batches, a variance whose posterior under IG(0.001, 0.001) reaches into a
    # spike near zero, the case where plain Gibbs sampling mixes worst
    data = mixnb.load_dataset("dyestuff")
    fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", data)
    post = _quiet_sample(fit, iterations=4000, chains=4, seed=5)
    (grid_b, cdf_b), (grid_e, cdf_e) = _one_way_posterior_cdfs(data)
    for name, grid, cdf in (
        ("Batch: var(Intercept)", grid_b, cdf_b),
        ("Residual: var", grid_e, cdf_e),
    ):
        draws = post.parameter_draws(name).ravel()
        for p in (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95):
            exact = np.interp(p, cdf, grid)
            # the draws' share below the exact quantile: within 0.025 of p (about 3 Monte
            # Carlo SEs at the tail ESS of ~1500)
            assert abs((draws <= exact).mean() - p) < 0.025, (name, p)


def test_scale_moves_leave_the_posterior_unchanged(monkeypatch):
    # the random-slope posterior with and without the scale moves: the same distribution
    data = simulate_groups(n_groups=20, n_per_group=8, corr=0.3, sd_residual=3.0, seed=1003)
    fit = mixnb.lmm("y ~ x + (x | group)", data)
    names = ["group: var(Intercept)", "group: var(x)", "group: cov(Intercept, x)", "Residual: var"]
    with_moves = _quiet_sample(fit, iterations=3000, chains=4, seed=11).posterior.loc[names]
    monkeypatch.setattr(mcmc, "SCALE_STEPS", 0)
    gibbs = _quiet_sample(fit, iterations=3000, chains=4, seed=12).posterior.loc[names]
    # posterior means within 4 combined Monte Carlo standard errors
    mcse = np.hypot(with_moves["mcse_mean"], gibbs["mcse_mean"])
    assert np.all(np.abs(with_moves["mean"] - gibbs["mean"]) < 4 * mcse)
    # and the 95% limits within 5% of the interval's width
    width = gibbs["upper"] - gibbs["lower"]
    assert np.all(np.abs(with_moves["upper"] - gibbs["upper"]) < 0.05 * width)
    assert np.all(np.abs(with_moves["lower"] - gibbs["lower"]) < 0.05 * width)


def test_nested_factors_draw_the_exact_conditional_posterior():
    # nested grouping (casks within batches) goes through the general sampler too
    fit = mixnb.lmm("strength ~ 1 + (1 | batch) + (1 | batch:cask)", mixnb.load_dataset("pastes"))
    assert mcmc.make_sampler(fit.design, fit.estimates.beta, 1).name == "general"
    _check_against_exact(fit, 1000)


def test_terms_sharing_a_factor_draw_the_exact_conditional_posterior():
    # (1 | Subject) + (0 + Days | Subject): one grouping factor, two terms (the grouped
    # sampler's several-term path)
    fit = mixnb.lmm(
        "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", mixnb.load_dataset("sleepstudy")
    )
    assert mcmc.make_sampler(fit.design, fit.estimates.beta, 1).name == "grouped"
    _check_against_exact(fit, 1500)
    post = _quiet_sample(fit, iterations=1000, chains=2, seed=3)
    assert post.max_rhat < 1.05
    # the posterior mean of the slope is close to REML's (within a quarter posterior SD)
    row = post.fixed_effects.loc["Days"]
    assert abs(row["mean"] - fit.estimates.beta[1]) < 0.25 * row["sd"]


@pytest.mark.parametrize(
    ("formula", "dataset"),
    [
        ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
        ("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", "sleepstudy"),
        ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin"),
    ],
)
def test_residual_sum_of_squares_and_scale_moves_from_cross_products(formula, dataset):
    # the samplers never touch the rows for the RSS (and the one-term grouped sampler
    # carries it through the scale move by algebra): compare with |y - X beta - Z b|^2
    fit = mixnb.lmm(formula, mixnb.load_dataset(dataset))
    design, est, chains = fit.design, fit.estimates, 3
    sampler = mcmc.make_sampler(design, est.beta, chains)
    rng = np.random.default_rng(8)
    sigma2 = est.sigma2 * np.exp(rng.normal(0, 0.3, chains))
    omegas = [
        mcmc.positive_definite(c)[None] * np.exp(rng.normal(0, 0.3, (chains, 1, 1)))
        for c in est.covariances
    ]
    beta, b = sampler.step(sigma2, omegas, rng.standard_normal((chains, sampler.n_normals)))
    prior = mcmc.make_prior("mlwin", list(est.covariances))
    n_terms = len(design.random)
    b, omegas = sampler.scale_moves(
        prior, beta, b, sigma2, omegas,
        rng.standard_normal((chains, n_terms, 3)), rng.random((chains, n_terms, 3)),
    )  # fmt: skip
    z = _dense_z(design)
    effects = np.concatenate([t.reshape(chains, -1) for t in sampler.per_term(b)], axis=1)
    e = design.y[None] - (beta + est.beta) @ design.fixed.matrix.T - effects @ z.T
    np.testing.assert_allclose(sampler.rss(beta, b), (e * e).sum(axis=1), rtol=1e-9)
    for k, cross in enumerate(sampler.crossproducts(b)):
        t = sampler.per_term(b)[k]
        np.testing.assert_allclose(cross, np.einsum("cja,cjb->cab", t, t), rtol=1e-10)


def test_draws_do_not_depend_on_the_block_size_and_shorter_runs_are_prefixes(slopes, monkeypatch):
    from mixnb.estimation import mcmc_streams

    long = mcmc.run_gibbs(
        slopes.design, slopes.estimates, iterations=60, burn_in=5, chains=2, seed=4,
        progress=False,
    )  # fmt: skip
    monkeypatch.setattr(mcmc_streams, "BLOCK_ITERATIONS", 7)
    short = mcmc.run_gibbs(
        slopes.design, slopes.estimates, iterations=40, burn_in=5, chains=2, seed=4,
        progress=False,
    )  # fmt: skip
    np.testing.assert_array_equal(short.parameters, long.parameters[:, :40])
