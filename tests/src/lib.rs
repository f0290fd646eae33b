//! Harness for the integration tests: starts the real `budget-host` binary
//! on a free port with a test `apps.toml`, and talks to it over HTTP.
//!
//! Prerequisites (the `just test` recipe builds both): the host binary in
//! the target directory and the guest components in
//! `components/target/wasm32-wasip2/release`. A missing one fails the test
//! with the command that builds it; nothing is skipped.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The checkout under test, found at run time: cargo runs test binaries in
/// the package's directory, and a shared `CARGO_TARGET_DIR` may hold a
/// binary compiled from another checkout of the same sources, so the
/// compile-time manifest path can name the wrong tree.
pub fn repo_root() -> PathBuf {
    let is_root = |dir: &Path| dir.join("apps.toml").is_file() && dir.join("components").is_dir();
    std::env::current_dir()
        .ok()
        .and_then(|cwd| cwd.ancestors().find(|dir| is_root(dir)).map(Path::to_path_buf))
        .or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

/// The `budget-host` binary next to this test executable
/// (`target/<profile>/deps/test-…` → `target/<profile>/budget-host`), or
/// `BUDGET_HOST_BIN`.
pub fn host_binary() -> PathBuf {
    if let Ok(path) = std::env::var("BUDGET_HOST_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let binary = profile_dir.join("budget-host");
    assert!(binary.exists(), "{} is missing: run `cargo build -p budget-host` (just test does)", binary.display());
    binary
}

/// A guest component built by `just build-components`.
pub fn component(name: &str) -> PathBuf {
    let path = repo_root().join("components/target/wasm32-wasip2/release").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run `just build-components`", path.display());
    path
}

/// Compiled artifacts shared by all tests; the cache writes atomically, so
/// concurrent hosts may share it.
fn shared_cache_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().and_then(Path::parent).expect("target/<profile>").join("test-artifact-cache")
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

pub struct HostBuilder {
    apps_toml: String,
    args: Vec<String>,
    wait_ready: bool,
    ops_port: Option<u16>,
}

impl HostBuilder {
    pub fn new(apps_toml: impl Into<String>) -> Self {
        Self { apps_toml: apps_toml.into(), args: Vec::new(), wait_ready: true, ops_port: None }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// PostgreSQL for `sql` and the admin API: the test's own database, with
    /// its own role prefix.
    pub fn database(self, db: &TestDatabase) -> Self {
        self.arg("--database-url").arg(db.url.clone()).arg("--sql-role-prefix").arg(db.role_prefix.clone())
    }

    /// Serve the operations endpoints on a port of their own.
    pub fn with_ops_listener(mut self) -> Self {
        let port = free_port();
        self.ops_port = Some(port);
        self.arg("--ops-listen").arg(format!("127.0.0.1:{port}"))
    }

    /// Do not wait for `/readyz` (for hosts whose apps are meant to fail).
    pub fn no_wait_ready(mut self) -> Self {
        self.wait_ready = false;
        self
    }

    pub async fn start(self) -> HostProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let apps = dir.path().join("apps.toml");
        std::fs::write(&apps, &self.apps_toml).expect("write apps.toml");
        let port = free_port();
        let mut child = Command::new(host_binary())
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--apps")
            .arg(&apps)
            .args(&self.args)
            // A host gets only the backends its test names with flags.
            .env_remove("DATABASE_URL")
            .env_remove("MONGODB_URL")
            .env_remove("REDIS_URL")
            // Defaults through the environment, so a test's flags override them.
            .env("BUDGET_CACHE_DIR", shared_cache_dir())
            .env("BUDGET_SHUTDOWN_DELAY_MS", "0")
            .env("BUDGET_SQL_ROLE_SECRET", "integration-test-role-secret")
            .env("BUDGET_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn budget-host");
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[host] {line}");
                if let Ok(mut logs) = sink.lock() {
                    logs.push_str(&line);
                    logs.push('\n');
                }
            }
        });
        let mut host = HostProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            ops_base: format!("http://127.0.0.1:{}", self.ops_port.unwrap_or(port)),
            logs,
            client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client"),
            _dir: dir,
        };
        host.wait_for(if self.wait_ready { "/readyz" } else { "/startupz" }).await;
        host
    }
}

