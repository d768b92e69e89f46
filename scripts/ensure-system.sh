#!/usr/bin/env bash
# Install the Debian packages RuralWatch needs when they are missing (root on Debian).
#   scripts/ensure-system.sh base     fonts for PDF/charts, gettext
#   scripts/ensure-system.sh test     + chromium for browser tests, poppler-utils (PDF checks)
#   scripts/ensure-system.sh bench    + R with surveillance and EpiEstim (the peers), poppler-utils
set -euo pipefail
want=(fonts-noto-cjk gettext)
case "${1:-base}" in
  test) want+=(chromium poppler-utils) ;;
  bench) want+=(chromium poppler-utils r-base-core r-cran-surveillance r-cran-epiestim) ;;
esac
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "Installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
