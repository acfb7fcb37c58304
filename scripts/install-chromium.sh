#!/usr/bin/env bash
# Debian's Chromium for the browser tests (driven by playwright-core; never a browser
# download). Installs it with apt when /usr/bin/chromium is missing; prints its version.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  echo "[chromium] installing Debian's chromium package" >&2
  SUDO=""
  if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2 || true
  $SUDO apt-get install -y -qq --no-install-recommends chromium >&2
fi
chromium --version
