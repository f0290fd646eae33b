//! Admission of client connections, so that no anonymous client can hold
//! the host's file descriptors:
//!
//! - a cap on open connections to the application listener; at the cap the
//!   accept loop stops accepting and new connections wait in the kernel's
//!   backlog. The operations listener, when separate, has a small cap of its
//!   own, so probes and scrapes still get in during a flood;
//! - a deadline for the first request: a connection that has not delivered a
//!   complete request head within `--header-timeout-ms` (a silent one, a
//!   partial HTTP/1 head, a partial HTTP/2 preface) is closed. hyper's own
//!   `header_read_timeout` covers later HTTP/1 requests on a kept-alive
//!   connection, but not the protocol detection before the first one;
//! - the open-file soft limit raised to the hard limit at start, and the cap
//!   lowered to fit under it with headroom for backend connections and files.

use std::time::Duration;

/// File descriptors kept for everything that is not a client connection:
/// PostgreSQL and Redis pools, MongoDB, the artifact cache, listeners, logs.
pub const FD_HEADROOM: u64 = 512;

/// The largest HTTP/1 read buffer (and so request head) of one connection.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Connections the separate operations listener (`--ops-listen`) takes at
/// most, apart from the application listener's cap.
pub const OPS_MAX_CONNECTIONS: usize = 64;

/// Raises the open-file soft limit to the hard limit; returns the soft limit
/// in force afterwards (`None` when it cannot be read: unlimited or not Linux).
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(error) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(%error, "cannot raise the open-file limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The connection cap in force: what was asked, but never more than the
/// open-file limit leaves after the headroom (and never zero).
pub fn effective_max_connections(requested: usize, open_file_limit: Option<u64>) -> usize {
    let allowed = open_file_limit
        .map_or(usize::MAX, |limit| usize::try_from(limit.saturating_sub(FD_HEADROOM)).unwrap_or(usize::MAX));
    requested.min(allowed).max(1)
}

/// Settings every accepted connection shares.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionPolicy {
    pub first_request_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_under_the_open_file_limit_with_headroom() {
        assert_eq!(effective_max_connections(4096, Some(1024)), 512);
        assert_eq!(effective_max_connections(4096, Some(1_048_576)), 4096);
        assert_eq!(effective_max_connections(100, None), 100);
        // A limit below the headroom still lets one connection in.
        assert_eq!(effective_max_connections(4096, Some(256)), 1);
    }
}
