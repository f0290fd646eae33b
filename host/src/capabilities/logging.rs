//! `wasi:logging/logging`: guest log lines become host `tracing` events
//! tagged with app, version and request id. Messages are truncated so a
//! guest cannot flood the log with one call.

use crate::runtime::bindings::wasi::logging::logging::{Host, Level};
use crate::runtime::state::RequestState;

/// Longest message kept from one call; the rest is cut with a marker.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;

pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl Host for RequestState {
    fn log(&mut self, level: Level, context: String, message: String) {
        let app = self.app.app.as_str();
        let version = self.app.version.as_str();
        let request_id = &*self.request_id;
        let truncated = message.len() > MAX_MESSAGE_BYTES;
        let message = truncate(&message, MAX_MESSAGE_BYTES);
        let context = truncate(&context, 256);
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(target: "guest", $level, app, version, request_id, context, truncated, "{message}")
            };
        }
        match level {
            Level::Trace => emit!(tracing::Level::TRACE),
            Level::Debug => emit!(tracing::Level::DEBUG),
            Level::Info => emit!(tracing::Level::INFO),
            Level::Warn => emit!(tracing::Level::WARN),
            Level::Error | Level::Critical => emit!(tracing::Level::ERROR),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("hello", 10), "hello");
        assert_eq!(truncate("hello", 3), "hel");
    }
}
