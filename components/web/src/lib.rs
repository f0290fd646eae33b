//! `web`: the budget app's browser front end. The files under `web/` are
//! embedded at build time (see `build.rs`) and served with a strong ETag;
//! a matching `If-None-Match` gets 304. Every file is `no-cache`: the file
//! names carry no version, so browsers revalidate (a 304 costs no body)
//! rather than mix modules of two releases.
//! Paths the app routes itself (`/`, `/app/…`) fall back to `index.html`;
//! any other unknown path is 404. The API lives on the same origin, under
//! `/v1` and `/admin/v1`, served by other apps; a deployment that mounts it
//! elsewhere sets the app's config `api_base` (for example `/api`), which
//! goes into index.html's `budget-api-base` meta tag.

use budget_sdk::{Request, Response};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

const INDEX: &str = "/index.html";
const API_BASE_META: &str = r#"<meta name="budget-api-base" content="">"#;

/// FNV-1a 64, as `build.rs` uses for the embedded files.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// index.html with the configured API base, and its ETag; `None` when no
/// (valid) `api_base` is configured.
fn configured_index(bytes: &[u8]) -> Option<(Vec<u8>, String)> {
    let base = budget_sdk::config::get("api_base")?;
    let valid = base.starts_with('/') && base.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b));
    if !valid {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let page = text.replacen(API_BASE_META, &format!(r#"<meta name="budget-api-base" content="{base}">"#), 1);
    let etag = format!("\"{:016x}\"", fnv1a64(page.as_bytes()));
    Some((page.into_bytes(), etag))
}

fn asset(path: &str) -> Option<&'static (&'static str, &'static str, &'static str, &'static [u8])> {
    ASSETS.iter().find(|(name, ..)| *name == path)
}

/// Whether `If-None-Match` names `etag` (or `*`), weak or strong.
fn none_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

fn handle(req: Request) -> Response {
    if req.method() != "GET" && req.method() != "HEAD" {
        return req
            .error(405, "method_not_allowed", "the web app only answers GET and HEAD")
            .with_header("allow", "GET, HEAD");
    }
    let path = req.path();
    let app_route = path == "/" || path == "/app" || path.starts_with("/app/");
    let found = if app_route { asset(INDEX) } else { asset(path) };
    let Some((name, content_type, etag, bytes)) = found else {
        return req.error(404, "not_found", "no such page or file");
    };
    let (bytes, etag): (Vec<u8>, String) = match (*name == INDEX).then(|| configured_index(bytes)).flatten() {
        Some(configured) => configured,
        None => (bytes.to_vec(), etag.to_string()),
    };
    let etag = etag.as_str();
    let cache = "no-cache";
    if req.header("if-none-match").is_some_and(|h| none_match(h, etag)) {
        return Response::new(304).with_header("etag", etag).with_header("cache-control", cache);
    }
    let body = if req.method() == "HEAD" { Vec::new() } else { bytes };
    Response::new(200)
        .with_header("content-type", content_type)
        .with_header("etag", etag)
        .with_header("cache-control", cache)
        .with_header("x-content-type-options", "nosniff")
        .with_body(body)
}

budget_sdk::component!(handle);
