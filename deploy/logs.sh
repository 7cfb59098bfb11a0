#!/usr/bin/env bash
# Show the logs: of every unit (journalctl), or of one kind: web, migrate, demo-producer,
# nginx. Other arguments go to journalctl (or tail, for nginx): -f, -n 100, --since=-1h, ...
# Usage: deploy/logs.sh [all|web|migrate|demo-producer|nginx] [-f] [--dry-run]
exec "$(dirname "$0")/step.sh" logs "$@"
