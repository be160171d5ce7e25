# Reference values for mixnb.glmm from lme4's glmer (run from the repository root):
#   Rscript tests/reference/glmm_reference.R
# Writes data/cbpp.csv, data/grouseticks.csv, data/verbagg.csv, data/contraception.csv,
# data/guimmun.csv (the data exactly as fitted) and tests/reference/glmm_reference.json.
#
# Tight convergence (not glmer's defaults): bobyqa in both stages with
# rhoend = 1e-10 and maxfun = 1e5, and tolPwrss = 1e-10 for the inner PIRLS, so that the
# reference is the optimum of glmer's objective to many more digits than the tests ask for.
suppressPackageStartupMessages({
  library(lme4)
  library(mlmRev)
  library(jsonlite)
})
stopifnot(packageVersion("lme4") >= "1.1.31")

data(cbpp, package = "lme4")
data(grouseticks, package = "lme4")
data(VerbAgg, package = "lme4")
data(Contraception, package = "mlmRev")
data(guImmun, package = "mlmRev")

cbpp_out <- data.frame(herd = as.integer(as.character(cbpp$herd)), incidence = cbpp$incidence,
                       size = cbpp$size, period = as.integer(as.character(cbpp$period)))
write.csv(cbpp_out, "data/cbpp.csv", row.names = FALSE)
grouse_out <- data.frame(INDEX = as.integer(as.character(grouseticks$INDEX)),
                         TICKS = grouseticks$TICKS,
                         BROOD = as.integer(as.character(grouseticks$BROOD)),
                         HEIGHT = grouseticks$HEIGHT,
                         YEAR = as.integer(as.character(grouseticks$YEAR)),
                         LOCATION = as.integer(as.character(grouseticks$LOCATION)),
                         cHEIGHT = grouseticks$cHEIGHT)
write.csv(grouse_out, "data/grouseticks.csv", row.names = FALSE)
verb_out <- data.frame(Anger = VerbAgg$Anger, Gender = as.character(VerbAgg$Gender),
                       item = as.character(VerbAgg$item), resp = as.character(VerbAgg$resp),
                       id = as.integer(as.character(VerbAgg$id)),
                       btype = as.character(VerbAgg$btype), situ = as.character(VerbAgg$situ),
                       mode = as.character(VerbAgg$mode), r2 = as.integer(VerbAgg$r2 == "Y"))
write.csv(verb_out, "data/verbagg.csv", row.names = FALSE)
contra_out <- data.frame(woman = as.integer(as.character(Contraception$woman)),
                         district = as.integer(as.character(Contraception$district)),
                         use = as.integer(Contraception$use == "Y"),
                         livch = as.character(Contraception$livch),
                         age = Contraception$age,
                         urban = as.integer(Contraception$urban == "Y"))
write.csv(contra_out, "data/contraception.csv", row.names = FALSE)
gu_out <- data.frame(kid = as.integer(as.character(guImmun$kid)),
                     mom = as.integer(as.character(guImmun$mom)),
                     comm = as.integer(as.character(guImmun$comm)),
                     immun = as.integer(guImmun$immun == "Y"),
                     kid2p = as.integer(guImmun$kid2p == "Y"),
                     mom25p = as.integer(guImmun$mom25p == "Y"),
                     ord = as.character(guImmun$ord), ethn = as.character(guImmun$ethn),
                     momEd = as.character(guImmun$momEd), husEd = as.character(guImmun$husEd),
                     momWork = as.integer(guImmun$momWork == "Y"),
                     rural = as.integer(guImmun$rural == "Y"), pcInd81 = guImmun$pcInd81)
write.csv(gu_out, "data/guimmun.csv", row.names = FALSE)

# Fit the CSVs as Python reads them (grouping columns as factors, strings as factors with
# sorted levels).
cbpp <- read.csv("data/cbpp.csv")
cbpp$herd <- factor(cbpp$herd)
cbpp$period <- factor(cbpp$period)
grouse <- read.csv("data/grouseticks.csv")
for (v in c("INDEX", "BROOD", "YEAR", "LOCATION")) grouse[[v]] <- factor(grouse[[v]])
verb <- read.csv("data/verbagg.csv", stringsAsFactors = TRUE)
verb$id <- factor(verb$id)
contra <- read.csv("data/contraception.csv", stringsAsFactors = TRUE)
contra$district <- factor(contra$district)
gu <- read.csv("data/guimmun.csv", stringsAsFactors = TRUE)
gu$comm <- factor(gu$comm)
gu$mom <- factor(gu$mom)

ctrl <- glmerControl(optimizer = c("bobyqa", "bobyqa"), tolPwrss = 1e-10,
                     optCtrl = list(maxfun = 1e5, rhoend = 1e-10),
                     check.conv.grad = "ignore")

