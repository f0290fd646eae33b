#!/usr/bin/env python3
"""Benchmark budget-host against `wasmtime serve` on the same component.

Both servers run the same pure wasi:http `hello` component on this machine.
wrk drives each in turn (A B A B ...) so that drift in machine load hits both
alike, then the results land between the markers in docs/benchmarks.md.

This is a benchmark, not a test: it reports numbers and fails only when a
server cannot be started or answers with errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
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
START, END = "<!-- bench:hello:start -->", "<!-- bench:hello:end -->"


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host-bin", required=True)
    ap.add_argument("--component", required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--out", default=str(ROOT / "docs/benchmarks.md"))
    args = ap.parse_args()

    wrk = ensure_wrk()
    wasmtime = ensure_wasmtime()
    component = Path(args.component).resolve()
    if not component.exists():
        raise SystemExit(f"{component} missing: run `just build-components`")

    work = Path(tempfile.mkdtemp(prefix="budget-bench-"))
    apps = work / "apps.toml"
    apps.write_text(f'[apps.hello]\nroutes = ["/"]\ncomponent = "{component}"\nversion = "1.0.0"\n')
    host_port, wt_port = free_port(), free_port()
    procs = []
    try:
        procs.append(subprocess.Popen(
            [args.host_bin, "serve", "--listen", f"127.0.0.1:{host_port}", "--apps", str(apps),
             "--cache-dir", str(work / "cache"), "--log", "warn", "--shutdown-delay-ms", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(
            [wasmtime, "serve", "-Scli", "--addr", f"127.0.0.1:{wt_port}", str(component)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{host_port}/readyz")
        wait_http(f"http://127.0.0.1:{wt_port}/bench")
        peers = {
            "budget-host": f"http://127.0.0.1:{host_port}/bench",
            "wasmtime serve": f"http://127.0.0.1:{wt_port}/bench",
        }
        for url in peers.values():  # warm up both
            run_wrk(wrk, url, args.threads, args.connections, 2)
        results: dict[str, list[dict]] = {name: [] for name in peers}
        for rnd in range(args.rounds):
            for name, url in peers.items():
                r = run_wrk(wrk, url, args.threads, args.connections, args.seconds)
                results[name].append(r)
                print(f"round {rnd + 1} {name:15s} {r['rps']:10.0f} req/s  p50 {r['p50']:.3f} ms  "
                      f"p99 {r['p99']:.3f} ms  errors {r['errors']}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)

    summary = {}
    for name, runs in results.items():
        summary[name] = {
            "rps": statistics.mean(r["rps"] for r in runs),
            "p50": statistics.mean(r["p50"] for r in runs),
            "p99": statistics.mean(r["p99"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
        }
    host, peer = summary["budget-host"], summary["wasmtime serve"]
    ratio = host["rps"] / peer["rps"]
    print(f"ratio budget-host / wasmtime serve (req/s): {ratio:.2f}")

    rows = [
        "| server | req/s (mean) | p50 ms | p99 ms | errors | rounds (req/s) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, s in summary.items():
        per_round = ", ".join(f"{r['rps']:.0f}" for r in results[name])
        rows.append(f"| {name} | {s['rps']:.0f} | {s['p50']:.3f} | {s['p99']:.3f} | {s['errors']} | {per_round} |")
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    block = "\n".join([
        START,
        f"Run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; {rustc}; "
        f"wasmtime {WASMTIME_VERSION} on both sides.",
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, {args.rounds} rounds alternating "
        "budget-host and wasmtime serve, same `hello.wasm`, wrk on the same machine.",
        "",
        *rows,
        "",
        f"**Ratio budget-host / wasmtime serve: {ratio:.2f}** (requests per second).",
        END,
    ])
    out = Path(args.out)
    text = out.read_text() if out.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text += "\n" + block + "\n"
    out.write_text(text)
    print(f"wrote {out}")
    if host["errors"] or peer["errors"]:
        sys.exit("errors during the benchmark")


if __name__ == "__main__":
    main()
