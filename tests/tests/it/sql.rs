//! The `sql` capability through a real component against real PostgreSQL:
//! every function, type round-trips, transactions, limits, isolation by the
//! database, grants, migrations (including two hosts racing), and recovery
//! from killed connections.

use budget_host_tests::{HostBuilder, HostProcess, TestDatabase, component, expect_error};
use serde_json::{Value, json};
use std::time::Duration;

fn apps(extra: &str) -> String {
    let probe = component("sql_probe");
    format!(
        "[apps.probe]\nroutes = [\"/probe\"]\ncomponent = \"{p}\"\ncapabilities = [\"sql\"]\n\n\
         [apps.other]\nroutes = [\"/other\"]\ncomponent = \"{p}\"\ncapabilities = [\"sql\"]\n{extra}",
        p = probe.display()
    )
}

fn on(db: &TestDatabase, apps: String) -> HostBuilder {
    HostBuilder::new(apps).database(db)
}

async fn post(host: &HostProcess, path: &str, body: Value) -> reqwest::Response {
    host.client.post(host.url(path)).json(&body).send().await.expect("send")
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

async fn sql_error(response: reqwest::Response, status: u16, name: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["name"], name, "{body}");
    body
}

async fn exec(host: &HostProcess, app: &str, statement: &str, params: Value) -> Value {
    ok(post(host, &format!("/{app}/sql/execute"), json!({ "statement": statement, "params": params })).await).await
}

async fn query(host: &HostProcess, app: &str, statement: &str, params: Value) -> Value {
    ok(post(host, &format!("/{app}/sql/query"), json!({ "statement": statement, "params": params })).await).await
}

const ALL_TYPES: &str = "CREATE TABLE everything (
    id int8 PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, f8 float8, n numeric, t text,
    by bytea, u uuid, d date, ts timestamptz, j jsonb)";

