# Reproduction of F5 and F15 (docs/validation.md): R's negative binomial GLR returns a
# statistic of 0 where the profile log likelihood ratio, maximised exactly over kappa, is
# large. One monitored point with a given mu0 and alpha: the statistic is
#   max over kappa (>= 0 for dir = "inc", <= 0 for "dec") of
#   x kappa - (x + 1/alpha) log((1 + alpha mu0 e^kappa) / (1 + alpha mu0)),
# a concave function of kappa whose maximum optimize() finds to 1e-12.
# Usage: Rscript bench/fidelity/glrnb_kappa_search.R
suppressMessages(library(surveillance))
glr_r <- function(x, mu0, alpha, dir) {
  y <- c(rep(10, 5), x)  # 5 unmonitored points, then the monitored ones
  dp <- suppressWarnings(create.disProg(week = seq_along(y), observed = y, state = 0 * y,
                                        freq = 52))
  r <- algo.glrnb(dp, control = list(range = 6:length(y), c.ARL = 1e6, Mtilde = 1, M = -1,
                                     change = "intercept", dir = dir, mu0 = mu0,
                                     alpha = alpha, theta = NULL, ret = "value"))
  as.vector(r$upperbound)
}
glr_exact <- function(x, mu0, alpha, dir) {
  f <- function(k) x * k - (x + 1 / alpha) * log((1 + alpha * mu0 * exp(k)) / (1 + alpha * mu0))
  o <- optimize(f, if (dir == "inc") c(0, 60) else c(-60, 0), maximum = TRUE, tol = 1e-12)
  max(0, o$objective)
}
cases <- rbind(
  # F5 (glrnb-481965481-0286, t = 34): x = 5 against mu0 = 29.25, alpha = 0.5357, dir = "dec"
  data.frame(dir = "dec", alpha = 0.5357, mu0 = 29.25, x = c(4, 5, 6, 7, 8)),
  data.frame(dir = "dec", alpha = 0.05, mu0 = 100, x = c(17, 18)),
  # F15 (glrnb-1950263934-0240, t = 19): x = 32 against mu0 = 0.7118, alpha = 8.35e-7
  data.frame(dir = "inc", alpha = 8.35e-7, mu0 = c(1, 1, 0.7118, 0.7118), x = c(10, 32, 10, 32)),
  data.frame(dir = "inc", alpha = 0.5, mu0 = 0.2, x = c(10, 32))
)
cases$kappa_hat <- round(log(cases$x / cases$mu0), 3)
cases$R <- mapply(glr_r, cases$x, cases$mu0, cases$alpha, cases$dir)
cases$exact <- mapply(glr_exact, cases$x, cases$mu0, cases$alpha, cases$dir)
print(cases, digits = 6, row.names = FALSE)
# Two points, the same counts in the other order: the search depends on the windows before.
cat("dec, mu0 = 29.25, alpha = 0.5357; statistic at t = 1, 2\n")
for (x in list(c(20, 5), c(5, 20), c(5, 5))) {
  cat(sprintf("  x = (%s): R %s\n", paste(x, collapse = ", "),
              paste(sprintf("%.4f", glr_r(x, rep(29.25, 2), 0.5357, "dec")), collapse = " ")))
}
