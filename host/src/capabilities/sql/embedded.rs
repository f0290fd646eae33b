//! Embedded PostgreSQL for development (`just run` without `DATABASE_URL`):
//! real PostgreSQL 17 compiled to WebAssembly, run in process by
//! `pglite-oxide`, with its data under `--embedded-postgres-dir`.
//!
//! It serves one session at a time and does not authenticate, so the host
//! uses it in [`SessionMode::SharedSetRole`](super::SessionMode): one
//! connection for everything, switched to the app's role with `SET ROLE` on
//! every checkout. Schemas, roles and migrations are the same as in
//! production, but a component could `RESET ROLE` or `SET SESSION AUTHORIZATION` out of its
//! role here (PGlite does not undo the latter on reset):
//! this is a development database, not an isolation boundary. Production
//! images build without the `embedded-postgres` feature.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("cannot start embedded PostgreSQL in {dir}: {detail}")]
pub struct EmbeddedError {
    dir: PathBuf,
    detail: String,
}

/// The running server. It is never dropped: stopping it waits for its
/// serving thread, which stays in the session the pool keeps open, so the
/// process ends it by exiting. PostgreSQL then recovers from its WAL at the
/// next start, as after a crash (the embedded test restarts on the same data).
pub struct EmbeddedPostgres {
    server: std::mem::ManuallyDrop<pglite_oxide::PgliteServer>,
}

impl EmbeddedPostgres {
    /// Starts (first run: initialises) the database in `dir` on a free
    /// loopback port. Blocking work runs off the async runtime.
    pub async fn start(dir: &Path) -> Result<Self, EmbeddedError> {
        let dir = dir.to_path_buf();
        let fail = |dir: &Path, detail: String| EmbeddedError { dir: dir.to_path_buf(), detail };
        std::fs::create_dir_all(&dir).map_err(|e| fail(&dir, e.to_string()))?;
        let target = dir.clone();
        let started = tokio::task::spawn_blocking(move || {
            pglite_oxide::PgliteServer::builder()
                .path(target)
                .tcp(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
                .start()
        })
        .await
        .map_err(|e| fail(&dir, e.to_string()))?
        .map_err(|e| fail(&dir, format!("{e:#}")))?;
        Ok(Self { server: std::mem::ManuallyDrop::new(started) })
    }

    /// The superuser URL the host's pool connects with.
    pub fn database_url(&self) -> String {
        self.server.database_url()
    }
}
