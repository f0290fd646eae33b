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

wrk drives the two servers of a pair in turn (A B A B ...) so that drift in
machine load hits both alike; the results land between the suite's markers
in docs/benchmarks.md.

This is a benchmark, not a test: it reports numbers and fails only when a
server cannot be started or answers with errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
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


def run_wrk(wrk: str, url: str, threads: int, conns: int, seconds: int) -> dict:
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", url],
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


def compare(wrk: str, peers: dict[str, str], args) -> dict[str, list[dict]]:
    """Warm up each peer, then alternate them for args.rounds rounds."""
    for url in peers.values():
        run_wrk(wrk, url, args.threads, args.connections, 2)
    results: dict[str, list[dict]] = {name: [] for name in peers}
    for rnd in range(args.rounds):
        for name, url in peers.items():
            r = run_wrk(wrk, url, args.threads, args.connections, args.seconds)
            results[name].append(r)
            print(f"round {rnd + 1} {name:22s} {r['rps']:10.0f} req/s  p50 {r['p50']:.3f} ms  "
                  f"p99 {r['p99']:.3f} ms  errors {r['errors']}")
    return results


def write_block(out: Path, suite: str, intro: list[str], results: dict[str, list[dict]], args) -> int:
    """Rewrites the suite's block in `out`; returns the number of errors."""
    summary = {
        name: {
            "rps": statistics.mean(r["rps"] for r in runs),
            "p50": statistics.mean(r["p50"] for r in runs),
            "p99": statistics.mean(r["p99"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
        }
        for name, runs in results.items()
    }
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
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    start, end = f"<!-- bench:{suite}:start -->", f"<!-- bench:{suite}:end -->"
    block = "\n".join([
        start,
        f"Run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; {rustc}.",
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, {args.rounds} rounds alternating "
        f"{ours} and {theirs}, wrk on the same machine. " + " ".join(intro),
        "",
        *rows,
        "",
        f"**Ratio {ours} / {theirs}: {ratio:.2f}** (requests per second); p99 ratio {p99_ratio:.2f}.",
        *(f"Baseline row `{name}`: the same component answering without the backend call." for name in list(summary)[2:]),
        end,
    ])
    text = out.read_text() if out.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text += "\n" + block + "\n"
    out.write_text(text)
    print(f"wrote {out} ({suite})")
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host-bin", required=True)
    ap.add_argument("--native-bin", help="bench-native binary (sql and cache suites)")
    ap.add_argument("--components", required=True, help="directory holding hello.wasm and bench-data.wasm")
    ap.add_argument("--suite", action="append", choices=["hello", "sql", "cache"],
                    help="run only these suites (repeatable); default: all")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--pool-size", type=int, default=8)
    ap.add_argument("--out", default=str(ROOT / "docs/benchmarks.md"))
    args = ap.parse_args()
    suites = args.suite or ["hello", "sql", "cache"]
    data_suites = [s for s in suites if s in ("sql", "cache")]
    if data_suites and not args.native_bin:
        raise SystemExit("--native-bin is required for the sql and cache suites")

    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="budget-bench-"))
    errors = 0
    try:
        if "hello" in suites:
            errors += suite_hello(wrk, args, work)
        if data_suites:
            errors += suite_data(wrk, args, work, data_suites)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if errors:
        sys.exit("errors during the benchmark")


if __name__ == "__main__":
    main()
