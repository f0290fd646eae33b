# budget-host: `just run` serves the API, `just test` runs everything CI runs.

set shell := ["bash", "-euo", "pipefail", "-c"]

root := justfile_directory()
# Guests always build into their own workspace's target dir, whatever
# CARGO_TARGET_DIR says, because apps.toml and the tests look for them there.
guest_target := root / "components" / "target"
guest_out := guest_target / "wasm32-wasip2" / "release"

# List the recipes.
default:
    @just --list

# Add the wasm32-wasip2 target when it is missing.
setup:
    @rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# Build the guest components (release, wasm32-wasip2).
build-components: setup
    cd components && CARGO_TARGET_DIR="{{guest_target}}" cargo build --release --target wasm32-wasip2

# Build the guest components with cargo-component instead (needs `cargo install cargo-component --locked`).
build-components-cargo-component: setup
    cd components && CARGO_NET_OFFLINE=true CARGO_TARGET_DIR="{{guest_target}}" cargo component build --release

# Build the host (dev profile; dependencies are optimised).
build:
    cargo build -p budget-host

# Serve the repo's apps on $BUDGET_LISTEN (default 0.0.0.0:8080).
run: build-components
    cargo run -p budget-host -- serve --apps "{{root}}/apps.toml"

# Validate a component: `just check path/to/component.wasm`.
check file: build
    cargo run -q -p budget-host -- check "{{file}}"

# Format both workspaces.
fmt:
    cargo fmt --all
    cd components && cargo fmt --all

# Formatting check and clippy -D warnings, host and guests.
lint: setup
    cargo fmt --all --check
    cd components && cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    cd components && CARGO_TARGET_DIR="{{guest_target}}" cargo clippy --release --target wasm32-wasip2 -- -D warnings

# Start the backing services the tests need (Redis) when they are down.
services:
    scripts/ensure-services.sh

# Everything CI runs: lint, unit tests (host and SDK), integration tests against the real binary.
test: services lint build-components build
    cargo test --workspace --no-fail-fast
    cd components && CARGO_TARGET_DIR="{{guest_target}}" cargo test -p budget-sdk --target "$(rustc -vV | sed -n 's/^host: //p')"

# Throughput and latency against `wasmtime serve` (writes docs/benchmarks.md).
bench: build-components
    cargo build --release -p budget-host
    python3 scripts/bench.py --host-bin "${CARGO_TARGET_DIR:-{{root}}/target}/release/budget-host" --component "{{guest_out}}/hello.wasm"
