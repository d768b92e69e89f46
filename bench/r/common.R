# Shared helpers for the benchmark peers: read a time x series CSV, write timings as JSON.
suppressPackageStartupMessages(library(surveillance))

read_panel <- function(path) {
  m <- as.matrix(read.csv(path, check.names = FALSE))
  storage.mode(m) <- "double"
  m
}

write_timing <- function(path, fields) {
  parts <- vapply(names(fields), function(k) {
    v <- fields[[k]]
    if (is.character(v)) sprintf('"%s": "%s"', k, v) else sprintf('"%s": %.9g', k, v)
  }, character(1))
  writeLines(paste0("{", paste(parts, collapse = ", "), "}"), path)
}

# Long table of the monitored points: series, t (1-based row), upperbound, alarm.
collect <- function(res, j, rng) {
  data.frame(series = j, t = rng, upperbound = as.vector(upperbound(res)),
             alarm = as.integer(as.vector(alarms(res))))
}
