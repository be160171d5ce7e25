#!/usr/bin/env Rscript
## Generate the lme4 / lmerTest / pbkrtest reference values used by the mixnb
## test-suite.
##
## Run from the repository root:
##     Rscript tests/reference/make_reference.R
##
## It (1) writes the lme4 example data sets to data/*.csv, (2) reads them back
## from those CSV files (so the reference values are computed from exactly the
## data Python reads), (3) fits every model with lmerTest::lmer (lme4's lmer plus
## Satterthwaite / Kenward-Roger inference), REML and ML, with lme4's default
## optimizer settings, and (4) writes tests/reference/lme4_reference.json.
##
## Numbers are written with 17 significant digits ("%.17g"), which round-trips
## IEEE doubles exactly (jsonlite itself caps at 15 digits).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(jsonlite)
})

if (!file.exists("tests/reference") || !file.exists("data")) {
  stop("run this script from the repository root: Rscript tests/reference/make_reference.R")
}
invisible(Sys.setlocale("LC_COLLATE", "C"))  # deterministic level sorting in factor()

## ---------------------------------------------------------------------------
## 1. data sets -> CSV
## ---------------------------------------------------------------------------
to_labels <- function(df) {
  for (nm in names(df)) if (is.factor(df[[nm]])) df[[nm]] <- as.character(df[[nm]])
  df
}
cake_out <- lme4::cake[, c("replicate", "recipe", "temperature", "temp", "angle")]
datasets_out <- list(
  sleepstudy = lme4::sleepstudy,
  dyestuff   = lme4::Dyestuff,
  dyestuff2  = lme4::Dyestuff2,
  penicillin = lme4::Penicillin,
  pastes     = lme4::Pastes,
  cake       = cake_out
)
for (nm in names(datasets_out)) {
  write.csv(to_labels(datasets_out[[nm]]), file.path("data", paste0(nm, ".csv")),
            row.names = FALSE)
}

## read back; grouping columns and categorical predictors -> factor() (sorted levels)
factor_cols <- list(
  sleepstudy = "Subject",
  dyestuff   = "Batch",
  dyestuff2  = "Batch",
  penicillin = c("plate", "sample"),
  pastes     = c("batch", "cask", "sample"),
  cake       = c("replicate", "recipe")
)
dat <- list()
for (nm in names(datasets_out)) {
  d <- read.csv(file.path("data", paste0(nm, ".csv")))
  for (cc in factor_cols[[nm]]) d[[cc]] <- factor(d[[cc]])
  dat[[nm]] <- d
}

## ---------------------------------------------------------------------------
## 2. models
## ---------------------------------------------------------------------------
models <- list(
  sleepstudy_ri     = list(dataset = "sleepstudy", formula = "Reaction ~ Days + (1 | Subject)"),
  sleepstudy_rs     = list(dataset = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)"),
  sleepstudy_uncorr = list(dataset = "sleepstudy", formula = "Reaction ~ Days + (Days || Subject)"),
  dyestuff          = list(dataset = "dyestuff",   formula = "Yield ~ 1 + (1 | Batch)"),
  dyestuff2         = list(dataset = "dyestuff2",  formula = "Yield ~ 1 + (1 | Batch)"),
  penicillin        = list(dataset = "penicillin", formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"),
  pastes            = list(dataset = "pastes",     formula = "strength ~ 1 + (1 | batch/cask)"),
  cake              = list(dataset = "cake",       formula = "angle ~ recipe * temp + (1 | recipe:replicate)")
)

## run expr, collecting warnings and messages (returned as character vectors)
with_conditions <- function(expr) {
  warns <- character(0); msgs <- character(0)
  value <- withCallingHandlers(
    tryCatch(expr, error = function(e) structure(list(message = conditionMessage(e)),
                                                 class = "ref_error")),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, trimws(conditionMessage(m))); invokeRestart("muffleMessage") }
  )
  list(value = value, warnings = warns, messages = msgs)
}
is_err <- function(x) inherits(x, "ref_error")

named <- function(x) as.list(x)  # named vector -> named list (JSON object)

