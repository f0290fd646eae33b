# budget-host: `just run` serves the API, `just test` runs everything CI runs.

set shell := ["bash", "-euo", "pipefail", "-c"]

root := justfile_directory()
# Guests always build into their own workspace's target dir, whatever
# CARGO_TARGET_DIR says, because apps.toml and the tests look for them there.
guest_target := root / "components" / "target"
guest_out := guest_target / "wasm32-wasip2" / "release"

# Clippy lints the workspace's own crates while they compile: `cargo clippy`
# is `cargo check` with clippy-driver as the workspace's rustc wrapper, and
# the same wrapper under `cargo build` also leaves the real artifacts. So the
# lint and the build are one compilation, and dependencies are built once
# (never again in check mode). Every build of the host uses it, so the
# fingerprints never change between `just run`, `just lint` and `just test`.
clippy := 'RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver)" CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"'

# List the recipes.
default:
    @just --list

# Add the wasm32-wasip2 target and clippy when they are missing.
setup:
    @rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
    @rustup which clippy-driver >/dev/null 2>&1 || rustup component add clippy

# Build (and clippy) the guest components (release, wasm32-wasip2).
build-components: setup
    cd components && {{clippy}} CARGO_TARGET_DIR="{{guest_target}}" cargo build --release --target wasm32-wasip2

# Build the guest components with cargo-component instead (needs `cargo install cargo-component --locked`).
build-components-cargo-component: setup
    cd components && CARGO_NET_OFFLINE=true CARGO_TARGET_DIR="{{guest_target}}" cargo component build --release

# Build the host and the test binaries: one feature set (the whole
# workspace's) and one profile (dev, dependencies optimised), so `just run`,
# `just test` and clippy's later runs never compile a dependency twice.
build: setup
    {{clippy}} cargo build --workspace --all-targets

# Build the binaries only (what `just run` needs): the same features and
# dependency artifacts as `build`, without compiling and linking the tests.
build-bins: setup
    {{clippy}} cargo build --workspace

# Serve the repo's apps on $BUDGET_LISTEN (default 0.0.0.0:8080), with stand-ins for unset DATABASE_URL (a real PostgreSQL 18 under .data/), MONGODB_URL (nx-27017) and REDIS_URL (in-process).
run *flags: build-components build-bins
    scripts/run-local.sh "${CARGO_TARGET_DIR:-{{root}}/target}/debug/budget-host" {{flags}}

# Validate a component: `just check path/to/component.wasm`.
check file: build-bins
    "${CARGO_TARGET_DIR:-{{root}}/target}/debug/budget-host" check "{{file}}"

# Format both workspaces.
fmt:
    cargo fmt --all
    cd components && cargo fmt --all

# Formatting check and clippy -D warnings, host and guests (clippy runs inside the builds).
lint: setup && build-components build
    cargo fmt --all --check
    cd components && cargo fmt --all --check

# Start the backing services the tests need (Redis, PostgreSQL, nx-27017) when they are down.
services:
    scripts/ensure-services.sh

# Everything CI runs: lint (code, k8s/, Dockerfile), unit tests (host, SDK, web money), integration tests against the real binary, the short drain drill, the API check, the browser check, the api.md examples, and `just run` itself.
test: services lint k8s-lint build-components build
    python3 scripts/drill.py --short --host-bin "${CARGO_TARGET_DIR:-{{root}}/target}/debug/budget-host"
    python3 scripts/schemathesis.py --host-bin "${CARGO_TARGET_DIR:-{{root}}/target}/debug/budget-host"
    python3 scripts/browser-check.py --host-bin "${CARGO_TARGET_DIR:-{{root}}/target}/debug/budget-host"
    python3 scripts/docs-check.py --host-bin "${CARGO_TARGET_DIR:-{{root}}/target}/debug/budget-host"
    python3 scripts/run-check.py --host-bin "${CARGO_TARGET_DIR:-{{root}}/target}/debug/budget-host"
    node --test web/tests/
    {{clippy}} cargo test --workspace --no-fail-fast
    cd components && CARGO_TARGET_DIR="{{guest_target}}" cargo test -p budget-sdk -p budget-core --target "$(rustc -vV | sed -n 's/^host: //p')"

