#!/usr/bin/env Rscript
## Every number lme4's (lmerTest's) summary() prints for two fits of the sleepstudy model,
## REML and ML, so that tests/test_summary.py can check mixnb's lme4-layout summary as a whole
## (tests/reference/lme4_summary_layout.txt is the layout; the numbers come from here).
##
## Run from the repository root:
##     Rscript tests/reference/summary_layout.R
## Fitted with a tight optimizer (bobyqa, rhoend 1e-12, maxfun 1e5) so that the optimum, not
## the optimizer's stopping rule, sets the numbers. jsonlite writes 15 significant digits, far
## more than the 4 to 6 the layout prints.

suppressPackageStartupMessages({
  library(lmerTest)
  library(jsonlite)
})
if (!file.exists("tests/reference")) stop("run from the repository root")

d <- read.csv("data/sleepstudy.csv")
d$Subject <- factor(d$Subject)
control <- lmerControl(optimizer = "bobyqa",
                       optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e5))

one <- function(reml) {
  fit <- lmer(Reaction ~ Days + (Days | Subject), d, REML = reml, control = control)
  s <- summary(fit)
  vc <- as.data.frame(VarCorr(fit))
  co <- s$coefficients
  list(
    formula = "Reaction ~ Days + (Days | Subject)",
    reml = reml,
    reml_criterion = if (reml) unname(s$AICtab[["REML"]]) else NULL,
    aictab = if (reml) NULL else as.list(s$AICtab),
    npar = attr(logLik(fit), "df"),
    scaled_residual_quantiles = unname(quantile(residuals(fit, scaled = TRUE))),
    varcorr = lapply(seq_len(nrow(vc)), function(i) as.list(vc[i, ])),
    nobs = nobs(fit),
    ngroups = as.list(ngrps(fit)),
    coefficients = lapply(rownames(co), function(r) c(list(term = r), as.list(co[r, ]))),
    fixef_correlation = cov2cor(as.matrix(vcov(fit)))[2, 1]
  )
}

out <- list(
  meta = list(
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    lmerTest = as.character(packageVersion("lmerTest")),
    generated_by = "tests/reference/summary_layout.R"
  ),
  sleepstudy_rs_reml = one(TRUE),
  sleepstudy_rs_ml = one(FALSE)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(15), pretty = TRUE, null = "null"),
           "tests/reference/summary_layout.json")