coef_table <- function(tab) {
  out <- list()
  for (i in seq_len(nrow(tab))) {
    out[[rownames(tab)[i]]] <- list(
      estimate = unname(tab[i, "Estimate"]),
      se       = unname(tab[i, "Std. Error"]),
      df       = unname(tab[i, "df"]),
      t        = unname(tab[i, "t value"]),
      p        = unname(tab[i, "Pr(>|t|)"])
    )
  }
  out
}

anova_table <- function(tab) {
  out <- list()
  for (i in seq_len(nrow(tab))) {
    out[[rownames(tab)[i]]] <- list(
      sum_sq  = unname(tab[i, "Sum Sq"]),
      mean_sq = unname(tab[i, "Mean Sq"]),
      numdf   = unname(tab[i, "NumDF"]),
      dendf   = unname(tab[i, "DenDF"]),
      F       = unname(tab[i, "F value"]),
      p       = unname(tab[i, "Pr(>F)"])
    )
  }
  out
}

contest_row <- function(tab) {
  list(sum_sq  = unname(tab[1, "Sum Sq"]),
       mean_sq = unname(tab[1, "Mean Sq"]),
       numdf   = unname(tab[1, "NumDF"]),
       dendf   = unname(tab[1, "DenDF"]),
       F       = unname(tab[1, "F value"]),
       p       = unname(tab[1, "Pr(>F)"]))
}

ranef_block <- function(fit) {
  re <- ranef(fit, condVar = TRUE)
  re_df <- as.data.frame(re)  # has a condsd column per (grpvar, term, grp)
  out <- list()
  for (g in names(re)) {
    m <- re[[g]]
    levs <- rownames(m)
    cols <- colnames(m)
    condsd <- matrix(NA_real_, length(levs), length(cols))
    for (j in seq_along(cols)) {
      sub <- re_df[re_df$grpvar == g & re_df$term == cols[j], ]
      condsd[, j] <- sub$condsd[match(levs, as.character(sub$grp))]
    }
    blk <- list(levels = I(levs), columns = I(cols),
                values = unname(as.matrix(m)), condsd = condsd)
    if (length(cols) > 1) {
      pv <- attr(m, "postVar")
      if (is.list(pv)) {
        ## several terms for the same grouping factor (e.g. (Days || Subject)):
        ## lme4 gives one array per term; assemble the block-diagonal matrix
        cc <- vector("list", length(levs))
        for (k in seq_along(levs)) {
          M <- matrix(0, length(cols), length(cols))
          pos <- 0
          for (a in pv) {
            qa <- dim(a)[1]
            idx <- pos + seq_len(qa)
            M[idx, idx] <- a[, , k]
            pos <- pos + qa
          }
          cc[[k]] <- M
        }
        blk$condcov_note <- paste("lme4 returned one postVar array per random-effect term",
                                  "(independent terms); condcov is their block-diagonal combination")
      } else {
        cc <- lapply(seq_len(dim(pv)[3]), function(k) pv[, , k])
      }
      blk$condcov <- cc
      ## consistency check: sqrt(diag(condcov)) == condsd
      chk <- max(abs(t(sapply(cc, function(M) sqrt(diag(M)))) - condsd))
      if (chk > 1e-10) stop("condcov / condsd mismatch for ", g)
    }
    out[[g]] <- blk
  }
  out
}

coef_block <- function(fit) {
  cf <- coef(fit)
  out <- list()
  for (g in names(cf)) {
    m <- cf[[g]]
    out[[g]] <- list(levels = I(rownames(m)), columns = I(colnames(m)),
                     values = unname(as.matrix(m)))
  }
  out
}

varcorr_rows <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  lapply(seq_len(nrow(vc)), function(i) list(
    grp   = as.character(vc$grp[i]),
    var1  = as.character(vc$var1[i]),
    var2  = as.character(vc$var2[i]),
    vcov  = vc$vcov[i],
    sdcor = vc$sdcor[i]
  ))
}

