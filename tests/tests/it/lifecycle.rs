//! Startup, failed apps, the compiled-artifact cache, and graceful shutdown.

use budget_host_tests::{HostBuilder, component, expect_error, host_binary, standard_apps};
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test]
async fn sigterm_fails_readiness_then_drains_in_flight_requests() {
    let mut host = HostBuilder::new(standard_apps()).arg("--shutdown-delay-ms").arg("1500").start().await;
    let slow = {
        let request = host.client.get(host.url("/misbehave/sleep/1200")).send();
        tokio::spawn(async move { request.await.map(|r| r.status().as_u16()) })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    host.sigterm();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Readiness fails at once, while the listener still serves.
    let ready = host.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(ready["draining"], true);
    assert_eq!(host.get("/livez").await.status(), 200);
    assert_eq!(host.get("/hello").await.status(), 200, "still serving during the delay");

    // The in-flight slow request completes, then the process exits 0.
    assert_eq!(slow.await.expect("join").expect("slow request completes"), 200);
    let status = host.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status:?}");
    host.wait_for_log(|l| l.contains("drained; exiting")).await;
}

#[tokio::test]
async fn a_failing_app_is_not_ready_while_the_others_serve() {
    let apps = format!(
        r#"
[apps.hello]
routes = ["/hello"]
component = "{hello}"

[apps.foreign]
routes = ["/foreign"]
component = "{foreign}"
"#,
        hello = component("hello").display(),
        foreign = component("foreign_import").display(),
    );
    let host = HostBuilder::new(apps).no_wait_ready().start().await;
    assert_eq!(host.get("/hello").await.status(), 200);
    expect_error(host.get("/foreign/x").await, 503, "app_not_ready").await;
    let ready = host.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(ready["apps"]["foreign"]["state"], "failed");
    let reason = ready["apps"]["foreign"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("fixture:foreign/exfiltrate@0.1.0"), "the reason names the import: {reason}");
}

#[tokio::test]
async fn restart_loads_the_compiled_artifact_from_disk() {
    let cache = tempfile::tempdir().expect("tempdir");
    let apps = format!(
        "[apps.hello]\nroutes = [\"/hello\"]\ncomponent = \"{}\"\nversion = \"1.0.0\"\n",
        component("hello").display()
    );
    let cache_arg = cache.path().display().to_string();
    for (expected, other) in [("compiled", "artifact_cache"), ("artifact_cache", "compiled")] {
        let mut host = HostBuilder::new(apps.clone()).arg("--cache-dir").arg(cache_arg.clone()).start().await;
        assert_eq!(host.get("/hello").await.status(), 200);
        let series = |source: &str| {
            format!(r#"budget_host_component_loads_total{{app="hello",source="{source}",version="1.0.0"}}"#)
        };
        assert_eq!(host.metric(&series(expected)).await, 1.0, "loaded from {expected}");
        assert_eq!(host.metric(&series(other)).await, 0.0);
        host.sigterm();
        assert!(host.wait_exit(Duration::from_secs(15)).await.success());
    }
    let artifacts: Vec<_> = std::fs::read_dir(cache.path()).expect("cache dir").collect();
    assert_eq!(artifacts.len(), 1, "one artifact, keyed by digest and engine");
}

#[tokio::test]
async fn corrupt_artifact_is_recompiled() {
    let cache = tempfile::tempdir().expect("tempdir");
    let apps = format!("[apps.hello]\nroutes = [\"/hello\"]\ncomponent = \"{}\"\n", component("hello").display());
    let cache_arg = cache.path().display().to_string();
    {
        let mut host = HostBuilder::new(apps.clone()).arg("--cache-dir").arg(cache_arg.clone()).start().await;
        host.sigterm();
        host.wait_exit(Duration::from_secs(15)).await;
    }
    for entry in std::fs::read_dir(cache.path()).expect("cache dir") {
        std::fs::write(entry.expect("entry").path(), b"garbage").expect("corrupt");
    }
    let host = HostBuilder::new(apps).arg("--cache-dir").arg(cache_arg).start().await;
    assert_eq!(host.get("/hello").await.status(), 200);
    host.wait_for_log(|l| l.contains("discarding unusable compiled artifact")).await;
}

#[tokio::test]
async fn invalid_apps_file_stops_startup_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let apps = dir.path().join("apps.toml");
    std::fs::write(&apps, "[apps.hello]\nroutes = [\"/hello\"]\ncomponent = \"x.wasm\"\nmemroy = 1\n").expect("write");
    let started = Instant::now();
    let output = std::process::Command::new(host_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--apps"])
        .arg(&apps)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("memroy"), "names the unknown key: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
