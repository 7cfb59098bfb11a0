#!/usr/bin/env bash
# Install what .env needs: Ubuntu packages (Python, Nginx, certbot; MariaDB, RabbitMQ and
# Redis when .env points at this machine), the service user, .env private to it, and the
# virtual environment with its static files. Idempotent.
# Usage: sudo deploy/install.sh [--dry-run]
exec "$(dirname "$0")/step.sh" install "$@"