fit_one <- function(id, spec, reml) {
  d <- dat[[spec$dataset]]
  f <- as.formula(spec$formula)
  fc <- with_conditions(lmerTest::lmer(f, data = d, REML = reml))
  if (is_err(fc$value)) stop("fit failed for ", id, ": ", fc$value$message)
  fit <- fc$value
  if (!inherits(fit, "lmerModLmerTest")) stop("not an lmerTest fit: ", id)

  V <- as.matrix(vcov(fit))
  ll <- logLik(fit)
  cmp <- getME(fit, "devcomp")$cmp
  fe <- fixef(fit)
  res <- list(
    dataset = spec$dataset,
    formula = spec$formula,
    reml = reml,
    fixef = named(fe),
    fixef_se = named(sqrt(diag(V))),
    vcov = unname(V),
    vcov_names = I(colnames(V)),
    varcorr = varcorr_rows(fit),
    sigma = sigma(fit),
    theta = named(getME(fit, "theta")),
    loglik = as.numeric(ll),
    deviance_ml = if (reml) NULL else -2 * as.numeric(ll),
    reml_criterion = if (reml) unname(cmp[["REML"]]) else NULL,
    aic = AIC(fit),
    bic = BIC(fit),
    nobs = nobs(fit),
    ngroups = named(ngrps(fit)),
    is_singular = isSingular(fit),
    df_logLik = attr(ll, "df"),
    ranef = ranef_block(fit),
    coef = coef_block(fit),
    fit_warnings = I(fc$warnings),
    fit_messages = I(fc$messages)
  )
  ## keep explicit nulls for the non-applicable criterion
  if (reml) res["deviance_ml"] <- list(NULL) else res["reml_criterion"] <- list(NULL)

  ## Satterthwaite t-tests
  st <- with_conditions(summary(fit)$coefficients)
  res$satterthwaite <- coef_table(st$value)
  res$satterthwaite_warnings <- I(c(st$warnings, st$messages))

  ## Kenward-Roger t-tests (REML fits only)
  if (reml) {
    kr <- with_conditions(summary(fit, ddf = "Kenward-Roger")$coefficients)
    if (is_err(kr$value)) {
      res["kenward_roger"] <- list(NULL)
      res$kenward_roger_error <- kr$value$message
    } else {
      res$kenward_roger <- coef_table(kr$value)
    }
    res$kenward_roger_warnings <- I(c(kr$warnings, kr$messages))
  }

  ## type-3 F tests (only if there is a fixed term besides the intercept)
  if (length(setdiff(names(fe), "(Intercept)")) > 0) {
    an <- with_conditions(anova(fit, type = 3))
    if (is_err(an$value)) stop("anova failed for ", id, ": ", an$value$message)
    res$anova_satterthwaite <- anova_table(an$value)
    res$anova_satterthwaite_warnings <- I(c(an$warnings, an$messages))
    if (reml) {
      ak <- with_conditions(anova(fit, type = 3, ddf = "Kenward-Roger"))
      if (is_err(ak$value)) {
        res["anova_kr"] <- list(NULL)
        res$anova_kr_error <- ak$value$message
      } else {
        res$anova_kr <- anova_table(ak$value)
      }
      res$anova_kr_warnings <- I(c(ak$warnings, ak$messages))
    }
  }

  ## joint contrast test of the recipe main effects (cake only)
  if (id == "cake") {
    L <- matrix(0, 2, length(fe), dimnames = list(NULL, names(fe)))
    L[1, "recipeB"] <- 1
    L[2, "recipeC"] <- 1
    ct <- with_conditions(lmerTest::contest(fit, L, joint = TRUE))
    if (is_err(ct$value)) stop("contest failed: ", ct$value$message)
    res$contest_L <- unname(L)
    res$contest_L_names <- I(colnames(L))
    res$contest_satterthwaite <- contest_row(ct$value)
    if (reml) {
      ck <- with_conditions(lmerTest::contest(fit, L, joint = TRUE, ddf = "Kenward-Roger"))
      if (is_err(ck$value)) {
        res["contest_kr"] <- list(NULL)
        res$contest_kr_error <- ck$value$message
      } else {
        res$contest_kr <- contest_row(ck$value)
      }
    }
  }

  res$fitted_head <- unname(head(fitted(fit), 10))
  res$residuals_head <- unname(head(residuals(fit), 10))
  list(result = res, fit = fit)
}

