#!/usr/bin/env bash
# Installs what the test suite needs beyond Go: Debian's Chromium for the
# browser test, scikit-learn as an independent check of the IR metrics, and
# the npm packages of the real-client tests (tests/clients). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=()
command -v chromium >/dev/null 2>&1 || apt_pkgs+=(chromium)
# A CJK font, or Chromium draws Chinese as empty boxes in the screenshots.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || apt_pkgs+=(fonts-wqy-microhei)
/usr/bin/python3 -c 'import sklearn' >/dev/null 2>&1 || apt_pkgs+=(python3-sklearn)
# The zstd tool reads KB archives in a test independent of Go's libraries.
command -v zstd >/dev/null 2>&1 || apt_pkgs+=(zstd)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "test-deps: apt-get install ${apt_pkgs[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
fi

if [ -f tests/clients/package-lock.json ] && [ ! -d tests/clients/node_modules ]; then
  echo "test-deps: npm ci in tests/clients" >&2
  (cd tests/clients && npm ci --silent --no-audit --no-fund)
fi
