#!/usr/bin/env bash
# Sets everything up (PostgreSQL and Chromium included) and runs the whole test suite on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure_postgres.sh
bash scripts/ensure_chromium.sh
bash scripts/setup.sh
echo "==> ruff"
.venv/bin/ruff check .
echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
