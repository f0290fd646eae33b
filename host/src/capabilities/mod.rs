//! Host implementations of the world's imports, one module per interface.
//!
//! Policy (as in wasmtime's wasi-http): a trap only for a host bug; every
//! failure a guest can cause or a backend can suffer returns to the guest
//! as the interface's error value.

pub mod config;
pub mod guest_output;
pub mod logging;
pub mod outbound_http;

use crate::config::Capability;
use crate::runtime::bindings::wasi;
use crate::runtime::state::RequestState;
use wasmtime::component::{HasSelf, Linker};

/// Data capabilities this host version implements. A component that
/// imports any other `budget:platform` interface is refused at load, naming
/// the import.
pub const PROVIDED_CAPABILITIES: &[Capability] = &[];

/// Adds `wasi:config/store` and `wasi:logging/logging`.
pub fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    wasi::config::store::add_to_linker::<RequestState, HasSelf<RequestState>>(linker, |state| state)?;
    wasi::logging::logging::add_to_linker::<RequestState, HasSelf<RequestState>>(linker, |state| state)?;
    Ok(())
}
