//! `apps.toml`: which apps this host serves.
//!
//! ```toml
//! [defaults.limits]            # optional; overrides the built-in defaults
//! deadline_ms = 10000
//!
//! [apps.hello]
//! routes = ["/hello"]          # path prefixes; the longest match wins
//! component = "components/target/wasm32-wasip2/release/hello.wasm"
//! version = "0.1.0"            # semver; default 0.0.0
//! capabilities = []            # any of "sql", "docs", "cache", "keyvalue"
//! auth = "none"                # or "user": only requests with a valid API token
//! strip_prefix = "/api"        # optional: removed from the path the component sees
//! [apps.hello.limits]
//! memory = "64MiB"
//! [apps.hello.config]          # strings, read with wasi:config/store
//! greeting = "hi"
//! ```
//!
//! Unknown keys are errors, not warnings: a typo in a limit must not
//! silently fall back to a default.

use super::{ByteSize, ConfigError};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Paths the host answers itself; no app may route them.
pub const RESERVED_PATHS: [&str; 5] = ["/livez", "/readyz", "/startupz", "/metrics", "/admin"];

/// A data capability an app may be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// PostgreSQL (`budget:platform/sql`).
    Sql,
    /// MongoDB (`budget:platform/docs`).
    Docs,
    /// Redis (`budget:platform/cache`).
    Cache,
    /// `wasi:keyvalue` store, atomics and batch, on the cache backend.
    #[serde(rename = "keyvalue")]
    KeyValue,
}

impl Capability {
    /// The capabilities that are interfaces of `budget:platform` itself.
    pub const PLATFORM: [Capability; 3] = [Capability::Sql, Capability::Docs, Capability::Cache];

    /// Whether the grant is served by the cache backend (`cache`, and
    /// `keyvalue` on the same namespace).
    pub fn uses_cache_backend(self) -> bool {
        matches!(self, Capability::Cache | Capability::KeyValue)
    }

    /// The grant's name in `apps.toml`; for the platform's own
    /// capabilities, also the interface name inside `budget:platform`.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Sql => "sql",
            Capability::Docs => "docs",
            Capability::Cache => "cache",
            Capability::KeyValue => "keyvalue",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppsFile {
    #[serde(default)]
    defaults: DefaultsSpec,
    #[serde(default)]
    apps: BTreeMap<String, AppSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsSpec {
    #[serde(default)]
    limits: LimitsSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppSpec {
    routes: Vec<String>,
    component: PathBuf,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    capabilities: BTreeSet<Capability>,
    #[serde(default)]
    limits: LimitsSpec,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    migrations: Option<PathBuf>,
    #[serde(default)]
    auth: AuthMode,
    #[serde(default)]
    strip_prefix: Option<String>,
}

/// Who may call an app.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Anyone; the host still removes a client's `x-budget-user`.
    #[default]
    None,
    /// Only requests with a valid API token; the host passes the user id
    /// in `x-budget-user`.
    User,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSpec {
    memory: Option<ByteSize>,
    deadline_ms: Option<u64>,
    max_request_body: Option<ByteSize>,
    max_response_body: Option<ByteSize>,
}

/// Resource limits for one request of one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory the instance may grow to (default 64 MiB).
    pub memory: ByteSize,
    /// Wall-clock time from arrival to the response head (default 10 s);
    /// the guest is interrupted when it runs out. Past it: 504.
    pub deadline: Duration,
    /// Request body size (default 1 MiB). Past it: 413.
    pub max_request_body: ByteSize,
    /// Response body size (default 16 MiB). Past it the response is cut off,
    /// or replaced by a 500 when its declared length already exceeds it.
    pub max_response_body: ByteSize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: ByteSize::mib(64),
            deadline: Duration::from_secs(10),
            max_request_body: ByteSize::mib(1),
            max_response_body: ByteSize::mib(16),
        }
    }
}

impl Limits {
    fn overlay(&self, spec: &LimitsSpec) -> Limits {
        Limits {
            memory: spec.memory.unwrap_or(self.memory),
            deadline: spec.deadline_ms.map(Duration::from_millis).unwrap_or(self.deadline),
            max_request_body: spec.max_request_body.unwrap_or(self.max_request_body),
            max_response_body: spec.max_response_body.unwrap_or(self.max_response_body),
        }
    }
}

