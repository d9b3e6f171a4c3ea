# Reference numbers for sk_eeg.stats.ClusterLMETest's denominator df.
# Simulates a balanced and an unbalanced nested design (subjects, channels
# nested in subjects, trials), fits lmer at three "timepoints" (columns y1-y3)
# and stores lmerTest's type-3 ANOVA (sum contrasts) with Satterthwaite and
# Kenward-Roger denominator df. R is not needed to run the tests.
#
# Run from the repository root:  Rscript tests/data/lmertest_reference.R
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
})
options(contrasts = c("contr.sum", "contr.poly"))
set.seed(20261130)
out_dir <- "tests/data"

simulate <- function(n_subjects, drop_frac) {
  d <- expand.grid(trial = 1:2, cond = c("a", "b"), chan = 1:6,
                   sid = sprintf("s%02d", 1:n_subjects), stringsAsFactors = FALSE)
  d$ch <- paste0("c", d$chan)
  d$region <- c("r1", "r2", "r3")[(d$chan - 1) %/% 2 + 1]
  subj_idx <- as.integer(factor(d$sid))
  d$group <- ifelse(subj_idx %% 2 == 0, "g1", "g2")
  for (k in 1:3) {
    u_s <- rnorm(n_subjects, sd = c(1.0, 0.8, 1.3)[k])[subj_idx]
    chan_id <- as.integer(factor(paste(d$sid, d$ch)))
    u_c <- rnorm(max(chan_id), sd = c(0.7, 1.0, 0.5)[k])[chan_id]
    effect <- c(0.0, 0.8, 0.4)[k] * (d$cond == "b") +
      c(0.0, 0.3, 0.6)[k] * (d$region == "r2") +
      c(0.2, 0.0, 0.5)[k] * (d$group == "g1")
    d[[paste0("y", k)]] <- effect + u_s + u_c + rnorm(nrow(d))
  }
  if (drop_frac > 0) d <- d[sort(sample(nrow(d), round((1 - drop_frac) * nrow(d)))), ]
  d[, c("sid", "ch", "cond", "region", "group", "y1", "y2", "y3")]
}

designs <- list(
  balanced = simulate(8, 0),
  unbalanced = simulate(9, 0.3)
)
models <- list(
  list(name = "nested", data = "balanced",
       rhs = "cond * region + (1 | sid) + (1 | sid:ch)"),
  list(name = "nested", data = "unbalanced",
       rhs = "cond * region + group + (1 | sid) + (1 | sid:ch)"),
  list(name = "subject", data = "unbalanced",
       rhs = "cond * region + (1 | sid)")
)

rows <- list()
for (name in names(designs)) {
  write.csv(designs[[name]], file.path(out_dir, paste0("lmertest_data_", name, ".csv")),
            row.names = FALSE)
}
for (m in models) {
  d <- designs[[m$data]]
  d$sid <- factor(d$sid); d$cond <- factor(d$cond); d$region <- factor(d$region)
  d$group <- factor(d$group)
  for (k in 1:3) {
    f <- as.formula(paste0("y", k, " ~ ", m$rhs))
    fit <- lmer(f, data = d, REML = TRUE)
    sat <- anova(fit, type = 3, ddf = "Satterthwaite")
    kr <- anova(fit, type = 3, ddf = "Kenward-Roger")
    vc <- as.data.frame(VarCorr(fit))
    for (term in rownames(sat)) {
      rows[[length(rows) + 1]] <- data.frame(
        data = m$data, model = m$name, rhs = m$rhs, timepoint = k,
        term = term, F = sat[term, "F value"], num_df = sat[term, "NumDF"],
        den_df_satterthwaite = sat[term, "DenDF"], p_satterthwaite = sat[term, "Pr(>F)"],
        F_kr = kr[term, "F value"], den_df_kenward_roger = kr[term, "DenDF"],
        p_kenward_roger = kr[term, "Pr(>F)"],
        var_subject = vc$vcov[vc$grp == "sid"],
        var_channel = if (any(vc$grp == "sid:ch")) vc$vcov[vc$grp == "sid:ch"] else NA,
        var_residual = vc$vcov[vc$grp == "Residual"],
        singular = isSingular(fit)
      )
    }
  }
  # the type-3 contrasts lmerTest tests (for the record)
  print(m$rhs)
  print(lapply(lmerTest:::get_contrasts_type3(fit), zapsmall))
}
res <- do.call(rbind, rows)
write.csv(res, file.path(out_dir, "lmertest_anova.csv"), row.names = FALSE)
cat(format(Sys.time()), "R", R.version$major, R.version$minor,
    "lme4", as.character(packageVersion("lme4")),
    "lmerTest", as.character(packageVersion("lmerTest")),
    "pbkrtest", as.character(packageVersion("pbkrtest")), "\n",
    file = file.path(out_dir, "lmertest_versions.txt"))
print(res)
