//! `bench-native`: what a hand-written Rust service does for the two data
//! benchmarks, so that `just bench` can put a ratio on the component path.
//!
//! `GET /bench/sql/{id}` runs the same indexed SELECT as the `bench-data`
//! component, on a pool of the same size logged in the same way (the app's
//! role, its schema on the search path); `GET /bench/cache/{key}` does one
//! Redis GET under the same key prefix the host applies. Arguments come from
//! the environment: BENCH_LISTEN, BENCH_DATABASE_URL, BENCH_REDIS_URL,
//! BENCH_KEY_PREFIX, BENCH_POOL_SIZE.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use redis::AsyncCommands;
use sqlx::Row;
use sqlx::postgres::PgPoolOptions;
use std::convert::Infallible;
use std::sync::Arc;

struct State {
    pool: sqlx::PgPool,
    redis: redis::aio::ConnectionManager,
    key_prefix: String,
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn error(status: StatusCode, name: &str) -> Response<Full<Bytes>> {
    respond(status, "application/json", serde_json::json!({ "error": { "name": name } }).to_string())
}

async fn item(state: &State, id: &str) -> Response<Full<Bytes>> {
    let Ok(id) = id.parse::<i64>() else { return error(StatusCode::BAD_REQUEST, "invalid_id") };
    let row = sqlx::query("SELECT id, name, amount_minor FROM items WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.pool)
        .await;
    match row {
        Ok(Some(row)) => {
            let (id, name, amount): (i64, String, i64) = match (row.try_get(0), row.try_get(1), row.try_get(2)) {
                (Ok(id), Ok(name), Ok(amount)) => (id, name, amount),
                _ => return error(StatusCode::INTERNAL_SERVER_ERROR, "unexpected_row"),
            };
            let body = serde_json::json!({ "id": id, "name": name, "amount_minor": amount });
            respond(StatusCode::OK, "application/json", body.to_string())
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "not_found"),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "sql_error"),
    }
}

async fn cached(state: &State, key: &str) -> Response<Full<Bytes>> {
    let mut redis = state.redis.clone();
    match redis.get::<_, Option<Vec<u8>>>(format!("{}{key}", state.key_prefix)).await {
        Ok(Some(value)) => respond(StatusCode::OK, "application/octet-stream", value),
        Ok(None) => error(StatusCode::NOT_FOUND, "not_found"),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "cache_error"),
    }
}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    let response = if let Some(id) = path.strip_prefix("/bench/sql/") {
        item(&state, id).await
    } else if let Some(key) = path.strip_prefix("/bench/cache/") {
        cached(&state, key).await
    } else {
        error(StatusCode::NOT_FOUND, "not_found")
    };
    Ok(response)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen = env("BENCH_LISTEN")?;
    let pool_size: u32 = env("BENCH_POOL_SIZE")?.parse().context("BENCH_POOL_SIZE")?;
    let pool = PgPoolOptions::new().max_connections(pool_size).connect(&env("BENCH_DATABASE_URL")?).await?;
    let client = redis::Client::open(env("BENCH_REDIS_URL")?)?;
    let redis = redis::aio::ConnectionManager::new(client).await?;
    let state = Arc::new(State { pool, redis, key_prefix: env("BENCH_KEY_PREFIX")? });

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(state.clone(), request));
            let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
