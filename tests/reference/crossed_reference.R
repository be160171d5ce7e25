#!/usr/bin/env Rscript
## lme4 references for crossed and nested random effects (tests/test_crossed_parity.py).
##
## Run from the repository root:
##     Rscript tests/reference/crossed_reference.R
##
## (1) simulates a crossed and a nested data set (fixed seed) and writes them, with two real
## mlmRev data sets (ScotsSec: pupils' primary x secondary schools, crossed; egsingle:
## 1721 children in 60 schools with random slopes at both levels, nested), to
## tests/data/crossed/*.csv.gz; (2) reads the files back (so the references come from
## exactly the data Python reads); (3) fits each model with lmerTest::lmer, REML and ML,
## with a TIGHT optimizer (nloptwrap's BOBYQA with xtol_abs 1e-14, ftol_abs 1e-15,
## xtol_rel 1e-14, ftol_rel 1e-15, maxeval 1e5: lme4's defaults, and the absolute
## tolerances alone, stop where the gradient is still 1e-2, about 3e-5 relative in the
## estimates on these flat likelihoods); the evaluations lme4 needs at its DEFAULT
## settings are recorded too (the analytic gradient's comparison); (4) writes
## tests/reference/crossed_reference.json.
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(mlmRev)
  library(jsonlite)
})
if (!file.exists("tests/reference")) stop("run from the repository root")
invisible(Sys.setlocale("LC_COLLATE", "C"))
dir.create("tests/data/crossed", showWarnings = FALSE, recursive = TRUE)

set.seed(20)
## crossed: 150 x 40 levels, 4000 rows, a random slope on the larger factor
na <- 150; nb <- 40; n <- 4000
a <- sample(na, n, replace = TRUE); b <- sample(nb, n, replace = TRUE)
x <- rnorm(n)
ua <- matrix(rnorm(2 * na), na) %*% chol(matrix(c(1, 0.3, 0.3, 0.5), 2))
ub <- rnorm(nb, sd = 0.7)
y <- 1 + 0.5 * x + ua[a, 1] + ua[a, 2] * x + ub[b] + rnorm(n)
crossed <- data.frame(y = y, x = x, a = paste0("a", a), b = paste0("b", b))
## nested: 300 schools in 30 districts, 4500 rows, slope at school level
nd <- 30; ns <- 300; n <- 4500
district_of <- rep(seq_len(nd), each = ns / nd)
school <- sample(ns, n, replace = TRUE)
district <- district_of[school]
x <- rnorm(n)
us <- matrix(rnorm(2 * ns), ns) %*% chol(matrix(c(0.8, -0.2, -0.2, 0.3), 2))
ud <- rnorm(nd, sd = 0.6)
y <- 2 - 0.4 * x + us[school, 1] + us[school, 2] * x + ud[district] + rnorm(n)
nested <- data.frame(y = y, x = x, school = paste0("s", school),
                     district = paste0("d", district))

scots <- mlmRev::ScotsSec[, c("attain", "verbal", "sex", "primary", "second")]
scots$sex <- as.character(scots$sex)
eg <- mlmRev::egsingle[, c("math", "year", "childid", "schoolid")]

sets <- list(crossed_sim = crossed, nested_sim = nested, scotssec = scots, egsingle = eg)
for (nm in names(sets)) {
  d <- sets[[nm]]
  for (col in names(d)) if (is.factor(d[[col]])) d[[col]] <- as.character(d[[col]])
  con <- gzfile(file.path("tests/data/crossed", paste0(nm, ".csv.gz")), "w")
  write.csv(d, con, row.names = FALSE)
  close(con)
}

models <- list(
  crossed_sim = list(data = "crossed_sim", factors = c("a", "b"),
                     formula = "y ~ x + (1 + x | a) + (1 | b)"),
  crossed_sim_ri = list(data = "crossed_sim", factors = c("a", "b"),
                        formula = "y ~ x + (1 | a) + (1 | b)"),
  nested_sim = list(data = "nested_sim", factors = c("school", "district"),
                    formula = "y ~ x + (1 + x | school) + (1 | district)"),
  scotssec = list(data = "scotssec", factors = c("primary", "second", "sex"),
                  formula = "attain ~ verbal + sex + (1 | primary) + (1 | second)"),
  egsingle = list(data = "egsingle", factors = c("childid", "schoolid"),
                  formula = "math ~ year + (1 + year | childid) + (1 + year | schoolid)")
)

tight <- lmerControl(optimizer = "nloptwrap",
                     optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15, xtol_rel = 1e-14,
                                    ftol_rel = 1e-15, maxeval = 1e5),
                     check.conv.grad = "ignore")
fits <- list()
for (key in names(models)) {
  spec <- models[[key]]
  d <- read.csv(file.path("tests/data/crossed", paste0(spec$data, ".csv.gz")))
  for (f in spec$factors) d[[f]] <- factor(d[[f]])
  for (reml in c(TRUE, FALSE)) {
    m <- lmerTest::lmer(as.formula(spec$formula), data = d, REML = reml, control = tight)
    default_fit <- lme4::lmer(as.formula(spec$formula), data = d, REML = reml)
    vc <- as.data.frame(VarCorr(m))
    vc$var1[is.na(vc$var1)] <- ""
    vc$var2[is.na(vc$var2)] <- ""
    st <- summary(m)$coefficients
    re <- ranef(m, condVar = TRUE)
    modes <- list()
    for (g in names(re)) {
      pv <- attr(re[[g]], "postVar")
      modes[[g]] <- list(levels = rownames(re[[g]]), columns = colnames(re[[g]]),
                         values = unname(as.matrix(re[[g]])),
                         condsd = t(sapply(seq_len(dim(pv)[3]),
                                           function(i) sqrt(diag(as.matrix(pv[, , i]))))))
    }
    fits[[paste0(key, if (reml) "_reml" else "_ml")]] <- list(
      dataset = spec$data, formula = spec$formula, reml = reml,
      criterion = unname(if (reml) REMLcrit(m) else deviance(m)),
      theta = unname(getME(m, "theta")), theta_names = names(getME(m, "theta")),
      fixef = as.list(fixef(m)), fixef_se = unname(st[, "Std. Error"]),
      df = unname(st[, "df"]), vcov = unname(as.matrix(vcov(m))),
      sigma = sigma(m),
      varcorr = lapply(seq_len(nrow(vc)), function(i) as.list(vc[i, ])),
      ranef = modes, n_evaluations = m@optinfo$feval,
      n_evaluations_default = default_fit@optinfo$feval
    )
  }
}
out <- list(
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest"))),
  optimizer = paste("nloptwrap BOBYQA, xtol_abs = 1e-14, ftol_abs = 1e-15, xtol_rel = 1e-14,",
                    "ftol_rel = 1e-15, maxeval = 1e5"),
  fits = fits
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = FALSE),
           "tests/reference/crossed_reference.json")
