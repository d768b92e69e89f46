# Farrington flexible peer (Noufaily settings) on each of the first n weekly series.
# Usage: Rscript farrington.R counts.csv n_series first_row out_prefix [first_date]
# With first_date (YYYY-MM-DD) the series are dated weekly from it (epochAsDate), as the
# series of a long CSV given to `ruralwatch detect` are; without it they are indexed.
args <- commandArgs(trailingOnly = TRUE)
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))), "common.R"))
counts <- read_panel(args[1])
n <- as.integer(args[2])
first <- as.integer(args[3])
dated <- length(args) >= 5
rng <- first:nrow(counts)
ctrl <- list(range = rng, b = 5, w = 3, reweight = TRUE, weightsThreshold = 2.58,
             trend = TRUE, pThresholdTrend = 0.05, alpha = 0.05, limit54 = c(5, 4),
             powertrans = "none", populationOffset = FALSE, noPeriods = 10,
             pastWeeksNotIncluded = 26, thresholdMethod = "nbPlugin")
if (dated) epoch <- as.numeric(as.Date(args[5]) + 7 * (seq_len(nrow(counts)) - 1))
out <- vector("list", n)
t0 <- proc.time()[["elapsed"]]
for (j in seq_len(n)) {
  s <- if (dated) {
    sts(observed = counts[, j], epoch = epoch, epochAsDate = TRUE, frequency = 52)
  } else {
    sts(observed = counts[, j], frequency = 52, start = c(2000, 1))
  }
  out[[j]] <- farringtonFlexible(s, control = ctrl)
}
elapsed <- proc.time()[["elapsed"]] - t0
write.csv(do.call(rbind, lapply(seq_len(n), function(j) collect(out[[j]], j, rng))),
          paste0(args[4], ".csv"), row.names = FALSE)
write_timing(paste0(args[4], ".json"), list(seconds = elapsed, series = n, points = length(rng)))
