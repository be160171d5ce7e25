#!/usr/bin/env Rscript
## lme4 reference values for the chapter models fitted to the seed's constructed data
## (data/treatment_centers.csv, data/batting.csv). Run from the repository root:
##     Rscript tests/reference/seed_models.R
## writes tests/reference/seed_reference.json. REML fits with lme4's default settings.
##
## "centers_level2" is the group-level predictor model of chapter 3: its optimum lies just
## inside the boundary (slope standard deviation ~0.005 x sigma, correlation ~ -1), where
## an optimiser can stop on the boundary by mistake.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
if (!file.exists("tests/reference") || !file.exists("data")) {
  stop("run this script from the repository root")
}

centers <- read.csv("data/treatment_centers.csv", check.names = FALSE)
names(centers)[names(centers) == "return"] <- "ret"
centers$center <- factor(centers$center)
zbar <- ave(centers$use, centers$center)
centers$z <- zbar - mean(zbar)
batting <- read.csv("data/batting.csv")
batting$player <- factor(batting$player)
batting$day <- factor(batting$day, levels = c("D", "N"))

models <- list(
  centers_random_slope = list(data = centers, formula = ret ~ use + (use | center),
                              mixnb = "return ~ use + (use | center)"),
  centers_level2 = list(data = centers, formula = ret ~ use * z + (use | center),
                        mixnb = "return ~ use * z + (use | center)"),
  batting = list(data = batting, formula = average ~ day + (1 | player),
                 mixnb = "average ~ day + (1 | player)")
)

num <- function(x) as.list(setNames(as.numeric(x), names(x)))
summarise <- function(fit, warnings) {
  vc <- as.data.frame(VarCorr(fit))
  list(
    reml_criterion = unname(REMLcrit(fit)),
    theta = unname(getME(fit, "theta")),
    fixef = num(fixef(fit)),
    fixef_se = num(setNames(sqrt(diag(as.matrix(vcov(fit)))), names(fixef(fit)))),
    vcov = unname(vc$vcov),
    singular = isSingular(fit),
    warnings = as.list(warnings)
  )
}
fit_with_warnings <- function(formula, data, control) {
  caught <- character(0)
  fit <- withCallingHandlers(
    lmer(formula, data = data, REML = TRUE, control = control),
    warning = function(w) {
      caught <<- c(caught, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
  list(fit = fit, warnings = c(caught, fit@optinfo$conv$lme4$messages))
}
## "default": lmer's defaults. "tight": bobyqa run to rhoend = 1e-10, the best optimum lme4
## reaches; the tests compare with "tight" and check mixnb is never worse than "default".
controls <- list(
  default = lmerControl(),
  tight = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5))
)
out <- lapply(models, function(m) {
  fits <- lapply(controls, function(ctrl) {
    r <- fit_with_warnings(m$formula, m$data, ctrl)
    summarise(r$fit, unique(r$warnings))
  })
  c(list(formula = m$mixnb), fits)
})
out$versions <- list(R = paste(R.version$major, R.version$minor, sep = "."),
                     lme4 = as.character(packageVersion("lme4")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(17), pretty = TRUE),
           "tests/reference/seed_reference.json")
cat("wrote tests/reference/seed_reference.json\n")
