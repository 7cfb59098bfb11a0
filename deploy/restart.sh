#!/usr/bin/env bash
# Migrate, then restart the web instances one at a time, each ready before the next (no
# downtime with two or more); --all restarts everything at once. Also the first start.
# Usage: sudo deploy/restart.sh [--all] [--dry-run]
exec "$(dirname "$0")/step.sh" restart "$@"
