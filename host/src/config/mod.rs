//! Configuration: the strict `apps.toml` format and its validated form.

mod apps;
mod byte_size;

pub use apps::{AppDefinition, AppsConfig, AuthMode, Capability, Limits, RESERVED_PATHS};
pub use byte_size::ByteSize;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}
