# Prelude for MEM cases of the fidelity batches (sourced after run.R when a batch has MEM cases;
# the batch puts the library with mem first on .libPaths()). f_memmodel runs memmodel on the
# seasons given as a list of columns (oldest first) with the row names `labels`, and returns
# its outputs named as in ../shared/oracles/mem, each column padded with NA to one length.
suppressPackageStartupMessages(library(mem))

f_memmodel <- function(cols, labels, args) {
  names(cols) <- sprintf("s%02d", seq_along(cols))
  x <- as.data.frame(cols)
  rownames(x) <- as.character(labels)
  if (is.null(args$i.seasons)) args$i.seasons <- NA
  m <- do.call(memmodel, c(list(i.data = x), args))
  len <- max(nrow(x), ncol(x))
  pad <- function(v) { v <- as.numeric(v); c(v, rep(NA_real_, len - length(v))) }
  ppi <- m$pre.post.intervals
  ei <- m$epi.intervals
  ef <- m$epi.intervals.full
  out <- list(t = seq_len(len),
    n_max = m$n.max, n_seasons = m$n.seasons, n_periods = nrow(x),
    pre_threshold = ppi[1, 3], pre_lower = ppi[1, 1], pre_center = ppi[1, 2],
    post_threshold = ppi[2, 3], post_lower = ppi[2, 1], post_center = ppi[2, 2],
    n_pre_values = sum(!is.na(m$pre.data.nona)), n_post_values = sum(!is.na(m$post.data.nona)),
    n_epi_values = sum(!is.na(m$epi.data.nona)),
    n_epi_full_values = sum(!is.na(m$epi.data.nona.full)))
  for (k in 1:3) {
    nm <- c("medium", "high", "veryhigh")[k]
    out[[paste0(nm, "_lower")]] <- ei[k, 2]
    out[[paste0(nm, "_center")]] <- ei[k, 3]
    out[[paste0(nm, "_threshold")]] <- ei[k, 4]
    out[[paste0("full_", nm, "_lower")]] <- ef[k, 2]
    out[[paste0("full_", nm, "_center")]] <- ef[k, 3]
    out[[paste0("full_", nm, "_threshold")]] <- ef[k, 4]
  }
  w <- c("lower", "center", "upper")
  for (k in 1:3) {
    out[[paste0("length_", w[k])]] <- m$ci.length[1, k]
    out[[paste0("length_", w[k], "_int")]] <- m$ci.length[2, k]
    out[[paste0("percent_", w[k])]] <- m$ci.percent[k]
    out[[paste0("start_", w[k])]] <- m$ci.start[3, k]
    out[[paste0("start_", w[k], "_int")]] <- m$ci.start[1, k]
    out[[paste0("start_", w[k], "_label")]] <- m$ci.start[2, k]
  }
  out$mean_length <- m$mean.length
  out$mean_start <- m$mean.start
  out$centered_length <- m$centered.length
  out$centered_start <- m$centered.start
  opt <- sapply(m$optimum, function(o) o$optimum.map)  # length, percent, sum, start, end
  out$epi_length <- opt[1, ]
  out$epi_start <- opt[4, ]
  out$epi_end <- opt[5, ]
  out$epi_percent <- opt[2, ]
  tc <- m$typ.curve
  out$typ_lower <- tc[, 1]
  out$typ_center <- tc[, 2]
  out$typ_upper <- tc[, 3]
  mv <- as.matrix(m$moving.epidemics)
  for (j in seq_len(ncol(mv))) out[[paste0("moving_", j)]] <- mv[, j]
  as.data.frame(lapply(out, pad), check.names = FALSE)
}

f_memevolution <- function(cols, labels, args) {
  names(cols) <- sprintf("s%02d", seq_along(cols))
  x <- as.data.frame(cols)
  rownames(x) <- as.character(labels)
  e <- do.call(memevolution, c(list(i.data = x), args))
  ev <- e$evolution.data
  us <- as.matrix(e$evolution.seasons)
  len <- max(nrow(ev), ncol(x))
  pad <- function(v) { v <- as.numeric(v); c(v, rep(NA_real_, len - length(v))) }
  out <- list(t = seq_len(len))
  for (k in c("number", "durationll", "duration", "durationul", "startll", "start", "startul",
              "percentagell", "percentage", "percentageul", "epidemic", "postepidemic",
              "medium", "high", "veryhigh")) out[[k]] <- ev[[k]]
  for (j in seq_len(ncol(us))) out[[paste0("used_", j)]] <- as.integer(us[, j])
  as.data.frame(lapply(out, pad), check.names = FALSE)
}
