# GLR-NB peer: glrnb with mu0 and alpha estimated, c.ARL 5, on each of the first n series.
# Usage: Rscript glrnb.R counts.csv n_series first_row out_prefix
args <- commandArgs(trailingOnly = TRUE)
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))), "common.R"))
counts <- read_panel(args[1])
n <- as.integer(args[2])
first <- as.integer(args[3])
rng <- first:nrow(counts)
ctrl <- list(range = rng, c.ARL = 5, mu0 = NULL, alpha = NULL, Mtilde = 1, M = -1,
             change = "intercept", theta = NULL, dir = "inc", ret = "value")
out <- vector("list", n)
t0 <- proc.time()[["elapsed"]]
for (j in seq_len(n)) {
  s <- sts(observed = counts[, j], frequency = 52, start = c(2000, 1))
  out[[j]] <- glrnb(s, control = ctrl)
}
elapsed <- proc.time()[["elapsed"]] - t0
write.csv(do.call(rbind, lapply(seq_len(n), function(j) collect(out[[j]], j, rng))),
          paste0(args[4], ".csv"), row.names = FALSE)
write_timing(paste0(args[4], ".json"), list(seconds = elapsed, series = n, points = length(rng)))
