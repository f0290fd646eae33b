//! `hello`: a JSON hello that echoes the path. It imports nothing beyond
//! `wasi:http`, so the same binary runs on `wasmtime serve` (the benchmark
//! peer) and on budget-host.

use budget_sdk::serde_json::json;
use budget_sdk::{Request, Response};

fn handle(req: Request) -> Response {
    Response::json(
        200,
        &json!({
            "message": "hello from a budget component",
            "method": req.method(),
            "path": req.path(),
        }),
    )
}

budget_sdk::component!(handle);
