# EARS C1/C2/C3 peer: earsC on each of the first n series, timing only the loop.
# Usage: Rscript ears.R counts.csv n_series first_row method out_prefix
args <- commandArgs(trailingOnly = TRUE)
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))), "common.R"))
counts <- read_panel(args[1])
n <- as.integer(args[2])
first <- as.integer(args[3])
method <- args[4]
rng <- first:nrow(counts)
ctrl <- list(range = rng, method = method, baseline = 7, minSigma = 0,
             alpha = if (method == "C3") 0.025 else 0.001)
out <- vector("list", n)
t0 <- proc.time()[["elapsed"]]
for (j in seq_len(n)) {
  s <- sts(observed = counts[, j], frequency = 365)
  out[[j]] <- earsC(s, control = ctrl)
}
elapsed <- proc.time()[["elapsed"]] - t0
write.csv(do.call(rbind, lapply(seq_len(n), function(j) collect(out[[j]], j, rng))),
          paste0(args[5], ".csv"), row.names = FALSE)
write_timing(paste0(args[5], ".json"), list(seconds = elapsed, series = n, points = length(rng)))
