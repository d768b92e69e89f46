# Reproduction of F15's two saved cases (docs/validation.md): what algo.glrnb does with M >= 0
# where ?algo.glrnb defines the statistic as the maximum over the windows k = n - M .. n.
# mu0 and alpha are given (R's own fitted values of the saved cases), so only the detector
# runs. Usage: Rscript bench/fidelity/glrnb_window_rules.R (R 4.2.2, surveillance 1.20.3).
suppressMessages(library(surveillance))
glrnb <- function(x, mu0, alpha, M, theta = NULL, ret = "value", c.ARL = 5) {
  y <- c(rep(5, 5), x)  # 5 unmonitored points (not used: mu0 is given), then the monitored ones
  dp <- suppressWarnings(create.disProg(week = seq_along(y), observed = y, state = 0 * y,
                                        freq = 52))
  r <- algo.glrnb(dp, control = list(range = 5 + seq_along(x), c.ARL = c.ARL, Mtilde = 1,
                                     M = M, change = "intercept", dir = "inc", mu0 = mu0,
                                     alpha = alpha, theta = theta, ret = ret))
  as.vector(r$upperbound)
}
show <- function(label, v) cat(sprintf("%-44s %s\n", label, paste(sprintf("%7.4f", v), collapse = " ")))

# 1. glrnb-481965481-0241: the likelihood-ratio CUSUM (theta given, NB alpha = 0.2), M = 4.
#    Each point's log LR is l_t = x theta - (x + 1/alpha) log((1 + alpha mu e^theta)/(1 + alpha mu)).
x <- c(3, 3, 2, 5, 1, 5, 2, 1, 2, 2, 4, 9, 5, 10, 0, 0)
mu0 <- c(5.729291789286259, 4.8368525544315855, 3.478458325617715, 2.3282294246192734,
         1.6154321154637812, 1.281734717951549, 1.237569236205916, 1.468156476868944,
         2.0446225076385547, 3.0594186942264843, 4.4161185652719155, 5.5743731519933615,
         5.782150988773128, 4.881477992176157, 3.510551039569625, 2.349709975468034)
theta <- 0.2; alpha <- 0.2
l <- x * theta - (x + 1 / alpha) * log((1 + alpha * mu0 * exp(theta)) / (1 + alpha * mu0))
cusum <- Reduce(function(s, li) max(0, s + li), l, accumulate = TRUE, 0)[-1]
window <- function(M) sapply(seq_along(l), function(n)  # documented: k = max(1, n - M) .. n
  max(0, sapply(max(1, n - M):n, function(k) sum(l[k:n]))))
cat("LR CUSUM, t = 78..93 of glrnb-481965481-0241 (no alarm: the statistic stays below 5)\n")
for (M in c(-1, 0, 2, 4, 8)) show(sprintf("R algo.glrnb, M = %d", M), glrnb(x, mu0, alpha, M, theta))
show("recursive CUSUM max(0, S + l_t)", cusum)
show("documented window k = n - 4 .. n (M = 4)", window(4))
cat("=> R's LR ignores M: every M gives the recursive CUSUM (all windows since the start or the\n",
    "   last alarm). From t = 86 (n = 9) the best window is longer than M + 1 = 5 points.\n\n")

# 2. glrnb-481965481-0176: Poisson GLR (alpha = 0, theta = NULL), M = 4, ret = "cases".
x <- c(2, 11, 6, 9)
mu0 <- c(5.87654162207559, 5.804056441632705, 5.719511324671307, 5.622915536398136)
cat("Poisson GLR, t = 30..33 of glrnb-481965481-0176 (c.ARL = 5)\n")
for (M in c(-1, 0, 1, 4)) {
  show(sprintf("R statistic (ret = \"value\"), M = %d", M), glrnb(x, mu0, 0, M))
  show(sprintf("R cases needed (ret = \"cases\"), M = %d", M), glrnb(x, mu0, 0, M, ret = "cases"))
}
glr1 <- function(x, m) if (x > m) x * log(x / m) - (x - m) else 0
show("one-point GLR at each t", mapply(glr1, x, mu0))
show("two-point GLR (t - 1, t)", c(NA, sapply(2:4, function(n) glr1(sum(x[(n - 1):n]), sum(mu0[(n - 1):n])))))
cat("=> with M >= 1 R leaves the one-point window out (F14): at t = 31 its statistic is the two-point\n",
    "   GLR 0.0719, not the one-point 1.8368. At the first monitored point (t = 30) no window is\n",
    "   left, so no count can raise an alarm: R answers 0 cases needed (ours: NaN, 'no count\n",
    "   reaches c.ARL'). With M = 0 R gives the M = -1 values.\n")
