#!/usr/bin/env python3
"""API check (`just api-check`, part of `just test`): schemathesis against the
budget API as described by docs/openapi.json, on a real host.

It starts what the ledger needs, on this machine only (127.0.0.1):
  - a fresh PostgreSQL database on $DATABASE_URL's server (default
    postgres://postgres@127.0.0.1:5432/postgres), dropped at the end;
  - nx-27017 (a MongoDB wire-protocol server) from .venv-mongo, in memory;
  - `budget-host serve` with the repo's `ledger` and `api_docs` apps only
    (taken from apps.toml, paths made absolute), an admin token and a SQL
    role prefix of its own.
Then it creates an API user and token through the admin API, and one budget
with accounts, a category group, a category and a transaction, whose ids
schemathesis uses for most path parameters and body references (the rest are
random, which mostly get 404 or 422).

schemathesis loads the schema from GET /v1/openapi.json (the api_docs app),
or from --openapi-file, and runs its phases (examples, coverage, fuzzing,
stateful) with at most --max-examples cases per operation. The check is
not_a_server_error: any 5xx answer fails the run, as does a schema that
schemathesis cannot load or finds invalid, or a run longer than
--time-limit seconds. Any failure exits non-zero.

schemathesis lives in .venv-schemathesis, created here from
scripts/schemathesis-requirements.txt (pinned) and reinstalled only when
that file changes.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    sys.exit("schemathesis.py needs Python 3.11 or newer (tomllib)")

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-schemathesis"
REQUIREMENTS = ROOT / "scripts" / "schemathesis-requirements.txt"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# The apps under test, by their name in apps.toml.
APPS = ("ledger", "api_docs")
# How often a generated path parameter or body reference is the seeded id
# rather than a random one.
SEEDED_PROBABILITY = 0.8


def log(message: str) -> None:
    print(f"== api-check: {message}", flush=True)


def ensure_venv() -> Path:
    """The schemathesis CLI, (re)installed when the requirements file changed."""
    stamp = VENV / ".requirements.sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    python = VENV / "bin" / "python"
    if not python.exists() or not stamp.exists() or stamp.read_text().strip() != want:
        log("installing schemathesis into .venv-schemathesis")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                        "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(want + "\n")
    return VENV / "bin" / "schemathesis"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f} s")


def wait_ready(base: str, host: subprocess.Popen, log_file: Path, timeout: float = 180.0) -> None:
    """Waits for /readyz: the host has provisioned the app schemas and run the migrations."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    tail = log_file.read_text(errors="replace")[-4000:] if log_file.exists() else "(no log)"
    print(f"--- {log_file} ---\n{tail}", file=sys.stderr)
    raise RuntimeError(f"budget-host at {base} was not ready within {timeout:.0f} s")


def call(base: str, method: str, path: str, token: str, body: dict | None = None) -> dict:
    """One JSON call that must succeed; returns the answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method,
                                     headers={"authorization": f"Bearer {token}",
                                              "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}") from None


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string is a JSON string for these values
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def toml_table(name: str, table: dict) -> str:
    lines = [f"[{name}]"]
    nested = []
    for key, value in table.items():
        if isinstance(value, dict):
            nested.append(toml_table(f"{name}.{key}", value))
        else:
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n" + "".join("\n" + n for n in nested)


def write_apps(path: Path, with_api_docs: bool) -> None:
    """The repo's apps.toml, restricted to the apps under test, with absolute paths."""
    source = ROOT / "apps.toml"
    apps = tomllib.loads(source.read_text())["apps"]
    out = ["# Written by scripts/schemathesis.py from apps.toml.\n"]
    for name in APPS:
        if name == "api_docs" and not with_api_docs:
            continue
        if name not in apps:
            raise RuntimeError(f"apps.toml has no [apps.{name}]")
        app = dict(apps[name])
        for key in ("component", "migrations"):
            if key in app:
                app[key] = str((source.parent / app[key]).resolve())
        out.append(toml_table(f"apps.{name}", app))
    path.write_text("\n".join(out))


def component_path(name: str) -> Path:
    app = tomllib.loads((ROOT / "apps.toml").read_text())["apps"].get(name, {})
    return (ROOT / app.get("component", f"missing-{name}.wasm")).resolve()


def seed(base: str, admin_token: str) -> tuple[str, dict[str, str]]:
    """An API user's token, and the ids of one budget's worth of data."""
    user = call(base, "POST", "/admin/v1/users", admin_token, {"name": "schemathesis"})
    token = call(base, "POST", f"/admin/v1/users/{user['id']}/tokens", admin_token,
                 {"label": "schemathesis"})["token"]
    budget = call(base, "POST", "/v1/budgets", token, {"name": "API check", "currency": "EUR"})["id"]
    at = f"/v1/budgets/{budget}"
    account = call(base, "POST", f"{at}/accounts", token,
                   {"name": "Checking", "type": "checking", "opening_balance": "1000.00"})["id"]
    savings = call(base, "POST", f"{at}/accounts", token,
                   {"name": "Savings", "type": "savings", "on_budget": False})["id"]
    # The one account schemathesis may close, so that the others keep taking transactions.
    closable = call(base, "POST", f"{at}/accounts", token, {"name": "Cash", "type": "cash"})["id"]
    group = call(base, "POST", f"{at}/category-groups", token, {"name": "Bills"})["id"]
    category = call(base, "POST", f"{at}/categories", token, {"group_id": group, "name": "Rent"})["id"]
    today = dt.date.today().isoformat()
    transaction = call(base, "POST", f"{at}/transactions", token,
                       {"account_id": account, "date": today, "amount": "-12.34", "payee": "Landlord",
                        "category_id": category})["id"]
    return token, {"budget": budget, "account": account, "savings": savings, "closable": closable, "group": group,
                   "category": category, "transaction": transaction}