#[tokio::test]
async fn every_type_round_trips_exactly() {
    let db = TestDatabase::create().await;
    let host = on(&db, apps("")).start().await;
    exec(&host, "probe", ALL_TYPES, json!([])).await;
    let big: String = (0..256 * 1024).map(|i| format!("{:02x}", (i * 7) % 256)).collect();
    let row = json!([
        {"int64": 1}, {"bool": true}, {"int16": -32768}, {"int32": 2147483647}, {"int64": i64::MAX},
        {"float64": 0.1}, {"numeric": "-12345678901234567890.123456789012345678"},
        {"text": "héllo wörld 🌍 tab\tnewline\n, \"quoted\""}, {"bytea_hex": big},
        {"uuid": "6f1d7c2e-8b0a-4d5e-9f3a-1b2c3d4e5f60"}, {"date": "2026-02-28"},
        {"timestamptz": 1_772_236_800_123_456i64}, {"jsonb": "{\"amount_minor\":-1250,\"tags\":[\"x\"]}"}
    ]);
    let placeholders = "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13";
    let inserted = exec(&host, "probe", &format!("INSERT INTO everything VALUES ({placeholders})"), row.clone()).await;
    assert_eq!(inserted, json!({ "affected": 1 }));
    // Every column NULL, bound as untyped NULLs.
    let nulls: Vec<Value> =
        std::iter::once(json!({"int64": 2})).chain((0..12).map(|_| json!({"null": null}))).collect();
    exec(&host, "probe", &format!("INSERT INTO everything VALUES ({placeholders})"), json!(nulls)).await;

    let result = query(&host, "probe", "SELECT * FROM everything ORDER BY id", json!([])).await;
    // jsonb keeps no key order, so compare that column as JSON, the rest exactly.
    let mut got = result["rows"][0].clone();
    let mut sent = row.clone();
    let parse = |v: &mut Value| -> Value {
        let text = v[12]["jsonb"].as_str().unwrap_or_default().to_string();
        v[12] = Value::Null;
        serde_json::from_str(&text).expect("jsonb text")
    };
    assert_eq!(parse(&mut got), parse(&mut sent), "jsonb round-trips");
    assert_eq!(got, sent, "values come back exactly as sent");
    assert_eq!(result["rows"][1], json!(nulls));
    let types: Vec<&str> = result["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["type"].as_str().unwrap_or("").trim_start_matches("ColumnType::"))
        .collect();
    assert_eq!(
        types,
        [
            "Int64",
            "Boolean",
            "Int16",
            "Int32",
            "Int64",
            "Float64",
            "Numeric",
            "Text",
            "Bytea",
            "Uuid",
            "Date",
            "Timestamptz",
            "Jsonb"
        ]
    );
    assert_eq!(result["columns"][6]["name"], "n");
    assert_eq!(result["columns"][6]["type_name"], "numeric");

    // Exact decimal arithmetic stays exact.
    let sum = query(
        &host,
        "probe",
        "SELECT ($1::numeric + $2::numeric) AS s",
        json!([{"numeric": "0.1"}, {"numeric": "0.2"}]),
    )
    .await;
    assert_eq!(sum["rows"][0][0], json!({ "numeric": "0.3" }));
    // An empty result still describes its columns.
    let empty = query(&host, "probe", "SELECT id, t FROM everything WHERE id < 0", json!([])).await;
    assert_eq!(empty["rows"], json!([]));
    assert_eq!(empty["columns"][1]["name"], "t");
}

#[tokio::test]
async fn errors_carry_sqlstate_and_limits_apply() {
    let db = TestDatabase::create().await;
    let host =
        on(&db, apps("")).arg("--sql-statement-timeout-ms").arg("300").arg("--sql-max-rows").arg("100").start().await;
    exec(&host, "probe", "CREATE TABLE accounts (id int8 PRIMARY KEY, name text NOT NULL)", json!([])).await;
    exec(&host, "probe", "INSERT INTO accounts VALUES (1, 'cash')", json!([])).await;
    let duplicate =
        post(&host, "/probe/sql/execute", json!({"statement": "INSERT INTO accounts VALUES (1, 'again')"})).await;
    let body = sql_error(duplicate, 422, "sql_database").await;
    assert_eq!(body["error"]["sqlstate"], "23505");
    assert_eq!(body["error"]["constraint"], "accounts_pkey");
    let syntax = post(&host, "/probe/sql/query", json!({"statement": "SELEC nonsense"})).await;
    assert_eq!(sql_error(syntax, 422, "sql_database").await["error"]["sqlstate"], "42601");
    let slow = post(&host, "/probe/sql/query", json!({"statement": "SELECT pg_sleep(3)"})).await;
    sql_error(slow, 504, "sql_timeout").await;
    let many = post(&host, "/probe/sql/query", json!({"statement": "SELECT generate_series(1, 1000)"})).await;
    sql_error(many, 413, "sql_result_too_large").await;
    let bad =
        post(&host, "/probe/sql/query", json!({"statement": "SELECT $1::numeric", "params": [{"numeric": "1.2.3"}]}))
            .await;
    sql_error(bad, 400, "sql_invalid_value").await;
    let unsupported = post(&host, "/probe/sql/query", json!({"statement": "SELECT '(1,2)'::point"})).await;
    sql_error(unsupported, 400, "sql_invalid_value").await;
    // The connection survives all of that.
    assert_eq!(
        query(&host, "probe", "SELECT count(*) FROM accounts", json!([])).await["rows"][0][0],
        json!({"int64": 1})
    );
}

#[tokio::test]
async fn transactions_commit_roll_back_and_roll_back_when_dropped() {
    let db = TestDatabase::create().await;
    let host = on(&db, apps("")).start().await;
    exec(&host, "probe", "CREATE TABLE ledger (id serial PRIMARY KEY, amount_minor int8 NOT NULL)", json!([])).await;
    let insert = |amount: i64| json!({"statement": "INSERT INTO ledger (amount_minor) VALUES ($1) RETURNING id", "params": [{"int64": amount}]});
    for (end, amount) in [("commit", 100), ("rollback", 200), ("drop", 300)] {
        let body = json!({"isolation": "serializable", "steps": [insert(amount)], "end": end});
        ok(post(&host, "/probe/sql/transaction", body).await).await;
    }
    let rows = query(&host, "probe", "SELECT amount_minor FROM ledger", json!([])).await;
    assert_eq!(rows["rows"], json!([[{"int64": 100}]]), "only the committed insert stays");
    let closed = post(&host, "/probe/sql/transaction", json!({"steps": [], "end": "commit", "after_end": true})).await;
    sql_error(closed, 409, "sql_transaction_closed").await;
    // A failing statement inside a transaction: the error reaches the guest,
    // and the dropped transaction leaves nothing behind.
    let failing = json!({"steps": [insert(400), {"statement": "SELECT 1/0"}], "end": "commit"});
    assert_eq!(
        sql_error(post(&host, "/probe/sql/transaction", failing).await, 422, "sql_database").await["error"]["sqlstate"],
        "22012"
    );
    let rows = query(&host, "probe", "SELECT count(*) FROM ledger", json!([])).await;
    assert_eq!(rows["rows"][0][0], json!({"int64": 1}));
}

#[tokio::test]
async fn one_app_cannot_reach_another_apps_data() {
    let db = TestDatabase::create().await;
    let host = on(&db, apps("")).start().await;
    exec(&host, "other", "CREATE TABLE secrets (v text)", json!([])).await;
    exec(&host, "other", "INSERT INTO secrets VALUES ('other app data')", json!([])).await;
    assert_eq!(
        query(&host, "other", "SELECT v FROM secrets", json!([])).await["rows"][0][0],
        json!({"text": "other app data"})
    );

    for statement in ["SELECT v FROM app_other.secrets", "SELECT v FROM \"app_other\".\"secrets\""] {
        let denied = post(&host, "/probe/sql/query", json!({ "statement": statement })).await;
        let body = sql_error(denied, 422, "sql_database").await;
        assert_eq!(body["error"]["sqlstate"], "42501", "permission denied: {body}");
    }
    // No way to switch roles: the session has only the app's own role.
    for statement in [
        format!("SET ROLE {}app_other", db.role_prefix),
        "SET ROLE postgres".to_string(),
        "SET SESSION AUTHORIZATION postgres".to_string(),
    ] {
        let denied = post(&host, "/probe/sql/execute", json!({ "statement": statement })).await;
        sql_error(denied, 422, "sql_database").await;
    }
    let reset = post(&host, "/probe/sql/execute", json!({"statement": "RESET ROLE"})).await;
    assert_eq!(reset.status(), 200);
    let still_denied = post(&host, "/probe/sql/query", json!({"statement": "SELECT v FROM app_other.secrets"})).await;
    sql_error(still_denied, 422, "sql_database").await;
    // Unqualified names resolve to the app's own schema.
    let own = post(&host, "/probe/sql/query", json!({"statement": "SELECT v FROM secrets"})).await;
    assert_eq!(sql_error(own, 422, "sql_database").await["error"]["sqlstate"], "42P01");
    let who = query(&host, "probe", "SELECT current_user::text, current_schema()::text", json!([])).await;
    assert_eq!(who["rows"][0], json!([{"text": format!("{}app_probe", db.role_prefix)}, {"text": "app_probe"}]));
}

#[tokio::test]
async fn sql_needs_a_grant() {
    let db = TestDatabase::create().await;
    let apps = format!(
        "[apps.probe]\nroutes = [\"/probe\"]\ncomponent = \"{}\"\ncapabilities = []\n",
        component("sql_probe").display()
    );
    let host = on(&db, apps).no_wait_ready().start().await;
    let reason = host.load_failure("probe").await;
    assert!(
        reason.contains("budget:platform/sql@0.1.0") && reason.contains("not granted the `sql` capability"),
        "{reason}"
    );
}

fn migrations_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, sql) in files {
        std::fs::write(dir.path().join(name), sql).expect("write migration");
    }
    dir
}

