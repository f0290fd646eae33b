#!/usr/bin/env python3
"""Rolling-restart drill: does a SIGTERM'd budget-host drop any request?

The Kubernetes rollout in miniature, on this machine only (127.0.0.1):
two `budget-host serve` processes behind haproxy, which health-checks each on
/readyz the way a Service's endpoints follow readiness. wrk drives GET
/hello/drill through haproxy while the drill sends SIGTERM to a host:

  --short (`just test`): 6 s of load; host 1 is terminated at 2 s.
  full (`just drill`):   30 s of load; host 1 is terminated, restarted and
                         back in rotation, then the same for host 2.

It passes when wrk saw no non-2xx/3xx response and no socket error (connect,
read, write or timeout), every terminated host exited 0 after draining,
haproxy marked each terminated host DOWN (so the check really saw /readyz
fail) and both hosts served traffic. docs/drill.md explains the timings.

Needs haproxy and wrk (Debian packages; installed here with apt-get when
missing and running as root).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# The host's drain settings for the drill, and haproxy's check timing. The
# invariant that makes the drill pass: haproxy must see /readyz fail and take
# the host out (at most INTER + FALL * FASTINTER, plus a check's latency)
# well before the host stops accepting (SHUTDOWN_DELAY_MS).
SHUTDOWN_DELAY_MS = 2000
DRAIN_TIMEOUT_MS = 10000
CHECK_INTER_MS = 250
CHECK_FASTINTER_MS = 100
CHECK_FALL = 2
CHECK_RISE = 2
DETECT_MS = CHECK_INTER_MS + CHECK_FALL * CHECK_FASTINTER_MS
assert DETECT_MS < SHUTDOWN_DELAY_MS / 2

RETRIES = """\
    # A connection refused or reset before any response goes to the other
    # host instead of failing the request.
    retries 2
    option redispatch
"""

NO_RETRIES = """\
    retries 0
"""

HAPROXY_CFG = """\
global
    maxconn 2048

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 10s
{retries}
frontend drill
    bind 127.0.0.1:{proxy_port}
    default_backend hosts

backend hosts
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter {inter}ms fastinter {fastinter}ms downinter {inter}ms fall {fall} rise {rise}
    server h1 127.0.0.1:{port1}
    server h2 127.0.0.1:{port2}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


def log(msg: str) -> None:
    print(f"drill: {msg}", flush=True)


