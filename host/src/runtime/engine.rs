//! The one wasmtime `Engine` of the process, and its epoch ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// Engine-wide limits. Per-app limits (memory, deadline) are enforced per
/// store and must fit inside these.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Component instances alive at once (default 1000). Memories, tables,
    /// core instances and fiber stacks are pooled in proportion.
    pub max_instances: u32,
    /// Size of one pooled linear-memory slot; the ceiling for any app's
    /// `memory` limit (default 256 MiB).
    pub pool_max_memory: u64,
    /// Bytes of each linear memory reset in place (only its dirty pages,
    /// where the kernel has `PAGEMAP_SCAN`) rather than returned to the
    /// kernel with `madvise` when an instance ends (default 16 MiB). Resetting
    /// in place avoids a TLB shootdown across cores per request; profiling
    /// showed those at a quarter of the host's CPU time. 0 restores `madvise`.
    pub keep_resident: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self { max_instances: 1000, pool_max_memory: 256 << 20, keep_resident: 16 << 20 }
    }
}

/// Core instances, memories and tables a single component may use. Rust
/// components use 2 to 4; Python (componentize-py) and JavaScript (jco)
/// components use more, so leave room.
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
const MEMORIES_PER_COMPONENT: u32 = 4;
/// Tables are small; resetting this much of one in place is always cheap.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;
const TABLES_PER_COMPONENT: u32 = 8;

/// Builds the engine: component model, async, epoch interruption and the
/// pooling allocator.
pub fn build_engine(settings: &EngineSettings) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    let n = settings.max_instances.max(1);
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(4))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(4))
        .total_stacks(n)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(usize::try_from(settings.pool_max_memory).unwrap_or(usize::MAX))
        .linear_memory_keep_resident(settings.keep_resident)
        .table_keep_resident(settings.keep_resident.min(TABLE_KEEP_RESIDENT))
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Drives epoch interruption from a dedicated OS thread. It must not be a
/// tokio task: with every worker busy running guests, a task would never get
/// to tick and no guest would ever be interrupted. Dropping the guard stops
/// the thread.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub fn spawn_epoch_ticker(engine: Engine, tick: Duration) -> std::io::Result<EpochTicker> {
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    std::thread::Builder::new().name("epoch-ticker".into()).spawn(move || {
        while !thread_stop.load(Ordering::Relaxed) {
            std::thread::sleep(tick);
            engine.increment_epoch();
        }
    })?;
    Ok(EpochTicker { stop })
}
