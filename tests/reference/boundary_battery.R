#!/usr/bin/env Rscript
## Near-boundary battery: lmerTest's Satterthwaite df and pbkrtest's Kenward-Roger tests
## on fits whose covariance parameters sit on or next to the boundary of their space
## (a correlation within 1e-3 of +/-1, a variance near or at zero), with 4 to 8 groups,
## REML and ML, one and two grouping factors. Run from the repository root:
##     Rscript tests/reference/boundary_battery.R
## writes the data sets to tests/data/boundary/*.csv (then reads them back, so that R and
## Python fit exactly the same numbers) and the results to
## tests/reference/boundary_reference.json.
##
## Simulated cases are drawn with set.seed(seed) for seed = 1, 2, ... until the fitted
## model has the wanted property; the seed found is recorded. Every fit uses bobyqa run to
## rhoend = 1e-10 (lme4's default stops ~1e-6 short of the optimum near the boundary).

suppressPackageStartupMessages({
  library(lmerTest)
  library(pbkrtest)
  library(jsonlite)
})
if (!file.exists("tests/reference") || !file.exists("data")) {
  stop("run this script from the repository root")
}
dir.create("tests/data/boundary", showWarnings = FALSE, recursive = TRUE)

control <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5))

quietly <- function(expr) {
  caught <- character(0)
  value <- withCallingHandlers(expr, warning = function(w) {
    caught <<- c(caught, conditionMessage(w))
    invokeRestart("muffleWarning")
  }, message = function(m) {
    caught <<- c(caught, trimws(conditionMessage(m)))
    invokeRestart("muffleMessage")
  })
  list(value = value, warnings = caught)
}

fit_model <- function(formula, data, reml) {
  quietly(lmer(formula, data = data, REML = reml, control = control))
}

## ---------------------------------------------------------------- simulated designs

simulate <- function(seed, groups, per_group, sd = c(2, 0.6), rho = 0, sigma = 1,
                     second = 0, sd_second = 0) {
  set.seed(seed)
  n <- groups * per_group
  g <- rep(seq_len(groups), each = per_group)
  x <- round(rnorm(n), 6)
  w <- round(rnorm(n), 6)
  e <- matrix(rnorm(groups * 2), groups)
  u <- cbind(sd[1] * e[, 1], sd[2] * (rho * e[, 1] + sqrt(1 - rho^2) * e[, 2]))
  y <- 1 + 0.5 * x - 0.3 * w + u[g, 1] + u[g, 2] * x + rnorm(n, sd = sigma)
  out <- data.frame(y = round(y, 6), x = x, w = w, g = sprintf("g%02d", g))
  if (second > 0) {
    h <- sample(rep(seq_len(second), length.out = n))
    out$h <- sprintf("h%02d", h)
    out$y <- round(out$y + rnorm(second, sd = sd_second)[h], 6)
  }
  out
}

corr_of <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  row <- vc[!is.na(vc$var2) & vc$grp == "g", ]
  if (nrow(row)) row$sdcor[1] else NA
}

#: first seed whose fit satisfies `wanted`
search <- function(make, formula, reml, wanted, max_seed = 3000) {
  for (seed in seq_len(max_seed)) {
    data <- make(seed)
    fit <- suppressWarnings(suppressMessages(
      lmer(formula, data = data, REML = reml, control = control)))
    if (wanted(fit)) {
      message(sprintf("  %s: seed %d", deparse(formula), seed))
      return(list(seed = seed, data = data))
    }
  }
  stop("no seed found for ", deparse(formula))
}

near_one <- function(sign) function(fit) {
  r <- corr_of(fit)
  th <- getME(fit, "theta")
  !is.na(r) && sign * r > 0.999 && sign * r < 1 - 1e-6 && min(th[getME(fit, "lower") == 0]) > 1e-3
}
small_variance <- function(fit) {
  th <- getME(fit, "theta")
  lower <- getME(fit, "lower") == 0
  min(th[lower]) > 2e-3 && min(th[lower]) < 5e-2
}
singular_slope <- function(fit) {
  th <- getME(fit, "theta")
  isSingular(fit) && th[1] > 0.05 && abs(th[2]) > 0.05 && th[3] == 0
}

cases <- list()
add <- function(id, formula, reml, file, seed, description, mixnb_formula, hypothesis) {
  cases[[id]] <<- list(formula = formula, reml = reml, file = file, seed = seed,
                       description = description, mixnb_formula = mixnb_formula,
                       hypothesis = hypothesis)
}

