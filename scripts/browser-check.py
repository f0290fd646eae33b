#!/usr/bin/env python3
"""Browser check: the web app in headless Chromium against a real host.

Starts nx-27017 and one budget-host on a fresh PostgreSQL database, serving
the repo's `web`, `ledger`, `api_docs` and `hello` apps on one port (as
`just run` does), then runs scripts/browser-test.mjs (playwright-core with
Debian's chromium): sign in, create a budget, add income and expenses,
assign money and see `available` change, import a CSV with a duplicate,
see each chart render, and change a canary weight in the release console;
on every view, no stray "null", "undefined" or "NaN" in the page's text; the
status message covering no content; at 375 px, every navigation link on
screen; amounts grouped alike everywhere (the assigned cells too); straight
net-worth lines. Screenshots land in target/browser/. Installs chromium (apt) and
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
    code = 1
    with tempfile.TemporaryDirectory(prefix="browser-check-") as tmp:
        work = Path(tmp)
        apps = work / "apps.toml"
        write_apps(apps)
        tag = f"browser{os.getpid()}"
        with api_check.running_host(work, apps, host_bin, tag, ("--analysis-tick-ms", "1000")) as (base, token, host_log):
            hello = ROOT / "components/target/wasm32-wasip2/release/hello.wasm"
            result = subprocess.run(
                ["node", str(ROOT / "scripts/browser-test.mjs"), "--base-url", base, "--admin-token", token,
                 "--chromium", chromium, "--out", str(ROOT / "target/browser"), "--hello-wasm", str(hello),
                 "--playwright-dir", str(playwright_dir)])
            code = result.returncode
            if code != 0:
                api_check.print_host_errors(host_log)
    verdict = "passed" if code == 0 else "FAILED"
    print(f"browser-check: {verdict} in {time.monotonic() - started:.0f} s; screenshots in target/browser/")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
