# syntax=docker/dockerfile:1
#
# The one budget-host image, for backend and frontend pods alike: the host
# binary, the initial versions of the components, and an apps file per tier
# (BUDGET_APPS picks one; see k8s/configmap.yaml).
#
#   docker build -t registry.example.com/budget/budget-host:0.1.0 .
#
# Stage 1 builds on the pinned Rust toolchain (the project's 1.95) on
# Debian 12; stage 2 is distroless Debian 12 (glibc and libgcc, no shell), so
# the binary's glibc matches. Checked by hadolint in `just k8s-lint`.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-wasip2

# The whole workspace (every member's manifest must be present for --locked
# builds); .dockerignore keeps build output, docs and manifests out.
COPY . .

# The guest components the image ships, built exactly as `just build-components` does.
WORKDIR /src/components
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked --target wasm32-wasip2 -p hello -p greeter -p ledger -p api-docs -p web \
    && mkdir -p /out/components /out/migrations \
    && cp target/wasm32-wasip2/release/hello.wasm \
          target/wasm32-wasip2/release/greeter.wasm \
          target/wasm32-wasip2/release/ledger.wasm \
          target/wasm32-wasip2/release/api_docs.wasm \
          target/wasm32-wasip2/release/web.wasm /out/components/ \
    && cp -r ledger/migrations /out/migrations/ledger

# The same host, with the same features, as `just run` and `just test` use
# (there is one feature set); release profile, stripped.
WORKDIR /src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked -p budget-host \
    && cp target/release/budget-host /out/budget-host \
    && for c in /out/components/*.wasm; do /out/budget-host check "$c"; done \
    && mkdir -p /out/cache

FROM gcr.io/distroless/cc-debian12:nonroot
WORKDIR /app
COPY --from=build /out/budget-host /usr/local/bin/budget-host
COPY --from=build /out/components/ /app/components/
COPY --from=build /out/migrations/ /app/migrations/
COPY deploy/apps.backend.toml deploy/apps.frontend.toml /app/
# Writable compiled-artifact cache for `docker run`; Kubernetes mounts an
# emptyDir here and keeps the root filesystem read-only.
COPY --from=build --chown=10001:10001 /out/cache /var/cache/budget-host

# A fixed, high, non-root uid; k8s/ sets runAsUser to the same.
USER 10001:10001
ENV BUDGET_APPS=/app/apps.backend.toml \
    BUDGET_CACHE_DIR=/var/cache/budget-host \
    BUDGET_LOG_FORMAT=json
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/budget-host"]
CMD ["serve"]
