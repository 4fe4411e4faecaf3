#!/usr/bin/env bash
# Casebridge container entrypoint.
#
#   entrypoint.sh probe PATH   HTTP health probe of the local gunicorn (used by HEALTHCHECK);
#                              no database wait, exits 0 on a 2xx answer.
#   entrypoint.sh CMD [ARGS]   wait for the database, migrate if this is the web role (or
#                              MIGRATE=1), then exec CMD as PID 1's child (signals reach it).
#
# The role is the command: gunicorn = web; anything else (celery worker/beat, manage.py
# audit_integrator, a one-off manage.py command) does not migrate unless MIGRATE=1.
#
# Environment read here (besides what casebridge/settings.py reads):
#   MIGRATE           1 = run `manage.py migrate --no-input` before the command, whatever the role;
#                     0 = never (set it on web when another process, with the owner role, migrates);
#                     unset = migrate for the web role only.
#   DB_WAIT_SECONDS   how long to wait for the database before giving up (default 90).
#   PORT              port gunicorn listens on and the probe calls (default 8000).
set -euo pipefail

APP_DIR="${APP_DIR:-/app}"
cd "$APP_DIR"

log() { printf 'entrypoint: %s\n' "$*" >&2; }

# TMPDIR may point into the (initially empty) data volume: make sure it exists.
if [ -n "${TMPDIR:-}" ] && [ ! -d "$TMPDIR" ]; then
    mkdir -p "$TMPDIR" 2>/dev/null || log "cannot create TMPDIR=$TMPDIR; temporary files go to /tmp"
fi

probe() {
    # The Host header is taken from ALLOWED_HOSTS so Django does not answer 400 to the probe.
    exec python - "$1" <<'PY'
import os
import sys
import urllib.error
import urllib.request

path = sys.argv[1] if sys.argv[1].startswith("/") else "/" + sys.argv[1]
port = os.environ.get("PORT") or "8000"
hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
host = next((h.lstrip(".") for h in hosts if h != "*"), "localhost")
request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
try:
    with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 - fixed loopback URL
        sys.exit(0 if 200 <= response.status < 300 else 1)
except urllib.error.HTTPError as exc:
    body = " ".join(exc.read(200).decode(errors="replace").split())
    print(f"probe {path} (Host: {host}): HTTP {exc.code}: {body}", file=sys.stderr)
except OSError as exc:
    print(f"probe {path}: {exc}", file=sys.stderr)
sys.exit(1)
PY
}

if [ "${1:-}" = "probe" ]; then
    probe "${2:-/healthz}"
fi

if [ "$#" -eq 0 ]; then
    log "no command given (the image's default is gunicorn; compose sets one per service)"
    exit 64
fi

case "$1" in
    gunicorn) role=web ;;
    *) role=other ;;
esac

migrate=0
case "${MIGRATE:-}" in
    1 | true | yes | on) migrate=1 ;;
    0 | false | no | off) migrate=0 ;;
    "") [ "$role" = web ] && migrate=1 ;;
    *) log "MIGRATE must be 1 or 0 (or unset), got '${MIGRATE}'"; exit 64 ;;
esac

# Wait for the database, then (if asked) migrate while holding a PostgreSQL advisory lock, so that
# several web replicas starting together migrate one after the other instead of racing.
python - "$migrate" <<'PY'
import os
import subprocess
import sys
import time

MIGRATE = sys.argv[1] == "1"
MIGRATION_LOCK = 0x6361_7365_6D69_6772  # "casemigr"; the audit integrator uses a different key


def fail(message: str) -> None:
    print(f"entrypoint: {message}", file=sys.stderr)
    sys.exit(1)


try:
    import django

    django.setup()  # loads casebridge/settings.py: refuses a missing SECRET_KEY, bad values, ...
    from django.db import connection
except Exception as exc:  # noqa: BLE001 - report a configuration error in one line, not a traceback
    fail(f"settings did not load: {exc.__class__.__name__}: {exc}")


def migrate() -> None:
    code = subprocess.call([sys.executable, "manage.py", "migrate", "--no-input"])
    if code:
        fail(f"migrate failed (exit {code}); not starting the command")


if connection.vendor != "postgresql":
    print(f"entrypoint: database is {connection.vendor} (DATABASE_URL unset); nothing to wait for", file=sys.stderr)
    if MIGRATE:
        migrate()
    sys.exit(0)

import psycopg  # noqa: E402

params = connection.get_connection_params()
params.setdefault("connect_timeout", 5)
target = "{}:{}/{} as {}".format(
    params.get("host") or "(local socket)", params.get("port") or 5432, params.get("dbname"), params.get("user") or "?"
)
budget = int(os.environ.get("DB_WAIT_SECONDS") or 90)
deadline = time.monotonic() + budget
attempt = 0
while True:
    attempt += 1
    try:
        conn = psycopg.connect(**params, autocommit=True)
        conn.execute("SELECT 1")
        break
    except psycopg.Error as exc:
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or exc.__class__.__name__
        # Waiting does not fix wrong credentials or a missing database: say so at once.
        if any(text in str(exc) for text in ("password authentication failed", "does not exist", "no password supplied")):
            fail(
                f"database {target} refused the connection: {reason}\n"
                "  check DATABASE_URL and DATABASE_PASSWORD / DATABASE_PASSWORD_FILE"
            )
        if time.monotonic() >= deadline:
            fail(
                f"database {target} not reachable after {budget}s ({attempt} attempts): {reason}\n"
                "  check DATABASE_URL, that PostgreSQL is running and that this container can reach it "
                "(DB_WAIT_SECONDS sets how long to wait)"
            )
        print(f"entrypoint: waiting for database {target}: {reason}", file=sys.stderr)
        time.sleep(2)

print(f"entrypoint: database {target} is up", file=sys.stderr)
with conn:
    if MIGRATE:
        conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])  # released when conn closes
        migrate()
PY

log "starting ($role): $*"
exec "$@"
