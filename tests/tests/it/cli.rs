//! The operator CLI as a person or a script uses it: help never shows a
//! secret from the environment, users have unique names, a second token
//! can be issued by name, and the plain and `--json` outputs are easy to
//! pick apart.

use budget_host_tests::{HostBuilder, HostProcess, TestDatabase, component, host_binary};
use serde_json::Value;
use std::process::{Command, Output};

const TOKEN: &str = "test-admin-token-cli-0123456789";

/// Values no help text may print.
const SECRETS: [(&str, &str); 6] = [
    ("DATABASE_URL", "postgres://owner:pg-password-sentinel@db.internal:5432/budget"),
    ("MONGODB_URL", "mongodb://owner:mongo-password-sentinel@mongo.internal:27017/"),
    ("REDIS_URL", "redis://:redis-password-sentinel@redis.internal:6379/0"),
    ("BUDGET_SQL_ROLE_SECRET", "role-secret-sentinel"),
    ("BUDGET_ADMIN_TOKEN", "admin-token-sentinel"),
    ("BUDGET_TESTER_TOKEN", "tester-token-sentinel"),
];

fn help_of(args: &[&str]) -> String {
    let mut command = Command::new(host_binary());
    command.args(args).arg("--help");
    for (name, value) in SECRETS {
        command.env(name, value);
    }
    let output = command.output().expect("run budget-host --help");
    assert!(output.status.success(), "{args:?} --help failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_never_prints_secrets_from_the_environment() {
    for args in [
        &["serve"][..],
        &["push"],
        &["canary"],
        &["status"],
        &["history"],
        &["user"],
        &["user", "create"],
        &["user", "token"],
    ] {
        let help = help_of(args);
        for (name, value) in SECRETS {
            assert!(!help.contains(value), "`budget-host {} --help` printed {name}'s value:\n{help}", args.join(" "));
            for part in ["sentinel", "password"] {
                assert!(!help.contains(&format!("{part}@")), "{help}");
            }
        }
    }
    // The variables are still named, so the help stays useful.
    let serve = help_of(&["serve"]);
    for (name, _) in SECRETS {
        assert!(serve.contains(name), "serve --help does not name {name}");
    }
}

async fn host(db: &TestDatabase) -> HostProcess {
    let apps = format!("[apps.hello]\nroutes = [\"/hello\"]\ncomponent = \"{}\"\n", component("hello").display());
    HostBuilder::new(apps).database(db).arg("--admin-token").arg(TOKEN).start().await
}

fn cli(host: &HostProcess, args: &[&str]) -> Output {
    Command::new(host_binary())
        .args(args)
        .arg("--server")
        .arg(host.url(""))
        .env("BUDGET_ADMIN_TOKEN", TOKEN)
        .output()
        .expect("run budget-host")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn users_have_unique_names_and_get_more_tokens_by_name() {
    let db = TestDatabase::create().await;
    let host = host(&db).await;

    let created = stdout(&cli(&host, &["user", "create", "alice", "--label", "laptop"]));
    let token_lines: Vec<&str> = created.lines().filter(|line| line.starts_with("token")).collect();
    assert_eq!(token_lines.len(), 1, "`^token` must pick one line:\n{created}");
    let first_token = token_lines[0].split_whitespace().nth(1).expect("token value");
    assert!(first_token.starts_with("bgt_"), "{created}");

    // A second alice is refused, and says why.
    let again = cli(&host, &["user", "create", "alice"]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("409 conflict") && stderr.contains("alice"), "{stderr}");

    // Another token for the same user, found by name, as JSON.
    let issued: Value =
        serde_json::from_str(&stdout(&cli(&host, &["user", "token", "alice", "--label", "phone", "--json"])))
            .expect("one JSON object");
    assert_eq!(issued["user_name"], "alice");
    assert_eq!(issued["label"], "phone");
    let second_token = issued["token"].as_str().expect("token");
    assert!(second_token.starts_with("bgt_") && second_token != first_token);

    // By id too; an unknown user is a clear error.
    let user_id = issued["user_id"].as_str().expect("user id");
    let by_id: Value = serde_json::from_str(&stdout(&cli(&host, &["user", "token", user_id, "--json"]))).expect("json");
    assert_eq!(by_id["user_id"], user_id);
    let missing = cli(&host, &["user", "token", "nobody"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no user named or with id `nobody`"));

    // One alice in the list.
    let listed: Value = serde_json::from_str(&stdout(&cli(&host, &["user", "list", "--json"]))).expect("json");
    let names: Vec<&str> =
        listed["users"].as_array().expect("users").iter().filter_map(|u| u["name"].as_str()).collect();
    assert_eq!(names, ["alice"]);
}

#[tokio::test]
async fn duplicate_names_from_before_the_rule_are_renamed_on_upgrade() {
    let db = TestDatabase::create().await;
    // The layout of a host before unique names, holding two alices.
    let mut conn = db.connect().await;
    for statement in [
        "CREATE SCHEMA budget_host",
        "CREATE TABLE budget_host.api_users (id uuid PRIMARY KEY, name text NOT NULL, \
         created_at timestamptz NOT NULL DEFAULT now())",
        "INSERT INTO budget_host.api_users (id, name, created_at) VALUES \
         ('00000000-0000-4000-8000-000000000001', 'alice', now() - interval '2 days'), \
         ('00000000-0000-4000-8000-000000000002', 'alice', now() - interval '1 day')",
    ] {
        sqlx::query(statement).execute(&mut conn).await.expect(statement);
    }
    let host = host(&db).await;
    let listed: Value = serde_json::from_str(&stdout(&cli(&host, &["user", "list", "--json"]))).expect("json");
    let users: Vec<(String, String)> = listed["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| (u["id"].as_str().unwrap_or_default().to_string(), u["name"].as_str().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(
        users,
        [
            ("00000000-0000-4000-8000-000000000001".to_string(), "alice".to_string()),
            ("00000000-0000-4000-8000-000000000002".to_string(), "alice (2)".to_string()),
        ]
    );
}

#[test]
fn a_database_without_a_role_secret_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let apps = dir.path().join("apps.toml");
    let hello = component("hello");
    std::fs::write(&apps, format!("[apps.hello]\nroutes = [\"/hello\"]\ncomponent = \"{}\"\n", hello.display()))
        .expect("write apps.toml");
    let mut child = Command::new(host_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--apps"])
        .arg(&apps)
        .env("DATABASE_URL", budget_host_tests::admin_database_url())
        .env_remove("BUDGET_SQL_ROLE_SECRET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn budget-host");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the host kept running without a role secret");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("read stderr");
    assert!(!status.success());
    let reason: Vec<&str> = stderr.lines().filter(|line| line.contains("BUDGET_SQL_ROLE_SECRET")).collect();
    assert_eq!(reason.len(), 1, "one line names the missing secret:\n{stderr}");
    assert!(reason[0].starts_with("budget-host: DATABASE_URL is set but BUDGET_SQL_ROLE_SECRET is not"), "{stderr}");
}
