//! Command-line interface. Every `serve` flag can also be set from the
//! environment variable named in its help.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "budget-host", version, about = "Serves budget WebAssembly components over HTTP")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load the apps in apps.toml and serve them.
    Serve(Box<ServeArgs>),
    /// Validate a component against the budget:platform world and print its
    /// imports and exports. Exits 1 when it would be refused.
    Check(CheckArgs),
    /// Upload a component version through the admin API.
    Push(PushArgs),
    /// Start or steer an app's canary.
    Canary(CanaryArgs),
    /// Show each app's release as a tree: versions, weights, step, analysis.
    Status(StatusArgs),
    /// Show an app's release history, newest first.
    History(HistoryArgs),
    /// API users: `user create NAME`, `user token NAME|ID`, `user list`.
    User(UserArgs),
}

/// Where the admin API is, and its token; accepted before or after a
/// subcommand's own arguments.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Base URL of a host (any pod: they share the release state).
    #[arg(long, global = true, env = "BUDGET_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,

    /// The admin token (required).
    #[arg(long, global = true, env = "BUDGET_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Recorded as the actor in the history (default: $USER).
    #[arg(long, global = true, env = "BUDGET_ACTOR")]
    pub actor: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The component file.
    pub file: PathBuf,
    #[arg(long)]
    pub app: String,
    /// Semantic version, e.g. 1.4.0.
    #[arg(long)]
    pub version: String,
    /// Free text stored with the version.
    #[arg(long, default_value = "")]
    pub notes: String,
}