def write_config(path: Path, ids: dict[str, str]) -> None:
    """schemathesis.toml: the seeded ids as dictionaries for the parameters that name them."""
    dictionaries = {
        "budget": [ids["budget"]],
        "account": [ids["account"], ids["savings"]],
        "closable": [ids["closable"]],
        "category": [ids["category"]],
        "group": [ids["group"]],
        "transaction": [ids["transaction"]],
        "month": [dt.date.today().strftime("%Y-%m")],
    }
    bindings = {
        "path.budget": "budget",
        "path.account": "closable",
        "path.group": "group",
        "path.transaction": "transaction",
        "path.category": "category",
        "path.month": "month",
        "query.account_id": "account",
        "query.category_id": "category",
        "body.account_id": "account",
        "body.from_account_id": "account",
        "body.to_account_id": "account",
        "body.transfer_to_account_id": "account",
        "body.category_id": "category",
        "body.from_category_id": "category",
        "body.to_category_id": "category",
        "body.group_id": "group",
        "body.splits[*].category_id": "category",
    }
    lines = []
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {toml_value(values)}", ""]
    lines.append("[parameters]")
    lines += [f'"{key}" = {{ dictionary = "{name}", probability = {SEEDED_PROBABILITY} }}'
              for key, name in bindings.items()]
    path.write_text("\n".join(lines) + "\n")


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_schemathesis(cli: Path, args, location: str, base: str, config: Path, token: str,
                     work: Path) -> tuple[int, str]:
    """Runs schemathesis, echoing its output; (exit code, output). Past --time-limit it is killed."""
    cmd = [str(cli), "--config-file", str(config), "--no-color", "run", location,
           "--header", f"Authorization: Bearer {token}",
           "--checks", "not_a_server_error",
           "--max-examples", str(args.max_examples),
           "--workers", str(args.workers),
           "--request-timeout", "30",
           "--generation-database", "none",
           "--warnings", "off"]
    if args.openapi_file is not None:
        cmd += ["--url", base]
    if args.report_dir is not None:
        cmd += ["--report", "junit,har", "--report-dir", str(args.report_dir.resolve())]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    log(f"schemathesis run {location} (at most {args.max_examples} examples per operation, "
        f"{args.time_limit} s limit)")
    process = subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []

    def echo() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            sys.stdout.write(line)
            sys.stdout.flush()

    reader = threading.Thread(target=echo, daemon=True)
    reader.start()
    try:
        code = process.wait(timeout=args.time_limit)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        print(f"api-check: schemathesis ran past {args.time_limit} s and was stopped", file=sys.stderr)
        code = 124
    reader.join(timeout=10)
    return code, "".join(output)


def check_served_document(base: str) -> None:
    """The api_docs app must serve exactly docs/openapi.json (it embeds it at build time)."""
    with urllib.request.urlopen(f"{base}/v1/openapi.json", timeout=30) as r:
        served = json.loads(r.read())
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    if served != committed:
        raise RuntimeError("GET /v1/openapi.json is not docs/openapi.json: api_docs.wasm is stale "
                           "(just build-components)")


def summary_line(code: int, output: str, seconds: float) -> str:
    """One line from schemathesis's own summary: operations tested, test cases, failures."""
    verdict = "passed" if code == 0 else "FAILED"
    if not output:
        return f"api-check: {verdict} in {seconds:.0f} s; schemathesis did not run"
    text = re.sub(r"\x1b\[[0-9;]*m", "", output)
    tested = re.search(r"Tested:\s+(\d+)", text)
    cases = re.search(r"Test cases:\s*\n\s*(.+)", text)
    failures = re.search(r"=+ (\d+) (?:failures?|errors?)\b.*? in ", text)
    parts = [f"{tested.group(1)} operations tested" if tested else "operations: unknown",
             f"test cases: {cases.group(1).strip()}" if cases else "test cases: unknown"]
    if failures:
        parts.append(f"{failures.group(1)} failure(s)")
    elif code == 0:
        parts.append("0 failures")
    return f"api-check: {verdict} in {seconds:.0f} s; " + "; ".join(parts)


