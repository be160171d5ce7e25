#!/usr/bin/env Rscript
## pbkrtest references for Kenward-Roger on data sets of 5,000 to 20,000 rows, where the
## n x n matrices pbkrtest forms are large. Run from the repository root:
##     Rscript tests/reference/kenward_roger_large.R
## writes tests/data/kr_large/*.csv.gz (then reads them back, so R and Python fit the same
## numbers) and tests/reference/kenward_roger_large.json, with pbkrtest's time per model.
## Fits use bobyqa to rhoend = 1e-10.

suppressPackageStartupMessages({
  library(lmerTest)
  library(pbkrtest)
  library(jsonlite)
})
if (!file.exists("tests/reference")) stop("run this script from the repository root")
dir.create("tests/data/kr_large", showWarnings = FALSE, recursive = TRUE)
control <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5))

simulate <- function(seed, groups, per_group, classes = 0) {
  set.seed(seed)
  n <- groups * per_group
  g <- rep(seq_len(groups), each = per_group)
  x <- round(rnorm(n), 6)
  w <- round(rnorm(n), 6)
  e <- matrix(rnorm(groups * 2), groups)
  u <- cbind(1.5 * e[, 1], 0.4 * (0.3 * e[, 1] + sqrt(1 - 0.09) * e[, 2]))
  y <- 2 + 0.3 * x + 0.1 * w + u[g, 1] + u[g, 2] * x + rnorm(n, sd = 2)
  out <- data.frame(x = x, w = w, g = sprintf("g%03d", g))
  if (classes > 0) {
    cls <- sample(rep(seq_len(classes), length.out = n))
    out$h <- sprintf("c%02d", cls)
    v <- rnorm(groups * classes, sd = 0.7)
    y <- y + v[(g - 1) * classes + cls]
  }
  out$y <- round(y, 6)
  out
}

cases <- list(
  slope_5000 = list(data = function() simulate(1, 50, 100), formula = y ~ x + w + (x | g),
                    mixnb = "y ~ x + w + (x | g)"),
  intercept_20000 = list(data = function() simulate(2, 200, 100), formula = y ~ x + w + (1 | g),
                         mixnb = "y ~ x + w + (1 | g)"),
  nested_10000 = list(data = function() simulate(3, 40, 250, classes = 5),
                      formula = y ~ x + w + (x | g) + (1 | g:h),
                      mixnb = "y ~ x + w + (x | g) + (1 | g:h)")
)

results <- list()
for (id in names(cases)) {
  spec <- cases[[id]]
  path <- file.path("tests/data/kr_large", paste0(id, ".csv.gz"))
  con <- gzfile(path, "w")
  write.csv(spec$data(), con, row.names = FALSE)
  close(con)
  data <- read.csv(path)
  data$g <- factor(data$g)
  if ("h" %in% names(data)) data$h <- factor(data$h)
  fit <- lmer(spec$formula, data = data, REML = TRUE, control = control)
  L <- matrix(0, 2, length(fixef(fit)), dimnames = list(c("x", "w"), names(fixef(fit))))
  L["x", "x"] <- 1
  L["w", "w"] <- 1
  seconds <- system.time({
    phi_a <- vcovAdj(fit)
    test <- KRmodcomp(fit, L)
  })[["elapsed"]]
  ft <- test$test
  ddf_each <- sapply(seq_along(fixef(fit)), function(i) {
    l <- matrix(0, 1, length(fixef(fit)))
    l[i] <- 1
    Lb_ddf(l, vcov(fit), phi_a)
  })
  kr <- list()
  for (i in seq_along(fixef(fit))) {
    kr[[names(fixef(fit))[i]]] <- list(estimate = unname(fixef(fit)[i]),
                                       se = sqrt(phi_a[i, i]), df = ddf_each[i])
  }
  results[[id]] <- list(
    data = path, formula = deparse(spec$formula), mixnb_formula = spec$mixnb, nobs = nobs(fit),
    ngroups = as.list(ngrps(fit)), theta = unname(getME(fit, "theta")), sigma = sigma(fit),
    reml_criterion = REMLcrit(fit), kenward_roger = kr,
    krmodcomp = list(F = ft["Ftest", "stat"], numdf = ft["Ftest", "ndf"],
                     ddf = ft["Ftest", "ddf"], F_scaling = ft["Ftest", "F.scaling"],
                     p = ft["Ftest", "p.value"], F_unscaled = ft["FtestU", "stat"]),
    hypothesis = c("x", "w"), pbkrtest_seconds = seconds
  )
  cat(sprintf("%-16s n = %d  pbkrtest %.1f s\n", id, nobs(fit), seconds))
}
meta <- list(
  R = R.version.string, lme4 = as.character(packageVersion("lme4")),
  pbkrtest = as.character(packageVersion("pbkrtest")),
  Matrix = as.character(packageVersion("Matrix")),
  generated_by = "tests/reference/kenward_roger_large.R",
  optimizer = "bobyqa, rhoend = 1e-10, maxfun = 1e5",
  timing = "pbkrtest_seconds: elapsed time of vcovAdj + KRmodcomp on this machine"
)
writeLines(toJSON(list(meta = meta, cases = results), auto_unbox = TRUE, digits = NA,
                  pretty = TRUE), "tests/reference/kenward_roger_large.json")
