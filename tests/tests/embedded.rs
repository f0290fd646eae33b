//! `just run` on a machine with no services configured: without
//! `DATABASE_URL` the host serves `sql` from its embedded PostgreSQL, with
//! the same schema-per-app, role and migrations as against a real server,
//! and its data survives a restart.

use budget_host_tests::{HostBuilder, HostProcess, component};
use serde_json::{Value, json};

fn apps(migrations: &std::path::Path) -> String {
    let probe = component("sql_probe");
    format!(
        "[apps.probe]\nroutes = [\"/probe\"]\ncomponent = \"{p}\"\ncapabilities = [\"sql\"]\nmigrations = \"{m}\"\n\n\
         [apps.other]\nroutes = [\"/other\"]\ncomponent = \"{p}\"\ncapabilities = [\"sql\"]\n",
        p = probe.display(),
        m = migrations.display()
    )
}

async fn post(host: &HostProcess, path: &str, body: Value) -> (u16, Value) {
    let response = host.client.post(host.url(path)).json(&body).send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn query(host: &HostProcess, app: &str, statement: &str) -> Value {
    let (status, body) =
        post(host, &format!("/{app}/sql/query"), json!({ "statement": statement, "params": [] })).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn sql_without_database_url_is_served_by_embedded_postgres_and_persists() {
    let data = tempfile::tempdir().expect("tempdir");
    let migrations = data.path().join("migrations");
    std::fs::create_dir_all(&migrations).expect("mkdir");
    std::fs::write(
        migrations.join("0001_accounts.sql"),
        "CREATE TABLE accounts (id int8 PRIMARY KEY, name text NOT NULL, balance numeric(20,2) NOT NULL);",
    )
    .expect("write migration");
    let dir = data.path().join("postgres");
    let start = || HostBuilder::new(apps(&migrations)).arg("--embedded-postgres-dir").arg(dir.display().to_string());

    let host = start().start().await;
    host.wait_for_log(|l| l.contains("capability backend") && l.contains("embedded-postgres")).await;
    let ready: Value =
        host.client.get(host.ops_url("/readyz")).send().await.expect("readyz").json().await.expect("json");
    assert_eq!(ready["backends"]["sql"]["backend"], "embedded-postgres", "{ready}");

    // The migration ran in the app's schema, as the app's role.
    let (status, body) = post(
        &host,
        "/probe/sql/execute",
        json!({ "statement": "INSERT INTO accounts VALUES ($1, $2, $3)",
                "params": [{ "int64": 1 }, { "text": "Girokonto €" }, { "numeric": "1234567890123.45" }] }),
    )
    .await;
    assert_eq!((status, &body["affected"]), (200, &json!(1)), "{body}");
    let who = query(&host, "probe", "SELECT current_user::text, current_schema()::text").await;
    assert_eq!(who["rows"][0], json!([{ "text": "app_probe" }, { "text": "app_probe" }]), "{who}");

    // Another app, switched into its own role on the shared session, is
    // refused the first app's schema.
    let (status, body) =
        post(&host, "/other/sql/query", json!({ "statement": "SELECT * FROM app_probe.accounts", "params": [] })).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["sqlstate"], "42501", "permission denied: {body}");
    let who = query(&host, "other", "SELECT current_user::text").await;
    assert_eq!(who["rows"][0], json!([{ "text": "app_other" }]), "{who}");

    // Transactions: a rolled-back insert leaves nothing behind.
    let (status, body) = post(
        &host,
        "/probe/sql/transaction",
        json!({ "steps": [
                  { "statement": "INSERT INTO accounts VALUES (2, 'rolled back', 0) RETURNING id", "params": [] }
                ], "end": "rollback" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let count = query(&host, "probe", "SELECT count(*)::int8 FROM accounts").await;
    assert_eq!(count["rows"][0][0], json!({ "int64": 1 }), "{count}");

    // What one user leaves on the shared session does not reach the next:
    // an open transaction, a setting. (App roles may not create temporary
    // tables there at all.)
    for statement in ["BEGIN", "SET default_transaction_read_only = on"] {
        let (status, body) = post(&host, "/other/sql/execute", json!({ "statement": statement, "params": [] })).await;
        assert_eq!(status, 200, "{statement}: {body}");
        let who =
            query(&host, "probe", "SELECT current_user::text, current_setting('default_transaction_read_only')").await;
        assert_eq!(who["rows"][0], json!([{ "text": "app_probe" }, { "text": "off" }]), "after {statement}: {who}");
        let rows = query(&host, "probe", "SELECT count(*)::int8 FROM accounts").await;
        assert_eq!(rows["rows"][0][0], json!({ "int64": 1 }), "after {statement}: {rows}");
        let who = query(&host, "other", "SELECT current_user::text").await;
        assert_eq!(who["rows"][0], json!([{ "text": "app_other" }]), "after {statement}: {who}");
    }

    // SIGTERM ends the host (the embedded server does not hold it up).
    let mut host = host;
    host.sigterm();
    assert!(host.wait_exit(std::time::Duration::from_secs(30)).await.success(), "clean exit");
    drop(host);

    // A second start on the same directory finds the data and does not
    // re-run the migration.
    let host = start().start().await;
    let rows = query(&host, "probe", "SELECT name, balance FROM accounts ORDER BY id").await;
    assert_eq!(rows["rows"], json!([[{ "text": "Girokonto €" }, { "numeric": "1234567890123.45" }]]), "{rows}");
    let applied = query(&host, "probe", "SELECT count(*)::int8 FROM _budget_migrations").await;
    assert_eq!(applied["rows"][0][0], json!({ "int64": 1 }), "{applied}");
}