# Throughput and latency against the peers (wasmtime serve; native hyper + sqlx/redis), the budget API on 10,000 transactions, and release propagation across three hosts; writes docs/benchmarks.md.
# Suites: hello, sql, cache, ledger, propagation. Pass some to run only those: `just bench --suite sql --suite cache`.
bench *flags: services build-components
    cargo build --release -p budget-host -p bench-native
    python3 scripts/bench.py --host-bin "${CARGO_TARGET_DIR:-{{root}}/target}/release/budget-host" --native-bin "${CARGO_TARGET_DIR:-{{root}}/target}/release/bench-native" --components "{{guest_out}}" {{flags}}

# Time a fresh clone with empty target dirs: components, host, first /readyz of `just run`, the whole .ci/run (prints a block for docs/benchmarks.md); `--run-only` skips .ci/run.
build-time *flags:
    scripts/build-time.sh {{flags}}

# --- Kubernetes and container ---
# Operator recipes run kubectl against the current context, in the namespace
# $K8S_NAMESPACE (default production). k8s/README.md explains each one.

k8s_ns := env_var_or_default("K8S_NAMESPACE", "production")

# Lint k8s/ and the Dockerfile: kubernetes-validate, yamllint, checkov, hadolint, scripts/k8s_invariants.py.
k8s-lint:
    scripts/k8s-lint.sh

# Build the image (needs a Docker engine): `just image 0.2.0`.
image tag="0.1.0":
    docker build -t "registry.example.com/budget/budget-host:{{tag}}" .

# Rolling-restart drill: SIGTERM budget-host behind haproxy under wrk, expect 0 failed requests (docs/drill.md).
drill: build-components build
    python3 scripts/drill.py --host-bin "${CARGO_TARGET_DIR:-{{root}}/target}/debug/budget-host"

# The web app in headless Chromium (screenshots in target/browser/): `just browser-check`.
browser-check: services build-components build
    python3 scripts/browser-check.py --host-bin "${CARGO_TARGET_DIR:-{{root}}/target}/debug/budget-host"

# Run the shell examples of docs/api.md, in order, against a real host.
docs-check: services build-components build
    python3 scripts/docs-check.py --host-bin "${CARGO_TARGET_DIR:-{{root}}/target}/debug/budget-host"

# Fuzz the budget API with schemathesis against docs/openapi.json as the api_docs app serves it; any 5xx fails: `just api-check --max-examples 200`.
api-check *flags: services build-components build
    python3 scripts/schemathesis.py --host-bin "${CARGO_TARGET_DIR:-{{root}}/target}/debug/budget-host" {{flags}}

# Send live traffic to blue or green: `just bg-switch green` (both tiers), `just bg-switch green backend`.
bg-switch color tiers="backend frontend":
    #!/usr/bin/env bash
    set -euo pipefail
    ns="{{k8s_ns}}"
    case "{{color}}" in blue|green) ;; *) echo "bg-switch: colour must be blue or green, not '{{color}}'" >&2; exit 2 ;; esac
    for tier in {{tiers}}; do
        case "$tier" in backend|frontend) ;; *) echo "bg-switch: unknown tier '$tier'" >&2; exit 2 ;; esac
        # Never switch to a colour that is not fully rolled out and ready.
        kubectl -n "$ns" rollout status "deployment/$tier-{{color}}" --timeout=180s
        ready="$(kubectl -n "$ns" get deployment "$tier-{{color}}" -o jsonpath='{.status.readyReplicas}')"
        if [ "${ready:-0}" -lt 1 ]; then echo "bg-switch: $tier-{{color}} has no ready pod; not switching" >&2; exit 1; fi
    done
    for tier in {{tiers}}; do
        prev="$(kubectl -n "$ns" get service "$tier-service" -o jsonpath='{.spec.selector.version}')"
        kubectl -n "$ns" annotate service "$tier-service" --overwrite "budget-host/previous-version=$prev"
        kubectl -n "$ns" patch service "$tier-service" --type=merge -p '{"spec":{"selector":{"version":"{{color}}"}}}'
        echo "bg-switch: $tier-service now selects version={{color}} (was $prev; \`just rollback\` returns to it)"
    done
    echo "bg-switch: also set version: {{color}} in k8s/*-service-blue-green.yaml, or a later kubectl apply switches back"

