#!/usr/bin/env bash
# Sets everything up and runs the demo: sandbox providers, three tenants, email sync of the last 3 days.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/touchpoint demo "$@"