pub struct HostProcess {
    child: Child,
    pub base: String,
    /// Where `/livez`, `/readyz`, `/startupz` and `/metrics` are served.
    pub ops_base: String,
    logs: Arc<Mutex<String>>,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl HostProcess {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ops_url(&self, path: &str) -> String {
        format!("{}{path}", self.ops_base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    async fn wait_for(&mut self, probe: &str) {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("host exited with {status} during startup:\n{}", self.logs());
            }
            if let Ok(response) = self.client.get(self.ops_url(probe)).send().await
                && response.status() == 200
            {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "host not up after 60 s:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits (up to 5 s) for a log line that satisfies `matches`; the log
    /// is read by another thread, so it may trail the HTTP response.
    pub async fn wait_for_log(&self, matches: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self.logs().lines().find(|l| matches(l)) {
                return line.to_string();
            }
            assert!(started.elapsed() < Duration::from_secs(5), "expected log line missing:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Why `app` failed to load, from `/readyz` (which must say `failed`).
    pub async fn load_failure(&self, app: &str) -> String {
        let response = self.client.get(self.ops_url("/readyz")).send().await.expect("GET /readyz");
        assert_eq!(response.status(), 503, "a failed app keeps the host unready");
        let ready: serde_json::Value = response.json().await.expect("readyz json");
        assert_eq!(ready["apps"][app]["state"], "failed", "{ready}");
        ready["apps"][app]["reason"].as_str().unwrap_or_default().to_string()
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    pub fn sigterm(&self) {
        #[allow(unsafe_code)]
        // SAFETY: kill(2) on our own child's pid has no memory-safety effects.
        let rc = unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) failed");
    }

    /// Waits for the process to exit, failing after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(started.elapsed() < timeout, "host did not exit within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The value of a metric sample, or 0 when absent.
    pub async fn metric(&self, name_and_labels: &str) -> f64 {
        let response = self.client.get(self.ops_url("/metrics")).send().await.expect("GET /metrics");
        let text = response.text().await.expect("metrics body");
        text.lines()
            .find_map(|line| line.strip_prefix(name_and_labels).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or(0.0)
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `method path` with `body`. Builds the request at once, so the future borrows neither path nor body.
pub fn call(
    host: &HostProcess,
    method: reqwest::Method,
    path: &str,
    body: &[u8],
) -> impl std::future::Future<Output = reqwest::Response> + use<> {
    let pending = host.client.request(method, host.url(path)).body(body.to_vec()).send();
    async move { pending.await.expect("send") }
}

/// The JSON body of a response that must be 200 (the body is in the failure).
pub async fn json_of(response: reqwest::Response) -> serde_json::Value {
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

/// The standard test apps: `hello`, `greeter` (with config) and `misbehave`
/// (tight limits: 2 s deadline, 32 MiB memory, 64 KiB body, 1 MiB response).
pub fn standard_apps() -> String {
    format!(
        r#"
[apps.hello]
routes = ["/hello"]
component = "{hello}"
version = "1.0.0"

[apps.greeter]
routes = ["/greet", "/greeter"]
component = "{greeter}"
version = "0.3.0"
[apps.greeter.config]
greeting = "Howdy"

[apps.misbehave]
routes = ["/misbehave"]
component = "{misbehave}"
version = "2.0.0"
[apps.misbehave.limits]
deadline_ms = 2000
memory = "32MiB"
max_request_body = "64KiB"
max_response_body = "1MiB"
"#,
        hello = component("hello").display(),
        greeter = component("greeter").display(),
        misbehave = component("misbehave").display(),
    )
}

/// Asserts the error envelope and returns it.
pub async fn expect_error(response: reqwest::Response, status: u16, name: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body: serde_json::Value = response.json().await.expect("JSON error envelope");
    assert_eq!(body["error"]["name"], name, "{body}");
    assert!(body["error"]["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert_eq!(body["error"]["id"].as_str(), request_id.as_deref(), "envelope id is the request id");
    body
}

/// The shared Redis for tests: `REDIS_URL`, or the local default. Fails
/// (never skips) when it does not answer.
pub fn redis_url() -> String {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    let mut connection = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .unwrap_or_else(|e| panic!("Redis at {url} is required (just test starts it): {e}"));
    let pong: String = redis::cmd("PING").query(&mut connection).expect("PING");
    assert_eq!(pong, "PONG");
    url
}

/// A prefix no other test (or test run) uses, for shared servers.
pub fn unique_prefix(tag: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("t{}_{}_{}_{}", tag, std::process::id(), nanos % 1_000_000_000, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A child process a test owns, killed on `stop` and on drop.
#[derive(Default)]
struct OwnedChild(Option<Child>);

impl OwnedChild {
    fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis server owned by one test, on its own port, for outage drills.
pub struct OwnedRedis {
    child: OwnedChild,
    pub port: u16,
}

impl OwnedRedis {
    pub fn start() -> Self {
        let mut redis = Self { child: OwnedChild::default(), port: free_port() };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is required for the outage test (apt-get install redis-server)");
        self.child = OwnedChild(Some(child));
        let started = Instant::now();
        while redis::Client::open(self.url().as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .is_err()
        {
            assert!(started.elapsed() < Duration::from_secs(10), "owned redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        self.child.stop();
    }
}

/// The administrative PostgreSQL URL for tests: `DATABASE_URL`, or the local
/// trust-auth default.
pub fn admin_database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A fresh database and role prefix for one test; both are dropped at the
/// end. Fails (never skips) when PostgreSQL does not answer.
pub struct TestDatabase {
    pub name: String,
    pub role_prefix: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let name = unique_prefix("db");
        let admin = admin_database_url();
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required (just test starts it): {e}"));
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await.expect("create database");
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("DATABASE_URL needs a database path"),
        };
        Self { role_prefix: format!("{name}_"), name, url }
    }

    pub async fn connect(&self) -> sqlx::PgConnection {
        <sqlx::PgConnection as sqlx::Connection>::connect(&self.url).await.expect("connect to test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (name, prefix, admin) = (self.name.clone(), self.role_prefix.clone(), admin_database_url());
        // Drop runs outside async; clean up on a thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await else { return };
                let _ =
                    sqlx::Executor::execute(&mut conn, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                let roles: Vec<String> =
                    sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE rolname LIKE $1 || '%'")
                        .bind(&prefix)
                        .fetch_all(&mut conn)
                        .await
                        .unwrap_or_default();
                for role in roles {
                    let _ =
                        sqlx::Executor::execute(&mut conn, format!(r#"DROP ROLE IF EXISTS "{role}""#).as_str()).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A MongoDB wire-protocol server (nx-27017, from the `.venv-mongo`
/// virtualenv that `just test` creates) owned by one test, with in-memory
/// databases. Production uses real MongoDB; see docs/mongodb-compat.md.
pub struct OwnedMongo {
    child: OwnedChild,
    pub port: u16,
    dir: tempfile::TempDir,
    /// Keep data in the temporary directory across restarts (else in memory).
    on_disk: bool,
}

impl OwnedMongo {
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Data survives `restart`, as a real MongoDB's would.
    pub fn start_on_disk() -> Self {
        Self::start_with(true)
    }

    fn start_with(on_disk: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut mongo = Self { child: OwnedChild::default(), port: free_port(), dir, on_disk };
        mongo.restart();
        mongo
    }

    pub fn url(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    pub fn restart(&mut self) {
        let binary = repo_root().join(".venv-mongo/bin/nx-27017");
        assert!(binary.exists(), "{} is missing: run `just services` (just test does)", binary.display());
        let child = Command::new(binary)
            .arg("--data-dir")
            .arg(if self.on_disk { self.dir.path().join("data").into_os_string() } else { "memory".into() })
            .args(["--host", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("--log-file")
            .arg(self.dir.path().join("nx.log"))
            .arg("--pid-file")
            .arg(self.dir.path().join("nx.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nx-27017");
        self.child = OwnedChild(Some(child));
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "nx-27017 did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server and waits until its port refuses connections, so
    /// that a test's "MongoDB is down" really is.
    pub fn stop(&mut self) {
        self.child.stop();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(started.elapsed() < Duration::from_secs(10), "nx-27017 still listens after being killed");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// An apps file with the `probe` fixture, granted `capabilities`.
pub fn probe_app(name: &str, capabilities: &str) -> String {
    format!(
        "[apps.{name}]\nroutes = [\"/probe\"]\ncomponent = \"{}\"\ncapabilities = {capabilities}\n",
        component("probe").display()
    )
}
