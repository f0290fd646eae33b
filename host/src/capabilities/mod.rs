//! Host implementations of the world's imports, one module per interface.
//!
//! Policy (as in wasmtime's wasi-http): a trap only for a host bug; every
//! failure a guest can cause or a backend can suffer returns to the guest
//! as the interface's error value.

pub mod backends;
pub mod cache;
pub mod config;
pub mod docs;
pub mod guest_output;
pub mod keyvalue;
pub mod logging;
pub mod outbound_http;
pub mod sql;

use crate::config::Capability;
use crate::runtime::bindings::{budget, wasi};
use crate::runtime::state::RequestState;
use wasmtime::component::{HasSelf, Linker};

/// Data capabilities this host version implements. A component that
/// imports any other `budget:platform` interface is refused at load, naming
/// the import.
pub const PROVIDED_CAPABILITIES: &[Capability] =
    &[Capability::Sql, Capability::Docs, Capability::Cache, Capability::KeyValue];

/// Adds `wasi:config/store`, `wasi:logging/logging` and the data
/// capabilities this host provides. Linking a capability grants nothing by
/// itself: a component whose app lacks the grant is refused at load.
pub fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    budget::platform::cache::add_to_linker::<RequestState, HasSelf<RequestState>>(linker, |state| state)?;
    budget::platform::sql::add_to_linker::<RequestState, HasSelf<RequestState>>(linker, |state| state)?;
    budget::platform::docs::add_to_linker::<RequestState, HasSelf<RequestState>>(linker, |state| state)?;
    wasi::keyvalue::store::add_to_linker::<RequestState, HasSelf<RequestState>>(linker, |state| state)?;
    wasi::keyvalue::atomics::add_to_linker::<RequestState, HasSelf<RequestState>>(linker, |state| state)?;
    wasi::keyvalue::batch::add_to_linker::<RequestState, HasSelf<RequestState>>(linker, |state| state)?;
    wasi::config::store::add_to_linker::<RequestState, HasSelf<RequestState>>(linker, |state| state)?;
    wasi::logging::logging::add_to_linker::<RequestState, HasSelf<RequestState>>(linker, |state| state)?;
    Ok(())
}
