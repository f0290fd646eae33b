#!/usr/bin/env python3
"""Benchmark budget-host against its peers, each pair in the same run.

Suites (all by default; pick with --suite):
- hello: the same pure wasi:http `hello` component under budget-host and
  under `wasmtime serve`.
- sql: the `bench-data` component doing one indexed SELECT per request,
  against `bench-native` (hyper + sqlx, same query, same pool size, same
  role and schema).
- cache: the `bench-data` component doing one cache GET per request, against
  `bench-native` doing one Redis GET under the same key.
- ledger: the budget API (the `ledger` component, granted what apps.toml
  grants it) on a budget of 10,000 transactions: the month summary and a
  page of the transaction list, with the sql suite's native figure beside
  them for context.
- propagation: three budget-host processes sharing one PostgreSQL database
  and one Redis; how long a canary weight change takes to reach all three.

wrk drives the two servers of a pair in turn (A B A B ...) so that drift in
machine load hits both alike; the results land between the suite's markers
in docs/benchmarks.md. The ledger suite has no peer: it alternates its
requests the same way. The propagation suite needs no wrk: it times admin
API calls itself.

This is a benchmark, not a test: it reports numbers and fails only when a
server cannot be started or answers with errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import math
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

WASMTIME_VERSION = "48.0.8"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not come up within {timeout}s")


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
        wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("wrk is required: apt-get install -y wrk")
    return wrk


def ensure_wasmtime() -> str:
    wasmtime = shutil.which("wasmtime")
    if wasmtime:
        out = subprocess.run([wasmtime, "--version"], capture_output=True, text=True).stdout
        if WASMTIME_VERSION in out:
            return wasmtime
    print(f"installing wasmtime-cli {WASMTIME_VERSION} (the host's wasmtime version); this takes a while")
    subprocess.run(["cargo", "install", f"wasmtime-cli@{WASMTIME_VERSION}", "--locked"], check=True)
    wasmtime = shutil.which("wasmtime") or str(Path.home() / ".cargo/bin/wasmtime")
    return wasmtime


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_latency(text: str, pct: str) -> float:
    m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        raise ValueError(f"no {pct}% line in wrk output:\n{text}")
    return float(m.group(1)) * UNITS[m.group(2)]


def run_wrk(wrk: str, url: str, threads: int, conns: int, seconds: int, headers: dict | None = None) -> dict:
    flags = [flag for name, value in (headers or {}).items() for flag in ("-H", f"{name}: {value}")]
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", *flags, url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    return {"rps": rps, "p50": parse_latency(out, "50"), "p99": parse_latency(out, "99"), "errors": errors}


def machine() -> str:
    model = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({model}){mem}, Linux {platform.release()}"


def start(cmd: list[str], env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    """Starts a server; its stderr goes to `log` (printed if it fails to come up)."""
    err = open(log, "w") if log else subprocess.DEVNULL
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, **(env or {})})


def wait_up(url: str, log: Path) -> None:
    try:
        wait_http(url)
    except SystemExit:
        print(f"--- {log} ---\n" + (log.read_text()[-4000:] if log.exists() else "(no log)"), file=sys.stderr)
        raise


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def compare(wrk: str, peers: dict[str, str], args, headers: dict | None = None) -> dict[str, list[dict]]:
    """Warm up each peer, then alternate them for args.rounds rounds."""
    for url in peers.values():
        run_wrk(wrk, url, args.threads, args.connections, 2, headers)
    results: dict[str, list[dict]] = {name: [] for name in peers}
    for rnd in range(args.rounds):
        for name, url in peers.items():
            r = run_wrk(wrk, url, args.threads, args.connections, args.seconds, headers)
            results[name].append(r)
            print(f"round {rnd + 1} {name:22s} {r['rps']:10.0f} req/s  p50 {r['p50']:.3f} ms  "
                  f"p99 {r['p99']:.3f} ms  errors {r['errors']}")
    return results


def run_line() -> str:
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return f"Run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; {rustc}."


def replace_block(out: Path, suite: str, lines: list[str]) -> None:
    """Puts `lines` between the suite's markers in `out` (appended when they are missing)."""
    start, end = f"<!-- bench:{suite}:start -->", f"<!-- bench:{suite}:end -->"
    block = "\n".join([start, *lines, end])
    text = out.read_text() if out.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text += "\n" + block + "\n"
    out.write_text(text)
    print(f"wrote {out} ({suite})")


