# Reference values for chapter 5 on data/ami.csv (run from the repository root):
#   Rscript tests/reference/ami_reference.R
# The traditional logistic model (glm) and the three-level hierarchical one (glmer,
# patients in physicians in hospitals, Laplace). Tight optimiser: bobyqa with
# maxfun = 1e5 and tolPwrss = 1e-10 (lme4's defaults stop earlier on small data).
# Writes tests/reference/ami_reference.json.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

ami <- read.csv("data/ami.csv")
ami$age70 <- ami$age - 70
fixed <- "death ~ age70 + severity + female + cardiologist + teaching"
tight <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-10)

traditional <- glm(as.formula(fixed), family = binomial, data = ami,
                   control = glm.control(epsilon = 1e-14, maxit = 200))
nested <- glmer(as.formula(paste(fixed, "+ (1 | hospital/physician)")), family = binomial,
                data = ami, control = tight, nAGQ = 1)

table_of <- function(co) list(terms = rownames(co), estimate = unname(co[, 1]),
                              std_error = unname(co[, 2]), z = unname(co[, 3]),
                              p = unname(co[, 4]))
vc <- as.data.frame(VarCorr(nested))
out <- list(
  R = R.version.string, lme4 = as.character(packageVersion("lme4")),
  n = nrow(ami), n_physicians = length(unique(ami$physician)),
  n_hospitals = length(unique(ami$hospital)),
  traditional = c(table_of(coef(summary(traditional))),
                  list(loglik = as.numeric(logLik(traditional)))),
  hierarchical = c(table_of(coef(summary(nested))),
                   list(loglik = as.numeric(logLik(nested)),
                        deviance = unname(deviance(nested)),
                        groups = vc$grp, sd = vc$sdcor, variance = vc$vcov,
                        theta = unname(getME(nested, "theta"))))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/ami_reference.json")