#[tokio::test]
async fn two_hosts_racing_apply_each_migration_once() {
    let db = TestDatabase::create().await;
    let dir = migrations_dir(&[
        (
            "0001_accounts.sql",
            "CREATE TABLE accounts (id int8 PRIMARY KEY, name text);\nCREATE INDEX accounts_name ON accounts (name);",
        ),
        ("0002_seed.sql", "INSERT INTO accounts VALUES (1, 'checking'), (2, 'savings');"),
    ]);
    let apps = apps(&format!("migrations = \"{}\"\n", dir.path().display()));
    // `migrations` belongs to the last table written above: `other`.
    let (first, second) = tokio::join!(on(&db, apps.clone()).start(), on(&db, apps).start());
    for host in [&first, &second] {
        let rows = query(host, "other", "SELECT count(*) FROM accounts", json!([])).await;
        assert_eq!(rows["rows"][0][0], json!({"int64": 2}), "seed applied exactly once");
    }
    let applied = query(&first, "other", "SELECT name FROM _budget_migrations ORDER BY name", json!([])).await;
    assert_eq!(applied["rows"], json!([[{"text": "0001_accounts.sql"}], [{"text": "0002_seed.sql"}]]));
}

#[tokio::test]
async fn a_failed_migration_keeps_only_its_app_from_loading() {
    let db = TestDatabase::create().await;
    let dir = migrations_dir(&[
        ("0001_ok.sql", "CREATE TABLE fine (id int8);"),
        ("0002_broken.sql", "CREATE TABLE broken (id int8 REFERENCES nowhere(id));"),
    ]);
    let apps = apps(&format!("migrations = \"{}\"\n", dir.path().display()));
    let host = on(&db, apps).no_wait_ready().start().await;
    let ready: Value = host.get("/readyz").await.json().await.expect("json");
    assert_eq!(ready["apps"]["probe"]["state"], "ready");
    assert_eq!(ready["apps"]["other"]["state"], "failed");
    let reason = ready["apps"]["other"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("0002_broken.sql") && reason.contains("42P01"), "{reason}");
    expect_error(host.get("/other/sql/query").await, 503, "app_not_ready").await;
    assert_eq!(query(&host, "probe", "SELECT 1 AS one", json!([])).await["rows"][0][0], json!({"int32": 1}));
    // The good migration was kept, the broken one left nothing.
    let mut conn = db.connect().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'app_other' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("tables");
    assert_eq!(tables, ["_budget_migrations", "fine"]);
}