models <- list(
  cbpp_laplace = list(f = cbind(incidence, size - incidence) ~ period + (1 | herd),
                      data = cbpp, family = binomial(), nAGQ = 1),
  cbpp_agq5 = list(f = cbind(incidence, size - incidence) ~ period + (1 | herd),
                   data = cbpp, family = binomial(), nAGQ = 5),
  cbpp_agq10 = list(f = cbind(incidence, size - incidence) ~ period + (1 | herd),
                    data = cbpp, family = binomial(), nAGQ = 10),
  cbpp_agq25 = list(f = cbind(incidence, size - incidence) ~ period + (1 | herd),
                    data = cbpp, family = binomial(), nAGQ = 25),
  cbpp_nagq0 = list(f = cbind(incidence, size - incidence) ~ period + (1 | herd),
                    data = cbpp, family = binomial(), nAGQ = 0),
  cbpp_probit = list(f = cbind(incidence, size - incidence) ~ period + (1 | herd),
                     data = cbpp, family = binomial(link = "probit"), nAGQ = 1),
  cbpp_cloglog_agq10 = list(f = cbind(incidence, size - incidence) ~ period + (1 | herd),
                            data = cbpp, family = binomial(link = "cloglog"), nAGQ = 10),
  cbpp_poisson_offset = list(f = incidence ~ period + offset(log(size)) + (1 | herd),
                             data = cbpp, family = poisson(), nAGQ = 1),
  grouse_laplace = list(f = TICKS ~ YEAR + cHEIGHT + (1 | BROOD), data = grouse,
                        family = poisson(), nAGQ = 1),
  grouse_agq5 = list(f = TICKS ~ YEAR + cHEIGHT + (1 | BROOD), data = grouse,
                     family = poisson(), nAGQ = 5),
  grouse_agq10 = list(f = TICKS ~ YEAR + cHEIGHT + (1 | BROOD), data = grouse,
                      family = poisson(), nAGQ = 10),
  grouse_agq25 = list(f = TICKS ~ YEAR + cHEIGHT + (1 | BROOD), data = grouse,
                      family = poisson(), nAGQ = 25),
  grouse_nested = list(f = TICKS ~ YEAR + cHEIGHT + (1 | LOCATION/BROOD), data = grouse,
                       family = poisson(), nAGQ = 1),
  contra_slope = list(f = use ~ age + I(age^2) + urban + livch + (urban | district),
                      data = contra, family = binomial(), nAGQ = 1),
  verbagg_crossed = list(f = r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item),
                         data = verb, family = binomial(), nAGQ = 1),
  guimmun_nested = list(f = immun ~ kid2p + mom25p + ord + ethn + momEd + husEd + momWork +
                          rural + pcInd81 + (1 | comm/mom),
                        data = gu, family = binomial(), nAGQ = 1)
)

devfun_value <- function(fit, nAGQ) {
  dd <- update(fit, devFunOnly = TRUE)
  if (nAGQ == 0) dd(getME(fit, "theta")) else dd(c(getME(fit, "theta"), fixef(fit)))
}

# glmer's own objective with a much tighter inner PIRLS (tolPwrss = 1e-13), at glmer's
# optimum: where it differs from the objective glmer reports, the difference is glmer's
# PIRLS stopping early, not a different likelihood.
tight_devfun <- function(fit) {
  update(fit, devFunOnly = TRUE,
         control = glmerControl(tolPwrss = 1e-13, optimizer = c("bobyqa", "bobyqa")))
}
tight_value <- function(fit, nAGQ) {
  dd <- tight_devfun(fit)
  if (nAGQ == 0) dd(getME(fit, "theta")) else dd(c(getME(fit, "theta"), fixef(fit)))
}
# The standard errors glmer's vcov() computes (2 H^-1 from lme4's deriv12 at the optimum),
# with the Hessian of the tight objective instead.
tight_se <- function(fit, nAGQ) {
  if (nAGQ == 0) return(NULL)
  dd <- tight_devfun(fit)
  h <- lme4:::deriv12(dd, c(getME(fit, "theta"), fixef(fit)))$Hessian
  nt <- length(getME(fit, "theta"))
  as.list(setNames(sqrt(diag(solve(h / 2)))[-seq_len(nt)], names(fixef(fit))))
}

out <- list()
for (name in names(models)) {
  m <- models[[name]]
  t0 <- proc.time()[["elapsed"]]
  fit <- glmer(m$f, data = m$data, family = m$family, nAGQ = m$nAGQ, control = ctrl)
  secs <- proc.time()[["elapsed"]] - t0
  vc <- as.data.frame(VarCorr(fit))
  re <- ranef(fit, condVar = TRUE)
  modes <- lapply(names(re), function(g) {
    r <- re[[g]]
    pv <- attr(r, "postVar")
    list(levels = rownames(r), values = as.matrix(r),
         sd = t(sapply(seq_len(nrow(r)), function(i) sqrt(diag(as.matrix(pv[, , i])))))
    )
  })
  names(modes) <- names(re)
  out[[name]] <- list(
    formula = paste(deparse(m$f), collapse = " "),
    family = m$family$family, link = m$family$link, nAGQ = m$nAGQ,
    fixef = as.list(fixef(fit)),
    se = as.list(setNames(sqrt(diag(as.matrix(vcov(fit)))), names(fixef(fit)))),
    theta = unname(getME(fit, "theta")),
    varcor = list(grp = vc$grp, var1 = ifelse(is.na(vc$var1), "", vc$var1),
                  var2 = ifelse(is.na(vc$var2), "", vc$var2), vcov = vc$vcov, sdcor = vc$sdcor),
    loglik = as.numeric(logLik(fit)),
    # glmer's objective at the optimum (its devfun): on the deviance-residual scale
    objective = devfun_value(fit, m$nAGQ),
    objective_tight_pirls = tight_value(fit, m$nAGQ),
    se_tight_pirls = tight_se(fit, m$nAGQ),
    devcomp = as.list(getME(fit, "devcomp")$cmp),
    aic = AIC(fit), bic = BIC(fit),
    deviance_residuals = sum(residuals(fit, type = "deviance")^2),
    modes = modes,
    nobs = nobs(fit), seconds = secs,
    converged = is.null(fit@optinfo$conv$lme4$messages)
  )
  cat(name, "loglik", out[[name]]$loglik, "objective", out[[name]]$objective,
      "tight", out[[name]]$objective_tight_pirls, secs, "\n")
}
out$versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                     mlmRev = as.character(packageVersion("mlmRev")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/glmm_reference.json")
