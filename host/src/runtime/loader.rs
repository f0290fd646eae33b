//! Turns an app definition into a ready-to-instantiate version: read,
//! validate, compile (or load the cached artifact), link, pre-instantiate.

use super::artifact_cache::{ArtifactCache, CacheOutcome, sha256_hex};
use super::inspect::{self, CheckError, ComponentInfo, Grants};
use super::state::{AppContext, RequestState};
use crate::capabilities::backends::CapabilityHandles;
use crate::config::AppDefinition;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// One (app, version), compiled and pre-instantiated. Each request gets a
/// fresh `Store` and instance from `pre`.
pub struct LoadedVersion {
    pub context: Arc<AppContext>,
    pub digest: String,
    pub size: usize,
    pub info: ComponentInfo,
    pub pre: ProxyPre<RequestState>,
    pub cache: CacheOutcome,
    pub load_time: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read component {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("component {path} {source}")]
    Check { path: PathBuf, source: CheckError },
    #[error("memory limit {limit} exceeds the pool slot size of {slot} bytes (raise --pool-max-memory-mib)")]
    MemoryAboveSlot { limit: u64, slot: u64 },
}

/// Validates `component` for `grants` and links it: the shared core of
/// `check` and of loading.
pub fn prepare(
    engine: &Engine,
    linker: &Linker<RequestState>,
    component: &Component,
    grants: &Grants<'_>,
) -> Result<(ComponentInfo, ProxyPre<RequestState>), CheckError> {
    let info = inspect::describe(engine, component);
    inspect::validate(&info, grants)?;
    let instance_pre = linker.instantiate_pre(component).map_err(|e| CheckError::Link(format!("{e:#}")))?;
    let pre = ProxyPre::new(instance_pre).map_err(|e| CheckError::Link(format!("{e:#}")))?;
    Ok((info, pre))
}

/// Compiles `bytes`, turning wasmtime's error into a `CheckError`.
pub fn compile(
    engine: &Engine,
    cache: &ArtifactCache,
    bytes: &[u8],
    digest: &str,
) -> Result<(Component, CacheOutcome), CheckError> {
    inspect::check_header(bytes)?;
    cache.load_or_compile(engine, bytes, digest).map_err(|e| CheckError::Compile(format!("{e:#}")))
}

/// Loads one app's component from its apps.toml file. Blocking
/// (compilation): run it on a blocking thread.
pub fn load_version(
    engine: &Engine,
    cache: &ArtifactCache,
    linker: &Linker<RequestState>,
    definition: &AppDefinition,
    handles: CapabilityHandles,
    pool_max_memory: u64,
) -> Result<LoadedVersion, LoadError> {
    let path = &definition.component;
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read { path: path.clone(), source })?;
    let version = definition.version.to_string();
    load_bytes(engine, cache, linker, definition, handles, pool_max_memory, &version, path.clone(), &bytes)
}

/// Loads `bytes` as `version` of the app; `origin` names where they came
/// from in errors. Blocking (compilation): run it on a blocking thread.
#[allow(clippy::too_many_arguments)]
pub fn load_bytes(
    engine: &Engine,
    cache: &ArtifactCache,
    linker: &Linker<RequestState>,
    definition: &AppDefinition,
    handles: CapabilityHandles,
    pool_max_memory: u64,
    version: &str,
    origin: PathBuf,
    bytes: &[u8],
) -> Result<LoadedVersion, LoadError> {
    let started = Instant::now();
    if definition.limits.memory.0 > pool_max_memory {
        return Err(LoadError::MemoryAboveSlot { limit: definition.limits.memory.0, slot: pool_max_memory });
    }
    let digest = sha256_hex(bytes);
    let check = |source| LoadError::Check { path: origin.clone(), source };
    let (component, cache_outcome) = compile(engine, cache, bytes, &digest).map_err(check)?;
    let grants = Grants::App { name: &definition.name, capabilities: &definition.capabilities };
    let (info, pre) = prepare(engine, linker, &component, &grants).map_err(check)?;
    Ok(LoadedVersion {
        context: Arc::new(AppContext {
            app: definition.name.clone(),
            version: version.to_string(),
            config: definition.config.clone(),
            limits: definition.limits.clone(),
            cache: handles.cache,
            sql: handles.sql,
            docs: handles.docs,
        }),
        digest,
        size: bytes.len(),
        info,
        pre,
        cache: cache_outcome,
        load_time: started.elapsed(),
    })
}
