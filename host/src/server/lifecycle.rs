//! Startup and shutdown flags behind the probes.

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub struct Lifecycle {
    started: AtomicBool,
    draining: AtomicBool,
}

impl Lifecycle {
    pub fn started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }
    pub fn mark_started(&self) {
        self.started.store(true, Ordering::Release);
    }
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
    pub fn begin_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }
}