#[tokio::test]
async fn killed_connections_are_replaced_without_a_restart() {
    let db = TestDatabase::create().await;
    let host = on(&db, apps("")).start().await;
    assert_eq!(query(&host, "probe", "SELECT 1 AS one", json!([])).await["rows"][0][0], json!({"int32": 1}));
    let mut admin = db.connect().await;
    let killed: Vec<bool> =
        sqlx::query_scalar("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
            .bind(format!("{}app_probe", db.role_prefix))
            .fetch_all(&mut admin)
            .await
            .expect("terminate");
    assert!(!killed.is_empty(), "the app had pooled connections to kill");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The pool notices the dead connections and opens new ones.
    let mut recovered = false;
    for _ in 0..3 {
        let response = post(&host, "/probe/sql/query", json!({"statement": "SELECT 2 AS two"})).await;
        if response.status() == 200 {
            recovered = true;
            break;
        }
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["name"], "sql_unavailable", "a lost connection is reported as unavailable: {body}");
    }
    assert!(recovered, "sql did not recover without a restart");
}

/// The host's coordination cannot be taken by a tenant: a component that
/// holds advisory locks with every key the host once used, on its pooled
/// connection, neither delays a second host's start nor keeps the victim's
/// migrations from running; and the host's own lock rows are out of its reach.
#[tokio::test]
async fn a_tenant_holding_advisory_locks_does_not_stall_a_new_host() {
    let db = TestDatabase::create().await;
    let dir = migrations_dir(&[("0001_ledger.sql", "CREATE TABLE entries (id int8 PRIMARY KEY);")]);
    // `probe` is the attacker; `other` (with migrations) the victim.
    let apps = apps(&format!("migrations = \"{}\"\n", dir.path().display()));
    let first = on(&db, apps.clone()).start().await;
    for key in ["budget-host:provision", "budget-host:schema", "budget-host:migrate:app_other"] {
        let held =
            query(&first, "probe", "SELECT pg_advisory_lock(hashtext($1))::text", json!([{ "text": key }])).await;
        assert_eq!(held["rows"][0][0], json!({"text": ""}), "the tenant holds {key}");
    }
    let denied = post(
        &first,
        "/probe/sql/query",
        json!({
            "statement": "SELECT name FROM budget_host.host_locks FOR UPDATE", "params": []
        }),
    )
    .await;
    assert_eq!(sql_error(denied, 422, "sql_database").await["error"]["sqlstate"], "42501", "permission denied");

    // A new pod starts against the same database while the locks are held:
    // `start` waits for `/readyz` (every app loaded, migrations checked).
    let started = std::time::Instant::now();
    let second = on(&db, apps).start().await;
    assert!(started.elapsed() < Duration::from_secs(30), "the second host waited {:?}", started.elapsed());
    let rows = query(&second, "other", "SELECT count(*) FROM entries", json!([])).await;
    assert_eq!(rows["rows"][0][0], json!({"int64": 0}));
}