write_data <- function(data, name) {
  path <- file.path("tests/data/boundary", paste0(name, ".csv"))
  write.csv(data, path, row.names = FALSE)
  path
}

# chapter 3's group-level model on the seed's treatment centres (correlation -0.9999)
centers <- read.csv("data/treatment_centers.csv")
zbar <- ave(centers$use, centers$center)
centers$z <- zbar - mean(zbar)
centers <- data.frame(y = centers$`return`, x = centers$use, w = centers$z,
                      g = sprintf("c%d", centers$center))
centers_file <- write_data(centers, "centers_level2")
for (reml in c(TRUE, FALSE)) {
  add(paste0("centers_level2_", if (reml) "reml" else "ml"), y ~ x * w + (x | g), reml,
      centers_file, NA,
      "chapter 3: return ~ use * z + (use | center) on treatment_centers (4 centres), z = centred centre mean of use",
      "y ~ x * w + (x | g)", c("w", "x:w"))
}

f_slope <- y ~ x + w + (x | g)
found <- search(function(s) simulate(s, 5, 8, rho = -0.95), f_slope, TRUE, near_one(-1))
add("corr_minus_5g_reml", f_slope, TRUE, write_data(found$data, "corr_minus_5g"), found$seed,
    "5 groups of 8, random slope, fitted correlation within 1e-3 of -1", "y ~ x + w + (x | g)",
    c("x", "w"))
found <- search(function(s) simulate(s, 6, 10, rho = 0.95), f_slope, FALSE, near_one(1))
add("corr_plus_6g_ml", f_slope, FALSE, write_data(found$data, "corr_plus_6g"), found$seed,
    "6 groups of 10, random slope, ML correlation within 1e-3 of +1", "y ~ x + w + (x | g)",
    c("x", "w"))
found <- search(function(s) simulate(s, 8, 6, rho = 0.95), f_slope, TRUE, near_one(1))
add("corr_plus_8g_reml", f_slope, TRUE, write_data(found$data, "corr_plus_8g"), found$seed,
    "8 groups of 6, random slope, REML correlation within 1e-3 of +1", "y ~ x + w + (x | g)",
    c("x", "w"))
found <- search(function(s) simulate(s, 5, 8, rho = -0.6, sd = c(1, 0.4)), f_slope, TRUE,
                singular_slope)
singular_file <- write_data(found$data, "singular_slope_5g")
for (reml in c(TRUE, FALSE)) {
  add(paste0("singular_slope_5g_", if (reml) "reml" else "ml"), f_slope, reml, singular_file,
      found$seed, "5 groups of 8, random slope, singular REML fit (correlation exactly +/-1)",
      "y ~ x + w + (x | g)", c("x", "w"))
}
f_int <- y ~ x + w + (1 | g)
found <- search(function(s) simulate(s, 6, 8, sd = c(0.15, 0)), f_int, TRUE, small_variance)
small_file <- write_data(found$data, "small_variance_6g")
for (reml in c(TRUE, FALSE)) {
  add(paste0("small_variance_6g_", if (reml) "reml" else "ml"), f_int, reml, small_file,
      found$seed, "6 groups of 8, random intercept, REML theta between 2e-3 and 5e-2",
      "y ~ x + w + (1 | g)", c("x", "w"))
}
dyes <- read.csv("data/dyestuff2.csv")
dyes <- data.frame(y = dyes$Yield, x = round(seq(-1, 1, length.out = nrow(dyes)), 6),
                   w = rep(c(-1, 0, 1), length.out = nrow(dyes)), g = dyes$Batch)
dyes_file <- write_data(dyes, "dyestuff2_xw")
for (reml in c(TRUE, FALSE)) {
  add(paste0("dyestuff2_", if (reml) "reml" else "ml"), f_int, reml, dyes_file, NA,
      "Dyestuff2 (6 batches; batch variance estimated as exactly zero) with two made-up covariates",
      "y ~ x + w + (1 | g)", c("x", "w"))
}
# two grouping factors: crossed g x h with the g variance near zero, and a correlation
# near -1 beside a second factor
f_crossed <- y ~ x + w + (1 | g) + (1 | h)
found <- search(function(s) simulate(s, 5, 12, sd = c(0.1, 0), second = 4, sd_second = 1),
                f_crossed, TRUE, small_variance)
