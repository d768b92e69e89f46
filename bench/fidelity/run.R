# Prelude for the generated fidelity batches: one function per method family that runs one case
# and returns a data frame of R's outputs, and .run(), which writes <id>.csv, or <id>.err when R
# stops, and <id>.warn with R's warnings. The batch script sets .out_dir and calls .run per case.
suppressPackageStartupMessages({
  library(surveillance)
  library(EpiEstim)
})

.fmt <- function(x) {
  x <- as.numeric(x)
  out <- sprintf("%.17g", x)
  out[is.na(x)] <- "NA"  # NA and NaN alike
  out
}

.write <- function(id, df) {
  m <- do.call(cbind, lapply(df, .fmt))
  if (is.null(dim(m))) m <- matrix(m, nrow = 1)
  colnames(m) <- names(df)
  write.table(m, file.path(.out_dir, paste0(id, ".csv")), sep = ",", quote = FALSE,
              row.names = FALSE)
}

.run <- function(id, f) {
  t0 <- proc.time()[["elapsed"]]
  warns <- character(0)
  res <- tryCatch(
    withCallingHandlers(f(),
      warning = function(w) {
        warns <<- c(warns, conditionMessage(w))
        invokeRestart("muffleWarning")
      },
      message = function(m) invokeRestart("muffleMessage")),
    error = function(e) structure(list(msg = conditionMessage(e)), class = "fidelity_error"))
  if (inherits(res, "fidelity_error")) {
    writeLines(gsub("\n", " ", res$msg), file.path(.out_dir, paste0(id, ".err")))
  } else {
    .write(id, res)
  }
  if (length(warns)) writeLines(unique(gsub("\n", " ", warns)), file.path(.out_dir, paste0(id, ".warn")))
  cat(id, sprintf("%.4f", proc.time()[["elapsed"]] - t0), "\n",
      file = file.path(.out_dir, "timings.txt"), append = TRUE)
  flush(stdout())
}

.sts <- function(y, freq, start, pop) {
  if (is.null(pop)) sts(observed = y, frequency = freq, start = start)
  else sts(observed = y, frequency = freq, start = start, population = matrix(pop, ncol = 1))
}

.flag <- function(a) as.integer(as.vector(a))

f_earsC <- function(y, freq, start, pop, ctl) {
  r <- earsC(.sts(y, freq, start, pop), control = ctl)
  data.frame(t = ctl$range, observed = y[ctl$range], upperbound = as.vector(upperbound(r)),
             alarm = .flag(alarms(r)))
}

f_rki <- function(fun, y, freq, start, pop, ctl) {
  r <- fun(sts2disProg(.sts(y, freq, start, pop)), control = ctl)
  data.frame(t = ctl$range, observed = y[ctl$range], upperbound = as.vector(r$upperbound),
             alarm = .flag(r$alarm))
}

f_cusum <- function(y, freq, start, pop, ctl) {
  r <- algo.cusum(sts2disProg(.sts(y, freq, start, pop)), control = ctl)
  n <- length(ctl$range)
  data.frame(t = ctl$range, observed = y[ctl$range], upperbound = as.vector(r$upperbound),
             alarm = .flag(r$alarm), cusum = as.vector(r$cusum),
             m = rep_len(as.vector(r$control$m), n))
}

f_glrnb <- function(y, freq, start, pop, ctl) {
  r <- algo.glrnb(sts2disProg(.sts(y, freq, start, pop)), control = ctl)
  n <- length(ctl$range)
  a <- r$control$alpha
  if (is.null(a)) a <- NA
  data.frame(t = ctl$range, observed = y[ctl$range], upperbound = as.vector(r$upperbound),
             alarm = .flag(r$alarm), mu0 = rep_len(as.vector(r$control$mu0), n),
             alpha = rep_len(a, n))
}

f_farrington <- function(y, freq, start, pop, ctl) {
  r <- algo.farrington(sts2disProg(.sts(y, freq, start, pop)), control = ctl)
  pd <- r$control$pd
  data.frame(t = ctl$range, observed = y[ctl$range], upperbound = as.vector(r$upperbound),
             alarm = .flag(r$alarm), trend = as.vector(r$trend), q = pd[, 1],
             median_threshold = pd[, 2])
}

f_farringtonFlexible <- function(y, freq, start, pop, ctl) {
  r <- farringtonFlexible(.sts(y, freq, start, pop), control = ctl)
  cc <- r@control
  tv <- as.vector(cc$trendVector)
  data.frame(t = ctl$range, observed = y[ctl$range], upperbound = as.vector(upperbound(r)),
             alarm = .flag(alarms(r)), expected = as.vector(cc$expected),
             score = as.vector(cc$score), pvalue = as.vector(cc$pvalue),
             mu0 = as.vector(cc$mu0Vector), phi = as.vector(cc$phiVector),
             trend = as.integer(!is.na(tv)), trend_coef = tv)
}

f_estimate_R <- function(y, imported, cfg) {
  incid <- if (is.null(imported)) y else data.frame(local = y, imported = imported)
  method <- cfg$method
  cfg$method <- NULL
  r <- estimate_R(incid, method = method, config = make_config(cfg))$R
  data.frame(t_start = r$t_start, t_end = r$t_end, mean = r[["Mean(R)"]],
             std = r[["Std(R)"]], q0.025 = r[["Quantile.0.025(R)"]],
             q0.05 = r[["Quantile.0.05(R)"]], q0.25 = r[["Quantile.0.25(R)"]],
             median = r[["Median(R)"]], q0.75 = r[["Quantile.0.75(R)"]],
             q0.95 = r[["Quantile.0.95(R)"]], q0.975 = r[["Quantile.0.975(R)"]])
}