/// An app that switches off its own statement timeout gets its request
/// ended at the deadline (504) and its statement cancelled in PostgreSQL
/// shortly after: no backend keeps running for it.
#[tokio::test]
async fn a_statement_cannot_outlive_its_request_deadline() {
    let db = TestDatabase::create().await;
    let limits = "\n[apps.probe.limits]\ndeadline_ms = 1500\n";
    let host = on(&db, apps(limits)).start().await;
    let runaway = json!({"steps": [
        {"statement": "SET LOCAL statement_timeout = 0"},
        {"statement": "SELECT pg_sleep(60)"}
    ], "end": "commit"});
    let started = std::time::Instant::now();
    let response = post(&host, "/probe/sql/transaction", runaway).await;
    expect_error(response, 504, "deadline_exceeded").await;

    // The backend is cancelled within a few reaper ticks after the deadline.
    let mut conn = db.connect().await;
    let role = format!("{}app_probe", db.role_prefix);
    loop {
        let running: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state = 'active' AND query LIKE '%pg_sleep%'",
        )
        .bind(&role)
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_activity");
        if running == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "pg_sleep(60) still running after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(host.metric("budget_host_sql_statements_cancelled_total{app=\"probe\"}").await >= 1.0);
    // The app's pool serves again.
    let rows = query(&host, "probe", "SELECT 1::int8", json!([])).await;
    assert_eq!(rows["rows"][0][0], json!({"int64": 1}));
}

/// A session setting or an advisory lock taken by one request does not
/// reach the next request that gets the same pooled connection.
#[tokio::test]
async fn pooled_connections_are_reset_between_requests() {
    let db = TestDatabase::create().await;
    let host = on(&db, apps("")).arg("--sql-pool-size").arg("1").start().await;
    exec(&host, "probe", "SET statement_timeout = 0", json!([])).await;
    exec(&host, "probe", "SELECT pg_advisory_lock(42)", json!([])).await;
    // One connection in the pool: this is the same session.
    let timeout = query(&host, "probe", "SELECT current_setting('statement_timeout')", json!([])).await;
    assert_eq!(timeout["rows"][0][0], json!({"text": "5s"}), "the login's statement timeout is back");
    let locks = query(
        &host,
        "probe",
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
        json!([]),
    )
    .await;
    assert_eq!(locks["rows"][0][0], json!({"int64": 0}), "the advisory lock ended with its request");
}