#[derive(Debug, Clone, Args)]
pub struct CanaryArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub action: CanaryAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum CanaryAction {
    /// Start a canary of an uploaded version.
    Start {
        app: String,
        version: String,
        /// A fixed weight (percent); analysis guards it, an operator promotes.
        #[arg(long, conflicts_with = "steps")]
        weight: Option<u8>,
        /// Weights the analysis walks, e.g. 5,25,50,100; passing the last promotes.
        #[arg(long, value_delimiter = ',')]
        steps: Vec<u8>,
        /// Seconds of traffic per verdict (and per step).
        #[arg(long, default_value_t = 30)]
        interval: u32,
        /// Highest tolerated 5xx share, in percent.
        #[arg(long, default_value_t = 1.0)]
        max_error_percent: f64,
        /// Highest tolerated canary p95 as a multiple of stable's.
        #[arg(long, default_value_t = 1.5)]
        max_p95_ratio: f64,
        /// Fewer canary requests per interval: no verdict.
        #[arg(long, default_value_t = 50)]
        min_requests: u64,
        /// On breach, pause instead of rolling back.
        #[arg(long)]
        pause_on_failure: bool,
        /// After the last step, pause instead of promoting.
        #[arg(long)]
        pause_on_success: bool,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Set the canary's weight (percent).
    Weight {
        app: String,
        weight: u8,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Stop automatic steps and verdict actions.
    Pause {
        app: String,
        #[arg(long)]
        reason: Option<String>,
    },
    Resume {
        app: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Make the canary stable now.
    Promote {
        app: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Send everyone back to stable.
    Abort {
        app: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Only this app.
    pub app: Option<String>,
    /// Redraw every two seconds until interrupted.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UserArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print one JSON object instead of aligned lines (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub action: UserAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserAction {
    /// Create a user (names are unique) and its first bearer token.
    Create {
        /// The user's name.
        name: String,
        /// A label for the token (for example the device).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Issue another bearer token to an existing user.
    Token {
        /// The user's name or id.
        user: String,
        /// A label for the token (for example the device).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List the users.
    List,
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    pub app: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (development).
    Text,
    /// One JSON object per line (production).
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address for application traffic (and the operations endpoints unless
    /// --ops-listen is set).
    #[arg(long, env = "BUDGET_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Separate address for /livez, /readyz, /startupz and /metrics. When set,
    /// those paths are no longer served on --listen.
    #[arg(long, env = "BUDGET_OPS_LISTEN")]
    pub ops_listen: Option<SocketAddr>,

    /// The apps file: routes, components, grants, limits and config.
    #[arg(long, env = "BUDGET_APPS", default_value = "apps.toml")]
    pub apps: PathBuf,

    /// Directory for compiled components, keyed by sha256 and engine
    /// fingerprint, so that a restart does not recompile.
    #[arg(long, env = "BUDGET_CACHE_DIR", default_value = ".data/compiled")]
    pub cache_dir: PathBuf,

    /// Log format.
    #[arg(long, env = "BUDGET_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Log filter, in tracing's EnvFilter syntax.
    #[arg(long, env = "BUDGET_LOG", default_value = "info")]
    pub log: String,

    /// After SIGTERM, keep serving this long (readiness already failing) so
    /// that load balancers remove the pod before it stops accepting.
    #[arg(long, env = "BUDGET_SHUTDOWN_DELAY_MS", default_value_t = 5_000)]
    pub shutdown_delay_ms: u64,

    /// Then wait at most this long for in-flight requests to finish.
    #[arg(long, env = "BUDGET_DRAIN_TIMEOUT_MS", default_value_t = 20_000)]
    pub drain_timeout_ms: u64,

    /// Period of the epoch ticker that interrupts and yields running guests.
    #[arg(long, env = "BUDGET_EPOCH_TICK_MS", default_value_t = 10)]
    pub epoch_tick_ms: u64,

    /// Instances that may run at once across all apps (pooling allocator
    /// slots). A request beyond it gets 503 `overloaded`.
    #[arg(long, env = "BUDGET_MAX_INSTANCES", default_value_t = 1000)]
    pub max_instances: u32,

    /// Largest linear memory any app may be given, in MiB (pooling slot size).
    #[arg(long, env = "BUDGET_POOL_MAX_MEMORY_MIB", default_value_t = 256)]
    pub pool_max_memory_mib: u64,

    /// KiB of each linear memory reset in place (dirty pages only, with
    /// Linux `PAGEMAP_SCAN`) instead of with `madvise` when an instance ends;
    /// 0 uses `madvise` only. Saves a cross-core TLB flush per request.
    #[arg(long, env = "BUDGET_POOL_KEEP_RESIDENT_KIB", default_value_t = 16 * 1024)]
    pub pool_keep_resident_kib: u64,

    /// PostgreSQL for the `sql` capability: the host's own login, which
    /// creates a schema and a role for each app. Without it, apps granted
    /// `sql` do not load.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Bearer token of the admin API (`/admin/v1/...`); unset disables it.
    /// Compared in constant time.
    #[arg(long, env = "BUDGET_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// A token that may only use the `x-budget-version` override header (in
    /// `x-budget-release-token`), for testers; the admin token may too.
    #[arg(long, env = "BUDGET_TESTER_TOKEN", hide_env_values = true)]
    pub tester_token: Option<String>,

    /// How often each pod reads the releases, catching a lost Redis notice.
    #[arg(long, env = "BUDGET_RELEASE_POLL_MS", default_value_t = 2_000)]
    pub release_poll_ms: u64,

    /// How often each pod flushes its canary statistics and, when it holds
    /// the analysis lock, judges the canaries.
    #[arg(long, env = "BUDGET_ANALYSIS_TICK_MS", default_value_t = 1_000)]
    pub analysis_tick_ms: u64,

    /// Largest component the admin API accepts in one upload.
    #[arg(long, env = "BUDGET_ADMIN_MAX_UPLOAD_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub admin_max_upload_bytes: u64,

    /// Prepended to app role names (`<prefix>app_<name>`). Roles are
    /// cluster-wide: environments sharing a cluster need distinct prefixes.
    #[arg(long, env = "BUDGET_SQL_ROLE_PREFIX", default_value = "")]
    pub sql_role_prefix: String,

    /// Secret from which app role passwords are derived. Required with
    /// DATABASE_URL: the host refuses to start without it rather than derive
    /// every app's password from a value anyone can read here (`just run`
    /// keeps a random one in .data/sql-role-secret).
    #[arg(long, env = "BUDGET_SQL_ROLE_SECRET", hide_env_values = true)]
    pub sql_role_secret: Option<String>,

    /// Connections per app pool.
    #[arg(long, env = "BUDGET_SQL_POOL_SIZE", default_value_t = 8)]
    pub sql_pool_size: u32,

    /// Statement timeout for app statements.
    #[arg(long, env = "BUDGET_SQL_STATEMENT_TIMEOUT_MS", default_value_t = 5_000)]
    pub sql_statement_timeout_ms: u64,

    /// Wait at most this long for a pooled connection (or a new one).
    #[arg(long, env = "BUDGET_SQL_ACQUIRE_TIMEOUT_MS", default_value_t = 2_000)]
    pub sql_acquire_timeout_ms: u64,

    /// Most rows one query may return.
    #[arg(long, env = "BUDGET_SQL_MAX_ROWS", default_value_t = 10_000)]
    pub sql_max_rows: usize,

    /// Most bytes (encoded column values) one query may return.
    #[arg(long, env = "BUDGET_SQL_MAX_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub sql_max_bytes: usize,

    /// MongoDB for the `docs` capability, e.g. `mongodb://mongo:27017`.
    /// Without it, apps granted `docs` do not load (`just run` starts a local
    /// wire-protocol server and sets it).
    #[arg(long, env = "MONGODB_URL", hide_env_values = true)]
    pub mongodb_url: Option<String>,

    /// Each app's database is `<prefix>_<app>`.
    #[arg(long, env = "BUDGET_MONGODB_DB_PREFIX", default_value = "budget")]
    pub mongodb_db_prefix: String,

    /// Upper bound for one docs operation (and server selection).
    #[arg(long, env = "BUDGET_DOCS_TIMEOUT_MS", default_value_t = 5_000)]
    pub docs_timeout_ms: u64,

    /// Most documents one find or aggregate returns.
    #[arg(long, env = "BUDGET_DOCS_MAX_DOCUMENTS", default_value_t = 1_000)]
    pub docs_max_documents: u32,

    /// Redis for the `cache` capability, e.g. `redis://redis:6379/0`.
    /// Without it, an in-process cache serves (one per host process).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prepended to every app's cache namespace (`<prefix>app:<name>:`), so
    /// that environments can share one Redis.
    #[arg(long, env = "BUDGET_REDIS_KEY_PREFIX", default_value = "")]
    pub redis_key_prefix: String,

    /// Upper bound for one cache operation (and for connecting to Redis).
    #[arg(long, env = "BUDGET_CACHE_TIMEOUT_MS", default_value_t = 2_000)]
    pub cache_timeout_ms: u64,

    /// How often backends are probed for `/readyz`.
    #[arg(long, env = "BUDGET_BACKEND_PROBE_MS", default_value_t = 2_000)]
    pub backend_probe_ms: u64,

    /// Time a client has to send a complete request head: on a new
    /// connection (HTTP/1 headers, or the HTTP/2 preface and first request)
    /// and between requests on a kept-alive HTTP/1 connection. Past it the
    /// connection is closed, so silent connections cannot pile up.
    #[arg(long, env = "BUDGET_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,

    /// Open client connections to --listen at most; at the cap
    /// new connections wait in the kernel's backlog. Lowered at start so it
    /// fits under the open-file limit (raised to its hard limit) with 512
    /// descriptors to spare for backends and files.
    /// Each holds at most a 64 KiB request head before a request runs, so
    /// the default bounds that at 64 MiB.
    #[arg(long, env = "BUDGET_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Concurrent streams (requests) one HTTP/2 connection may have open.
    #[arg(long, env = "BUDGET_HTTP2_MAX_STREAMS", default_value_t = 100)]
    pub http2_max_streams: u32,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The component to check.
    pub file: PathBuf,

    /// Check the imports against this app's grants in the apps file; without
    /// it, every data capability counts as granted.
    #[arg(long)]
    pub app: Option<String>,

    /// The apps file, used with --app.
    #[arg(long, env = "BUDGET_APPS", default_value = "apps.toml")]
    pub apps: PathBuf,
}
