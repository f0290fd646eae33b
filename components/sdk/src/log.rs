//! Structured logging through `wasi:logging`. The host adds the app, the
//! version and the request id to every line.

use crate::bindings::wasi::logging::logging::{self, Level};

fn emit(level: Level, context: &str, message: &str) {
    logging::log(level, context, message);
}

pub fn trace(context: &str, message: &str) {
    emit(Level::Trace, context, message);
}
pub fn debug(context: &str, message: &str) {
    emit(Level::Debug, context, message);
}
pub fn info(context: &str, message: &str) {
    emit(Level::Info, context, message);
}
pub fn warn(context: &str, message: &str) {
    emit(Level::Warn, context, message);
}
pub fn error(context: &str, message: &str) {
    emit(Level::Error, context, message);
}
