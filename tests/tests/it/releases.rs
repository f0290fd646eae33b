//! Releases end to end, through real hosts on a real PostgreSQL (and Redis
//! for the cross-pod tests): version selection (weights, override header,
//! stickiness), automatic rollback and promotion, propagation to three
//! hosts with a lost notice caught by the poll, compiled artifacts reused
//! across a restart, the admin API's refusals, and the CLI.

use budget_host_tests::{
    HostBuilder, HostProcess, TestDatabase, component, expect_error, host_binary, redis_url, unique_prefix,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const TOKEN: &str = "release-admin-token-0123456789";
const TESTER: &str = "release-tester-token-9876543210";

/// `hello` and `shop` both start on hello.wasm as 1.0.0; `shop` is where
/// the misbehaving canary goes (its routes live under /misbehave).
fn apps() -> String {
    let hello = component("hello");
    format!(
        "[apps.hello]\nroutes = [\"/hello\"]\ncomponent = \"{h}\"\nversion = \"1.0.0\"\n\n\
         [apps.shop]\nroutes = [\"/misbehave\"]\ncomponent = \"{h}\"\nversion = \"1.0.0\"\n",
        h = hello.display()
    )
}

fn builder(db: &TestDatabase) -> HostBuilder {
    HostBuilder::new(apps())
        .database(db)
        .arg("--admin-token")
        .arg(TOKEN)
        .arg("--tester-token")
        .arg(TESTER)
        .arg("--analysis-tick-ms")
        .arg("250")
}

/// The same component with a custom section appended: other bytes, other
/// digest, same behaviour, so versions can be told apart by their header.
fn variant(name: &str, tag: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(component(name)).expect("read component");
    let section_name = b"budget-test-variant";
    let mut payload = vec![section_name.len() as u8];
    payload.extend_from_slice(section_name);
    payload.extend_from_slice(tag.as_bytes());
    bytes.push(0); // custom section
    let mut size = payload.len();
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            bytes.push(byte);
            break;
        }
        bytes.push(byte | 0x80);
    }
    bytes.extend_from_slice(&payload);
    bytes
}

async fn admin(host: &HostProcess, method: Method, path: &str) -> reqwest::RequestBuilder {
    host.client.request(method, host.url(path)).bearer_auth(TOKEN).header("x-budget-actor", "release-test")
}

async fn upload(host: &HostProcess, app: &str, version: &str, bytes: Vec<u8>) {
    let response = admin(host, Method::PUT, &format!("/admin/v1/apps/{app}/versions/{version}"))
        .await
        .body(bytes)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
}

/// POSTs a release action; the answer must be 200 and is the new status.
async fn act(host: &HostProcess, app: &str, action: &str, body: Value) -> Value {
    let response = admin(host, Method::POST, &format!("/admin/v1/apps/{app}/release/{action}"))
        .await
        .json(&body)
        .send()
        .await
        .expect("release action");
    let status = response.status();
    let value: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{action}: {value}");
    value
}

