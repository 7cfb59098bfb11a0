#!/usr/bin/env bash
# Render the systemd units from .env, daemon-reload, enable the target, stop instances no
# longer wanted. Starts nothing (restart.sh does). Idempotent.
# Usage: sudo deploy/configure-systemd.sh [--dry-run]
exec "$(dirname "$0")/step.sh" configure-systemd "$@"
