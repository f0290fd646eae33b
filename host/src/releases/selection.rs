//! Which version answers a request, in this order:
//!
//! 1. `x-budget-version: <app>@<version>`, honoured only with a valid admin
//!    or tester token in `x-budget-release-token`: reaches any uploaded
//!    version, even one at 0 %.
//! 2. A sticky key, hashed with the canary version into a bucket of 10,000:
//!    the user id the host verified (`x-budget-user`, for apps with
//!    `auth = "user"`), else a hash of the caller's `Authorization` header,
//!    else the `budget_sticky` cookie, else a new cookie the host sets. A user is on the canary when the bucket is
//!    below weight × 100, so raising the weight only moves users from
//!    stable to the canary, never back.
//! 3. The weight itself, through that bucket.

use sha2::{Digest, Sha256};

pub const VERSION_HEADER: &str = "x-budget-version";
pub const REASON_HEADER: &str = "x-budget-version-reason";
pub const TOKEN_HEADER: &str = "x-budget-release-token";
pub const COOKIE: &str = "budget_sticky";
pub const BUCKETS: u32 = 10_000;

/// Where the sticky key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    User,
    Cookie,
    NewCookie,
}

/// `<app>@<version>` for `app`, else `None`.
pub fn parse_override<'a>(value: &'a str, app: &str) -> Option<&'a str> {
    let (named, version) = value.trim().split_once('@')?;
    (named == app && !version.is_empty()).then_some(version)
}

/// The caller's sticky key and its source, if the request carries one.
/// Call it after the host has replaced any client-sent `x-budget-user`.
pub fn sticky_key(headers: &http::HeaderMap) -> Option<(String, KeySource)> {
    if let Some(user) = headers.get(crate::auth::USER_HEADER).and_then(|v| v.to_str().ok()) {
        return Some((user.to_string(), KeySource::User));
    }
    if let Some(credential) = headers.get(http::header::AUTHORIZATION) {
        return Some((hex::encode(Sha256::digest(credential.as_bytes())), KeySource::User));
    }
    cookie(headers).map(|value| (value.to_string(), KeySource::Cookie))
}

fn cookie(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && !value.is_empty() && value.len() <= 64)
        .map(|(_, value)| value)
}

/// A fresh sticky id and the `Set-Cookie` value that keeps it.
pub fn new_cookie() -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let header = format!("{COOKIE}={id}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax");
    (id, header)
}

/// The key's bucket for this canary, in `0..BUCKETS`.
pub fn bucket(canary_version: &str, key: &str) -> u32 {
    let digest = Sha256::new().chain_update(canary_version).chain_update([0u8]).chain_update(key).finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(BUCKETS)) as u32
}

pub fn on_canary(bucket: u32, weight: u8) -> bool {
    bucket < u32::from(weight.min(100)) * (BUCKETS / 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_names_this_app() {
        assert_eq!(parse_override("ledger@1.2.0", "ledger"), Some("1.2.0"));
        assert_eq!(parse_override("other@1.2.0", "ledger"), None);
        assert_eq!(parse_override("ledger@", "ledger"), None);
        assert_eq!(parse_override("ledger", "ledger"), None);
    }

    #[test]
    fn raising_the_weight_never_moves_a_canary_user_back() {
        for user in 0..2_000 {
            let b = bucket("2.0.0", &format!("user-{user}"));
            let first = (0..=100u8).find(|&w| on_canary(b, w)).unwrap_or(101);
            assert!((0..=100u8).all(|w| on_canary(b, w) == (w >= first)), "user {user}");
        }
        assert!(!on_canary(0, 0));
        assert!(on_canary(BUCKETS - 1, 100));
    }

    #[test]
    fn buckets_spread_evenly() {
        let on = (0..10_000).filter(|i| on_canary(bucket("2.0.0", &format!("k{i}")), 20)).count();
        assert!((1_850..=2_150).contains(&on), "{on}");
    }

    #[test]
    fn keys_come_from_credentials_then_cookies() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(sticky_key(&headers), None);
        headers.insert(http::header::COOKIE, "a=b; budget_sticky=abc123".parse().expect("header"));
        assert_eq!(sticky_key(&headers), Some(("abc123".into(), KeySource::Cookie)));
        headers.insert(http::header::AUTHORIZATION, "Bearer t".parse().expect("header"));
        assert_eq!(sticky_key(&headers).map(|k| k.1), Some(KeySource::User));
        let (id, header) = new_cookie();
        assert!(header.starts_with(&format!("budget_sticky={id};")));
    }
}
