#!/usr/bin/env bash
# The test command (README, "Run the tests"): creates .venv, installs Mailroom with its test
# extras, makes sure the real servers the tests drive are present, runs the static checks
# (ruff check, ruff format --check, import rules, mypy), then runs pytest.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k sync -x`).
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv || { echo "could not create .venv" >&2; exit 1; }
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' || { echo "pip install failed" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

# Dovecot is the real IMAP server of the tests (throwaway instances on free ports).
if ! command -v dovecot >/dev/null && [ ! -x /usr/sbin/dovecot ]; then
  echo "Installing Dovecot (dovecot-imapd) with apt..."
  as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq dovecot-imapd >/dev/null \
    || echo "could not install dovecot-imapd: the IMAP tests will fail under CI=true, skip otherwise" >&2
fi

# Chromium renders and clicks the campaign unsubscribe page (tests/bot/campaigns).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  echo "Installing Chromium with apt..."
  as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null \
    || echo "could not install chromium: the browser tests will fail under CI=true, skip otherwise" >&2
fi

# PostgreSQL: used when MAILROOM_TEST_DATABASE_URL is set (.ci/run sets it). Start the local
# cluster if it is installed but stopped.
if [ -n "${MAILROOM_TEST_DATABASE_URL:-}" ] && command -v pg_isready >/dev/null; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start 2>/dev/null || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi

# Static checks first: each one that fails stops the run with one line naming it (its own
# output above says what is wrong). MAILROOM_SKIP_CHECKS=1 skips them (e.g. while iterating
# on one test).
run_check() {
  local name=$1; shift
  "$@" || { echo "FAILED: $name ($*): fix it before the tests run." >&2; exit 1; }
}
if [ -z "${MAILROOM_SKIP_CHECKS:-}" ]; then
  run_check "ruff check" .venv/bin/ruff check -q .
  run_check "ruff format" .venv/bin/ruff format --check -q .
  run_check "import rules" .venv/bin/lint-imports --no-cache
  run_check "types (mypy)" .venv/bin/mypy
fi

# The tests mostly wait on real servers, so they run in parallel (pytest-xdist; each test
# has its own servers, ports, directories and database). MAILROOM_TEST_WORKERS=0 runs them
# in this one process.
.venv/bin/python -m pytest -n "${MAILROOM_TEST_WORKERS:-4}" "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure, not a pass." >&2
  exit 1
fi
exit "$status"
