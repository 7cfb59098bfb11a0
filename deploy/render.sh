#!/usr/bin/env bash
# Render the Nginx site and the systemd units from .env into build/deploy/ (or --out DIR)
# for review, including an example unit for a producer of your own. Changes nothing else.
exec "$(dirname "$0")/step.sh" render "$@"
