//! The `docs` capability through a real component and the real `mongodb`
//! driver, against a MongoDB wire-protocol server (nx-27017): every
//! function, Extended JSON round-trips, one database per app, grants,
//! limits, and an outage with recovery.

use budget_host_tests::{HostBuilder, HostProcess, OwnedMongo, component, expect_error};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn apps() -> String {
    let probe = component("docs_probe");
    format!(
        "[apps.probe]\nroutes = [\"/probe\"]\ncomponent = \"{p}\"\ncapabilities = [\"docs\"]\n\n\
         [apps.other]\nroutes = [\"/other\"]\ncomponent = \"{p}\"\ncapabilities = [\"docs\"]\n",
        p = probe.display()
    )
}

async fn host_on(mongo: &OwnedMongo, extra: &[&str]) -> HostProcess {
    let mut builder = HostBuilder::new(apps()).arg("--mongodb-url").arg(mongo.url());
    for arg in extra {
        builder = builder.arg(*arg);
    }
    builder.start().await
}

async fn op(host: &HostProcess, app: &str, name: &str, body: Value) -> reqwest::Response {
    host.client.post(host.url(&format!("/{app}/docs/{name}"))).json(&body).send().await.expect("send")
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

async fn failed(response: reqwest::Response, status: u16, name: &str) -> Value {
    let got = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    assert_eq!((got, body["error"]["name"].as_str()), (status, Some(name)), "{body}");
    body
}

#[tokio::test]
async fn every_docs_function_works() {
    let mongo = OwnedMongo::start();
    let host = host_on(&mongo, &[]).await;
    let c = "events";
    let first = ok(op(
        &host,
        "probe",
        "insert-one",
        json!({"collection": c, "document": {
            "kind": "expense", "amount_minor": {"$numberLong": "9007199254740993"},
            "at": {"$date": "2026-01-05T10:00:00Z"}, "memo": "café ☕"
        }}),
    )
    .await)
    .await;
    assert!(first["id"]["$oid"].is_string(), "an ObjectId was generated: {first}");
    let many = ok(op(
        &host,
        "probe",
        "insert-many",
        json!({"collection": c, "documents": [
            {"_id": "e2", "kind": "income", "amount_minor": 5000},
            {"_id": "e3", "kind": "expense", "amount_minor": -1250},
            {"_id": "e4", "kind": "expense", "amount_minor": -250}
        ]}),
    )
    .await)
    .await;
    assert_eq!(many["ids"], json!(["e2", "e3", "e4"]));

    let found = ok(op(
        &host,
        "probe",
        "find",
        json!({"collection": c, "filter": {"kind": "expense"},
        "sort": {"amount_minor": 1}, "projection": {"_id": 0, "amount_minor": 1}, "skip": 1, "limit": 5}),
    )
    .await)
    .await;
    // Relaxed Extended JSON renders int64 as a plain number; it stays exact
    // (2^53 + 1 would not survive a float).
    assert_eq!(found["documents"], json!([{"amount_minor": -250}, {"amount_minor": 9_007_199_254_740_993i64}]));

    let one = ok(op(&host, "probe", "find-one", json!({"collection": c, "filter": {"_id": first["id"]}})).await).await;
    assert_eq!(one["document"]["memo"], "café ☕");
    assert_eq!(one["document"]["at"], json!({"$date": "2026-01-05T10:00:00Z"}));
    assert_eq!(one["document"]["amount_minor"].as_i64(), Some(9_007_199_254_740_993));
    let none = ok(op(&host, "probe", "find-one", json!({"collection": c, "filter": {"_id": "missing"}})).await).await;
    assert_eq!(none["document"], Value::Null);

    let inc = ok(op(
        &host,
        "probe",
        "update-one",
        json!({"collection": c, "filter": {"_id": "e2"},
        "update": {"$inc": {"amount_minor": 100}}}),
    )
    .await)
    .await;
    assert_eq!((inc["matched"].as_u64(), inc["modified"].as_u64()), (Some(1), Some(1)));
    let upsert = ok(op(
        &host,
        "probe",
        "update-one",
        json!({"collection": "totals", "filter": {"_id": "jan"},
        "update": {"$inc": {"spent_minor": -1500}}, "upsert": true}),
    )
    .await)
    .await;
    assert_eq!(upsert["upserted_id"], "jan");
    let tagged = ok(op(
        &host,
        "probe",
        "update-many",
        json!({"collection": c, "filter": {"kind": "expense"},
        "update": {"$set": {"reviewed": true}}}),
    )
    .await)
    .await;
    assert_eq!(tagged["modified"], 3);
    assert_eq!(
        ok(op(&host, "probe", "count", json!({"collection": c, "filter": {"reviewed": true}})).await).await["count"],
        3
    );

    let grouped = ok(op(
        &host,
        "probe",
        "aggregate",
        json!({"collection": c, "pipeline": [
            {"$match": {"_id": {"$in": ["e2", "e3", "e4"]}}},
            {"$group": {"_id": "$kind", "total": {"$sum": "$amount_minor"}}},
            {"$sort": {"_id": 1}}
        ]}),
    )
    .await)
    .await;
    assert_eq!(grouped["documents"], json!([{"_id": "expense", "total": -1500}, {"_id": "income", "total": 5100}]));

    let index = ok(op(
        &host,
        "probe",
        "create-index",
        json!({"collection": "payees", "keys": {"name": 1}, "unique": true, "name": "payee_name"}),
    )
    .await)
    .await;
    assert_eq!(index["name"], "payee_name");
    ok(op(&host, "probe", "insert-one", json!({"collection": "payees", "document": {"name": "Grocer"}})).await).await;
    let duplicate =
        op(&host, "probe", "insert-one", json!({"collection": "payees", "document": {"name": "Grocer"}})).await;
    assert_eq!(failed(duplicate, 409, "docs_duplicate_key").await["error"]["code"], 11000);

    assert_eq!(
        ok(op(&host, "probe", "delete-one", json!({"collection": c, "filter": {"_id": "e2"}})).await).await["deleted"],
        1
    );
    assert_eq!(
        ok(op(&host, "probe", "delete-many", json!({"collection": c, "filter": {"kind": "expense"}})).await).await["deleted"],
        3
    );
    assert_eq!(ok(op(&host, "probe", "count", json!({"collection": c, "filter": {}})).await).await["count"], 0);

    // Bad input is an error value, not a trap.
    failed(
        op(&host, "probe", "find", json!({"collection": "system.users", "filter": {}})).await,
        400,
        "docs_invalid_argument",
    )
    .await;
    failed(
        op(&host, "probe", "aggregate", json!({"collection": c, "pipeline": {"$match": {}}})).await,
        400,
        "docs_invalid_argument",
    )
    .await;
    failed(op(&host, "probe", "find", json!({"collection": c, "filter": [1, 2]})).await, 400, "docs_invalid_argument")
        .await;
}

#[tokio::test]
async fn each_app_has_its_own_database() {
    let mongo = OwnedMongo::start();
    let host = host_on(&mongo, &[]).await;
    ok(op(&host, "other", "insert-one", json!({"collection": "secrets", "document": {"v": "other app data"}})).await)
        .await;
    ok(op(&host, "probe", "insert-one", json!({"collection": "notes", "document": {"v": "mine"}})).await).await;
    let seen = ok(op(&host, "probe", "find", json!({"collection": "secrets", "filter": {}})).await).await;
    assert_eq!(seen["documents"], json!([]), "same collection name, different database");
    let theirs =
        ok(op(&host, "other", "find", json!({"collection": "secrets", "filter": {}, "projection": {"_id": 0}})).await)
            .await;
    assert_eq!(theirs["documents"], json!([{"v": "other app data"}]));
    let out = op(
        &host,
        "probe",
        "aggregate",
        json!({"collection": "notes", "pipeline": [{"$out": {"db": "budget_other", "coll": "secrets"}}]}),
    )
    .await;
    failed(out, 400, "docs_invalid_argument").await;
    let merge = op(
        &host,
        "probe",
        "aggregate",
        json!({"collection": "notes", "pipeline": [{"$merge": {"into": {"db": "budget_other", "coll": "secrets"}}}]}),
    )
    .await;
    failed(merge, 400, "docs_invalid_argument").await;
    let untouched = ok(op(&host, "other", "count", json!({"collection": "secrets", "filter": {}})).await).await;
    assert_eq!(untouched["count"], 1);
}

#[tokio::test]
async fn results_are_capped() {
    let mongo = OwnedMongo::start();
    let host = host_on(&mongo, &["--docs-max-documents", "5"]).await;
    let documents: Vec<Value> = (0..8).map(|i| json!({"n": i})).collect();
    ok(op(&host, "probe", "insert-many", json!({"collection": "c", "documents": documents})).await).await;
    let found = ok(op(&host, "probe", "find", json!({"collection": "c", "filter": {}, "limit": 100})).await).await;
    assert_eq!(found["documents"].as_array().map(Vec::len), Some(5), "find limits are capped");
    let all = op(&host, "probe", "aggregate", json!({"collection": "c", "pipeline": [{"$match": {}}]})).await;
    failed(all, 413, "docs_result_too_large").await;
}

#[tokio::test]
async fn docs_needs_a_grant() {
    let mongo = OwnedMongo::start();
    let apps = format!("[apps.probe]\nroutes = [\"/probe\"]\ncomponent = \"{}\"\n", component("docs_probe").display());
    let host = HostBuilder::new(apps).arg("--mongodb-url").arg(mongo.url()).no_wait_ready().start().await;
    expect_error(host.get("/probe/docs/find").await, 503, "app_not_ready").await;
    let reason = host.load_failure("probe").await;
    assert!(
        reason.contains("budget:platform/docs@0.1.0") && reason.contains("not granted the `docs` capability"),
        "{reason}"
    );
}

#[tokio::test]
async fn outage_gives_errors_and_recovers_without_restart() {
    let mut mongo = OwnedMongo::start();
    let host = host_on(&mongo, &["--docs-timeout-ms", "800", "--backend-probe-ms", "200"]).await;
    ok(op(&host, "probe", "insert-one", json!({"collection": "c", "document": {"n": 1}})).await).await;
    mongo.stop();
    let started = Instant::now();
    let response = op(&host, "probe", "count", json!({"collection": "c", "filter": {}})).await;
    let status = response.status().as_u16();
    assert!(status == 503 || status == 504, "an error value reached the component: {status}");
    assert!(started.elapsed() < Duration::from_secs(3), "no hang: {:?}", started.elapsed());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ready = host.get("/readyz").await;
        if ready.status() == 503 {
            let body: Value = ready.json().await.expect("json");
            assert_eq!(body["backends"]["docs"]["up"], false, "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "readiness never named the docs backend");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    mongo.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = op(&host, "probe", "insert-one", json!({"collection": "c", "document": {"n": 2}})).await;
        if response.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "docs did not recover: {}", response.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
