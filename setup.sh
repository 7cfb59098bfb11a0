#!/usr/bin/env bash
# Beacon set-up: one command to run the app, one to test it. `./setup.sh --help` for all.
set -Eeuo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY="$VENV/bin/python"
STEP="start"

usage() {
  cat <<'USAGE'
Usage: ./setup.sh COMMAND [ARGS]

  run                  install, create .env if missing, migrate, serve on 127.0.0.1:$PORT
  install              the virtual environment, pinned dependencies and static files only
                       (what deploy/install.sh runs)
  test [PYTEST_ARGS]   install with dev tools, then ruff, mypy and the whole test suite
  configure [--defaults]
                       answer the deployment questions and write .env
  bench [--quick]      the streaming benchmark against nginx+nchan (not part of test)
  bench-soak [--minutes M]
                       stream for half an hour with viewers churning; are RSS, tasks, fds flat?
  lock                 re-pin requirements*.txt from pyproject.toml (needs the registry)
  --help               this text

Tests use MariaDB/MySQL and RabbitMQ when TEST_DATABASE_URL and TEST_BROKER_URL are set;
with REQUIRE_SERVICES=1 a missing service fails the run instead of skipping its tests.
USAGE
}

# Each step says how far into the run it starts, so a slow step is easy to find.
step() { STEP="$1"; echo "==> $1  [${SECONDS}s]"; }
fail() { echo "setup.sh: step '$STEP' failed${1:+: $1}" >&2; exit 1; }
trap 'fail' ERR

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.12 python3.11 python3; do
    [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

ensure_venv() {
  step "virtual environment ($VENV)"
  if [ -x "$PY" ] && "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
     && "$PY" -m pip --version >/dev/null 2>&1; then
    echo "    exists ($("$PY" --version))"
    return
  fi
  local python
  python=$(find_python) || fail "no Python >= 3.11 found (set PYTHON=/path/to/python3.11)"
  echo "    creating with $python ($("$python" --version))"
  rm -rf "$VENV"
  if ! "$python" -m venv "$VENV"; then
    rm -rf "$VENV"  # a half-made venv would pass for a finished one next time
    fail "could not create $VENV (on Ubuntu: apt-get install python3-venv)"
  fi
}

# Install a requirements file once; a stamp of its hash lets the next run skip it.
install_requirements() {
  local file="$1" stamp hash
  step "dependencies ($file)"
  stamp="$VENV/.installed-$(basename "$file")"
  hash=$(cat "$file" requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
    echo "    up to date"
    return
  fi
  "$PY" -m pip install --quiet --disable-pip-version-check -r "$file"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --editable .
  echo "$hash" > "$stamp"
}

# Debian/Ubuntu packages the tests drive for real: Nginx (the deployment kit's site), systemd
# (systemd-analyze checks the kit's units) and Chromium (the browser tests). Installed when
# missing and we may (root with apt-get); otherwise their tests are skipped with the reason,
# or fail with REQUIRE_SERVICES=1.
TEST_PACKAGES=(nginx systemd chromium chromium-driver)

install_test_packages() {
  local missing=()
  step "system packages for the tests (${TEST_PACKAGES[*]})"
  for package in "${TEST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
      || missing+=("$package")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "    installed"
  elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "    installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
           apt-get install -y -qq "${missing[@]}" >/dev/null; }
  else
    echo "    missing: ${missing[*]} (sudo apt-get install ${missing[*]});" \
         "the tests that need them will be skipped"
  fi
}

install_assets() {
  step "static assets (pinned packages, checked against their hashes)"
  "$PY" -m service.vendor
}

ensure_env() {
  step "settings (.env)"
  if [ -f .env ]; then
    echo "    .env exists"
  else
    "$PY" -m service.configure --defaults
  fi
}

migrate() {
  step "database migrations (alembic upgrade head)"
  "$VENV/bin/alembic" upgrade head
}

check_config() {
  step "configuration check"
  PORT_SETTING=$("$PY" -c 'from service.config import load_settings; print(load_settings().port)') \
    || exit 1  # the one-line configuration error is already printed
}

serve() {
  local port="$PORT_SETTING"
  step "serve"
  echo "    Beacon is starting on http://127.0.0.1:$port  (Ctrl+C stops it)"
  exec "$VENV/bin/hypercorn" --config deploy/hypercorn.toml --bind "127.0.0.1:$port" service.asgi:app
}

run_tests() {
  step "ruff check"
  "$VENV/bin/ruff" check .
  step "ruff format --check"
  "$VENV/bin/ruff" format --check .
  step "mypy (strict) on service/"
  "$VENV/bin/mypy" service
  if [ $# -gt 0 ]; then
    step "pytest $*"
    "$VENV/bin/pytest" "$@"
    return
  fi
  # Tests that share nothing run on every core; the `serial` ones (tests/conftest.py) follow,
  # one at a time, so a broker restart or a crowd of 5,000 streams disturbs no other test.
  step "pytest, in parallel"
  "$VENV/bin/pytest" -n auto -m "not slow and not serial"
  step "pytest, one at a time"
  "$VENV/bin/pytest" -m "not slow and serial"
}

lock() {
  local tmp
  tmp=$(mktemp -d)
  step "lock: resolve runtime dependencies"
  "$(find_python)" -m venv "$tmp/venv"
  "$tmp/venv/bin/pip" install --quiet .
  {
    echo "# The whole runtime tree, pinned. setup.sh installs from this file."
    echo "# Regenerate after changing pyproject.toml dependencies: ./setup.sh lock"
    "$tmp/venv/bin/pip" freeze --exclude beacon
  } > requirements.txt
  step "lock: resolve development dependencies"
  "$tmp/venv/bin/pip" install --quiet ".[dev]"
  {
    echo "# Runtime plus development tools, pinned. ./setup.sh test installs from this file."
    echo "# Regenerate after changing pyproject.toml dependencies: ./setup.sh lock"
    echo "-r requirements.txt"
    comm -13 <(grep -v '^#' requirements.txt | sort) <("$tmp/venv/bin/pip" freeze --exclude beacon | sort)
  } > requirements-dev.txt
  rm -rf "$tmp"
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  run)
    ensure_venv; install_requirements requirements.txt; install_assets
    ensure_env; check_config; migrate; serve ;;
  test)
    ensure_venv; install_requirements requirements-dev.txt; install_assets; install_test_packages
    run_tests "$@" ;;
  install)
    ensure_venv; install_requirements requirements.txt; install_assets ;;
  configure)
    ensure_venv; install_requirements requirements.txt
    step "configure"
    "$PY" -m service.configure "$@" ;;
  bench)
    ensure_venv; install_requirements requirements.txt
    step "benchmark (python -m bench $*)"
    "$PY" -m bench "$@" ;;
  bench-soak)
    ensure_venv; install_requirements requirements.txt
    step "soak (python -m bench.soak $*)"
    "$PY" -m bench.soak "$@" ;;
  lock) lock ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
