//! Serving: routing, request ids, config and logging, limits, metrics.

use budget_host_tests::{HostBuilder, expect_error, standard_apps};
use serde_json::Value;

#[tokio::test]
async fn hello_answers_json_and_echoes_the_path() {
    let host = HostBuilder::new(standard_apps()).start().await;
    let response = host.get("/hello/some/path?x=1").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-request-id"].len(), 32, "a generated request id");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["path"], "/hello/some/path");
    assert_eq!(body["method"], "GET");
}

#[tokio::test]
async fn request_id_is_kept_and_reaches_the_component_logs() {
    let host = HostBuilder::new(standard_apps()).start().await;
    let response =
        host.client.get(host.url("/greet/ada")).header("x-request-id", "test-req-42").send().await.expect("send");
    assert_eq!(response.headers()["x-request-id"], "test-req-42");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["greeting"], "Howdy, ada!", "greeting comes from [apps.greeter.config]");
    let line = host.wait_for_log(|l| l.contains("greeting ada")).await;
    assert!(line.contains("test-req-42") && line.contains("greeter") && line.contains("0.3.0"), "{line}");
}

#[tokio::test]
async fn config_store_exposes_only_the_apps_values() {
    let host = HostBuilder::new(standard_apps()).start().await;
    let body: Value = host.get("/greeter/config").await.json().await.expect("json");
    assert_eq!(body, serde_json::json!({ "greeting": "Howdy" }));
}

#[tokio::test]
async fn guest_stdout_and_stderr_go_to_the_log() {
    let host = HostBuilder::new(standard_apps()).start().await;
    let response =
        host.client.get(host.url("/greeter/print")).header("x-request-id", "print-1").send().await.expect("send");
    assert_eq!(response.status(), 200);
    host.wait_for_log(|l| l.contains("printed to stdout by /greeter/print") && l.contains("print-1")).await;
    host.wait_for_log(|l| l.contains("printed to stderr") && l.contains("stderr")).await;
}

#[tokio::test]
async fn unknown_route_is_a_404_envelope() {
    let host = HostBuilder::new(standard_apps()).start().await;
    expect_error(host.get("/nothing/here").await, 404, "not_found").await;
    // Prefixes match whole segments only.
    expect_error(host.get("/hellox").await, 404, "not_found").await;
}

#[tokio::test]
async fn component_router_404_uses_the_same_envelope() {
    let host = HostBuilder::new(standard_apps()).start().await;
    let body = expect_error(host.get("/greeter/unknown").await, 404, "not_found").await;
    assert!(body["error"]["detail"].as_str().is_some_and(|d| d.contains("/greeter/unknown")));
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let host = HostBuilder::new(standard_apps()).start().await;
    let big = vec![b'a'; 100 * 1024];
    // Declared length above the 64 KiB limit: refused before the guest runs.
    let response = host.client.post(host.url("/misbehave/ok")).body(big.clone()).send().await.expect("send");
    expect_error(response, 413, "payload_too_large").await;
    // Chunked, no length: counted as it streams.
    let stream = futures_stream(big);
    let response = host
        .client
        .post(host.url("/misbehave/ok"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("send");
    expect_error(response, 413, "payload_too_large").await;
    // Within the limit: fine.
    let response = host.client.post(host.url("/misbehave/ok")).body(vec![b'a'; 1024]).send().await.expect("send");
    assert_eq!(response.status(), 200);
}

fn futures_stream(bytes: Vec<u8>) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(8 * 1024).map(|c| Ok(c.to_vec())).collect();
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn oversized_responses_are_cut_off() {
    let host = HostBuilder::new(standard_apps()).start().await;
    // 512 KiB is under the 1 MiB cap.
    let small = host.get("/misbehave/big/512").await.bytes().await.expect("body");
    assert_eq!(small.len(), 512 * 1024);
    // 2 MiB is over it: the stream is aborted, so reading the body fails.
    let response = host.get("/misbehave/big/2048").await;
    assert_eq!(response.status(), 200, "the head was already sent");
    assert!(response.bytes().await.is_err(), "a truncated body must not read as complete");
    host.wait_for_log(|l| l.contains("response body exceeded the app's limit")).await;
}

#[tokio::test]
async fn metrics_counters_move() {
    let host = HostBuilder::new(standard_apps()).start().await;
    let sample = r#"http_requests_total{app="hello",method="GET",status="200",version="1.0.0"}"#;
    let before = host.metric(sample).await;
    for _ in 0..3 {
        assert_eq!(host.get("/hello").await.status(), 200);
    }
    assert_eq!(host.metric(sample).await, before + 3.0);
    let not_found = r#"http_requests_total{app="-",method="GET",status="404",version="-"}"#;
    host.get("/nope").await;
    assert_eq!(host.metric(not_found).await, 1.0);
    let text = host.get("/metrics").await.text().await.expect("text");
    for name in [
        "http_request_duration_seconds_bucket",
        "budget_host_instantiation_seconds_bucket",
        "budget_host_inflight_requests",
        "budget_host_app_ready",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
}

#[tokio::test]
async fn probes_report_ready_apps() {
    let host = HostBuilder::new(standard_apps()).start().await;
    assert_eq!(host.get("/livez").await.status(), 200);
    assert_eq!(host.get("/startupz").await.status(), 200);
    let ready: Value = host.get("/readyz").await.json().await.expect("json");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["apps"]["hello"]["state"], "ready");
    assert_eq!(ready["apps"]["hello"]["version"], "1.0.0");
    assert_eq!(ready["apps"]["hello"]["digest"].as_str().map(str::len), Some(64));
}

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    let host = HostBuilder::new(standard_apps()).start().await;
    let client = reqwest::Client::builder().http2_prior_knowledge().build().expect("client");
    let response = client.get(host.url("/hello/h2")).send().await.expect("send");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn separate_ops_listener_moves_the_probes() {
    let host = HostBuilder::new(standard_apps()).with_ops_listener().start().await;
    assert_ne!(host.ops_base, host.base);
    let metrics = host.client.get(host.ops_url("/metrics")).send().await.expect("ops metrics");
    assert_eq!(metrics.status(), 200);
    // Not on the application port any more, and no apps on the ops port.
    expect_error(host.get("/metrics").await, 404, "not_found").await;
    expect_error(host.client.get(host.ops_url("/hello")).send().await.expect("send"), 404, "not_found").await;
    assert_eq!(host.get("/hello").await.status(), 200);
}

#[tokio::test]
async fn a_stripped_prefix_is_not_seen_by_the_component() {
    let apps = format!(
        "[apps.hello]\nroutes = [\"/api/hello\"]\ncomponent = \"{}\"\nstrip_prefix = \"/api\"\n",
        budget_host_tests::component("hello").display()
    );
    let host = budget_host_tests::HostBuilder::new(apps).start().await;
    let response = host.get("/api/hello/world?x=1").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["path"], "/hello/world", "the app was written for /hello and mounted under /api");
    assert_eq!(host.get("/hello/world").await.status(), 404, "only the mounted path routes");
}
