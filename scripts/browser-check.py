#!/usr/bin/env python3
"""Browser check: the web app in headless Chromium against a real host.

Starts nx-27017 and one budget-host on a fresh PostgreSQL database, serving
the repo's `web`, `ledger`, `api_docs` and `hello` apps on one port (as
`just run` does), then runs scripts/browser-test.mjs (playwright-core with
Debian's chromium): sign in, create a budget, add income and expenses,
assign money and see `available` change, import a CSV with a duplicate,
see each chart render, and change a canary weight in the release console.
Screenshots land in target/browser/. Installs chromium (apt) and
playwright-core (npm, into web/.node) when they are missing.
"""

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAYWRIGHT = "playwright-core@1.65.1"
APPS = ("web", "ledger", "api_docs", "hello")

# The database, nx-27017 and host helpers are the API check's.
_spec = importlib.util.spec_from_file_location("api_check", ROOT / "scripts" / "schemathesis.py")
api_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api_check)


def log(message: str) -> None:
    print(f"== browser-check: {message}", flush=True)


def ensure_tools() -> tuple[str, Path]:
    if shutil.which("chromium") is None:
        log("installing chromium from Debian")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, stdout=subprocess.DEVNULL)
    if shutil.which("node") is None:
        raise SystemExit("browser-check: node is required (apt-get install -y nodejs npm)")
    prefix = ROOT / "web" / ".node"
    if not (prefix / "node_modules" / "playwright-core").exists():
        log(f"installing {PLAYWRIGHT} into web/.node")
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(prefix), PLAYWRIGHT],
                       check=True)
    return shutil.which("chromium") or "chromium", prefix


def write_apps(path: Path) -> None:
    source = ROOT / "apps.toml"
    apps = tomllib.loads(source.read_text())["apps"]
    out = ["# Written by scripts/browser-check.py from apps.toml.\n"]
    for name in APPS:
        app = dict(apps[name])
        for key in ("component", "migrations"):
            if key in app:
                app[key] = str((source.parent / app[key]).resolve())
        out.append(api_check.toml_table(f"apps.{name}", app))
    path.write_text("\n".join(out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host-bin", required=True, help="the budget-host binary (debug build)")
    args = parser.parse_args()
    host_bin = Path(args.host_bin).resolve()
    chromium, playwright_dir = ensure_tools()
    started = time.monotonic()
    tag = f"browser{os.getpid()}"
    admin_url = os.environ.get("DATABASE_URL", api_check.DEFAULT_DATABASE_URL)
    server = admin_url.rsplit("/", 1)[0]
    database, role_prefix, admin_token = f"budget_{tag}", f"{tag}_", f"{tag}-admin-token-0123456789"
    procs: list[subprocess.Popen] = []
    code = 1
    with tempfile.TemporaryDirectory(prefix="browser-check-") as tmp:
        work = Path(tmp)
        subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {database}"], check=True)
        try:
            mongo_port = api_check.free_port()
            procs.append(subprocess.Popen(
                [str(ROOT / ".venv-mongo/bin/nx-27017"), "--data-dir", "memory", "--host", "127.0.0.1",
                 "-p", str(mongo_port), "--log-file", str(work / "nx.log"), "--pid-file", str(work / "nx.pid")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            api_check.wait_port(mongo_port, "nx-27017")
            apps = work / "apps.toml"
            write_apps(apps)
            port = api_check.free_port()
            base = f"http://127.0.0.1:{port}"
            host_log = work / "host.log"
            with open(host_log, "w") as log_out:
                procs.append(subprocess.Popen(
                    [str(host_bin), "serve", "--listen", f"127.0.0.1:{port}", "--apps", str(apps),
                     "--cache-dir", str(work / "compiled"), "--log", "warn", "--shutdown-delay-ms", "0",
                     "--database-url", f"{server}/{database}", "--sql-role-prefix", role_prefix,
                     "--mongodb-url", f"mongodb://127.0.0.1:{mongo_port}/?directConnection=true",
                     "--admin-token", admin_token, "--analysis-tick-ms", "1000"],
                    stdout=subprocess.DEVNULL, stderr=log_out))
            api_check.wait_ready(base, procs[-1], host_log)
            hello = ROOT / "components/target/wasm32-wasip2/release/hello.wasm"
            result = subprocess.run(
                ["node", str(ROOT / "scripts/browser-test.mjs"), "--base-url", base, "--admin-token", admin_token,
                 "--chromium", chromium, "--out", str(ROOT / "target/browser"), "--hello-wasm", str(hello),
                 "--playwright-dir", str(playwright_dir)])
            code = result.returncode
            if code != 0 and host_log.exists():
                errors = [line for line in host_log.read_text(errors="replace").splitlines() if "ERROR" in line]
                if errors:
                    print("--- host errors ---\n" + "\n".join(errors[-40:]), file=sys.stderr)
        finally:
            api_check.stop(procs)
            subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])
            roles = subprocess.run(
                ["psql", admin_url, "-Atqc", f"SELECT rolname FROM pg_roles WHERE starts_with(rolname, '{role_prefix}')"],
                capture_output=True, text=True).stdout.split()
            for role in roles:
                subprocess.run(["psql", admin_url, "-qc", f'DROP ROLE IF EXISTS "{role}"'])
    verdict = "passed" if code == 0 else "FAILED"
    print(f"browser-check: {verdict} in {time.monotonic() - started:.0f} s; screenshots in target/browser/")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
