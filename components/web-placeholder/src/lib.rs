//! `web-placeholder`: what frontend pods serve as the `web` app until the
//! real web component exists. Any GET, whatever its path, gets one small
//! static HTML page; other methods get 405. It imports nothing beyond
//! `wasi:http`.

use budget_sdk::{Request, Response};

const PAGE: &str = "<!doctype html>
<html lang=\"en\">
<head><meta charset=\"utf-8\"><title>Budget</title></head>
<body>
<h1>Budget</h1>
<p>The web front end is on its way. The API is served under <code>/api/v1/</code>.</p>
</body>
</html>
";

fn handle(req: Request) -> Response {
    match req.method() {
        "GET" => Response::new(200)
            .with_header("content-type", "text/html; charset=utf-8")
            .with_header("cache-control", "no-cache")
            .with_body(PAGE.as_bytes().to_vec()),
        _ => req.error(405, "method_not_allowed", "the placeholder page only answers GET").with_header("allow", "GET"),
    }
}

budget_sdk::component!(handle);
