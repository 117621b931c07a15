#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries are on the machine (the tests start a throwaway cluster).
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "PostgreSQL server binaries are missing; install them with: sudo apt-get install -y postgresql" >&2
  exit 1
fi
echo "==> installing PostgreSQL from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
