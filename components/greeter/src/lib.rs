//! `greeter`: reads its greeting from the app's configuration
//! (`wasi:config`), logs through `wasi:logging`, and validates a JSON body.

use budget_sdk::serde_json::{Value, json};
use budget_sdk::{Request, Response, Router, config, log};

fn greet(req: &Request) -> Response {
    let greeting = config::get("greeting").unwrap_or_else(|| "hello".to_string());
    let name = req.param("name").unwrap_or("world");
    log::info("greeter", &format!("greeting {name}"));
    Response::json(200, &json!({ "greeting": format!("{greeting}, {name}!") }))
}

fn config_all(_req: &Request) -> Response {
    let mut entries = config::all();
    entries.sort();
    let map: budget_sdk::serde_json::Map<String, Value> =
        entries.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    Response::json(200, &map)
}

fn echo(req: &Request) -> Response {
    match req.json::<Value>() {
        Ok(body) => Response::json(200, &json!({ "received": body, "bytes": req.body().len() })),
        Err(response) => response,
    }
}

fn stdout(req: &Request) -> Response {
    println!("printed to stdout by {}", req.path());
    eprintln!("printed to stderr by {}", req.path());
    Response::json(200, &json!({ "printed": true }))
}

fn handle(req: Request) -> Response {
    Router::new()
        .get("/greet/{name}", greet)
        .get("/greet", greet)
        .get("/greeter/config", config_all)
        .post("/greeter/echo", echo)
        .get("/greeter/print", stdout)
        .handle(req)
}

budget_sdk::component!(handle);
