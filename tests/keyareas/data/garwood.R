# Oracle for ruralwatch.epi.assess.sparse, run once; its output garwood_r.csv is committed.
#   Rscript tests/keyareas/data/garwood.R > tests/keyareas/data/garwood_r.csv
# Two-sided exact intervals from poisson.test (Garwood), one-sided limits from qchisq, and
# the one-sided exact test P(X >= x | mu) from poisson.test(alternative = "greater").
rows <- list()
for (x in c(0:30, 40, 55, 80, 120, 250)) {
  for (conf in c(0.90, 0.95, 0.99)) {
    ci <- poisson.test(x, conf.level = conf)$conf.int
    alpha <- 1 - conf
    lo1 <- if (x == 0) 0 else qchisq(alpha, 2 * x) / 2
    up1 <- qchisq(1 - alpha, 2 * x + 2) / 2
    for (mu in c(0.05, 0.5, 1, 2.5, 7, 20)) {
      p <- poisson.test(x, T = 1, r = mu, alternative = "greater")$p.value
      rows[[length(rows) + 1]] <- data.frame(
        x = x, conf = conf, lower2 = ci[1], upper2 = ci[2], lower1 = lo1, upper1 = up1,
        mu = mu, p_greater = p
      )
    }
  }
}
out <- do.call(rbind, rows)
write.csv(out, stdout(), row.names = FALSE, quote = FALSE)
