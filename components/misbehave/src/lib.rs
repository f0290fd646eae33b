//! `misbehave`: a test fixture whose routes fail in every way a component
//! can. The host must contain each failure to the one request.

use budget_sdk::serde_json::json;
use budget_sdk::{Request, Response, Router};
use std::hint::black_box;

fn ok(req: &Request) -> Response {
    Response::json(200, &json!({ "ok": true, "path": req.path() }))
}

fn panic(_req: &Request) -> Response {
    panic!("misbehave: deliberate panic");
}

fn spin(_req: &Request) -> Response {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Sleeps `ms` milliseconds through `wasi:clocks`, then answers: a slow but
/// well-behaved request (used by the drain test).
fn sleep(req: &Request) -> Response {
    let ms: u64 = req.param("ms").and_then(|v| v.parse().ok()).unwrap_or(1000);
    std::thread::sleep(std::time::Duration::from_millis(ms));
    Response::json(200, &json!({ "slept_ms": ms }))
}

fn memory_bomb(_req: &Request) -> Response {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 1 << 20];
        block[0] = 1;
        hoard.push(black_box(block));
    }
}

/// Recurses without end; the 256-byte frame padding reaches the wasm stack
/// limit quickly.
#[allow(unconditional_recursion)]
fn recurse(pad: [u8; 256]) -> u64 {
    let pad = black_box(pad);
    recurse(pad) + u64::from(pad[0])
}

fn stack_overflow(_req: &Request) -> Response {
    let n = recurse([1u8; 256]);
    Response::json(200, &json!({ "depth": n }))
}

fn error_500(req: &Request) -> Response {
    req.error(500, "deliberate", "misbehave returned a 500 on purpose")
}

static VISITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Tries to leave something behind for the next request: bumps a static
/// counter and writes a marker into heap memory it leaks, then reports
/// whether any earlier request's trace was visible.
fn remember(_req: &Request) -> Response {
    use std::sync::atomic::Ordering;
    let visits = VISITS.fetch_add(1, Ordering::Relaxed) + 1;
    const MARKER: &[u8] = b"left-by-an-earlier-request";
    let heap: &'static mut [u8] = Box::leak(vec![0u8; 256 * 1024].into_boxed_slice());
    let saw_marker = heap.windows(MARKER.len()).any(|w| w == MARKER);
    heap[1000..1000 + MARKER.len()].copy_from_slice(MARKER);
    Response::json(200, &json!({ "visits": visits, "saw_marker": saw_marker }))
}

/// A response larger than the app's response cap.
fn big(req: &Request) -> Response {
    let kib: usize = req.param("kib").and_then(|v| v.parse().ok()).unwrap_or(4096);
    Response::new(200).with_header("content-type", "application/octet-stream").with_body(vec![b'x'; kib * 1024])
}

fn handle(req: Request) -> Response {
    Router::new()
        .get("/misbehave/ok", ok)
        .get("/misbehave/panic", panic)
        .get("/misbehave/loop", spin)
        .get("/misbehave/sleep/{ms}", sleep)
        .get("/misbehave/memory", memory_bomb)
        .get("/misbehave/stack", stack_overflow)
        .get("/misbehave/error", error_500)
        .get("/misbehave/big/{kib}", big)
        .get("/misbehave/remember", remember)
        .post("/misbehave/ok", ok)
        .handle(req)
}

budget_sdk::component!(handle);
