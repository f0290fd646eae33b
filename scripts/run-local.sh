#!/usr/bin/env bash
# `just run`: serve apps.toml with whatever backends are configured, and
# stand in for the missing ones so that a fresh machine serves everything:
# - no DATABASE_URL: the host's embedded PostgreSQL (data in .data/postgres);
# - no REDIS_URL: the host's in-process cache;
# - no MONGODB_URL: nx-27017, a MongoDB wire-protocol server, from a
#   virtualenv under .data/, with its data in .data/mongo, stopped on exit;
# - no BUDGET_ADMIN_TOKEN: a random one, kept in .data/admin-token.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
host_bin="$1"
shift
data="$root/.data"
mkdir -p "$data"

mongo_pid=""
host_pid=""
cleanup() {
    if [ -n "$mongo_pid" ]; then kill "$mongo_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
# Ctrl-C or SIGTERM goes to the host, which drains and exits; then cleanup.
trap 'if [ -n "$host_pid" ]; then kill -TERM "$host_pid" 2>/dev/null || true; fi' INT TERM

if [ -z "${MONGODB_URL:-}" ]; then
    if [ ! -x "$data/venv-mongo/bin/nx-27017" ]; then
        echo "run: installing nx-27017 into .data/venv-mongo (first run only)" >&2
        python3 -m venv "$data/venv-mongo"
        "$data/venv-mongo/bin/pip" install --quiet nx-27017
    fi
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    mkdir -p "$data/mongo"
    # Its own pid file: nx-27017's default is machine-wide and refuses a second instance.
    "$data/venv-mongo/bin/nx-27017" --data-dir "$data/mongo" -p "$port" --host 127.0.0.1 \
        --pid-file "$data/mongo.pid" >"$data/mongo.log" 2>&1 &
    mongo_pid=$!
    up=""
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
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
    echo "run: admin token in .data/admin-token (export BUDGET_ADMIN_TOKEN=\$(cat .data/admin-token))" >&2
fi

# In the background, not exec: the traps must outlive the host to stop nx-27017.
"$host_bin" serve --apps "$root/apps.toml" --embedded-postgres-dir "$data/postgres" "$@" &
host_pid=$!
status=0
# `wait` returns early when a trapped signal arrives; wait again for the drain.
while kill -0 "$host_pid" 2>/dev/null; do
    if wait "$host_pid"; then status=0; else status=$?; fi
done
exit "$status"
