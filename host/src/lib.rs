//! `budget-host` serves versioned WebAssembly components over HTTP.
//!
//! Layout: [`config`] reads the settings and `apps.toml`; [`runtime`] owns the
//! wasmtime engine, the compiled-artifact cache and per-request stores;
//! [`capabilities`] implements the host side of the world's imports;
//! [`server`] is the hyper front (routing, limits, probes, metrics, drain);
//! [`releases`] keeps uploaded versions and canary releases and follows them
//! on every pod; [`client`] is the operator CLI over the admin API.
//!
//! # Error policy
//!
//! Every error a client sees is one JSON envelope,
//! `{"error":{"id":<request id>,"name":<stable name>,"detail":<text>}}`,
//! built only from [`error::ApiError`]. Details are written for clients and
//! never carry internals: traps, paths, backend messages and stack traces go
//! to the log, tagged with the request id, app and version, so the `id` in
//! the envelope finds them. Library code returns `thiserror` types; `anyhow`
//! appears only at the edges (startup, CLI). A guest failure is never a host
//! failure: traps, timeouts and memory exhaustion end one request only.

pub mod auth;
pub mod capabilities;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod error;
pub mod metrics;
pub mod releases;
pub mod runtime;
pub mod server;
