#!/usr/bin/env bash
# Makes sure a headless Chromium is on the machine (the reconnect page's browser test uses it).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "Chromium is missing; install it with: sudo apt-get install -y chromium chromium-driver" >&2
  exit 1
fi
echo "==> installing Chromium from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver >/dev/null
