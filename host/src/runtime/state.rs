//! The per-request store state, and the linker that serves every import.

use crate::capabilities::cache::AppCache;
use crate::capabilities::docs::AppDocs;
use crate::capabilities::sql::AppSql;
use crate::capabilities::{self, guest_output::GuestOutput, outbound_http::DenyOutboundHttp};
use crate::config::Limits;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// What every request of one (app, version) shares. Built once at load:
/// pools and namespaces here, only handles in the per-request state.
pub struct AppContext {
    pub app: String,
    pub version: String,
    pub config: Arc<BTreeMap<String, String>>,
    pub limits: Limits,
    /// Present when the app is granted `cache`.
    pub cache: Option<AppCache>,
    /// Present when the app is granted `sql`.
    pub sql: Option<AppSql>,
    /// Present when the app is granted `docs`.
    pub docs: Option<AppDocs>,
}

/// A `Store`'s data: one request's handles. Nothing here outlives the
/// request; state survives only through capabilities.
pub struct RequestState {
    pub app: Arc<AppContext>,
    pub request_id: Arc<str>,
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound: DenyOutboundHttp,
    pub(crate) limits: StoreLimits,
}

impl RequestState {
    pub fn new(app: Arc<AppContext>, request_id: Arc<str>) -> Self {
        // No preopened directories, no sockets, no name lookup, no
        // environment and no arguments: a component's only powers are the
        // ones the world grants it explicitly.
        let wasi = WasiCtxBuilder::new()
            .stdout(GuestOutput::stdout(app.clone(), request_id.clone()))
            .stderr(GuestOutput::stderr(app.clone(), request_id.clone()))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let memory = usize::try_from(app.limits.memory.0).unwrap_or(usize::MAX);
        let limits = StoreLimitsBuilder::new().memory_size(memory).build();
        Self {
            app,
            request_id,
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            outbound: DenyOutboundHttp,
            limits,
        }
    }
}

impl RequestState {
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

/// Every interface the host provides: WASI 0.2 (cli, clocks, io, random,
/// and filesystem and sockets with nothing granted), `wasi:http`, and the
/// platform's own imports.
pub fn build_linker(engine: &Engine) -> wasmtime::Result<Linker<RequestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    capabilities::add_to_linker(&mut linker)?;
    Ok(linker)
}