def summarize(results: dict[str, list[dict]]) -> dict[str, dict]:
    """Each server's (or request's) rounds as means, and its errors summed."""
    return {
        name: {
            "rps": statistics.mean(r["rps"] for r in runs),
            "p50": statistics.mean(r["p50"] for r in runs),
            "p99": statistics.mean(r["p99"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
        }
        for name, runs in results.items()
    }


def write_block(out: Path, suite: str, intro: list[str], results: dict[str, list[dict]], args) -> int:
    """Rewrites the suite's block in `out`; returns the number of errors."""
    summary = summarize(results)
    ours, theirs = list(summary)[:2]
    ratio = summary[ours]["rps"] / summary[theirs]["rps"]
    p99_ratio = summary[ours]["p99"] / summary[theirs]["p99"]
    print(f"{suite}: ratio {ours} / {theirs}: {ratio:.2f} req/s, p99 {p99_ratio:.2f}")
    rows = [
        "| server | req/s (mean) | p50 ms | p99 ms | errors | rounds (req/s) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, s in summary.items():
        per_round = ", ".join(f"{r['rps']:.0f}" for r in results[name])
        rows.append(f"| {name} | {s['rps']:.0f} | {s['p50']:.3f} | {s['p99']:.3f} | {s['errors']} | {per_round} |")
    replace_block(out, suite, [
        run_line(),
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, {args.rounds} rounds alternating "
        f"{ours} and {theirs}, wrk on the same machine. " + " ".join(intro),
        "",
        *rows,
        "",
        f"**Ratio {ours} / {theirs}: {ratio:.2f}** (requests per second); p99 ratio {p99_ratio:.2f}.",
        *(f"Baseline row `{name}`: the same component answering without the backend call." for name in list(summary)[2:]),
    ])
    return sum(s["errors"] for s in summary.values())


def host_cmd(args, port: int, apps: Path, work: Path) -> list[str]:
    return [args.host_bin, "serve", "--listen", f"127.0.0.1:{port}", "--apps", str(apps),
            "--cache-dir", str(work / "cache"), "--log", "warn", "--shutdown-delay-ms", "0"]


def suite_hello(wrk: str, args, work: Path) -> int:
    wasmtime = ensure_wasmtime()
    component = Path(args.components).resolve() / "hello.wasm"
    apps = work / "hello.toml"
    apps.write_text(f'[apps.hello]\nroutes = ["/"]\ncomponent = "{component}"\nversion = "1.0.0"\n')
    host_port, wt_port = free_port(), free_port()
    procs = [
        start(host_cmd(args, host_port, apps, work)),
        start([wasmtime, "serve", "-Scli", "--addr", f"127.0.0.1:{wt_port}", str(component)]),
    ]
    try:
        wait_http(f"http://127.0.0.1:{host_port}/readyz")
        wait_http(f"http://127.0.0.1:{wt_port}/bench")
        results = compare(wrk, {
            "budget-host": f"http://127.0.0.1:{host_port}/bench",
            "wasmtime serve": f"http://127.0.0.1:{wt_port}/bench",
        }, args)
    finally:
        stop(procs)
    return write_block(Path(args.out), "hello", [
        f"Same `hello.wasm` on both sides; wasmtime {WASMTIME_VERSION} on both sides."], results, args)


def suite_data(wrk: str, args, work: Path, suites: list[str]) -> int:
    """The sql and cache suites share one database, one Redis and one pair of servers."""
    tag = f"bench{os.getpid()}"
    admin_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    base = admin_url.rsplit("/", 1)[0]
    database, role_prefix, secret = f"budget_{tag}", f"{tag}_", f"{tag}-secret"
    role = f"{role_prefix}app_bench"
    password = hashlib.sha256(f"{secret}\0{role}".encode()).hexdigest()
    key_prefix = f"{tag}:"
    value = "v" * 200
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {database}"], check=True)
    subprocess.run(["redis-cli", "-u", redis_url, "SET", f"{key_prefix}app:bench:item", value],
                   check=True, stdout=subprocess.DEVNULL)
    component = Path(args.components).resolve() / "bench_data.wasm"
    migrations = ROOT / "components/bench-data/migrations"
    apps = work / "data.toml"
    apps.write_text(
        f'[apps.bench]\nroutes = ["/bench"]\ncomponent = "{component}"\nversion = "1.0.0"\n'
        f'capabilities = ["sql", "cache"]\nmigrations = "{migrations}"\n')
    host_port, native_port = free_port(), free_port()
    host_env = {"DATABASE_URL": f"{base}/{database}", "REDIS_URL": redis_url,
                "BUDGET_SQL_ROLE_PREFIX": role_prefix, "BUDGET_SQL_ROLE_SECRET": secret,
                "BUDGET_REDIS_KEY_PREFIX": key_prefix, "BUDGET_SQL_POOL_SIZE": str(args.pool_size)}
    host_log = work / "host.log"
    procs = [start(host_cmd(args, host_port, apps, work), host_env, host_log)]
    errors = 0
    try:
        wait_up(f"http://127.0.0.1:{host_port}/readyz", host_log)  # the host has provisioned and migrated
        native_url = (f"postgres://{role}:{password}@{base.split('@', 1)[1]}/{database}"
                      "?options=-c%20search_path%3Dapp_bench")
        procs.append(start([args.native_bin], {
            "BENCH_LISTEN": f"127.0.0.1:{native_port}", "BENCH_DATABASE_URL": native_url,
            "BENCH_REDIS_URL": redis_url, "BENCH_KEY_PREFIX": f"{key_prefix}app:bench:",
            "BENCH_POOL_SIZE": str(args.pool_size)}))
        paths = {"sql": "/bench/sql/4242", "cache": "/bench/cache/item", "noop": "/bench/noop"}
        for url in (f"http://127.0.0.1:{p}{paths[s]}" for p in (host_port, native_port) for s in suites):
            wait_http(url)
        intro = {
            "sql": f"One `SELECT id, name, amount_minor FROM items WHERE id = $1` by primary key per request "
                   f"(10 000 rows, the same id each time), pool of {args.pool_size} connections on both "
                   "sides, both logged in as the app's role.",
            "cache": "One GET of a 200-byte value per request, through one multiplexed Redis "
                     "connection manager on both sides.",
        }
        for suite in suites:
            results = compare(wrk, {
                "budget-host + bench-data": f"http://127.0.0.1:{host_port}{paths[suite]}",
                "native hyper + " + ("sqlx" if suite == "sql" else "redis"):
                    f"http://127.0.0.1:{native_port}{paths[suite]}",
                "budget-host + bench-data, no backend call": f"http://127.0.0.1:{host_port}{paths['noop']}",
            }, args)
            errors += write_block(Path(args.out), suite, [intro[suite]], results, args)
    finally:
        stop(procs)
        subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])
        subprocess.run(["psql", admin_url, "-qc", f"DROP ROLE IF EXISTS {role}"])
        subprocess.run(["redis-cli", "-u", redis_url, "DEL", f"{key_prefix}app:bench:item"],
                       stdout=subprocess.DEVNULL)
    return errors


LEDGER_TRANSACTIONS = 10_000
LEDGER_SEED_THREADS = 8
LEDGER_MISS_SAMPLES = 100
LEDGER_CATEGORIES = ["Rent", "Groceries", "Eating out", "Transport", "Utilities", "Phone", "Insurance",
                     "Health", "Clothing", "Gifts", "Holidays", "Household"]


class Api:
    """One keep-alive HTTP/1.1 connection to the host, as one API user."""

    def __init__(self, port: int, token: str):
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: dict | None = None):
        """Returns (status, headers, decoded JSON or None). A GET or PATCH on a connection that the
        host closed while it sat idle (--header-timeout-ms) is sent once more; a POST is not."""
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, r.headers, json.loads(raw) if raw else None
            except (ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2 or method == "POST":
                    raise

    def expect(self, status: int, method: str, path: str, body: dict | None = None):
        """The decoded answer; any other status stops the benchmark."""
        got, _, answer = self.call(method, path, body)
        if got != status:
            raise SystemExit(f"{method} {path}: {got} {answer}")
        return answer


def ledger_capabilities() -> list[str]:
    """The ledger's grants in the repo's apps.toml, so the suite serves it as `just run` does."""
    with open(ROOT / "apps.toml", "rb") as f:
        return tomllib.load(f)["apps"]["ledger"]["capabilities"]


def start_mongo(work: Path) -> tuple[subprocess.Popen, str]:
    """nx-27017 (from .venv-mongo, as the tests start it) in memory; returns it and its URL."""
    binary = ROOT / ".venv-mongo/bin/nx-27017"
    if not binary.exists():
        raise SystemExit(f"{binary} is missing: run `just services`")
    port = free_port()
    proc = start([str(binary), "--data-dir", "memory", "--host", "127.0.0.1", "-p", str(port),
                  "--log-file", str(work / "nx.log"), "--pid-file", str(work / "nx.pid")])
    return proc, f"mongodb://127.0.0.1:{port}/?directConnection=true"


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def ledger_transactions(account: str, income: str, categories: list[str]) -> list[dict]:
    """10,000 transactions spread over 2026: two salaries a month into the income category, the
    rest spending of 1 to 12 EUR in the categories, the same every run."""
    rng = random.Random(2026)
    rows = []
    for i in range(LEDGER_TRANSACTIONS):
        month, day = i % 12 + 1, rng.randint(1, 28)
        row = {"account_id": account, "date": f"2026-{month:02d}-{day:02d}", "cleared": rng.random() < 0.9}
        if i < 24:
            row.update(amount="2600.00", payee="Employer", category_id=income)
        else:
            cents = rng.randint(100, 1200)
            c = rng.randrange(len(categories))
            row.update(amount=f"-{cents // 100}.{cents % 100:02d}", payee=f"{LEDGER_CATEGORIES[c]} shop {c}",
                       category_id=categories[c])
        rows.append(row)
    return rows


def seed_transactions(port: int, token: str, path: str, rows: list[dict]) -> float:
    """POSTs the rows from LEDGER_SEED_THREADS threads, one keep-alive connection each; returns
    the seconds it took. Any answer but 201 stops the benchmark."""
    failures: list[str] = []

    def post_all(chunk: list[dict]) -> None:
        api = Api(port, token)
        try:
            for row in chunk:
                status, _, answer = api.call("POST", path, row)
                if status != 201:
                    failures.append(f"POST {path}: {status} {answer}")
                    return
                if failures:
                    return
        except Exception as e:  # reported below, with the others
            failures.append(f"POST {path}: {e!r}")

    began = time.monotonic()
    threads = [threading.Thread(target=post_all, args=(rows[i::LEDGER_SEED_THREADS],))
               for i in range(LEDGER_SEED_THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.monotonic() - began
    if failures:
        raise SystemExit("seeding failed: " + "; ".join(failures[:5]))
    return took


def native_sql_baseline(out: Path) -> tuple[str, float, float] | None:
    """The sql suite's native row in `out`: (its run line's date, req/s, p99 ms), if recorded."""
    text = out.read_text() if out.exists() else ""
    start, end = "<!-- bench:sql:start -->", "<!-- bench:sql:end -->"
    if start not in text or end not in text:
        return None
    block = text[text.index(start):text.index(end)]
    row = re.search(r"^\| native hyper \+ sqlx \| ([\d.]+) \| [\d.]+ \| ([\d.]+) \|", block, re.M)
    if not row:
        return None
    run = re.search(r"^Run (\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC)", block, re.M)
    return (run.group(1) if run else "an earlier run"), float(row.group(1)), float(row.group(2))


def suite_ledger(wrk: str, args, work: Path) -> int:
    """One host serving the ledger on a budget of 10,000 transactions; wrk on its reads."""
    tag = f"ledger{os.getpid()}"
    admin_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    base_url = admin_url.rsplit("/", 1)[0]
    database, role_prefix, key_prefix = f"budget_{tag}", f"{tag}_", f"{tag}:"
    admin_token = f"{tag}-admin-token"
    capabilities = ledger_capabilities()
    component = Path(args.components).resolve() / "ledger.wasm"
    apps = work / "ledger.toml"
    apps.write_text(
        f'[apps.ledger]\nroutes = ["/v1/budgets"]\ncomponent = "{component}"\nversion = "1.0.0"\n'
        f'capabilities = {json.dumps(capabilities)}\nauth = "user"\n'
        f'migrations = "{ROOT / "components/ledger/migrations"}"\n')
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {database}"], check=True)
    procs: list[subprocess.Popen] = []
    try:
        mongo, mongo_url = start_mongo(work)
        procs.append(mongo)
        wait_port(int(mongo_url.split(":")[2].split("/")[0]))
        port = free_port()
        host_log = work / "ledger-host.log"
        procs.append(start(host_cmd(args, port, apps, work) + [
            "--database-url", f"{base_url}/{database}", "--sql-role-prefix", role_prefix,
            "--sql-role-secret", f"{role_prefix}bench-secret",
            "--sql-pool-size", str(args.pool_size), "--mongodb-url", mongo_url,
            "--redis-url", redis_url, "--redis-key-prefix", key_prefix,
            "--admin-token", admin_token], log=host_log))
        base = f"http://127.0.0.1:{port}"
        wait_up(f"{base}/readyz", host_log)

        user = admin(base, "POST", "/admin/v1/users", admin_token, {"name": "bench"})
        token = admin(base, "POST", f"/admin/v1/users/{user['id']}/tokens", admin_token, {"label": "bench"})["token"]
        api = Api(port, token)
        budget = api.expect(201, "POST", "/v1/budgets", {"name": "Bench", "currency": "EUR"})["id"]
        path = f"/v1/budgets/{budget}"
        account = api.expect(201, "POST", f"{path}/accounts",
                             {"name": "Checking", "type": "checking", "on_budget": True})["id"]
        income = next(c["id"] for c in api.expect(200, "GET", f"{path}/categories")["items"] if c["is_income"])
        group = api.expect(201, "POST", f"{path}/category-groups", {"name": "Monthly"})["id"]
        categories = [api.expect(201, "POST", f"{path}/categories", {"group_id": group, "name": name})["id"]
                      for name in LEDGER_CATEGORIES]
        for month in range(1, 13):
            for category in categories:
                api.expect(200, "PATCH", f"{path}/months/2026-{month:02d}/categories/{category}",
                           {"assigned": "400.00"})

        rows = ledger_transactions(account, income, categories)
        seeded = seed_transactions(port, token, f"{path}/transactions", rows)
        print(f"ledger: seeded {len(rows)} transactions from {LEDGER_SEED_THREADS} threads in {seeded:.1f} s "
              f"({len(rows) / seeded:.0f}/s)")
        stored = subprocess.run(
            ["psql", f"{base_url}/{database}", "-Atc", "SELECT count(*) FROM app_ledger.transactions"],
            capture_output=True, text=True, check=True).stdout.strip()
        listed, middle, cursor = 0, None, None
        while True:
            page = api.expect(200, "GET", f"{path}/transactions?limit=500" + (f"&cursor={cursor}" if cursor else ""))
            listed += len(page["items"])
            cursor = page["next_cursor"]
            if listed == LEDGER_TRANSACTIONS // 2:
                middle = cursor
            if not cursor:
                break
        if int(stored) != len(rows) or listed != len(rows) or not middle:
            raise SystemExit(f"expected {len(rows)} transactions: {stored} in the table, {listed} listed")

        # The summary is cached under the budget's knowledge, so under wrk it is a cache hit. The
        # computed summary is timed here, one at a time: each memo change moves the knowledge.
        month_path = f"{path}/months/2026-11"
        first = api.expect(200, "GET", f"{path}/transactions?limit=100")["items"][0]["id"]
        computed: list[float] = []
        states: set[str] = set()
        for n in range(LEDGER_MISS_SAMPLES):
            api.expect(200, "PATCH", f"{path}/transactions/{first}", {"memo": f"bench {n}"})
            began = time.monotonic()
            status, headers, answer = api.call("GET", month_path)
            computed.append((time.monotonic() - began) * 1000)
            if status != 200:
                raise SystemExit(f"GET {month_path}: {status} {answer}")
            states.add(headers.get("x-cache", "none"))
        if states != {"miss"}:
            raise SystemExit(f"the timed summaries were not all computed: x-cache {sorted(states)}")
        miss_p50, miss_p99 = nearest_rank(computed, 50), nearest_rank(computed, 99)
        print(f"ledger: month summary computed, one at a time: p50 {miss_p50:.3f} ms  p99 {miss_p99:.3f} ms")

        requests = {
            "month summary `GET …/months/2026-11`": month_path,
            "first page `GET …/transactions?limit=100`": f"{path}/transactions?limit=100",
            "middle page `GET …/transactions?limit=100&cursor=…`": f"{path}/transactions?limit=100&cursor={middle}",
        }
        for request in requests.values():
            api.expect(200, "GET", request)
        results = compare(wrk, {name: base + request for name, request in requests.items()}, args,
                          {"Authorization": f"Bearer {token}"})
        status, headers, _ = api.call("GET", month_path)
        cached = headers.get("x-cache", "none")
        if status != 200 or cached != "hit":
            raise SystemExit(f"GET {month_path} after wrk: {status}, x-cache {cached} (expected a hit)")
    finally:
        stop(procs)
        subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])
        subprocess.run(["psql", admin_url, "-qc", f"DROP ROLE IF EXISTS {role_prefix}app_ledger"])
        keys = subprocess.run(["redis-cli", "-u", redis_url, "--scan", "--pattern", f"{key_prefix}*"],
                              capture_output=True, text=True).stdout.split()
        for i in range(0, len(keys), 500):
            subprocess.run(["redis-cli", "-u", redis_url, "DEL", *keys[i:i + 500]], stdout=subprocess.DEVNULL)

    summary = summarize(results)
    rows_md = [
        "| request | req/s (mean) | p50 ms | p99 ms | errors | rounds (req/s) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, s in summary.items():
        per_round = ", ".join(f"{r['rps']:.0f}" for r in results[name])
        rows_md.append(f"| {name} | {s['rps']:.0f} | {s['p50']:.3f} | {s['p99']:.3f} | {s['errors']} | {per_round} |")
    rows_md.append(f"| month summary computed (cache miss), one request at a time | — | {miss_p50:.3f} | "
                   f"{miss_p99:.3f} | 0 | {LEDGER_MISS_SAMPLES} requests |")
    out = Path(args.out)
    native = native_sql_baseline(out)
    if native:
        context = (f"**Next to the native baseline:** the sql suite's `native hyper + sqlx` row ({native[0]}) "
                   f"answers {native[1]:.0f} req/s at p99 {native[2]:.3f} ms, for one SELECT by primary key.")
    else:
        context = "**Next to the native baseline:** the sql suite has not recorded one in this file yet."
    replace_block(out, "ledger", [
        run_line(),
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s with the user's bearer token, "
        f"{args.rounds} rounds alternating the three requests after a 2 s warm-up of each, wrk on the same "
        f"machine. One budget-host serving `ledger.wasm` with {', '.join(capabilities)} "
        f"(pool of {args.pool_size} connections), nx-27017 in memory for the audit history, Redis "
        f"(`REDIS_URL`, a fresh key prefix). The EUR budget has one checking account, 12 categories with "
        f"400.00 assigned each month, and {LEDGER_TRANSACTIONS:,} transactions over 2026-01 to 2026-12, "
        f"seeded with plain POSTs from {LEDGER_SEED_THREADS} threads in {seeded:.1f} s "
        f"({LEDGER_TRANSACTIONS / seeded:.0f} per second, each with its audit event). The middle page starts "
        f"after transaction {LEDGER_TRANSACTIONS // 2:,}. Under wrk the month summary comes from the cache "
        f"(`x-cache: hit`); the last row times the computed summary, {LEDGER_MISS_SAMPLES} times, each after "
        "a memo change that invalidates it. Percentiles of that row are nearest-rank.",
        "",
        *rows_md,
        "",
        context + " The requests here do more: a cached month summary is two queries (the budget, its "
        "knowledge) and a Redis GET; a computed one is five queries, among them the year's activity grouped "
        "by category and month, plus the month math in the component; a page is two queries, the second "
        "returning 100 rows (with their split lines) as JSON. So the comparison is context, not a ratio of "
        "like for like.",
    ])
    return sum(s["errors"] for s in summary.values())


def uleb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def with_custom_section(wasm: bytes, name: str, payload: bytes) -> bytes:
    """The component with a custom section appended: other bytes and digest, same behaviour."""
    body = uleb128(len(name.encode())) + name.encode() + payload
    return wasm + b"\x00" + uleb128(len(body)) + body


def admin(base: str, method: str, path: str, token: str, body: bytes | dict | None = None,
          timeout: float = 60.0):
    """One admin API call; returns the decoded JSON answer. A refusal stops the benchmark."""
    headers = {"Authorization": f"Bearer {token}", "x-budget-actor": "bench"}
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            raw = r.read()
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {path} on {base}: {e.code} {e.read().decode(errors='replace')}") from None
    return json.loads(raw) if raw else None


def served_generation(base: str, token: str, app: str) -> int:
    """The release generation the host at `base` serves for `app`; -1 when it cannot tell."""
    request = urllib.request.Request(f"{base}/admin/v1/apps/{app}/release",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as r:
            return int(json.loads(r.read())["pod"].get("generation", -1))
    except Exception:
        return -1


def wait_generation(bases: list[str], token: str, app: str, generation: int, since: float,
                    timeout: float) -> float | None:
    """Polls every host every ~2 ms, each from its own thread, until all serve `generation` or
    newer; returns the seconds from `since` (a time.monotonic()) to the last one, None on timeout."""
    deadline = since + timeout
    reached: list[float | None] = [None] * len(bases)

    def watch(i: int, base: str) -> None:
        while time.monotonic() < deadline:
            if served_generation(base, token, app) >= generation:
                reached[i] = time.monotonic()
                return
            time.sleep(0.002)

    threads = [threading.Thread(target=watch, args=(i, b), daemon=True) for i, b in enumerate(bases)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout + 5)
    if any(r is None for r in reached):
        return None
    return max(reached) - since


def nearest_rank(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def suite_propagation(args, work: Path) -> int:
    """Three hosts on one database and one Redis; times weight changes until all three serve them."""
    hosts = 3
    tag = f"prop{os.getpid()}"
    admin_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    base_url = admin_url.rsplit("/", 1)[0]
    database, key_prefix, token = f"budget_{tag}", f"{tag}:", f"{tag}-admin-token"
    component = Path(args.components).resolve() / "hello.wasm"
    apps = work / "propagation.toml"
    apps.write_text(f'[apps.hello]\nroutes = ["/hello"]\ncomponent = "{component}"\nversion = "1.0.0"\n')
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {database}"], check=True)
    procs: list[subprocess.Popen] = []
    bases: list[str] = []
    took: list[float] = []
    timeouts = 0
    try:
        logs = []
        for i in range(hosts):
            port = free_port()
            log = work / f"propagation-host{i}.log"
            procs.append(start(host_cmd(args, port, apps, work / f"host{i}") + [
                "--admin-token", token, "--database-url", f"{base_url}/{database}",
                "--sql-role-secret", "propagation-bench-secret",
                "--redis-url", redis_url, "--redis-key-prefix", key_prefix], log=log))
            bases.append(f"http://127.0.0.1:{port}")
            logs.append(log)
        for base, log in zip(bases, logs):
            wait_up(f"{base}/readyz", log)

        variant = with_custom_section(component.read_bytes(), "budget-bench-variant", tag.encode())
        admin(bases[0], "PUT", "/admin/v1/apps/hello/versions/2.0.0", token, variant)
        started = admin(bases[1], "POST", "/admin/v1/apps/hello/release/canary", token,
                        {"version": "2.0.0", "weight": 1, "reason": "propagation benchmark"})
        # Not timed: the other hosts load (and compile) 2.0.0 before they switch.
        if wait_generation(bases, token, "hello", started["generation"], time.monotonic(), 120) is None:
            raise SystemExit("the canary did not reach every host within 120 s")

        for n in range(args.changes):
            changed = admin(bases[n % hosts], "POST", "/admin/v1/apps/hello/release/weight", token,
                            {"weight": 2 + n % 98})
            answered = time.monotonic()
            seconds = wait_generation(bases, token, "hello", changed["generation"], answered, 10)
            if seconds is None:
                timeouts += 1
                print(f"change {n + 1}: not on every host within 10 s")
            else:
                took.append(seconds * 1000)
            time.sleep(0.05)
    finally:
        stop(procs)
        subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])
        subprocess.run(["redis-cli", "-u", redis_url, "DEL", f"{key_prefix}budget-host:analysis-lock"],
                       stdout=subprocess.DEVNULL)
    if not took:
        raise SystemExit("no weight change reached every host")
    p50, p99, worst = nearest_rank(took, 50), nearest_rank(took, 99), max(took)
    met = p99 <= 1000 and not timeouts
    print(f"propagation: {len(took)} changes, p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {worst:.1f} ms  "
          f"timed out {timeouts}")
    replace_block(Path(args.out), "propagation", [
        run_line(),
        f"{hosts} budget-host processes on this machine, one PostgreSQL database, one Redis (`REDIS_URL`, "
        f"a fresh key prefix). {args.changes} canary weight changes, sent round-robin to the hosts; each "
        "timed from the change's answer until every host reports the change's generation as served "
        "(`pod.generation` of `GET /admin/v1/apps/hello/release`, polled every 2 ms per host, so a figure "
        "may overshoot by about one poll). `BUDGET_RELEASE_POLL_MS` is the default 2000: a change that "
        "missed its Redis notice would show as up to 2 s. Percentiles are nearest-rank.",
        "",
        "| changes | p50 ms | p99 ms | max ms | timed out (10 s) |",
        "|---:|---:|---:|---:|---:|",
        f"| {len(took) + timeouts} | {p50:.1f} | {p99:.1f} | {worst:.1f} | {timeouts} |",
        "",
        f"**Goal: a weight change reaches all 3 hosts within 1 s (p99): {'met' if met else 'not met'}** "
        f"(p99 {p99:.1f} ms).",
    ])
    return timeouts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host-bin", required=True)
    ap.add_argument("--native-bin", help="bench-native binary (sql and cache suites)")
    ap.add_argument("--components", required=True,
                    help="directory holding hello.wasm, bench_data.wasm and ledger.wasm")
    ap.add_argument("--suite", action="append", choices=["hello", "sql", "cache", "ledger", "propagation"],
                    help="run only these suites (repeatable); default: all")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--pool-size", type=int, default=8)
    ap.add_argument("--changes", type=int, default=50, help="weight changes timed by the propagation suite")
    ap.add_argument("--out", default=str(ROOT / "docs/benchmarks.md"))
    args = ap.parse_args()
    suites = args.suite or ["hello", "sql", "cache", "ledger", "propagation"]
    data_suites = [s for s in suites if s in ("sql", "cache")]
    if data_suites and not args.native_bin:
        raise SystemExit("--native-bin is required for the sql and cache suites")

    wrk = ensure_wrk() if "hello" in suites or data_suites or "ledger" in suites else ""
    work = Path(tempfile.mkdtemp(prefix="budget-bench-"))
    errors = 0
    try:
        if "hello" in suites:
            errors += suite_hello(wrk, args, work)
        if data_suites:
            errors += suite_data(wrk, args, work, data_suites)
        if "ledger" in suites:
            errors += suite_ledger(wrk, args, work)
        if "propagation" in suites:
            errors += suite_propagation(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if errors:
        sys.exit("errors during the benchmark")


if __name__ == "__main__":
    main()
