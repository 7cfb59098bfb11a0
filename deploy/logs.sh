#!/usr/bin/env bash
# Show the logs: of every unit (journalctl), or of one kind: web, migrate, demo-producer,
# nginx. Other arguments go to journalctl (or tail, for nginx): -f, --since "1 hour ago", ...
# Usage: deploy/logs.sh [all|web|migrate|demo-producer|nginx] [-f] [--dry-run]
exec "$(dirname "$0")/step.sh" logs "$@"
