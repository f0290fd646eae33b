//! `wasi:keyvalue` (store, atomics, batch) through a real component, on Redis
//! and in process: every function, cursor paging, the app namespace
//! underneath the buckets, and the grant.

use budget_host_tests::{HostBuilder, HostProcess, call, component, expect_error, json_of, redis_url, unique_prefix};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn apps() -> String {
    let probe = component("kv_probe");
    format!(
        "[apps.alpha]\nroutes = [\"/alpha\"]\ncomponent = \"{p}\"\ncapabilities = [\"keyvalue\"]\n\n\
         [apps.beta]\nroutes = [\"/beta\"]\ncomponent = \"{p}\"\ncapabilities = [\"keyvalue\"]\n",
        p = probe.display()
    )
}

async fn exercise_every_function(host: &HostProcess) {
    let binary: Vec<u8> = (0u8..=255).collect();
    assert_eq!(call(host, Method::PUT, "/alpha/kv/default/key/bytes", &binary).await.status(), 204);
    let got = call(host, Method::GET, "/alpha/kv/default/key/bytes", b"").await;
    assert_eq!(got.bytes().await.expect("body").to_vec(), binary, "binary values round-trip");
    let exists = |key: &'static str| call(host, Method::GET, &format!("/alpha/kv/default/key/{key}/exists"), b"");
    assert_eq!(json_of(exists("bytes").await).await, json!({ "exists": true }));
    assert_eq!(json_of(exists("nope").await).await, json!({ "exists": false }));
    expect_error(call(host, Method::GET, "/alpha/kv/default/key/nope", b"").await, 404, "not_found").await;
    assert_eq!(call(host, Method::DELETE, "/alpha/kv/default/key/bytes", b"").await.status(), 204);
    assert_eq!(json_of(exists("bytes").await).await, json!({ "exists": false }));
    // Deleting what is not there is not an error.
    assert_eq!(call(host, Method::DELETE, "/alpha/kv/default/key/bytes", b"").await.status(), 204);

    // Atomics: a counter starts at 0; a value that is not a counter fails.
    let inc = |by: u64| call(host, Method::POST, &format!("/alpha/kv/counters/key/visits/increment?by={by}"), b"");
    assert_eq!(json_of(inc(5).await).await, json!({ "value": 5 }));
    assert_eq!(json_of(inc(37).await).await, json!({ "value": 42 }));
    call(host, Method::PUT, "/alpha/kv/counters/key/text", b"not a number").await;
    let wrong = call(host, Method::POST, "/alpha/kv/counters/key/text/increment?by=1", b"").await;
    expect_error(wrong, 503, "kv_other").await;

    // Batch: set three, get two (one absent), delete one.
    let batch = json!({ "set": { "a": "1", "b": "2", "c": "3" }, "get": ["a", "zz"], "delete": ["b"] });
    let found = json_of(call(host, Method::POST, "/alpha/kv/batch/batch", batch.to_string().as_bytes()).await).await;
    assert_eq!(found, json!({ "found": [["a", "1"], null] }));
    let listed = json_of(call(host, Method::GET, "/alpha/kv/batch", b"").await).await;
    assert_eq!(listed["keys"], json!(["a", "c"]));

    // A bucket name the host does not accept is `no-such-store`.
    expect_error(call(host, Method::GET, "/alpha/kv/a:b/key/x", b"").await, 404, "kv_no_such_store").await;
}

/// 250 keys come back through `list-keys`, each once. In process a page is
/// exactly 100 keys, so that takes 3 pages; Redis pages follow `SCAN`, whose
/// page sizes depend on the whole keyspace, so there only completeness is
/// checked.
async fn list_keys_pages_through_everything(host: &HostProcess, expected_pages: Option<u64>) {
    let batch: serde_json::Map<String, Value> = (0..250).map(|i| (format!("k{i:03}"), json!("v"))).collect();
    let body = json!({ "set": batch }).to_string();
    json_of(call(host, Method::POST, "/alpha/kv/many/batch", body.as_bytes()).await).await;
    let listed = json_of(call(host, Method::GET, "/alpha/kv/many", b"").await).await;
    let keys: Vec<&str> = listed["keys"].as_array().expect("keys").iter().filter_map(Value::as_str).collect();
    let distinct: BTreeSet<&str> = keys.iter().copied().collect();
    let expected: BTreeSet<String> = (0..250).map(|i| format!("k{i:03}")).collect();
    assert_eq!(distinct, expected.iter().map(String::as_str).collect::<BTreeSet<_>>());
    if let Some(pages) = expected_pages {
        assert_eq!(listed["pages"].as_u64(), Some(pages), "{listed}");
    }
}

/// The same bucket and key in two apps are two values.
async fn buckets_stay_inside_the_app(host: &HostProcess) {
    call(host, Method::PUT, "/alpha/kv/shared/key/secret", b"alpha's").await;
    expect_error(call(host, Method::GET, "/beta/kv/shared/key/secret", b"").await, 404, "not_found").await;
    let listed = json_of(call(host, Method::GET, "/beta/kv/shared", b"").await).await;
    assert_eq!(listed["keys"], json!([]));
}

#[tokio::test]
async fn every_function_on_redis_under_the_app_namespace() {
    let prefix = unique_prefix("kv");
    let host = HostBuilder::new(apps())
        .arg("--redis-url")
        .arg(redis_url())
        .arg("--redis-key-prefix")
        .arg(prefix.clone())
        .start()
        .await;
    exercise_every_function(&host).await;
    list_keys_pages_through_everything(&host, None).await;
    buckets_stay_inside_the_app(&host).await;

    // Underneath, bucket `shared` key `secret` of app alpha is the cache key
    // `kv:shared:secret` in alpha's namespace.
    let client = redis::Client::open(redis_url()).expect("client");
    let mut redis = client.get_connection().expect("connect");
    let stored: Option<String> =
        redis::cmd("GET").arg(format!("{prefix}app:alpha:kv:shared:secret")).query(&mut redis).expect("GET");
    assert_eq!(stored.as_deref(), Some("alpha's"));
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut redis).expect("KEYS");
    assert!(keys.iter().all(|k| k.starts_with(&format!("{prefix}app:alpha:kv:"))), "{keys:?}");
    let _: () = redis::cmd("DEL").arg(&keys).query(&mut redis).expect("DEL");
}

#[tokio::test]
async fn every_function_in_process() {
    let host = HostBuilder::new(apps()).start().await;
    exercise_every_function(&host).await;
    list_keys_pages_through_everything(&host, Some(3)).await;
    buckets_stay_inside_the_app(&host).await;
}

#[tokio::test]
async fn keyvalue_imports_need_the_keyvalue_grant() {
    let apps = format!(
        "[apps.alpha]\nroutes = [\"/alpha\"]\ncomponent = \"{}\"\ncapabilities = [\"cache\"]\n",
        component("kv_probe").display()
    );
    let host = HostBuilder::new(apps).no_wait_ready().start().await;
    let reason = host.load_failure("alpha").await;
    assert!(
        reason.contains("wasi:keyvalue/") && reason.contains("not granted the `keyvalue` capability"),
        "names the import and the grant: {reason}"
    );
}