crossed_file <- write_data(found$data, "crossed_small_5x4")
for (reml in c(TRUE, FALSE)) {
  add(paste0("crossed_small_5x4_", if (reml) "reml" else "ml"), f_crossed, reml, crossed_file,
      found$seed, "crossed factors g (5 levels, variance near zero) and h (4 levels)",
      "y ~ x + w + (1 | g) + (1 | h)", c("x", "w"))
}
f_two <- y ~ x + w + (x | g) + (1 | h)
found <- search(function(s) simulate(s, 6, 10, rho = -0.95, second = 5, sd_second = 0.8),
                f_two, TRUE, near_one(-1))
add("corr_minus_two_factors_reml", f_two, TRUE, write_data(found$data, "corr_minus_two_factors"),
    found$seed, "random slope on g (6 levels, correlation within 1e-3 of -1) and intercept on h (5 levels)",
    "y ~ x + w + (x | g) + (1 | h)", c("x", "w"))

## ---------------------------------------------------------------- reference values

coef_table <- function(tab) {
  out <- list()
  for (i in seq_len(nrow(tab))) {
    out[[rownames(tab)[i]]] <- list(estimate = tab[i, 1], se = tab[i, 2], df = tab[i, 3],
                                    t = tab[i, 4], p = tab[i, 5])
  }
  out
}

hypothesis_matrix <- function(fit, names) {
  beta <- names(fixef(fit))
  L <- matrix(0, length(names), length(beta), dimnames = list(names, beta))
  for (k in seq_along(names)) L[k, names[k]] <- 1
  L
}

results <- list()
for (id in names(cases)) {
  spec <- cases[[id]]
  data <- read.csv(spec$file)
  data$g <- factor(data$g)
  if ("h" %in% names(data)) data$h <- factor(data$h)
  fitted <- fit_model(spec$formula, data, spec$reml)
  fit <- fitted$value
  L <- hypothesis_matrix(fit, spec$hypothesis)
  satt <- quietly(summary(fit)$coefficients)
  joint <- quietly(contest(fit, L, joint = TRUE))
  varpar_eigen <- eigen(fit@vcov_varpar, symmetric = TRUE, only.values = TRUE)$values
  entry <- list(
    id = id, description = spec$description, data = spec$file, seed = spec$seed,
    formula = deparse(spec$formula), mixnb_formula = spec$mixnb_formula, reml = spec$reml,
    nobs = nobs(fit), ngroups = as.list(ngrps(fit)),
    theta = unname(getME(fit, "theta")), sigma = sigma(fit),
    objective = if (spec$reml) REMLcrit(fit) else deviance(fit),
    is_singular = isSingular(fit),
    varcorr = as.data.frame(VarCorr(fit))[, c("grp", "var1", "var2", "vcov", "sdcor")],
    fixef = as.list(fixef(fit)),
    fit_warnings = fitted$warnings,
    vcov_varpar_eigenvalues = varpar_eigen,
    satterthwaite = coef_table(satt$value), satterthwaite_warnings = satt$warnings,
    hypothesis = spec$hypothesis,
    contest_satterthwaite = list(F = joint$value[["F value"]], numdf = joint$value$NumDF,
                                 dendf = joint$value$DenDF, p = joint$value[["Pr(>F)"]]),
    contest_warnings = joint$warnings
  )
  if (spec$reml) {
    kr <- quietly(summary(fit, ddf = "Kenward-Roger")$coefficients)
    test <- quietly(KRmodcomp(fit, L))
    ft <- test$value$test
    entry$kenward_roger <- coef_table(kr$value)
    entry$kenward_roger_warnings <- kr$warnings
    entry$krmodcomp <- list(F = ft["Ftest", "stat"], numdf = ft["Ftest", "ndf"],
                            ddf = ft["Ftest", "ddf"], F_scaling = ft["Ftest", "F.scaling"],
                            p = ft["Ftest", "p.value"], F_unscaled = ft["FtestU", "stat"],
                            p_unscaled = ft["FtestU", "p.value"])
    entry$krmodcomp_warnings <- test$warnings
  }
  results[[id]] <- entry
  cat(sprintf("%-30s seed %4s theta %s\n", id, spec$seed,
              paste(signif(entry$theta, 4), collapse = " ")))
}

meta <- list(
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  pbkrtest = as.character(packageVersion("pbkrtest")),
  Matrix = as.character(packageVersion("Matrix")),
  jsonlite = as.character(packageVersion("jsonlite")),
  generated_by = "tests/reference/boundary_battery.R",
  optimizer = "bobyqa, rhoend = 1e-10, maxfun = 1e5"
)
writeLines(toJSON(list(meta = meta, cases = results), auto_unbox = TRUE, digits = NA,
                  pretty = TRUE, na = "null", null = "null"),
           "tests/reference/boundary_reference.json")
