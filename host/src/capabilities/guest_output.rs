//! Guest stdout and stderr, turned into log lines tagged with app, version
//! and request id. Each stream keeps at most `MAX_BYTES_PER_STREAM`; the
//! rest is dropped (and says so once) so a chatty guest cannot fill disks.

use crate::runtime::state::AppContext;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

const MAX_BYTES_PER_STREAM: usize = 64 * 1024;
const MAX_LINE: usize = 4 * 1024;

#[derive(Clone, Copy, Debug)]
enum Which {
    Stdout,
    Stderr,
}

pub struct GuestOutput {
    app: Arc<AppContext>,
    request_id: Arc<str>,
    which: Which,
}

impl GuestOutput {
    pub fn stdout(app: Arc<AppContext>, request_id: Arc<str>) -> Self {
        Self { app, request_id, which: Which::Stdout }
    }
    pub fn stderr(app: Arc<AppContext>, request_id: Arc<str>) -> Self {
        Self { app, request_id, which: Which::Stderr }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineLogger {
            app: self.app.clone(),
            request_id: self.request_id.clone(),
            which: self.which,
            line: Vec::new(),
            written: 0,
            dropped: false,
        })
    }
}

struct LineLogger {
    app: Arc<AppContext>,
    request_id: Arc<str>,
    which: Which,
    line: Vec<u8>,
    written: usize,
    dropped: bool,
}

impl LineLogger {
    fn emit(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            self.line.clear();
            return;
        }
        let (app, version, request_id) = (&self.app.app, &self.app.version, &*self.request_id);
        match self.which {
            Which::Stdout => tracing::info!(target: "guest", app, version, request_id, stream = "stdout", "{text}"),
            Which::Stderr => tracing::warn!(target: "guest", app, version, request_id, stream = "stderr", "{text}"),
        }
        self.line.clear();
    }

    fn accept(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.written >= MAX_BYTES_PER_STREAM {
                if !self.dropped {
                    self.emit();
                    self.dropped = true;
                    tracing::warn!(
                        target: "guest", app = %self.app.app, request_id = %self.request_id,
                        "guest output beyond {MAX_BYTES_PER_STREAM} bytes dropped"
                    );
                }
                return;
            }
            self.written += 1;
            self.line.push(byte);
            if byte == b'\n' || self.line.len() >= MAX_LINE {
                self.emit();
            }
        }
    }
}

impl AsyncWrite for LineLogger {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().accept(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().emit();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineLogger {
    fn drop(&mut self) {
        self.emit();
    }
}