def fail(msg: str) -> None:
    print(f"drill: FAIL: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def ensure_tools() -> None:
    missing = [pkg for pkg in ("haproxy", "wrk") if shutil.which(pkg) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        fail(f"missing {' '.join(missing)}: install them (apt-get install -y {' '.join(missing)})")
    log(f"installing {' '.join(missing)} from Debian")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env, stdout=subprocess.DEVNULL)


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def http_status(url: str, timeout: float = 1.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


class Host:
    def __init__(self, name: str, binary: str, apps: str, port: int, workdir: str, cache_dir: str, delay_ms: int):
        self.name, self.binary, self.apps, self.port, self.delay_ms = name, binary, apps, port, delay_ms
        self.workdir, self.cache_dir = workdir, cache_dir
        self.proc: subprocess.Popen | None = None
        self.runs = 0
        self.log_path = ""

    def start(self) -> None:
        self.runs += 1
        self.log_path = os.path.join(self.workdir, f"{self.name}.{self.runs}.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUDGET_")
               and k not in ("DATABASE_URL", "MONGODB_URL", "REDIS_URL")}
        env.update({
            "BUDGET_LISTEN": f"127.0.0.1:{self.port}",
            "BUDGET_APPS": self.apps,
            "BUDGET_CACHE_DIR": self.cache_dir,
            "BUDGET_SHUTDOWN_DELAY_MS": str(self.delay_ms),
            "BUDGET_DRAIN_TIMEOUT_MS": str(DRAIN_TIMEOUT_MS),
            "BUDGET_LOG_FORMAT": "text",
            "BUDGET_LOG": "info",
            "NO_COLOR": "1",
        })
        # Each host gets a working directory of its own, so that nothing it
        # keeps relative to its cwd is shared. The compiled cache is shared on
        # purpose: a restarted host loads its components from it instead of
        # compiling them again.
        cwd = os.path.join(self.workdir, self.name)
        os.makedirs(cwd, exist_ok=True)
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen([self.binary, "serve"], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                fail(f"{self.name} exited with {self.proc.returncode} while starting; see {self.log_path}")
            if http_status(f"http://127.0.0.1:{self.port}/readyz") == 200:
                return
            time.sleep(0.1)
        fail(f"{self.name} not ready after {timeout:.0f} s; see {self.log_path}")

    def wait_clean_exit(self, timeout: float) -> None:
        """After SIGTERM: the host must exit 0 having logged a completed drain."""
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            fail(f"{self.name} still running {timeout:.0f} s after SIGTERM")
        if rc != 0:
            fail(f"{self.name} exited with {rc} after SIGTERM; see {self.log_path}")
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        if "drained; exiting" not in text:
            fail(f"{self.name} did not log a clean drain ('drained; exiting'); see {self.log_path}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Proxy:
    def __init__(self, workdir: str, ports: dict[str, int], retries: bool):
        self.cfg = os.path.join(workdir, "haproxy.cfg")
        self.log_path = os.path.join(workdir, "haproxy.log")
        self.ports = ports
        with open(self.cfg, "w", encoding="utf-8") as fh:
            fh.write(HAPROXY_CFG.format(inter=CHECK_INTER_MS, fastinter=CHECK_FASTINTER_MS, fall=CHECK_FALL,
                                        rise=CHECK_RISE, retries=RETRIES if retries else NO_RETRIES, **ports))
        subprocess.run(["haproxy", "-c", "-q", "-f", self.cfg], check=True)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.cfg], stdout=out, stderr=subprocess.STDOUT)

    def stats(self) -> dict[str, dict[str, str]]:
        url = f"http://127.0.0.1:{self.ports['stats_port']}/stats;csv"
        with urllib.request.urlopen(url, timeout=2) as r:
            text = r.read().decode().lstrip("# ")
        return {row["svname"]: row for row in csv.DictReader(io.StringIO(text)) if row["pxname"] == "hosts"}

    def wait_status(self, server: str, status: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.stats()[server]["status"].startswith(status):
                    return
            except (OSError, KeyError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        fail(f"haproxy did not mark {server} {status} within {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def parse_wrk(out: str) -> dict[str, int]:
    m = re.search(r"(\d+) requests in ", out)
    if not m:
        fail(f"could not read wrk's request count from:\n{out}")
    res = {"requests": int(m.group(1)), "non_2xx_3xx": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["non_2xx_3xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res.update(connect=int(m.group(1)), read=int(m.group(2)), write=int(m.group(3)), timeout=int(m.group(4)))
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description="Rolling-restart drill: SIGTERM budget-host behind haproxy under wrk.")
    ap.add_argument("--short", action="store_true", help="6 s, one host terminated (for `just test`)")
    ap.add_argument("--host-bin", default=os.environ.get("BUDGET_HOST_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "budget-host"),
        help="budget-host binary (default: $BUDGET_HOST_BIN, else $CARGO_TARGET_DIR/debug/budget-host)")
    ap.add_argument("--apps", help="apps file (default: the repo's hello component alone, which needs no backend)")
    ap.add_argument("--path", default="/hello/drill", help="request path under load")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, haproxy.cfg)")
    ap.add_argument("--shutdown-delay-ms", type=int, default=SHUTDOWN_DELAY_MS,
                    help=f"the hosts' BUDGET_SHUTDOWN_DELAY_MS (default {SHUTDOWN_DELAY_MS}); for experiments: "
                    f"below ~{2 * DETECT_MS} ms haproxy cannot take a host out before it stops accepting")
    ap.add_argument("--no-retries", action="store_true",
                    help="drop haproxy's retries/redispatch, so that nothing hides a refused connection")
    args = ap.parse_args()

    binary = os.path.abspath(args.host_bin)
    if not os.access(binary, os.X_OK):
        fail(f"no budget-host binary at {binary} (build it: `just build`, or pass --host-bin)")
    ensure_tools()

    duration = 6 if args.short else 30
    workdir = tempfile.mkdtemp(prefix="budget-drill-")
    if args.apps:
        apps = os.path.abspath(args.apps)
    else:
        # The drill is about draining, not backends: serve hello only.
        hello = os.path.join(ROOT, "components", "target", "wasm32-wasip2", "release", "hello.wasm")
        apps = os.path.join(workdir, "apps.toml")
        with open(apps, "w", encoding="utf-8") as fh:
            fh.write(f'[apps.hello]\nroutes = ["/hello"]\ncomponent = "{hello}"\n')
    if not os.path.isfile(apps):
        fail(f"no apps file at {apps}")
    port1, port2, proxy_port, stats_port = free_ports(4)
    cache = os.path.join(workdir, "compiled")
    delay = args.shutdown_delay_ms
    hosts = [Host(f"h{i + 1}", binary, apps, port, workdir, cache, delay) for i, port in enumerate((port1, port2))]
    proxy = Proxy(workdir, dict(proxy_port=proxy_port, stats_port=stats_port, port1=port1, port2=port2),
                  retries=not args.no_retries)
    started = time.monotonic()
    ok = False
    try:
        for h in hosts:
            h.start()
        for h in hosts:
            h.wait_ready(timeout=180)
        proxy.start()
        for name in ("h1", "h2"):
            proxy.wait_status(name, "UP", timeout=10)
        base = f"http://127.0.0.1:{proxy_port}"
        if http_status(base + args.path) != 200:
            fail(f"GET {args.path} through haproxy does not answer 200 before the drill starts")
        log(f"{'short' if args.short else 'full'} drill: {duration} s of wrk -c{args.connections} on {args.path}; "
            f"hosts on :{port1} and :{port2}, haproxy on :{proxy_port}; shutdown delay {delay} ms, "
            f"checks every {CHECK_INTER_MS} ms, fall {CHECK_FALL}{', no retries' if args.no_retries else ''}")

        wrk = subprocess.Popen(
            ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--timeout", "5s", "--latency",
             base + args.path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        t0 = time.monotonic()
        events: list[str] = []
        errors: list[str] = []

        def at(second: float) -> None:
            time.sleep(max(0.0, t0 + second - time.monotonic()))

        def cycle(h: Host, restart: bool) -> None:
            assert h.proc is not None
            t_kill = time.monotonic()
            h.proc.send_signal(signal.SIGTERM)
            # haproxy must take the host out before it stops accepting.
            proxy.wait_status(h.name, "DOWN", timeout=max(delay, 2 * DETECT_MS) / 1000)
            down_after = time.monotonic() - t_kill
            if down_after * 1000 > delay:
                errors.append(f"haproxy took {h.name} out {down_after * 1000:.0f} ms after SIGTERM, after it "
                              f"stopped accepting ({delay} ms)")
            h.wait_clean_exit(timeout=(delay + DRAIN_TIMEOUT_MS) / 1000 + 10)
            events.append(f"t={t_kill - t0:4.1f}s SIGTERM {h.name}: haproxy DOWN after {down_after * 1000:.0f} ms, "
                          f"exited 0 after {time.monotonic() - t_kill:.1f} s")
            if restart:
                h.start()
                h.wait_ready(timeout=60)
                proxy.wait_status(h.name, "UP", timeout=10)
                events.append(f"t={time.monotonic() - t0:4.1f}s {h.name} restarted and back UP in haproxy")

        def schedule() -> None:
            try:
                if args.short:
                    at(2)
                    cycle(hosts[0], restart=False)
                else:
                    at(4)
                    cycle(hosts[0], restart=True)
                    at(16)
                    cycle(hosts[1], restart=True)
                if time.monotonic() - t0 > duration - 0.5:
                    errors.append("the restart schedule did not finish while wrk was still running")
            except SystemExit:
                errors.append("a step of the schedule failed (see above)")

        runner = threading.Thread(target=schedule, daemon=True)
        runner.start()
        out, _ = wrk.communicate(timeout=duration + 60)
        runner.join(timeout=60)
        if runner.is_alive():
            fail("the restart schedule is still running after wrk finished")
        for e in events:
            log(e)
        if wrk.returncode != 0:
            fail(f"wrk exited with {wrk.returncode}:\n{out}")
        res = parse_wrk(out)
        stats = proxy.stats()
        elapsed = time.monotonic() - started
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        p99 = re.search(r"^\s*99%\s+(\S+)", out, re.MULTILINE)
        log(f"wrk: {res['requests']} requests ({rps.group(1) if rps else '?'}/s, p99 {p99.group(1) if p99 else '?'}), "
            f"non-2xx/3xx {res['non_2xx_3xx']}, socket errors connect {res['connect']} read {res['read']} "
            f"write {res['write']} timeout {res['timeout']}")
        for name in ("h1", "h2"):
            s = stats[name]
            log(f"haproxy {name}: {s['stot']} sessions, 2xx {s['hrsp_2xx']}, 5xx {s['hrsp_5xx']}, "
                f"went DOWN {s['chkdown']}x, connection errors {s['econ']}, response errors {s['eresp']}, "
                f"retries {s['wretr']}, redispatches {s['wredis']}")
        problems = list(errors)
        if res["non_2xx_3xx"]:
            problems.append(f"{res['non_2xx_3xx']} responses were not 2xx/3xx")
        socket_errors = res["connect"] + res["read"] + res["write"] + res["timeout"]
        if socket_errors:
            problems.append(f"{socket_errors} socket errors")
        if res["requests"] < 100:
            problems.append(f"only {res['requests']} requests: the load never really ran")
        terminated = ["h1"] if args.short else ["h1", "h2"]
        for name in terminated:
            if int(stats[name]["chkdown"] or 0) < 1:
                problems.append(f"haproxy never marked {name} DOWN: the readiness check did not see the drain")
        for name in ("h1", "h2"):
            if int(stats[name]["hrsp_2xx"] or 0) == 0:
                problems.append(f"{name} served no request")
        if problems:
            for p in problems:
                print(f"drill: FAIL: {p}", file=sys.stderr)
            print(out, file=sys.stderr)
            return 1
        ok = True
        log(f"passed in {elapsed:.0f} s: {res['requests']} requests, 0 failed, "
            f"{len(terminated)} host(s) terminated under load")
        return 0
    finally:
        proxy.stop()
        for h in hosts:
            h.stop()
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif not ok:
            log(f"work directory (logs, haproxy.cfg): {workdir}")


if __name__ == "__main__":
    sys.exit(main())
