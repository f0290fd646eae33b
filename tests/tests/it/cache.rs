//! The `cache` capability through a real component: every function, on
//! Redis and in process; the app namespace; grants; a Redis outage and its
//! recovery without restarting the host.

use budget_host_tests::{
    HostBuilder, HostProcess, OwnedRedis, call, expect_error, json_of, probe_app, redis_url, unique_prefix,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn host_on_redis(prefix: &str) -> HostProcess {
    HostBuilder::new(probe_app("probe", r#"["cache"]"#))
        .arg("--redis-url")
        .arg(redis_url())
        .arg("--redis-key-prefix")
        .arg(prefix)
        .start()
        .await
}

/// Every function of the interface, as seen by a component.
async fn exercise_every_function(host: &HostProcess) {
    use reqwest::Method;
    let binary: Vec<u8> = (0u8..=255).collect();
    assert_eq!(call(host, Method::PUT, "/probe/cache/key/bytes", &binary).await.status(), 204);
    let got = call(host, Method::GET, "/probe/cache/key/bytes", b"").await;
    assert_eq!(got.bytes().await.expect("body").to_vec(), binary, "binary values round-trip");

    expect_error(call(host, Method::GET, "/probe/cache/key/missing", b"").await, 404, "not_found").await;

    let inc = |by: i64| call(host, Method::POST, &format!("/probe/cache/key/counter/increment?by={by}"), b"");
    assert_eq!(json_of(inc(5).await).await, json!({ "value": 5 }));
    assert_eq!(json_of(inc(-8).await).await, json!({ "value": -3 }));
    let wrong = call(host, Method::POST, "/probe/cache/key/bytes/increment?by=1", b"").await;
    expect_error(wrong, 409, "cache_wrong_type").await;

    let nx = |value: &'static [u8]| call(host, Method::POST, "/probe/cache/key/lock/set-if-absent?ttl_ms=60000", value);
    assert_eq!(json_of(nx(b"first").await).await, json!({ "set": true }));
    assert_eq!(json_of(nx(b"second").await).await, json!({ "set": false }));
    let lock = call(host, Method::GET, "/probe/cache/key/lock", b"").await;
    assert_eq!(lock.bytes().await.expect("body").as_ref(), b"first");

    let expire = |key: &str| call(host, Method::POST, &format!("/probe/cache/key/{key}/expire?ttl_ms=150"), b"");
    assert_eq!(json_of(expire("lock").await).await, json!({ "existed": true }));
    assert_eq!(json_of(expire("nope").await).await, json!({ "existed": false }));
    assert_eq!(call(host, Method::PUT, "/probe/cache/key/short?ttl_ms=150", b"v").await.status(), 204);
    tokio::time::sleep(Duration::from_millis(400)).await;
    expect_error(call(host, Method::GET, "/probe/cache/key/lock", b"").await, 404, "not_found").await;
    expect_error(call(host, Method::GET, "/probe/cache/key/short", b"").await, 404, "not_found").await;

    assert_eq!(
        json_of(call(host, Method::DELETE, "/probe/cache/key/counter", b"").await).await,
        json!({ "existed": true })
    );
    assert_eq!(
        json_of(call(host, Method::DELETE, "/probe/cache/key/counter", b"").await).await,
        json!({ "existed": false })
    );

    let bad_ttl = call(host, Method::PUT, "/probe/cache/key/k?ttl_ms=0", b"v").await;
    expect_error(bad_ttl, 400, "cache_invalid_argument").await;
    let too_big = vec![b'x'; 1024 * 1024 + 1];
    // The request body limit (1 MiB) stops this before the cache does.
    expect_error(call(host, Method::PUT, "/probe/cache/key/big", &too_big).await, 413, "payload_too_large").await;
}

#[tokio::test]
async fn every_cache_function_works_on_redis() {
    let prefix = unique_prefix("cache");
    let host = host_on_redis(&format!("{prefix}:")).await;
    exercise_every_function(&host).await;
}

#[tokio::test]
async fn every_cache_function_works_in_process() {
    let host = HostBuilder::new(probe_app("probe", r#"["cache"]"#)).start().await;
    host.wait_for_log(|l| l.contains("capability backend") && l.contains("in-memory")).await;
    exercise_every_function(&host).await;
    let published = call(&host, reqwest::Method::POST, "/probe/cache/publish/news", b"hi").await;
    assert_eq!(json_of(published).await, json!({ "receivers": 0 }));
}

#[tokio::test]
async fn publish_reaches_redis_subscribers_on_the_apps_channel() {
    let prefix = format!("{}:", unique_prefix("pub"));
    let host = host_on_redis(&prefix).await;
    let client = redis::Client::open(redis_url()).expect("client");
    let mut subscriber = client.get_connection().expect("connection");
    let channel = format!("{prefix}app:probe:news");
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe(&channel).expect("subscribe");
    pubsub.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let published = call(&host, reqwest::Method::POST, "/probe/cache/publish/news", b"budget updated").await;
    assert_eq!(json_of(published).await, json!({ "receivers": 1 }));
    let message = pubsub.get_message().expect("message");
    assert_eq!(message.get_channel_name(), channel);
    assert_eq!(message.get_payload_bytes(), b"budget updated");
}

#[tokio::test]
async fn keys_cannot_leave_the_apps_namespace() {
    let prefix = format!("{}:", unique_prefix("iso"));
    let host = host_on_redis(&prefix).await;
    let client = redis::Client::open(redis_url()).expect("client");
    let mut redis = client.get_connection().expect("connection");

    // The component's key lands under <prefix>app:probe:.
    assert_eq!(call(&host, reqwest::Method::PUT, "/probe/cache/key/mine", b"1").await.status(), 204);
    let stored: Option<String> =
        redis::cmd("GET").arg(format!("{prefix}app:probe:mine")).query(&mut redis).expect("GET");
    assert_eq!(stored.as_deref(), Some("1"));

    // Another app's key, and attempts to name it, stay out of reach.
    let _: () = redis::cmd("SET").arg(format!("{prefix}app:other:secret")).arg("s").query(&mut redis).expect("SET");
    for key in ["app:other:secret", "..%2Fother:secret", "%2F..%2Fapp:other:secret", "secret"] {
        let response = call(&host, reqwest::Method::GET, &format!("/probe/cache/key/{key}"), b"").await;
        expect_error(response, 404, "not_found").await;
    }
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut redis).expect("KEYS");
    assert!(keys.iter().all(|k| k.starts_with(&format!("{prefix}app:"))), "{keys:?}");
    let _: () = redis::cmd("DEL").arg(&keys).query(&mut redis).expect("DEL");
}

#[tokio::test]
async fn a_component_importing_an_ungranted_capability_is_refused() {
    let host = HostBuilder::new(probe_app("probe", "[]")).no_wait_ready().start().await;
    expect_error(host.get("/probe/cache/key/x").await, 503, "app_not_ready").await;
    let reason = host.load_failure("probe").await;
    assert!(
        reason.contains("budget:platform/cache@0.1.0") && reason.contains("not granted the `cache` capability"),
        "{reason}"
    );
}

#[tokio::test]
async fn redis_outage_gives_errors_not_hangs_and_recovers_without_restart() {
    let mut redis = OwnedRedis::start();
    let host = HostBuilder::new(probe_app("probe", r#"["cache"]"#))
        .arg("--redis-url")
        .arg(redis.url())
        .arg("--cache-timeout-ms")
        .arg("500")
        .arg("--backend-probe-ms")
        .arg("200")
        .start()
        .await;
    assert_eq!(call(&host, reqwest::Method::PUT, "/probe/cache/key/k", b"v").await.status(), 204);

    redis.stop();
    let started = Instant::now();
    let response = call(&host, reqwest::Method::GET, "/probe/cache/key/k", b"").await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    assert!(status == 503 || status == 504, "an error variant reached the component, got {status}");
    assert!(elapsed < Duration::from_secs(3), "no hang past the timeout: {elapsed:?}");

    // Readiness names the backend that is down.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ready = host.get("/readyz").await;
        if ready.status() == 503 {
            let body: Value = ready.json().await.expect("json");
            assert_eq!(body["backends"]["cache"]["up"], false);
            assert_eq!(body["backends"]["cache"]["backend"], "redis");
            break;
        }
        assert!(Instant::now() < deadline, "readiness never reported the outage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Same port, fresh (empty) server: the host reconnects by itself.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = call(&host, reqwest::Method::PUT, "/probe/cache/key/k", b"again").await;
        if response.status() == 204 {
            break;
        }
        assert!(Instant::now() < deadline, "cache did not recover: {}", response.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let value = call(&host, reqwest::Method::GET, "/probe/cache/key/k", b"").await;
    assert_eq!(value.bytes().await.expect("body").as_ref(), b"again");
    let deadline = Instant::now() + Duration::from_secs(5);
    while host.get("/readyz").await.status() != 200 {
        assert!(Instant::now() < deadline, "readiness did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