@contextlib.contextmanager
def running_host(work: Path, apps: Path, host_bin: Path, tag: str, extra: tuple[str, ...] = ()):
    """A fresh PostgreSQL database, an nx-27017 in memory and one budget-host
    serving `apps` with an admin token; yields (base URL, admin token, host
    log). Everything is stopped, and the database and the app roles made
    under this run's prefix are dropped, on the way out."""
    admin_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    server = admin_url.rsplit("/", 1)[0]
    database, role_prefix, admin_token = f"budget_{tag}", f"{tag}_", f"{tag}-admin-token-0123456789"
    procs: list[subprocess.Popen] = []
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {database}"], check=True)
    try:
        mongo_port = free_port()
        procs.append(subprocess.Popen(
            [str(ROOT / ".venv-mongo/bin/nx-27017"), "--data-dir", "memory", "--host", "127.0.0.1",
             "-p", str(mongo_port), "--log-file", str(work / "nx.log"), "--pid-file", str(work / "nx.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(mongo_port, "nx-27017")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        host_log = work / "host.log"
        with open(host_log, "w") as log_out:
            procs.append(subprocess.Popen(
                [str(host_bin), "serve", "--listen", f"127.0.0.1:{port}", "--apps", str(apps),
                 "--cache-dir", str(work / "compiled"), "--log", "warn", "--shutdown-delay-ms", "0",
                 "--database-url", f"{server}/{database}", "--sql-role-prefix", role_prefix,
                 "--sql-role-secret", f"{tag}-role-secret",
                 "--mongodb-url", f"mongodb://127.0.0.1:{mongo_port}/?directConnection=true",
                 "--admin-token", admin_token, *extra],
                stdout=subprocess.DEVNULL, stderr=log_out))
        wait_ready(base, procs[-1], host_log)
        yield base, admin_token, host_log
    finally:
        stop(procs)
        subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])
        # The app roles the host created under our prefix (roles are cluster-wide).
        roles = subprocess.run(
            ["psql", admin_url, "-Atqc", f"SELECT rolname FROM pg_roles WHERE starts_with(rolname, '{role_prefix}')"],
            capture_output=True, text=True).stdout.split()
        for role in roles:
            subprocess.run(["psql", admin_url, "-qc", f'DROP ROLE IF EXISTS "{role}"'])


def print_host_errors(host_log: Path) -> None:
    """The host's last errors, to explain a failed run."""
    if host_log.exists():
        errors = [line for line in host_log.read_text(errors="replace").splitlines()
                  if "ERROR" in line or "panicked" in line]
        if errors:
            print("--- host errors ---\n" + "\n".join(errors[-40:]), file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host-bin", required=True, help="the budget-host binary (debug build)")
    parser.add_argument("--openapi-file", type=Path,
                        help="load the schema from this file instead of GET /v1/openapi.json "
                             "(the api_docs app is then served only if its component is built)")
    parser.add_argument("--max-examples", type=int, default=50, help="test cases per operation and phase")
    # One worker: hypothesis parses lambdas' source with `ast`, which is not
    # thread-safe before CPython 3.11.8 ("AST constructor recursion depth mismatch").
    parser.add_argument("--workers", type=int, default=1, help="concurrent schemathesis workers")
    parser.add_argument("--time-limit", type=int, default=900, help="seconds schemathesis may run")
    parser.add_argument("--seed", type=int, help="schemathesis's random seed, to reproduce a run")
    parser.add_argument("--report-dir", type=Path, help="keep schemathesis's JUnit and HAR reports here")
    args = parser.parse_args()

    host_bin = Path(args.host_bin).resolve()
    missing = [str(p) for p in [host_bin, ROOT / ".venv-mongo/bin/nx-27017", component_path("ledger")]
               if not p.exists()]
    api_docs_built = component_path("api_docs").exists()
    if args.openapi_file is None and not api_docs_built:
        missing.append(str(component_path("api_docs")))
    if args.openapi_file is not None and not args.openapi_file.exists():
        missing.append(str(args.openapi_file))
    if missing:
        print("api-check: missing " + ", ".join(missing) + " (just services, just build-components, just build)",
              file=sys.stderr)
        return 2
    cli = ensure_venv()

    started = time.monotonic()
    code = 1
    output = ""
    with tempfile.TemporaryDirectory(prefix="api-check-") as tmp:
        work = Path(tmp)
        apps = work / "apps.toml"
        write_apps(apps, with_api_docs=api_docs_built)
        try:
            with running_host(work, apps, host_bin, f"apicheck{os.getpid()}") as (base, admin_token, host_log):
                token, ids = seed(base, admin_token)
                log(f"seeded budget {ids['budget']} (account, category, transaction)")
                config = work / "schemathesis.toml"
                write_config(config, ids)
                if args.openapi_file is None:
                    check_served_document(base)
                    location = f"{base}/v1/openapi.json"
                else:
                    location = str(args.openapi_file.resolve())
                code, output = run_schemathesis(cli, args, location, base, config, token, work)
                if code != 0:
                    print_host_errors(host_log)
        except (RuntimeError, OSError, ValueError, subprocess.CalledProcessError) as error:
            print(f"api-check: {error}", file=sys.stderr)
            code = 1
    print(summary_line(code, output, time.monotonic() - started))
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
