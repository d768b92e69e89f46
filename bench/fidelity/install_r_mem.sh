#!/bin/sh
# Install R's mem (and EnvStats) for `make fidelity`'s MEM family. Neither is in Debian; their
# sources are public (CRAN's GitHub mirrors cran/mem and cran/EnvStats; docs/validation.md
# names the versions checked). Nothing of this is part of RuralWatch or committed.
#
#   bench/fidelity/install_r_mem.sh MEM_SRC ENVSTATS_SRC [LIB]
#
# MEM_SRC, ENVSTATS_SRC: unpacked package sources (e.g. `git archive HEAD | tar -x` of the
# mirrors); LIB: the R library to install into (default var/r-lib, where the harness looks;
# elsewhere, set RURALWATCH_R_MEM_LIB=LIB). mem's other R dependencies come from Debian.
set -eu
mem_src=$1
envstats_src=$2
lib=${3:-var/r-lib}
apt-get install -y --no-install-recommends r-cran-sm r-cran-boot r-cran-mclust \
    r-cran-rcpproll r-cran-nortest r-cran-ggplot2 r-cran-tidyr r-cran-dplyr r-cran-purrr \
    r-cran-rcolorbrewer
mkdir -p "$lib"
R CMD INSTALL -l "$lib" "$envstats_src"
R_LIBS="$lib" R CMD INSTALL -l "$lib" "$mem_src"
Rscript -e ".libPaths(c('$lib', .libPaths())); library(mem); cat('mem', as.character(packageVersion('mem')), 'in $lib\n')"