async fn status(host: &HostProcess, app: &str) -> Value {
    let response =
        admin(host, Method::GET, &format!("/admin/v1/apps/{app}/release")).await.send().await.expect("status");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn history(host: &HostProcess, app: &str) -> Vec<Value> {
    let path = format!("/admin/v1/apps/{app}/release/history");
    let response = admin(host, Method::GET, &path).await.send().await.expect("history");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// `(version served, status)` for one request as user `user`.
async fn as_user(host: &HostProcess, path: &str, user: &str) -> (String, u16) {
    let response = host.client.get(host.url(path)).bearer_auth(user).send().await.expect("request");
    (header(&response, "x-budget-version"), response.status().as_u16())
}

/// Which of `users` the host sends to `canary`.
async fn canary_users(host: &HostProcess, users: &[String], canary: &str) -> BTreeSet<String> {
    let mut on = BTreeSet::new();
    for batch in users.chunks(50) {
        let answers = futures_util::future::join_all(batch.iter().map(|u| as_user(host, "/hello/x", u))).await;
        for (user, (version, code)) in batch.iter().zip(answers) {
            assert_eq!(code, 200);
            if version == canary {
                on.insert(user.clone());
            }
        }
    }
    on
}

#[tokio::test]
async fn weights_overrides_and_stickiness_choose_the_version() {
    let db = TestDatabase::create().await;
    let host = builder(&db).start().await;
    upload(&host, "hello", "2.0.0", variant("hello", "two")).await;
    upload(&host, "hello", "3.0.0", variant("hello", "three")).await;

    // Before any release: the apps.toml version, no cookie.
    let response = host.client.get(host.url("/hello/x")).send().await.expect("request");
    assert_eq!(header(&response, "x-budget-version"), "hello@1.0.0");
    assert_eq!(header(&response, "x-budget-version-reason"), "stable-only");
    assert!(response.headers().get("set-cookie").is_none());

    let started = act(&host, "hello", "canary", json!({"version": "2.0.0", "weight": 0})).await;
    assert_eq!(started["canary"]["weight"], 0);
    assert_eq!(started["pod"]["canary"]["version"], "2.0.0");

    // At 0 %, only the override reaches the canary, and only with a token.
    let get = |headers: Vec<(&'static str, &'static str)>| {
        let mut request = host.client.get(host.url("/hello/x"));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move { request.send().await.expect("request") }
    };
    let plain = get(vec![]).await;
    assert_eq!(header(&plain, "x-budget-version"), "hello@1.0.0");
    assert!(header(&plain, "set-cookie").starts_with("budget_sticky="), "a new visitor gets a sticky cookie");
    let no_token = get(vec![("x-budget-version", "hello@2.0.0")]).await;
    assert_eq!(header(&no_token, "x-budget-version"), "hello@1.0.0", "ignored without a token");
    let wrong = get(vec![("x-budget-version", "hello@2.0.0"), ("x-budget-release-token", "nope")]).await;
    assert_eq!(header(&wrong, "x-budget-version"), "hello@1.0.0", "ignored with a wrong token");
    for token in [TESTER, TOKEN] {
        let chosen = get(vec![("x-budget-version", "hello@2.0.0"), ("x-budget-release-token", token)]).await;
        assert_eq!(header(&chosen, "x-budget-version"), "hello@2.0.0");
        assert_eq!(header(&chosen, "x-budget-version-reason"), "override");
        assert_eq!(chosen.status(), 200);
    }
    // Any uploaded version, even one outside the release, loaded on demand.
    let other = get(vec![("x-budget-version", "hello@3.0.0"), ("x-budget-release-token", TESTER)]).await;
    assert_eq!(header(&other, "x-budget-version"), "hello@3.0.0");
    let missing = get(vec![("x-budget-version", "hello@9.9.9"), ("x-budget-release-token", TESTER)]).await;
    expect_error(missing, 404, "not_found").await;

    // 20 %: the split over 2,000 users. With p = 0.2 the standard deviation
    // is 17.9 users; the tolerance, ±60 users (3 percentage points), is 3.4 σ.
    act(&host, "hello", "weight", json!({"weight": 20})).await;
    let users: Vec<String> = (0..2_000).map(|i| format!("user-{i}")).collect();
    let at_20 = canary_users(&host, &users, "hello@2.0.0").await;
    assert!((340..=460).contains(&at_20.len()), "{} of 2000 on the canary at 20 %", at_20.len());

    // Sticky: one user, 100 requests, one version; a cookie visitor too.
    let sticky_user = at_20.iter().next().expect("a canary user").clone();
    for _ in 0..100 {
        assert_eq!(as_user(&host, "/hello/x", &sticky_user).await.0, "hello@2.0.0");
    }
    let first = host.client.get(host.url("/hello/x")).send().await.expect("request");
    let cookie = header(&first, "set-cookie").split(';').next().expect("cookie pair").to_string();
    let cookie_version = header(&first, "x-budget-version");
    for _ in 0..100 {
        let again = host.client.get(host.url("/hello/x")).header("cookie", &cookie).send().await.expect("request");
        assert_eq!(header(&again, "x-budget-version"), cookie_version);
        assert!(again.headers().get("set-cookie").is_none(), "a known visitor keeps its cookie");
        assert!(header(&again, "x-budget-version-reason").contains("key=cookie"));
    }

    // Raising the weight only ever moves users onto the canary.
    act(&host, "hello", "weight", json!({"weight": 50})).await;
    let at_50 = canary_users(&host, &users, "hello@2.0.0").await;
    assert!(at_20.is_subset(&at_50), "a canary user went back to stable at 50 %");
    assert!((900..=1_100).contains(&at_50.len()), "{} of 2000 at 50 %", at_50.len());
    act(&host, "hello", "weight", json!({"weight": 80})).await;
    let at_80 = canary_users(&host, &users, "hello@2.0.0").await;
    assert!(at_50.is_subset(&at_80), "a canary user went back to stable at 80 %");
}

/// Sends `rounds` × 20 requests from varied users to `path`, tallying
/// `(version, status)` pairs, until `done` says so.
async fn drive_until(
    host: &HostProcess,
    path: &str,
    timeout: Duration,
    mut done: impl AsyncFnMut() -> bool,
) -> Vec<(String, u16)> {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut round = 0u64;
    loop {
        let users: Vec<String> = (0..20).map(|i| format!("driver-{round}-{i}")).collect();
        seen.extend(futures_util::future::join_all(users.iter().map(|u| as_user(host, path, u))).await);
        round += 1;
        if done().await {
            return seen;
        }
        assert!(started.elapsed() < timeout, "not done after {timeout:?}; {} requests sent", seen.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_canary_answering_500_is_rolled_back_while_stable_serves_no_errors() {
    let db = TestDatabase::create().await;
    let host = builder(&db).start().await;
    upload(&host, "shop", "2.0.0", std::fs::read(component("misbehave")).expect("misbehave.wasm")).await;
    act(
        &host,
        "shop",
        "canary",
        json!({"version": "2.0.0", "weight": 50,
               "analysis": {"interval_s": 2, "max_error_rate": 0.05, "min_requests": 10, "max_p95_ratio": 10.0}}),
    )
    .await;

    // misbehave answers 500 on /misbehave/error; hello answers 200 everywhere.
    let seen = drive_until(&host, "/misbehave/error", Duration::from_secs(60), async || {
        status(&host, "shop").await["canary"].is_null()
    })
    .await;
    let stable: Vec<u16> = seen.iter().filter(|(v, _)| v == "shop@1.0.0").map(|(_, s)| *s).collect();
    let canary: Vec<u16> = seen.iter().filter(|(v, _)| v == "shop@2.0.0").map(|(_, s)| *s).collect();
    assert!(!stable.is_empty() && stable.iter().all(|s| *s == 200), "stable must serve no errors: {stable:?}");
    assert!(canary.iter().filter(|s| **s == 500).count() >= 10, "the canary failed: {canary:?}");

    let last = &history(&host, "shop").await[0];
    assert_eq!(last["action"], "rollback", "{last}");
    assert_eq!(last["actor"], "analysis");
    assert_eq!((last["from_version"].as_str(), last["to_version"].as_str()), (Some("2.0.0"), Some("1.0.0")));
    assert!(last["reason"].as_str().is_some_and(|r| r.contains("error rate")), "{last}");
    assert_eq!(host.metric(r#"budget_host_rollbacks_total{app="shop"}"#).await, 1.0);
    assert_eq!(host.metric(r#"budget_host_canary_state{app="shop",state="none"}"#).await, 1.0);

    // Everyone is back on stable.
    for i in 0..20 {
        assert_eq!(as_user(&host, "/misbehave/error", &format!("after-{i}")).await, ("shop@1.0.0".into(), 200));
    }
}

#[tokio::test]
async fn a_healthy_canary_is_promoted_through_its_steps() {
    let db = TestDatabase::create().await;
    let host = builder(&db).start().await;
    upload(&host, "hello", "2.0.0", variant("hello", "promote")).await;
    let started = act(
        &host,
        "hello",
        "canary",
        json!({"version": "2.0.0", "steps": [10, 50, 100],
               "analysis": {"interval_s": 1, "max_error_rate": 0.01, "min_requests": 5, "max_p95_ratio": 3.0}}),
    )
    .await;
    assert_eq!((started["canary"]["weight"].as_u64(), started["canary"]["step"].as_u64()), (Some(10), Some(0)));

    let seen = drive_until(&host, "/hello/x", Duration::from_secs(90), async || {
        status(&host, "hello").await["stable"] == "2.0.0"
    })
    .await;
    // Three switches happened under this traffic; none cost a request.
    assert!(seen.iter().all(|(_, code)| *code == 200), "a request failed during a switch");
    assert!(seen.iter().any(|(v, _)| v == "hello@1.0.0") && seen.iter().any(|(v, _)| v == "hello@2.0.0"));

    let actions: Vec<(String, u64)> = history(&host, "hello")
        .await
        .iter()
        .rev()
        .map(|e| (e["action"].as_str().unwrap_or_default().to_string(), e["weight"].as_u64().unwrap_or(999)))
        .collect();
    let expected = [("canary_start", 10), ("step", 50), ("step", 100), ("auto_promote", 100)];
    assert_eq!(actions, expected.map(|(a, w)| (a.to_string(), w)).to_vec());
    let now = host.client.get(host.url("/hello/x")).send().await.expect("request");
    assert_eq!(header(&now, "x-budget-version"), "hello@2.0.0");
    assert_eq!(header(&now, "x-budget-version-reason"), "stable-only");
    assert_eq!(host.metric(r#"budget_host_release_weight{app="hello",version="2.0.0"}"#).await, 100.0);
}

#[tokio::test]
async fn two_hosts_judge_a_canary_on_their_combined_traffic_once() {
    let db = TestDatabase::create().await;
    let (redis, prefix) = (redis_url(), unique_prefix("judge"));
    let mut hosts = Vec::new();
    for _ in 0..2 {
        let host = builder(&db)
            .arg("--redis-url")
            .arg(redis.clone())
            .arg("--redis-key-prefix")
            .arg(format!("{prefix}:"))
            .start()
            .await;
        hosts.push(host);
    }
    upload(&hosts[0], "shop", "2.0.0", std::fs::read(component("misbehave")).expect("misbehave.wasm")).await;
    // 12 canary requests per 2 s are needed; the loop below gives each host
    // about 9, so a verdict rests on the statistics of both.
    let analysis = json!({"interval_s": 2, "max_error_rate": 0.05, "min_requests": 12, "max_p95_ratio": 10.0});
    let started =
        act(&hosts[0], "shop", "canary", json!({"version": "2.0.0", "weight": 50, "analysis": analysis})).await;
    converge(&hosts, "shop", started["generation"].as_i64().expect("generation"), Duration::from_secs(20)).await;

    let began = Instant::now();
    let mut round = 0u64;
    while !status(&hosts[1], "shop").await["canary"].is_null() {
        assert!(began.elapsed() < Duration::from_secs(60), "no rollback from the combined traffic");
        // 10 requests a second per host: half reach the canary.
        for (index, host) in hosts.iter().enumerate() {
            let users: Vec<String> = (0..5).map(|i| format!("judge-{round}-{index}-{i}")).collect();
            futures_util::future::join_all(users.iter().map(|u| as_user(host, "/misbehave/error", u))).await;
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rollbacks: Vec<Value> =
        history(&hosts[0], "shop").await.into_iter().filter(|e| e["action"] == "rollback").collect();
    assert_eq!(rollbacks.len(), 1, "one judge, one rollback: {rollbacks:?}");
    let mut counted = 0.0;
    for host in &hosts {
        counted += host.metric(r#"budget_host_rollbacks_total{app="shop"}"#).await;
    }
    assert_eq!(counted, 1.0, "the rollback is counted once, on the pod that judged");
}

/// Waits until every host serves `generation` (or newer) of `app`; returns how long it took.
async fn converge(hosts: &[HostProcess], app: &str, generation: i64, timeout: Duration) -> Duration {
    let started = Instant::now();
    let mut pending: Vec<&HostProcess> = hosts.iter().collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for host in pending {
            if status(host, app).await["pod"]["generation"].as_i64().unwrap_or(0) < generation {
                still.push(host);
            }
        }
        pending = still;
        assert!(started.elapsed() < timeout, "{} hosts still behind generation {generation}", pending.len());
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    started.elapsed()
}

#[tokio::test]
async fn changes_reach_three_hosts_through_redis_and_a_lost_notice_through_the_poll() {
    let db = TestDatabase::create().await;
    let (redis, prefix) = (redis_url(), unique_prefix("rel"));
    let mut hosts = Vec::new();
    for _ in 0..3 {
        let host = builder(&db)
            .arg("--redis-url")
            .arg(redis.clone())
            .arg("--redis-key-prefix")
            .arg(format!("{prefix}:"))
            .arg("--release-poll-ms")
            .arg("1500")
            .start()
            .await;
        hosts.push(host);
    }
    upload(&hosts[0], "hello", "2.0.0", variant("hello", "propagate")).await;
    let started = act(&hosts[1], "hello", "canary", json!({"version": "2.0.0", "weight": 5})).await;
    converge(&hosts, "hello", started["generation"].as_i64().expect("generation"), Duration::from_secs(20)).await;

    let mut took = Vec::new();
    for round in 0..10u8 {
        let changed = act(&hosts[usize::from(round) % 3], "hello", "weight", json!({"weight": 10 + round})).await;
        let generation = changed["generation"].as_i64().expect("generation");
        took.push(converge(&hosts, "hello", generation, Duration::from_secs(10)).await);
    }
    eprintln!("propagation to 3 hosts over Redis: {took:?}");
    for host in &hosts {
        assert_eq!(status(host, "hello").await["pod"]["canary"]["weight"], 19);
    }

    // A change nobody announces (as if the notice were lost): the poll finds it.
    let mut conn = db.connect().await;
    let generation: i64 = sqlx::query_scalar(
        "UPDATE budget_host.releases
            SET spec = jsonb_set(spec, '{canary,weight}', '77'),
                generation = nextval('budget_host.release_generation')
          WHERE app = 'hello' RETURNING generation",
    )
    .fetch_one(&mut conn)
    .await
    .expect("silent update");
    converge(&hosts, "hello", generation, Duration::from_secs(15)).await;
    for host in &hosts {
        let pod = &status(host, "hello").await["pod"];
        assert_eq!(pod["canary"]["weight"], 77, "{pod}");
        assert_eq!(host.metric(r#"budget_host_release_weight{app="hello",version="2.0.0"}"#).await, 77.0);
    }
}

#[tokio::test]
async fn a_restart_reuses_the_compiled_artifacts() {
    let db = TestDatabase::create().await;
    let cache = tempfile::tempdir().expect("tempdir");
    let with_cache = || builder(&db).arg("--cache-dir").arg(cache.path().display().to_string());
    let first = with_cache().start().await;
    upload(&first, "hello", "2.0.0", variant("hello", &unique_prefix("restart"))).await;
    act(&first, "hello", "canary", json!({"version": "2.0.0", "weight": 30})).await;
    assert_eq!(
        first.metric(r#"budget_host_component_loads_total{app="hello",source="compiled",version="1.0.0"}"#).await,
        1.0,
        "a fresh cache compiles"
    );
    drop(first);

    let second = with_cache().start().await;
    let pod = &status(&second, "hello").await["pod"];
    assert_eq!((pod["stable"].as_str(), pod["canary"]["version"].as_str()), (Some("1.0.0"), Some("2.0.0")));
    for version in ["1.0.0", "2.0.0"] {
        let series =
            format!(r#"budget_host_component_loads_total{{app="hello",source="artifact_cache",version="{version}"}}"#);
        assert_eq!(second.metric(&series).await, 1.0, "{version} came from the artifact cache");
    }
    let metrics =
        second.client.get(second.ops_url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(!metrics.contains(r#"source="compiled""#), "nothing is recompiled after a restart");
}

#[tokio::test]
async fn the_admin_api_refuses_bad_release_changes_and_records_the_rest() {
    let db = TestDatabase::create().await;
    let host = builder(&db).start().await;
    upload(&host, "hello", "2.0.0", variant("hello", "admin")).await;
    let post = |action: &str, body: &'static str| {
        let path = format!("/admin/v1/apps/hello/release/{action}");
        let request = host.client.post(host.url(&path)).bearer_auth(TOKEN).header("x-budget-actor", "ops-person");
        async move { request.body(body).send().await.expect("send") }
    };
    expect_error(post("canary", r#"{"version":"4.0.0"}"#).await, 404, "not_found").await;
    expect_error(post("canary", r#"{"version":"2.0.0","weight":101}"#).await, 400, "bad_request").await;
    expect_error(post("canary", r#"{"version":"2.0.0","steps":[50,10]}"#).await, 400, "bad_request").await;
    expect_error(post("canary", r#"{"version":"2.0.0","surprise":1}"#).await, 400, "bad_request").await;
    expect_error(post("canary", r#"{"version":"2.0.0""#).await, 400, "bad_request").await;
    expect_error(post("canary", r#"{"version":"1.0.0"}"#).await, 400, "bad_request").await;
    expect_error(post("promote", "").await, 409, "conflict").await;
    expect_error(post("weight", r#"{"weight":5}"#).await, 409, "conflict").await;
    let unauthenticated = host.client.post(host.url("/admin/v1/apps/hello/release/abort")).send().await.expect("send");
    expect_error(unauthenticated, 401, "unauthorized").await;
    expect_error(post("explode", "").await, 404, "not_found").await;
    assert!(history(&host, "hello").await.is_empty(), "refusals record nothing");

    assert_eq!(post("canary", r#"{"version":"2.0.0","weight":10,"reason":"try it"}"#).await.status(), 200);
    expect_error(post("canary", r#"{"version":"2.0.0"}"#).await, 409, "conflict").await;
    let delete =
        admin(&host, Method::DELETE, "/admin/v1/apps/hello/versions/2.0.0").await.send().await.expect("delete");
    expect_error(delete, 409, "conflict").await;
    assert_eq!(post("pause", "").await.status(), 200);
    expect_error(post("pause", "").await, 409, "conflict").await;
    assert_eq!(post("resume", "{}").await.status(), 200);
    assert_eq!(post("abort", r#"{"reason":"seen enough"}"#).await.status(), 200);
    let delete =
        admin(&host, Method::DELETE, "/admin/v1/apps/hello/versions/2.0.0").await.send().await.expect("delete");
    assert_eq!(delete.status(), 204);

    let entries = history(&host, "hello").await;
    let actions: Vec<&str> = entries.iter().rev().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["canary_start", "pause", "resume", "abort"]);
    assert_eq!(entries[3]["reason"], "try it");
    assert_eq!(entries[0]["reason"], "seen enough");
    assert!(entries.iter().all(|e| e["actor"] == "ops-person (admin-token)"), "{entries:?}");
    let generations: Vec<i64> = entries.iter().filter_map(|e| e["generation"].as_i64()).collect();
    assert!(generations.windows(2).all(|w| w[0] > w[1]), "each change has a newer generation: {generations:?}");

    let all = admin(&host, Method::GET, "/admin/v1/releases").await.send().await.expect("releases");
    let all: Vec<Value> = all.json().await.expect("json");
    let apps: Vec<&str> = all.iter().filter_map(|s| s["app"].as_str()).collect();
    assert_eq!(apps, ["hello", "shop"]);
}

#[tokio::test]
async fn the_cli_pushes_steers_and_shows_a_release() {
    let db = TestDatabase::create().await;
    let host = builder(&db).start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hello-v2.wasm");
    std::fs::write(&file, variant("hello", "cli")).expect("write");
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(host_binary())
            .args(args)
            .env("BUDGET_SERVER", &host.base)
            .env("BUDGET_ADMIN_TOKEN", TOKEN)
            .env("BUDGET_ACTOR", "cli-test")
            .output()
            .expect("run the CLI");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    };
    let file = file.display().to_string();
    let (ok, out) = cli(&["push", &file, "--app", "hello", "--version", "2.0.0"]);
    assert!(ok && out.contains("hello@2.0.0 stored"), "{out}");
    let (ok, out) = cli(&["push", &file, "--app", "hello", "--version", "2.0.0"]);
    assert!(ok && out.contains("nothing changed"), "{out}");
    let (ok, out) = cli(&["canary", "start", "hello", "2.0.0", "--steps", "5,25,50", "--interval", "600"]);
    assert!(ok && out.contains("├── canary  2.0.0  set 5 %"), "{out}");
    let (ok, out) = cli(&["canary", "weight", "hello", "30", "--reason", "more"]);
    assert!(ok && out.contains("set 30 %"), "{out}");
    let (ok, out) = cli(&["status"]);
    assert!(ok && out.contains("hello  (generation") && out.contains("shop  (generation 0, stable)"), "{out}");
    assert!(out.contains("└── this pod  ready"), "{out}");
    let (ok, out) = cli(&["canary", "promote", "hello"]);
    assert!(ok && out.contains("├── stable  2.0.0  set 100 %"), "{out}");
    let (ok, out) = cli(&["history", "hello"]);
    assert!(ok && out.contains("promote") && out.contains("cli-test (admin-token)") && out.contains("more"), "{out}");
    let (ok, out) = cli(&["canary", "abort", "hello"]);
    assert!(!ok && out.contains("409 conflict"), "{out}");
}
