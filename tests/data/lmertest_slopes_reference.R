# Reference numbers for the random-slope model of sk_eeg.stats.ClusterLMETest.
# Simulates a balanced and an unbalanced design (subjects, channels nested in
# subjects, two conditions within channels, two trials per cell) with a random
# intercept and condition slope per subject, fits lmer at three "timepoints"
# (columns y1-y3) and stores REML variance components and lmerTest's type-3
# ANOVA (sum contrasts, Satterthwaite df). R is not needed to run the tests.
#
# Run from the repository root:  Rscript tests/data/lmertest_slopes_reference.R
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
})
options(contrasts = c("contr.sum", "contr.poly"))
set.seed(20261201)
out_dir <- "tests/data"

simulate <- function(n_subjects, drop_frac) {
  d <- expand.grid(trial = 1:2, cond = c("a", "b"), chan = 1:4,
                   sid = sprintf("s%02d", 1:n_subjects), stringsAsFactors = FALSE)
  d$ch <- paste0("c", d$chan)
  d$region <- c("r1", "r2")[(d$chan - 1) %/% 2 + 1]
  subj_idx <- as.integer(factor(d$sid))
  sign <- ifelse(d$cond == "a", 1, -1)
  for (k in 1:3) {
    u_s <- rnorm(n_subjects, sd = c(1.0, 0.8, 1.3)[k])[subj_idx]
    b_s <- rnorm(n_subjects, sd = c(0.8, 1.2, 0.6)[k])[subj_idx]
    chan_id <- as.integer(factor(paste(d$sid, d$ch)))
    u_c <- rnorm(max(chan_id), sd = c(0.7, 1.0, 0.5)[k])[chan_id]
    effect <- c(0.0, 0.5, 0.3)[k] * sign + c(0.0, 0.3, 0.6)[k] * (d$region == "r2")
    d[[paste0("y", k)]] <- effect + u_s + (0.5 * u_s + b_s) * sign + u_c +
      rnorm(nrow(d))
  }
  if (drop_frac > 0) d <- d[sort(sample(nrow(d), round((1 - drop_frac) * nrow(d)))), ]
  d[, c("sid", "ch", "cond", "region", "y1", "y2", "y3")]
}

designs <- list(
  balanced = simulate(10, 0),
  unbalanced = simulate(11, 0.3)
)
models <- list(
  list(name = "nested", data = "balanced",
       rhs = "cond * region + (1 + cond | sid) + (1 | sid:ch)"),
  list(name = "nested", data = "unbalanced",
       rhs = "cond * region + (1 + cond | sid) + (1 | sid:ch)"),
  list(name = "subject", data = "unbalanced",
       rhs = "cond * region + (1 + cond | sid)")
)

rows <- list()
for (name in names(designs)) {
  write.csv(designs[[name]], file.path(out_dir, paste0("lmertest_slopes_data_", name, ".csv")),
            row.names = FALSE)
}
for (m in models) {
  d <- designs[[m$data]]
  d$sid <- factor(d$sid); d$cond <- factor(d$cond); d$region <- factor(d$region)
  for (k in 1:3) {
    f <- as.formula(paste0("y", k, " ~ ", m$rhs))
    fit <- lmer(f, data = d, REML = TRUE,
                control = lmerControl(optimizer = "bobyqa",
                                      optCtrl = list(rhobeg = 2e-3, rhoend = 1e-10)))
    sat <- anova(fit, type = 3, ddf = "Satterthwaite")
    vc <- VarCorr(fit)
    G <- vc$sid
    for (term in rownames(sat)) {
      rows[[length(rows) + 1]] <- data.frame(
        data = m$data, model = m$name, rhs = m$rhs, timepoint = k,
        term = term, F = sat[term, "F value"], num_df = sat[term, "NumDF"],
        den_df_satterthwaite = sat[term, "DenDF"], p_satterthwaite = sat[term, "Pr(>F)"],
        var_intercept = G[1, 1], cov_intercept_slope = G[1, 2], var_slope = G[2, 2],
        var_channel = if (!is.null(vc[["sid:ch"]])) vc[["sid:ch"]][1, 1] else NA,
        var_residual = sigma(fit)^2, reml_deviance = REMLcrit(fit),
        singular = isSingular(fit),
        converged = is.null(fit@optinfo$conv$lme4$messages)
      )
    }
  }
}
res <- do.call(rbind, rows)
write.csv(res, file.path(out_dir, "lmertest_slopes_anova.csv"), row.names = FALSE)
print(res[, c("data", "model", "timepoint", "term", "F", "den_df_satterthwaite",
              "var_intercept", "var_slope", "var_channel", "singular", "converged")])
