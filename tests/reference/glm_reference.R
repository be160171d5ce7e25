# Reference values for mixnb.glm from R's glm (run from the repository root):
#   Rscript tests/reference/glm_reference.R
# Reads data/ohio.csv, data/epil.csv and data/dietox.csv (written by gee_reference.R) and
# writes tests/reference/glm_reference.json.
#
# Tight convergence: glm.control(epsilon = 1e-14, maxit = 200) instead of R's default
# epsilon = 1e-8, so the reference is the maximum of the likelihood to machine precision.
suppressPackageStartupMessages(library(jsonlite))

ohio <- read.csv("data/ohio.csv")
epil <- read.csv("data/epil.csv")
dietox <- read.csv("data/dietox.csv")
ohio_table <- aggregate(resp ~ age + smoke, data = ohio, FUN = mean)
ohio_table$n <- aggregate(resp ~ age + smoke, data = ohio, FUN = length)$resp

tight <- glm.control(epsilon = 1e-14, maxit = 200)
cases <- list(
  list(name = "ohio_logit", data = "ohio", formula = "resp ~ age + smoke",
       family = "binomial", link = "logit"),
  list(name = "ohio_probit_interaction", data = "ohio", formula = "resp ~ age * smoke",
       family = "binomial", link = "probit"),
  list(name = "ohio_cloglog", data = "ohio", formula = "resp ~ age + smoke",
       family = "binomial", link = "cloglog"),
  list(name = "ohio_proportions", data = "ohio_table", formula = "resp ~ age + smoke",
       family = "binomial", link = "logit", weights = "n"),
  list(name = "epil_poisson_offset", data = "epil", formula = "y ~ trt + lage + offset(lbase)",
       family = "poisson", link = "log"),
  list(name = "dietox_gaussian", data = "dietox", formula = "Weight ~ Time + Cu",
       family = "gaussian", link = "identity")
)
frames <- list(ohio = ohio, ohio_table = ohio_table, epil = epil, dietox = dietox)

out <- list()
for (case in cases) {
  d <- frames[[case$data]]
  fam <- get(case$family)(link = case$link)
  w <- if (is.null(case$weights)) NULL else d[[case$weights]]
  fit <- glm(as.formula(case$formula), data = d, family = fam, weights = w, control = tight)
  co <- summary(fit)$coefficients
  out[[case$name]] <- list(
    data = case$data, formula = case$formula, family = case$family, link = case$link,
    weights = if (is.null(case$weights)) NA else case$weights,
    terms = rownames(co), estimate = unname(co[, 1]), std_error = unname(co[, 2]),
    statistic = unname(co[, 3]), p = unname(co[, 4]),
    deviance = deviance(fit), null_deviance = fit$null.deviance,
    df_resid = fit$df.residual, loglik = as.numeric(logLik(fit)), aic = AIC(fit),
    dispersion = summary(fit)$dispersion
  )
}
if (!dir.exists("data")) stop("run from the repository root")
write.csv(ohio_table, "tests/reference/ohio_table.csv", row.names = FALSE)
writeLines(toJSON(list(R = R.version.string, cases = out), digits = NA, auto_unbox = TRUE,
                  pretty = TRUE), "tests/reference/glm_reference.json")