fits <- list()
fit_objs <- list()
for (id in names(models)) {
  for (reml in c(TRUE, FALSE)) {
    key <- paste0(id, if (reml) "_reml" else "_ml")
    r <- fit_one(id, models[[id]], reml)
    fits[[key]] <- r$result
    fit_objs[[key]] <- r$fit
    w <- c(r$result$fit_warnings, r$result$fit_messages)
    cat(sprintf("%-24s %s\n", key, if (length(w)) paste(w, collapse = " | ") else "ok"))
  }
}

## ---------------------------------------------------------------------------
## 3. likelihood-ratio test: random intercept vs correlated random slope (ML)
## ---------------------------------------------------------------------------
m_ri_ml <- fit_objs[["sleepstudy_ri_ml"]]
m_rs_ml <- fit_objs[["sleepstudy_rs_ml"]]
lrt_c <- with_conditions(anova(m_ri_ml, m_rs_ml))
lrt_tab <- lrt_c$value
lrt_rows <- lapply(seq_len(nrow(lrt_tab)), function(i) list(
  model    = c("sleepstudy_ri_ml", "sleepstudy_rs_ml")[i],
  npar     = unname(lrt_tab[i, "npar"]),
  AIC      = unname(lrt_tab[i, "AIC"]),
  BIC      = unname(lrt_tab[i, "BIC"]),
  logLik   = unname(lrt_tab[i, "logLik"]),
  deviance = unname(lrt_tab[i, "deviance"]),
  Chisq    = unname(lrt_tab[i, "Chisq"]),
  Df       = unname(lrt_tab[i, "Df"]),
  p        = unname(lrt_tab[i, "Pr(>Chisq)"])
))

## ---------------------------------------------------------------------------
## 3b. least squares (lm) and nested F tests (anova)
## ---------------------------------------------------------------------------
lm_data <- list(
  sleepstudy = dat[["sleepstudy"]],
  cake = dat[["cake"]]
)
lm_models <- list(
  sleepstudy_null = list(data = "sleepstudy", formula = "Reaction ~ 1"),
  sleepstudy_days = list(data = "sleepstudy", formula = "Reaction ~ Days"),
  cake_additive = list(data = "cake", formula = "angle ~ recipe + temp"),
  cake_interaction = list(data = "cake", formula = "angle ~ recipe * temp")
)
lm_objs <- lapply(lm_models, function(m) lm(as.formula(m$formula), data = lm_data[[m$data]]))
lm_results <- lapply(names(lm_models), function(id) {
  fit <- lm_objs[[id]]
  s <- summary(fit)
  co <- s$coefficients
  fs <- if (is.null(s$fstatistic)) NULL else s$fstatistic
  list(
    dataset = lm_models[[id]]$data,
    formula = lm_models[[id]]$formula,
    coefficients = setNames(lapply(rownames(co), function(term) list(
      estimate = co[term, 1], se = co[term, 2], t = co[term, 3], p = co[term, 4])), rownames(co)),
    r_squared = s$r.squared,
    adj_r_squared = s$adj.r.squared,
    sigma = s$sigma,
    df_resid = fit$df.residual,
    fstatistic = if (is.null(fs)) NULL else list(
      value = unname(fs["value"]), numdf = unname(fs["numdf"]), dendf = unname(fs["dendf"]),
      p = unname(pf(fs["value"], fs["numdf"], fs["dendf"], lower.tail = FALSE))),
    loglik = as.numeric(logLik(fit)),
    fitted_head = unname(head(fitted(fit), 10))
  )
})
names(lm_results) <- names(lm_models)
lm_anova <- function(small, big) {
  tab <- anova(lm_objs[[small]], lm_objs[[big]])
  list(small = small, big = big, res_df = unname(tab[["Res.Df"]]), rss = unname(tab[["RSS"]]),
       df = unname(tab[["Df"]][2]), sum_sq = unname(tab[["Sum of Sq"]][2]),
       F = unname(tab[["F"]][2]), p = unname(tab[["Pr(>F)"]][2]))
}
lm_comparisons <- list(
  sleepstudy = lm_anova("sleepstudy_null", "sleepstudy_days"),
  cake = lm_anova("cake_additive", "cake_interaction")
)

