//! Compiled components on local disk, keyed by the component's sha256 and
//! the engine's compatibility fingerprint, so that a restart does not
//! recompile and an engine upgrade never loads a stale artifact.
//!
//! Files are written to a temporary name and renamed into place, so a crash
//! mid-write leaves no truncated artifact behind. An artifact that fails to
//! deserialise is recompiled and replaced.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a component came from on this load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
}

pub struct ArtifactCache {
    dir: PathBuf,
    engine_fingerprint: String,
}

/// Feeds `Hash` output into sha256: stable across processes, unlike
/// `DefaultHasher` seeds.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

pub fn engine_fingerprint(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..12])
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl ArtifactCache {
    pub fn new(dir: impl Into<PathBuf>, engine: &Engine) -> Self {
        Self { dir: dir.into(), engine_fingerprint: engine_fingerprint(engine) }
    }

    fn artifact_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_fingerprint))
    }

    /// Loads the artifact for `digest`, or compiles `bytes` and stores it.
    /// Blocking: call it from a blocking thread.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.artifact_path(digest);
        if path.exists() {
            match deserialize(engine, &path) {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(error) => tracing::warn!(path = %path.display(), %error, "discarding unusable compiled artifact"),
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(error) = self.store(&component, &path) {
            // A read-only or full disk costs a recompile next start, nothing more.
            tracing::warn!(path = %path.display(), %error, "could not cache compiled component");
        }
        Ok((component, CacheOutcome::Compiled))
    }

    fn store(&self, component: &Component, path: &Path) -> wasmtime::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let serialized = component.serialize()?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, serialized)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts its input to be wasmtime's own output.
    // Only this process writes the cache directory (an emptyDir in
    // Kubernetes), always through a rename of a complete file, and the
    // file name carries the engine fingerprint; wasmtime additionally checks
    // the artifact's header against this engine and refuses a mismatch.
    unsafe { Component::deserialize_file(engine, path) }
}
