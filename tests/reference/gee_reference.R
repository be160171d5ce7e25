# Reference values for mixnb.gee from geepack's geeglm (run from the repository root):
#   Rscript tests/reference/gee_reference.R
# Writes data/ohio.csv, data/dietox.csv, data/epil.csv (the data exactly as fitted) and
# tests/reference/gee_reference.json.
#
# Tight convergence: geese.control(epsilon = 1e-12, maxit = 1000) instead of geepack's
# default epsilon = 1e-4, so the reference is the solution of the estimating equations to
# machine precision, not an early stop.
suppressPackageStartupMessages({
  library(geepack)
  library(MASS)
  library(jsonlite)
})

data(ohio, package = "geepack")
data(dietox, package = "geepack")
data(epil, package = "MASS")

ohio <- ohio[order(ohio$id, ohio$age), ]
dietox <- dietox[order(dietox$Pig, dietox$Time), c("Pig", "Evit", "Cu", "Litter", "Start",
                                                    "Weight", "Feed", "Time")]
dietox$Evit <- as.character(dietox$Evit)
dietox$Cu <- as.character(dietox$Cu)
epil <- epil[order(epil$subject, epil$period), ]
epil$trt <- as.character(epil$trt)

write.csv(ohio, "data/ohio.csv", row.names = FALSE)
write.csv(dietox, "data/dietox.csv", row.names = FALSE)
write.csv(epil, "data/epil.csv", row.names = FALSE)

# Fit the CSVs as Python reads them.
ohio <- read.csv("data/ohio.csv")
dietox <- read.csv("data/dietox.csv")
dietox$Cu <- factor(dietox$Cu)
epil <- read.csv("data/epil.csv")
epil$trt <- factor(epil$trt)

models <- list(
  ohio = list(formula = resp ~ age * smoke, data = ohio, id = "id", time = "age",
              family = binomial()),
  ohio_probit = list(formula = resp ~ age * smoke, data = ohio, id = "id", time = "age",
                     family = binomial(link = "probit")),
  ohio_cloglog = list(formula = resp ~ age * smoke, data = ohio, id = "id", time = "age",
                      family = binomial(link = "cloglog")),
  dietox = list(formula = Weight ~ Time + Cu, data = dietox, id = "Pig", time = "Time",
                family = gaussian()),
  epil = list(formula = y ~ lbase * trt + lage + V4, data = epil, id = "subject",
              time = "period", family = poisson()),
  # A Gaussian fit with an unstructured working correlation that geepack converges on
  # (on dietox geepack's unstructured moment estimate is not positive definite and its
  # iteration does not converge: error = 1 below).
  epil_log = list(formula = log(y + 1) ~ lbase * trt + lage + V4, data = epil,
                  id = "subject", time = "period", family = gaussian()),
  # Prior weights (geeglm's weights =) and offsets (offset() in the formula):
  # weights that vary within clusters (dietox: 1 / Time, as for a variance growing over
  # time; ohio: (age + 3) / 2), weights constant within clusters (epil: as sampling
  # weights 1, 2, 3 by subject), a Gaussian offset (the start weight) and a Poisson
  # offset (the log baseline rate lbase), one model with both.
  dietox_weighted = list(formula = Weight ~ Time + Cu, data = dietox, id = "Pig",
                         time = "Time", family = gaussian(), weights = quote(1 / Time)),
  dietox_offset = list(formula = Weight ~ Time + Cu + offset(Start), data = dietox,
                       id = "Pig", time = "Time", family = gaussian()),
  ohio_weighted = list(formula = resp ~ age * smoke, data = ohio, id = "id", time = "age",
                       family = binomial(), weights = quote((age + 3) / 2)),
  epil_offset_weighted = list(formula = y ~ trt + lage + V4 + offset(lbase), data = epil,
                              id = "subject", time = "period", family = poisson(),
                              weights = quote(1 + subject %% 3))
)

# The working correlation over the time points 1..T (waves), from geepack's alpha.
working_matrix <- function(fit, corstr, waves) {
  Tn <- max(waves)
  R <- diag(Tn)
  a <- fit$geese$alpha
  if (corstr == "exchangeable") R[row(R) != col(R)] <- a[[1]]
  if (corstr == "ar1") R <- a[[1]]^abs(outer(1:Tn, 1:Tn, "-"))
  if (corstr == "unstructured") {
    for (nm in names(a)) {
      jk <- as.integer(strsplit(sub("alpha.", "", nm, fixed = TRUE), ":")[[1]])
      R[jk[1], jk[2]] <- R[jk[2], jk[1]] <- a[[nm]]
    }
  }
  R
}

out <- list(geepack_version = as.character(packageVersion("geepack")),
            R_version = R.version.string,
            control = list(epsilon = 1e-12, maxit = 1000))
for (name in names(models)) {
  m <- models[[name]]
  d <- m$data
  # geepack wants waves as 1, 2, ...: the time points' ranks among all time values.
  waves <- match(d[[m$time]], sort(unique(d[[m$time]])))
  d$.waves <- waves
  d$.id <- d[[m$id]]
  d$.w <- if (is.null(m$weights)) rep(1, nrow(d)) else eval(m$weights, d)
  for (corstr in c("independence", "exchangeable", "ar1", "unstructured")) {
    fit <- geeglm(m$formula, data = d, id = .id, waves = .waves, family = m$family,
                  weights = .w, corstr = corstr,
                  control = geese.control(epsilon = 1e-12, maxit = 1000))
    qic <- QIC(fit)
    V <- fit$geese$vbeta
    b <- coef(fit)
    # Wald test of all coefficients but the intercept, from geepack's robust variance.
    idx <- seq_along(b)[-1]
    wald <- as.numeric(t(b[idx]) %*% solve(V[idx, idx]) %*% b[idx])
    out[[name]][[corstr]] <- list(
      terms = names(b),
      estimate = unname(b),
      robust_se = sqrt(diag(V)),
      naive_se = sqrt(diag(fit$geese$vbeta.naiv)),
      vcov_robust = V,
      alpha = unname(fit$geese$alpha),
      alpha_names = names(fit$geese$alpha),
      scale = unname(fit$geese$gamma),
      working_correlation = working_matrix(fit, corstr, waves),
      QIC = unname(qic["QIC"]), QICu = unname(qic["QICu"]),
      quasi_lik = unname(qic["Quasi Lik"]), CIC = unname(qic["CIC"]),
      wald_all_but_intercept = wald,
      wald_df = length(idx),
      anova = {
        a <- anova(fit)
        list(terms = rownames(a), df = a$Df, chisq = a$X2, p = a$`P(>|Chi|)`)
      },
      nclusters = length(unique(d$.id)),
      fitted = unname(fitted(fit))[1:5],
      pearson_residuals = unname(residuals(fit, type = "pearson"))[1:5],
      min_eigen_working = min(eigen(working_matrix(fit, corstr, waves))$values),
      error = fit$geese$error
    )
  }
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/gee_reference.json")
cat("wrote tests/reference/gee_reference.json\n")