## ---------------------------------------------------------------------------
## 3c. confidence intervals: confint(fit, method = "profile") and "Wald"
##     (used by tests/test_confint.py). lme4's profile refits a REML fit by ML
##     (devfun2 calls refitML), so REML and ML profile intervals agree.
## ---------------------------------------------------------------------------
confint_keys <- c("sleepstudy_rs_reml", "sleepstudy_rs_ml", "dyestuff_reml", "penicillin_ml")
confint_rows <- function(ci) {
  lapply(seq_len(nrow(ci)), function(i) list(
    parameter = rownames(ci)[i],
    lower = unname(ci[i, 1]),
    upper = unname(ci[i, 2])
  ))
}
confint_results <- list()
for (key in confint_keys) {
  fit <- fit_objs[[key]]
  pr <- with_conditions(confint(fit, method = "profile", level = 0.95, quiet = TRUE))
  if (is_err(pr$value)) stop("profile confint failed for ", key, ": ", pr$value$message)
  wd <- confint(fit, method = "Wald", level = 0.95)
  confint_results[[key]] <- list(
    level = 0.95,
    profile = confint_rows(pr$value),
    wald = confint_rows(wd),
    warnings = I(c(pr$warnings, pr$messages))
  )
}

## ---------------------------------------------------------------------------
## 4. JSON output (17 significant digits for doubles)
## ---------------------------------------------------------------------------
fmt_num <- function(x) ifelse(is.na(x), "null",
                              ifelse(is.infinite(x), ifelse(x > 0, "\"Inf\"", "\"-Inf\""),
                                     sprintf("%.17g", x)))
verbatim <- function(s) structure(s, class = "json")
prep <- function(x) {
  if (is.null(x)) return(x)
  if (is.list(x)) {
    nm <- names(x)
    y <- lapply(x, prep)
    names(y) <- nm
    if (inherits(x, "AsIs")) class(y) <- "AsIs"
    return(y)
  }
  if (is.double(x)) {
    if (is.matrix(x)) {
      rows <- apply(x, 1, function(r) paste0("[", paste(fmt_num(r), collapse = ","), "]"))
      if (nrow(x) == 1) rows <- paste0("[", paste(fmt_num(x[1, ]), collapse = ","), "]")
      return(verbatim(paste0("[", paste(rows, collapse = ","), "]")))
    }
    if (length(x) == 1 && !inherits(x, "AsIs")) return(verbatim(fmt_num(x)))
    return(verbatim(paste0("[", paste(fmt_num(x), collapse = ","), "]")))
  }
  x
}

out <- list(
  meta = list(
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    lmerTest = as.character(packageVersion("lmerTest")),
    pbkrtest = as.character(packageVersion("pbkrtest")),
    Matrix = as.character(packageVersion("Matrix")),
    jsonlite = as.character(packageVersion("jsonlite")),
    generated_by = "tests/reference/make_reference.R",
    number_format = "doubles written with 17 significant digits (%.17g)"
  ),
  fits = fits,
  least_squares = lm_results,
  least_squares_comparisons = lm_comparisons,
  lrt = list(
    description = "anova(m_ri_ml, m_rs_ml): sleepstudy_ri vs sleepstudy_rs, both ML fits",
    rows = lrt_rows,
    warnings = I(c(lrt_c$warnings, lrt_c$messages))
  ),
  confint = confint_results
)

txt <- toJSON(prep(out), auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null",
              json_verbatim = TRUE, digits = NA)
writeLines(txt, "tests/reference/lme4_reference.json")
cat("wrote tests/reference/lme4_reference.json and data/*.csv\n")
