//! The wasmtime side: one engine, compiled components cached on disk, one
//! `InstancePre` per (app, version), and a fresh `Store` per request.

pub mod artifact_cache;
pub mod bindings;
pub mod engine;
pub mod inspect;
pub mod invoke;
pub mod loader;
pub mod state;

pub use engine::{EngineSettings, build_engine, spawn_epoch_ticker};
pub use loader::{LoadError, LoadedVersion};
