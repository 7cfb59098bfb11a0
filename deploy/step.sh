#!/usr/bin/env bash
# Runs one deployment step with Beacon's virtual environment: deploy/step.sh STEP [--dry-run].
# The scripts next to this one call it; the steps themselves are Python (service/deploy/), so
# they read the same validated settings as the app.
set -Eeuo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -x "$root/.venv/bin/python" ]; then
  echo "deploy: $root/.venv is missing: run ./setup.sh configure first (RUNBOOK.md)" >&2
  exit 1
fi
cd "$root"
exec "$root/.venv/bin/python" -m service.deploy "$@"
