#!/usr/bin/env bash
# Starts the backing services the tests need when they are down, and installs
# them (as root, from Debian) when they are missing. Tests never skip for a
# missing service; this is what makes them find one.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    for _ in $(seq 1 100); do
        port_open "$1" && return 0
        sleep 0.1
    done
    echo "service on port $1 did not come up" >&2
    return 1
}

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "missing $*: install it (apt-get install -y $*)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# Redis: the shared server on 6379, and the redis-server binary itself (the
# outage test starts a server of its own).
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
if ! port_open 6379; then
    dir="${TMPDIR:-/tmp}/budget-redis"
    mkdir -p "$dir"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log"
    wait_port 6379
fi
# PostgreSQL: trust auth on 127.0.0.1:5432, user postgres.
if ! port_open 5432; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        apt_install postgresql
    fi
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_port 5432
fi
# MongoDB wire protocol for tests: nx-27017 in a virtualenv (tests start
# their own instances from it). No mongod can be installed here.
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -x "$root/.venv-mongo/bin/nx-27017" ]; then
    python3 -m venv "$root/.venv-mongo"
    "$root/.venv-mongo/bin/pip" install --quiet nx-27017
fi

echo "services: nx-27017 in .venv-mongo; redis up on 127.0.0.1:6379, postgres up on 127.0.0.1:5432"
