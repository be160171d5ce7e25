#!/usr/bin/env Rscript
## lme4 reference for the units battery (tests/test_units.py): models with a random slope,
## fitted in the predictor's own units, and lme4's default fit of the same model with the
## predictor in other units (seconds instead of days, ...). Run from the repository root:
##     Rscript tests/reference/units_battery.R
## writes tests/reference/units_reference.json.
##
## "tight" fits use bobyqa run to rhoend = 1e-10 (maxfun 1e5); the mixnb fits in every
## unit are compared with these, after the change of units. "default" records what lmer's
## defaults give in the other units (deviance, warnings), to document that lme4 itself
## depends on the units there; nothing in the tests relies on those.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
if (!file.exists("tests/reference") || !file.exists("data")) {
  stop("run this script from the repository root")
}
invisible(Sys.setlocale("LC_COLLATE", "C"))

sleep <- read.csv("data/sleepstudy.csv")
sleep$Subject <- factor(sleep$Subject)
cake <- read.csv("data/cake.csv")
cake$replicate <- factor(cake$replicate)
cake$recipe <- factor(cake$recipe)

## s is the predictor in its own units (factor 1); the battery multiplies it
models <- list(
  sleep_slope = list(data = sleep, source = "Days", formula = Reaction ~ s + (s | Subject),
                     mixnb = "Reaction ~ s + (s | Subject)"),
  cake_nested = list(data = cake, source = "temp",
                     formula = angle ~ recipe + s + (1 + s | replicate) + (1 | recipe:replicate),
                     mixnb = "angle ~ recipe + s + (1 + s | replicate) + (1 | recipe:replicate)"),
  cake_crossed = list(data = cake, source = "temp",
                      formula = angle ~ s + (1 + s | replicate) + (1 | recipe),
                      mixnb = "angle ~ s + (1 + s | replicate) + (1 | recipe)")
)
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5))

fit_caught <- function(formula, data, reml, control) {
  caught <- character(0)
  fit <- withCallingHandlers(
    lmer(formula, data = data, REML = reml, control = control),
    warning = function(w) {
      caught <<- c(caught, conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      caught <<- c(caught, trimws(conditionMessage(m)))
      invokeRestart("muffleMessage")
    }
  )
  list(fit = fit, warnings = unique(c(caught, fit@optinfo$conv$lme4$messages)))
}
num <- function(x) as.list(setNames(as.numeric(x), names(x)))
summarise <- function(r) {
  fit <- r$fit
  vc <- as.data.frame(VarCorr(fit))
  list(
    deviance_ml = if (isREML(fit)) NULL else unname(deviance(fit)),
    criterion = unname(if (isREML(fit)) REMLcrit(fit) else deviance(fit)),
    theta = unname(getME(fit, "theta")),
    fixef = num(fixef(fit)),
    fixef_se = num(setNames(sqrt(diag(as.matrix(vcov(fit)))), names(fixef(fit)))),
    vc_grp = as.character(vc$grp), vc_var1 = as.character(vc$var1),
    vc_var2 = as.character(vc$var2), vcov = unname(vc$vcov), sdcor = unname(vc$sdcor),
    sigma = sigma(fit),
    singular = isSingular(fit),
    warnings = as.list(r$warnings)
  )
}

out <- list()
for (key in names(models)) {
  m <- models[[key]]
  for (reml in c(TRUE, FALSE)) {
    d <- m$data
    d$s <- d[[m$source]]
    entry <- list(formula = m$mixnb, source = m$source, reml = reml,
                  tight = summarise(fit_caught(m$formula, d, reml, tight)))
    scaled <- list()
    for (factor in c(1e-6, 86400, 1e6)) {
      d$s <- d[[m$source]] * factor
      r <- tryCatch(fit_caught(m$formula, d, reml, lmerControl()),
                    error = function(e) list(error = conditionMessage(e)))
      scaled[[format(factor, scientific = TRUE)]] <- if (is.null(r$error)) {
        list(factor = factor, criterion = summarise(r)$criterion, warnings = as.list(r$warnings))
      } else {
        list(factor = factor, error = r$error)
      }
    }
    entry$default_in_other_units <- scaled
    out[[paste0(key, if (reml) "_reml" else "_ml")]] <- entry
  }
}
out$versions <- list(R = paste(R.version$major, R.version$minor, sep = "."),
                     lme4 = as.character(packageVersion("lme4")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(17), pretty = TRUE, null = "null"),
           "tests/reference/units_reference.json")
cat("wrote tests/reference/units_reference.json\n")
