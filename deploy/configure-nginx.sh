#!/usr/bin/env bash
# Render the Nginx site from .env, check it with `nginx -t`, and reload Nginx only if the
# check passed (a refused site is taken back). Idempotent.
# Usage: sudo deploy/configure-nginx.sh [--dry-run]
exec "$(dirname "$0")/step.sh" configure-nginx "$@"
