#!/usr/bin/env bash
# `just build-time`: what a newcomer and a CI run on a new machine pay before
# the first answer. Clones the committed HEAD into a temporary directory and,
# with empty cargo target directories each time (the crates.io download cache
# in ~/.cargo stays, as on a machine that has fetched once), times:
#   1. `just run` from nothing to the first `/readyz` 200 (components, host,
#      PostgreSQL and nx-27017 installs included), split into its steps;
#   2. the whole `.ci/run` (every lint and test), in a second fresh clone.
# `--run-only` skips step 2.
# Prints a Markdown block for docs/benchmarks.md. Run it with nothing else
# building: it measures the machine, so anything sharing it inflates the figures.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/budget-build-time.XXXXXX")"
keep="${KEEP:-}"
run_only=""
if [ "${1:-}" = "--run-only" ]; then run_only=1; fi
host_pid=""
cleanup() {
    if [ -n "$host_pid" ]; then kill -TERM "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true; fi
    if [ -z "$keep" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$1" "$(now)"; }

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "build-time: working in $work" >&2

# 1. `just run` from a fresh clone.
git clone --quiet "$root" "$work/run"
export CARGO_TARGET_DIR="$work/run-target"
cd "$work/run"
t0="$(now)"
just build-components >"$work/components.log" 2>&1
components="$(since "$t0")"
t1="$(now)"
just build-bins >"$work/host.log" 2>&1
host="$(since "$t1")"
t2="$(now)"
BUDGET_LISTEN="127.0.0.1:$port" just run >"$work/run.log" 2>&1 &
host_pid=$!
ready=""
for _ in $(seq 1 3600); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ]; then ready=1; break; fi
    kill -0 "$host_pid" 2>/dev/null || break
    sleep 0.5
done
[ -n "$ready" ] || { echo "build-time: just run never became ready; see $work/run.log" >&2; keep=1; exit 1; }
first_ready="$(since "$t2")"
total_run="$(since "$t0")"
kill -TERM "$host_pid"; wait "$host_pid" 2>/dev/null || true; host_pid=""
binary_size="$(du -m "$CARGO_TARGET_DIR/debug/budget-host" | cut -f1)"

# 2. The whole CI run from a fresh clone, with an empty target directory.
ci="not run"
ci_status=0
if [ -z "$run_only" ]; then
git clone --quiet "$root" "$work/ci"
export CARGO_TARGET_DIR="$work/ci-target"
cd "$work/ci"
t3="$(now)"
bash .ci/run >"$work/ci.log" 2>&1 || ci_status=$?
ci="$(since "$t3")"
[ "$ci_status" = 0 ] || { echo "build-time: .ci/run failed ($ci_status); see $work/ci.log" >&2; keep=1; }
fi

cat <<EOF
### Build time from a fresh clone ($(date -u +%Y-%m-%d), commit $(git -C "$root" rev-parse --short HEAD))

$(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(rustc --version); empty \`CARGO_TARGET_DIR\`, crates already downloaded.

| step | seconds |
|---|---|
| \`just build-components\` (all guest components, release, wasm32-wasip2) | $components |
| \`just build-bins\` (host and bench binaries, dev profile, one feature set, clippy inside) | $host |
| \`just run\` until the first \`/readyz\` 200 (PostgreSQL and nx-27017 installed and started) | $first_ready |
| **fresh clone to first \`/readyz\` 200** | **$total_run** |
| **\`.ci/run\`** (lint, every test, API and browser checks) $( [ "$ci_status" = 0 ] && echo passed || echo "FAILED ($ci_status)") | **$ci** |

Host binary (dev profile): $binary_size MB.
EOF
exit "$ci_status"
