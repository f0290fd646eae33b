//! Per-app configuration values, from the app's `[config]` table in
//! `apps.toml` (`wasi:config/store`).

use crate::bindings::wasi::config::store;

/// The value of `key`, or `None` when the app defines no such key (or the
/// store cannot be read; that is logged by the host).
pub fn get(key: &str) -> Option<String> {
    store::get(key).ok().flatten()
}

/// Every configured key and value.
pub fn all() -> Vec<(String, String)> {
    store::get_all().unwrap_or_default()
}