/// One validated app.
#[derive(Debug, Clone)]
pub struct AppDefinition {
    pub name: String,
    pub routes: Vec<String>,
    /// Absolute or relative to the working directory (resolved against the
    /// directory of `apps.toml`).
    pub component: PathBuf,
    pub version: semver::Version,
    pub capabilities: BTreeSet<Capability>,
    pub limits: Limits,
    pub config: Arc<BTreeMap<String, String>>,
    /// Directory of `*.sql` migrations, applied at load (needs `sql`).
    pub migrations: Option<PathBuf>,
    pub auth: AuthMode,
    /// Removed from the request path before the component sees it, so that
    /// an app written for `/v1/…` can be mounted under `/api/v1/…` (every
    /// route starts with it).
    pub strip_prefix: Option<String>,
}

/// The whole validated apps file.
#[derive(Debug, Clone)]
pub struct AppsConfig {
    pub apps: Vec<AppDefinition>,
}

fn valid_app_name(name: &str) -> bool {
    // Becomes a PostgreSQL schema and role, a MongoDB database and a Redis
    // key prefix, so keep it to what all of them accept unquoted.
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 32
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

fn validate_route(route: &str) -> Result<(), String> {
    if !route.starts_with('/') {
        return Err(format!("route `{route}` must start with `/`"));
    }
    if route.len() > 1 && route.ends_with('/') {
        return Err(format!("route `{route}` must not end with `/`"));
    }
    if route.contains("//") || route.contains(['?', '#', '*', ' ']) {
        return Err(format!("route `{route}` must be a plain path prefix"));
    }
    if let Some(reserved) = RESERVED_PATHS.iter().find(|r| route == **r || route.starts_with(&format!("{r}/"))) {
        return Err(format!("route `{route}` is reserved by the host (`{reserved}`)"));
    }
    Ok(())
}

impl AppsConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|(parse, message)| {
            if parse {
                ConfigError::Parse { path: path.to_path_buf(), message }
            } else {
                ConfigError::Invalid { path: path.to_path_buf(), message }
            }
        })
    }

    /// Parses and validates; the error's flag says whether it was a syntax
    /// error (true) or a semantic one (false).
    fn parse(text: &str, base: &Path) -> Result<Self, (bool, String)> {
        let file: AppsFile = toml::from_str(text).map_err(|e| (true, e.to_string()))?;
        let invalid = |message: String| (false, message);
        let defaults = Limits::default().overlay(&file.defaults.limits);
        let mut seen_routes: BTreeMap<String, String> = BTreeMap::new();
        let mut apps = Vec::with_capacity(file.apps.len());
        for (name, spec) in file.apps {
            if !valid_app_name(&name) {
                return Err(invalid(format!(
                    "app name `{name}` must be 1-32 characters of a-z, 0-9 and _, starting with a letter"
                )));
            }
            if spec.routes.is_empty() {
                return Err(invalid(format!("app `{name}` has no routes")));
            }
            for route in &spec.routes {
                validate_route(route).map_err(|m| invalid(format!("app `{name}`: {m}")))?;
                if let Some(other) = seen_routes.insert(route.clone(), name.clone()) {
                    return Err(invalid(format!("route `{route}` is claimed by both `{other}` and `{name}`")));
                }
            }
            let version = match spec.version.as_deref() {
                None => semver::Version::new(0, 0, 0),
                Some(v) => semver::Version::parse(v)
                    .map_err(|e| invalid(format!("app `{name}`: version `{v}` is not semver: {e}")))?,
            };
            let limits = defaults.overlay(&spec.limits);
            if limits.deadline.is_zero() {
                return Err(invalid(format!("app `{name}`: deadline_ms must be positive")));
            }
            if limits.memory.0 < ByteSize::mib(1).0 {
                return Err(invalid(format!("app `{name}`: memory must be at least 1MiB")));
            }
            let component = if spec.component.is_absolute() { spec.component } else { base.join(spec.component) };
            if let Some(prefix) = &spec.strip_prefix {
                let shaped = prefix.len() > 1 && prefix.starts_with('/') && !prefix.ends_with('/');
                let covers = spec.routes.iter().all(|r| r.starts_with(&format!("{prefix}/")));
                if !shaped || !covers {
                    return Err(invalid(format!(
                        "app `{name}`: strip_prefix `{prefix}` must be a path prefix like `/api` that every route \
                         continues with a `/`"
                    )));
                }
            }
            if spec.migrations.is_some() && !spec.capabilities.contains(&Capability::Sql) {
                return Err(invalid(format!("app `{name}` has migrations but is not granted `sql`")));
            }
            let migrations = spec.migrations.map(|m| if m.is_absolute() { m } else { base.join(m) });
            apps.push(AppDefinition {
                name,
                routes: spec.routes,
                component,
                version,
                capabilities: spec.capabilities,
                limits,
                config: Arc::new(spec.config),
                migrations,
                auth: spec.auth,
                strip_prefix: spec.strip_prefix,
            });
        }
        Ok(Self { apps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AppsConfig, (bool, String)> {
        AppsConfig::parse(text, Path::new("/srv"))
    }

    #[test]
    fn full_example_with_defaults() {
        let cfg = parse(
            r#"
            [defaults.limits]
            deadline_ms = 2000
            [apps.hello]
            routes = ["/hello", "/hi"]
            component = "hello.wasm"
            version = "1.2.3"
            capabilities = ["sql", "cache"]
            [apps.hello.limits]
            memory = "32MiB"
            [apps.hello.config]
            greeting = "hi"
            "#,
        )
        .expect("valid");
        let app = &cfg.apps[0];
        assert_eq!(app.component, PathBuf::from("/srv/hello.wasm"));
        assert_eq!(app.version, semver::Version::new(1, 2, 3));
        assert_eq!(app.limits.memory, ByteSize::mib(32));
        assert_eq!(app.limits.deadline, Duration::from_secs(2));
        assert_eq!(app.limits.max_request_body, ByteSize::mib(1));
        assert!(app.capabilities.contains(&Capability::Sql));
        assert_eq!(app.config.get("greeting").map(String::as_str), Some("hi"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = parse("[apps.a]\nroutes=[\"/a\"]\ncomponent=\"a.wasm\"\nmemroy=\"1MiB\"").unwrap_err();
        assert!(err.0 && err.1.contains("memroy"), "{err:?}");
        let err = parse("[apps.a]\nroutes=[\"/a\"]\ncomponent=\"a.wasm\"\n[apps.a.limits]\ndeadline=1").unwrap_err();
        assert!(err.1.contains("deadline"), "{err:?}");
    }

    #[test]
    fn bad_capability_and_version() {
        assert!(parse("[apps.a]\nroutes=[\"/a\"]\ncomponent=\"a\"\ncapabilities=[\"files\"]").is_err());
        let err = parse("[apps.a]\nroutes=[\"/a\"]\ncomponent=\"a\"\nversion=\"one\"").unwrap_err();
        assert!(err.1.contains("not semver"), "{err:?}");
    }

    #[test]
    fn a_stripped_prefix_must_lead_every_route() {
        let ok = parse("[apps.a]\nroutes=[\"/api/v1/x\"]\ncomponent=\"a\"\nstrip_prefix=\"/api\"").expect("valid");
        assert_eq!(ok.apps[0].strip_prefix.as_deref(), Some("/api"));
        for bad in ["/apix", "/api/", "api", "/"] {
            let text = format!("[apps.a]\nroutes=[\"/api/v1/x\"]\ncomponent=\"a\"\nstrip_prefix=\"{bad}\"");
            assert!(parse(&text).is_err(), "{bad}");
        }
        let uncovered = "[apps.a]\nroutes=[\"/api/x\", \"/other\"]\ncomponent=\"a\"\nstrip_prefix=\"/api\"";
        assert!(parse(uncovered).is_err());
    }

    #[test]
    fn routes_are_validated() {
        let dup = "[apps.a]\nroutes=[\"/x\"]\ncomponent=\"a\"\n[apps.b]\nroutes=[\"/x\"]\ncomponent=\"b\"";
        assert!(parse(dup).unwrap_err().1.contains("claimed by both"));
        let reserved = "[apps.a]\nroutes=[\"/metrics\"]\ncomponent=\"a\"";
        assert!(parse(reserved).unwrap_err().1.contains("reserved"));
        let slash = "[apps.a]\nroutes=[\"/x/\"]\ncomponent=\"a\"";
        assert!(parse(slash).is_err());
        let root = "[apps.a]\nroutes=[\"/\"]\ncomponent=\"a\"";
        assert!(parse(root).is_ok());
    }

    #[test]
    fn app_names_must_be_identifiers() {
        assert!(parse("[apps.Bad-Name]\nroutes=[\"/a\"]\ncomponent=\"a\"").is_err());
        assert!(valid_app_name("budgets_v2"));
        assert!(!valid_app_name("2budgets"));
    }
}
