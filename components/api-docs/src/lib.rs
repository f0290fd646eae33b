//! `api-docs`: the budget API's OpenAPI document, `docs/openapi.json`,
//! embedded at build time and served at `GET /v1/openapi.json`.
//!
//! The answer carries a strong `ETag` (FNV-1a 64 of the embedded bytes, so
//! it changes exactly when the document does) and `cache-control: no-cache`:
//! clients may keep a copy but revalidate it, and a matching
//! `If-None-Match` gets a bodiless 304. The component imports nothing beyond
//! `wasi:http`.

use budget_sdk::{Request, Response, Router};

const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

/// FNV-1a, 64 bits: cheap, and plenty to tell versions of one document apart.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The document's strong entity tag, quoted.
fn etag() -> String {
    format!("\"{:016x}\"", fnv1a64(DOCUMENT.as_bytes()))
}

/// Whether an `If-None-Match` value matches `etag`: `*`, or any listed tag
/// equal to it under the weak comparison RFC 9110 prescribes for this header.
fn none_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

fn openapi(req: &Request) -> Response {
    let etag = etag();
    if req.header("if-none-match").is_some_and(|header| none_match(header, &etag)) {
        return Response::new(304).with_header("etag", &etag).with_header("cache-control", "no-cache");
    }
    Response::new(200)
        .with_header("content-type", "application/json")
        .with_header("etag", &etag)
        .with_header("cache-control", "no-cache")
        .with_body(DOCUMENT.as_bytes().to_vec())
}

fn handle(req: Request) -> Response {
    Router::new().get("/v1/openapi.json", openapi).handle(req)
}

budget_sdk::component!(handle);
