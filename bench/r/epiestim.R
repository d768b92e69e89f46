# EpiEstim peer: estimate_R (parametric SI, default weekly sliding windows) on each of the
# first n series. Usage: Rscript epiestim.R incidence.csv n_series mean_si std_si out_prefix
args <- commandArgs(trailingOnly = TRUE)
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))), "common.R"))
suppressPackageStartupMessages(library(EpiEstim))
incid <- read_panel(args[1])
n <- as.integer(args[2])
n_t <- nrow(incid)
# The default weekly sliding windows, given explicitly (as our estimate_rt's default).
cfg <- make_config(list(mean_si = as.numeric(args[3]), std_si = as.numeric(args[4]),
                        t_start = 2:(n_t - 6), t_end = 8:n_t))
out <- vector("list", n)
t0 <- proc.time()[["elapsed"]]
for (j in seq_len(n)) {
  out[[j]] <- estimate_R(incid[, j], method = "parametric_si", config = cfg)
}
elapsed <- proc.time()[["elapsed"]] - t0
tab <- do.call(rbind, lapply(seq_len(n), function(j) {
  r <- out[[j]]$R
  data.frame(series = j, t_end = r$t_end, mean = r[["Mean(R)"]], q975 = r[["Quantile.0.975(R)"]])
}))
write.csv(tab, paste0(args[5], ".csv"), row.names = FALSE)
write_timing(paste0(args[5], ".json"), list(seconds = elapsed, series = n, points = n_t))