# Pod-level canary: N of 10 pods run the canary, 10-N the stable version: `just canary-scale 3`.
canary-scale n tiers="backend frontend":
    #!/usr/bin/env bash
    set -euo pipefail
    ns="{{k8s_ns}}"
    n="{{n}}"
    if ! [[ "$n" =~ ^([0-9]|10)$ ]]; then echo "canary-scale: N must be 0 to 10, not '$n'" >&2; exit 2; fi
    stable=$((10 - n))
    for tier in {{tiers}}; do
        case "$tier" in backend|frontend) ;; *) echo "canary-scale: unknown tier '$tier'" >&2; exit 2 ;; esac
        # Bounds first, so that neither HPA undoes the new split; a Deployment
        # at 0 replicas is left alone by its HPA.
        if [ "$n" -gt 0 ]; then
            kubectl -n "$ns" patch hpa "$tier-hpa-canary" --type=merge \
                -p "{\"spec\":{\"minReplicas\":$n,\"maxReplicas\":$((2 * n))}}"
        fi
        if [ "$stable" -gt 0 ]; then
            kubectl -n "$ns" patch hpa "$tier-hpa-canary-stable" --type=merge \
                -p "{\"spec\":{\"minReplicas\":$stable,\"maxReplicas\":$((2 * stable))}}"
        fi
        # Grow one side and wait for it before shrinking the other, so capacity never dips.
        current="$(kubectl -n "$ns" get deployment "$tier-canary" -o jsonpath='{.spec.replicas}')"
        if [ "$n" -ge "${current:-0}" ]; then order="canary:$n canary-stable:$stable"; else order="canary-stable:$stable canary:$n"; fi
        for step in $order; do
            kubectl -n "$ns" scale deployment "$tier-${step%%:*}" --replicas="${step##*:}"
            kubectl -n "$ns" rollout status deployment "$tier-${step%%:*}" --timeout=300s
        done
        echo "canary-scale: $tier: $n canary pod(s), $stable stable pod(s) behind $tier-service-canary"
    done

# Wait for every budget Deployment to finish rolling out, then show pods, HPAs, PDBs and the live colour.
rollout-status:
    #!/usr/bin/env bash
    set -euo pipefail
    ns="{{k8s_ns}}"
    for d in $(kubectl -n "$ns" get deployments -l app.kubernetes.io/part-of=budget -o name); do
        kubectl -n "$ns" rollout status "$d" --timeout=300s
    done
    kubectl -n "$ns" get deployments,hpa,pdb -l app.kubernetes.io/part-of=budget
    for tier in backend frontend; do
        echo "$tier-service -> version=$(kubectl -n "$ns" get service "$tier-service" -o jsonpath='{.spec.selector.version}')"
    done

# Undo: `just rollback` (the last bg-switch), `just rollback canary` (canary to 0 pods), `just rollback backend-green` (the Deployment's previous ReplicaSet).
rollback what="switch":
    #!/usr/bin/env bash
    set -euo pipefail
    ns="{{k8s_ns}}"
    case "{{what}}" in
    switch)
        for tier in backend frontend; do
            prev="$(kubectl -n "$ns" get service "$tier-service" -o jsonpath='{.metadata.annotations.budget-host/previous-version}')"
            if [ -z "$prev" ]; then echo "rollback: $tier-service records no previous version; nothing to undo" >&2; continue; fi
            "{{just_executable()}}" --justfile "{{justfile()}}" bg-switch "$prev" "$tier"
        done
        ;;
    canary)
        "{{just_executable()}}" --justfile "{{justfile()}}" canary-scale 0
        ;;
    backend-*|frontend-*)
        kubectl -n "$ns" rollout undo "deployment/{{what}}"
        kubectl -n "$ns" rollout status "deployment/{{what}}" --timeout=300s
        ;;
    *)
        echo "rollback: say switch, canary or a Deployment name (e.g. backend-green), not '{{what}}'" >&2
        exit 2
        ;;
    esac

# Gateway API: send P% of /api and / to green, the rest to blue (httproute.yaml): `just route-weight 10`.
route-weight green_percent:
    #!/usr/bin/env bash
    set -euo pipefail
    g="{{green_percent}}"
    if ! [[ "$g" =~ ^([0-9]|[1-9][0-9]|100)$ ]]; then echo "route-weight: give 0 to 100, not '$g'" >&2; exit 2; fi
    for route in budget-api budget-web; do
        kubectl -n "{{k8s_ns}}" patch httproute "$route" --type=json -p \
            "[{\"op\":\"test\",\"path\":\"/spec/rules/1/backendRefs/0/name\",\"value\":\"$([ "$route" = budget-api ] && echo backend || echo frontend)-service-blue\"},
              {\"op\":\"replace\",\"path\":\"/spec/rules/1/backendRefs/0/weight\",\"value\":$((100 - g))},
              {\"op\":\"replace\",\"path\":\"/spec/rules/1/backendRefs/1/weight\",\"value\":$g}]"
        echo "route-weight: $route: blue $((100 - g)), green $g"
    done
