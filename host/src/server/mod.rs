//! The HTTP front: hyper (HTTP/1.1 with keep-alive, and HTTP/2) on tokio,
//! longest-prefix routing to apps, request ids, limits, probes, metrics and
//! graceful shutdown.

pub mod admin;
pub mod apps;
pub mod body;
mod connections;
mod lifecycle;
pub mod ops;
pub mod request_id;

use crate::auth::Identity;
use crate::capabilities::backends::Backends;
use crate::cli::{LogFormat, ServeArgs};
use crate::config::AppsConfig;
use crate::config::{AuthMode, Capability};
use crate::error::ApiError;
use crate::metrics::{Metrics, NO_APP};
use crate::releases::bus::{InMemoryBus, RedisBus, ReleaseBus};
use crate::releases::controller::{self, ChoiceError, ReleaseController};
use crate::releases::selection;
use crate::runtime::artifact_cache::ArtifactCache;
use crate::runtime::invoke::invoke;
use crate::runtime::state::build_linker;
use crate::runtime::{EngineSettings, LoadedVersion, build_engine, spawn_epoch_ticker};
use anyhow::Context as _;
use apps::{AppSlot, AppState, RouteTable};
use body::{CappedBody, GuestRequestBody, HostBody, LimitedBody};
use http::{HeaderValue, Method};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
pub use lifecycle::Lifecycle;
use sha2::Digest as _;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

/// Everything a request needs, built once at startup.
pub struct Host {
    pub metrics: Arc<Metrics>,
    pub backends: Arc<Backends>,
    pub lifecycle: Lifecycle,
    pub slots: Vec<Arc<AppSlot>>,
    routes: RouteTable,
    admin: admin::Admin,
    verifier: crate::auth::Verifier,
    pub releases: Arc<ReleaseController>,
    /// Whether `/livez` & co. are answered on the application listener.
    ops_on_main: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListenerKind {
    Main,
    Ops,
}

pub fn init_tracing(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter).with_context(|| format!("invalid log filter `{filter}`"))?;
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

/// Entry point of `budget-host serve`.
pub fn serve_blocking(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing(args.log_format, &args.log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(args))
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

impl Host {
    async fn handle(
        self: Arc<Self>,
        request: http::Request<Incoming>,
        listener: ListenerKind,
    ) -> http::Response<HostBody> {
        let started = Instant::now();
        let request_id = request_id::from_headers(request.headers());
        let path = request.uri().path().to_string();

        let ops_here = match listener {
            ListenerKind::Ops => true,
            ListenerKind::Main => self.ops_on_main,
        };
        if ops_here && let Some(response) = ops::handle(&self, &path) {
            return with_request_id(response, &request_id);
        }
        if listener == ListenerKind::Main && (path == admin::PREFIX || path.starts_with("/admin/")) {
            let method = method_label(request.method());
            let response = admin::handle(&self.admin, &self.releases, request)
                .await
                .unwrap_or_else(|error| error.into_response(&request_id));
            let status = response.status().as_u16().to_string();
            self.metrics.http_requests_total.with_label_values(&[ADMIN, NO_APP, method, &status]).inc();
            return with_request_id(response, &request_id);
        }

        let method = method_label(request.method());
        let slot = match listener {
            ListenerKind::Main => self.routes.lookup(&path).cloned(),
            ListenerKind::Ops => None,
        };
        let mut request = request;
        // Only the host says who the user is.
        request.headers_mut().remove(crate::auth::USER_HEADER);
        let identified = match &slot {
            Some(slot) if slot.definition.auth == AuthMode::User => self.identify(&mut request).await,
            _ => Ok(()),
        };
        let (app, version, choice, result) = match slot {
            None => (NO_APP.to_string(), NO_APP.to_string(), None, Err(ApiError::NotFound { path: path.clone() })),
            Some(slot) if identified.is_err() => {
                let error = identified.err().unwrap_or(ApiError::Unauthorized);
                (slot.name().to_string(), NO_APP.to_string(), None, Err(error))
            }
            Some(slot) => match &*slot.state() {
                AppState::Ready(routing) => match self.releases.choose(&slot, routing, request.headers()).await {
                    Ok(choice) => {
                        // Release headers are the host's; the component never sees the token.
                        request.headers_mut().remove(selection::TOKEN_HEADER);
                        request.headers_mut().remove(selection::VERSION_HEADER);
                        if let Some(prefix) = &slot.definition.strip_prefix {
                            strip_path_prefix(&mut request, prefix);
                        }
                        let version = choice.version.clone();
                        let result = self.dispatch(&version, request, &request_id).await;
                        (version.context.app.clone(), version.context.version.clone(), Some(choice), result)
                    }
                    Err(error) => {
                        let error = match error {
                            ChoiceError::UnknownVersion { .. } => ApiError::Missing(error.to_string()),
                            ChoiceError::LoadFailed { .. } => ApiError::AppNotReady { app: slot.name().to_string() },
                        };
                        (slot.name().to_string(), NO_APP.to_string(), None, Err(error))
                    }
                },
                AppState::Loading | AppState::Failed(_) => (
                    slot.name().to_string(),
                    NO_APP.to_string(),
                    None,
                    Err(ApiError::AppNotReady { app: slot.name().to_string() }),
                ),
            },
        };
        // Overload and draining are the host's state, not the version's fault.
        let version_failed = match &result {
            Ok(response) => response.status().is_server_error(),
            Err(error) => {
                error.status().is_server_error() && !matches!(error, ApiError::Overloaded | ApiError::Draining)
            }
        };
        let mut response = result.unwrap_or_else(|error| error.into_response(&request_id));
        let elapsed = started.elapsed();
        let status = response.status().as_u16().to_string();
        self.metrics.http_requests_total.with_label_values(&[&app, &version, method, &status]).inc();
        self.metrics.http_request_duration_seconds.with_label_values(&[&app, &version]).observe(elapsed.as_secs_f64());
        if let Some(choice) = choice {
            if choice.analysed {
                self.releases.record(&app, &version, version_failed, elapsed);
            }
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&format!("{app}@{version}")) {
                headers.insert(selection::VERSION_HEADER, value);
            }
            if let Ok(value) = HeaderValue::from_str(&choice.reason) {
                headers.insert(selection::REASON_HEADER, value);
            }
            if let Some(cookie) = choice.set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
                headers.append(http::header::SET_COOKIE, cookie);
            }
        }
        with_request_id(response, &request_id)
    }

    /// Verifies the bearer token of a request to an `auth = "user"` app and
    /// passes the user id on in `x-budget-user`.
    async fn identify(&self, request: &mut http::Request<Incoming>) -> Result<(), ApiError> {
        let sql = self.releases.sql().await.map_err(|e| ApiError::StoreUnavailable(e.to_string()))?;
        match self.verifier.identify(sql, request.headers()).await {
            Ok(Identity::User(user)) => {
                let value = HeaderValue::from_str(&user).map_err(|_| ApiError::Internal)?;
                let headers = request.headers_mut();
                headers.insert(crate::auth::USER_HEADER, value);
                // The component gets the identity, never the credential.
                headers.remove(http::header::AUTHORIZATION);
                Ok(())
            }
            Ok(Identity::Missing) => Err(ApiError::Unauthorized),
            Ok(Identity::Invalid) => Err(ApiError::InvalidToken),
            Err(error) => Err(ApiError::StoreUnavailable(error.to_string())),
        }
    }

    async fn dispatch(
        &self,
        version: &Arc<LoadedVersion>,
        request: http::Request<Incoming>,
        request_id: &str,
    ) -> Result<http::Response<HostBody>, ApiError> {
        let limits = &version.context.limits;
        let max_request = limits.max_request_body.0;
        if let Some(declared) = declared_length(request.headers())
            && declared > max_request
        {
            if declared <= max_request.saturating_add(DRAIN_BEYOND_LIMIT) {
                drain(request.into_body()).await;
            }
            return Err(ApiError::PayloadTooLarge { limit: max_request });
        }
        let (mut parts, body) = request.into_parts();
        if let Ok(value) = HeaderValue::from_str(request_id) {
            parts.headers.insert(request_id::HEADER, value);
        }
        let exceeded = Arc::new(AtomicBool::new(false));
        let body: GuestRequestBody = LimitedBody::new(body, max_request, exceeded.clone());
        let deadline = tokio::time::Instant::now() + limits.deadline;
        let request_id: Arc<str> = Arc::from(request_id);
        let result =
            invoke(version, http::Request::from_parts(parts, body), request_id.clone(), deadline, self.metrics.clone())
                .await;
        // Whatever the guest made of the truncated body, the cause is the
        // client's oversized request.
        if exceeded.load(Ordering::Acquire) {
            return Err(ApiError::PayloadTooLarge { limit: max_request });
        }
        let response = result?;
        let max_response = limits.max_response_body.0;
        if declared_length(response.headers()).is_some_and(|len| len > max_response) {
            tracing::warn!(request_id = %request_id, app = %version.context.app, "declared response length exceeds the app's limit");
            return Err(ApiError::ResponseTooLarge { limit: max_response });
        }
        Ok(response.map(|body| CappedBody::new(body, max_response, request_id).boxed_unsync()))
    }
}

/// The `app` label of admin API requests in metrics.
const ADMIN: &str = "_admin";

/// A refused body up to this much larger than the limit is read and
/// discarded first, so that the client, still sending, gets to read the 413
/// instead of a reset connection. Larger ones are cut off.
const DRAIN_BEYOND_LIMIT: u64 = 8 * 1024 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

async fn drain(body: Incoming) {
    let mut body = body;
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                break;
            }
        }
    })
    .await;
}

/// Removes `prefix` (which the route matched, so the path starts with it and
/// a `/`) from the request's path, keeping the query.
fn strip_path_prefix<B>(request: &mut http::Request<B>, prefix: &str) {
    let uri = request.uri();
    let Some(rest) = uri.path().strip_prefix(prefix) else {
        return;
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    match path_and_query.parse() {
        Ok(stripped) => {
            parts.path_and_query = Some(stripped);
            if let Ok(uri) = http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
        Err(error) => tracing::warn!(%error, "cannot strip the path prefix"),
    }
}

fn with_request_id(mut response: http::Response<HostBody>, request_id: &str) -> http::Response<HostBody> {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(request_id::HEADER, value);
    }
    response
}

/// Resolves on SIGTERM or SIGINT.
async fn termination_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Accepts connections on `listener` until `stop` turns true, each holding
/// one of `permits` (the connection cap) for as long as it is open.
#[allow(clippy::too_many_arguments)]
async fn accept_loop(
    host: Arc<Host>,
    listener: TcpListener,
    kind: ListenerKind,
    builder: auto::Builder<TokioExecutor>,
    graceful: Arc<GracefulShutdown>,
    permits: Arc<tokio::sync::Semaphore>,
    policy: connections::ConnectionPolicy,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        // At the cap, stop accepting: new connections wait in the backlog.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let (stream, _peer) = match accepted {
            Ok(connection) => connection,
            Err(error) => {
                // Usually EMFILE; back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let served_one = Arc::new(AtomicBool::new(false));
        let service = {
            let host = host.clone();
            let served_one = served_one.clone();
            service_fn(move |request| {
                served_one.store(true, Ordering::Relaxed);
                let host = host.clone();
                async move { Ok::<_, Infallible>(host.handle(request, kind).await) }
            })
        };
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let metrics = host.metrics.clone();
        tokio::spawn(async move {
            let _permit = permit;
            metrics.open_connections.inc();
            let connection = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::pin!(connection);
            let first_request_due = tokio::time::sleep(policy.first_request_timeout);
            let result = tokio::select! {
                result = &mut connection => Some(result),
                () = first_request_due => None,
            };
            let result = match result {
                Some(result) => Some(result),
                // No complete request head in time: drop (close) the connection.
                None if !served_one.load(Ordering::Relaxed) => {
                    metrics.connections_closed_total.with_label_values(&["first_request_timeout"]).inc();
                    None
                }
                None => Some(connection.await),
            };
            if let Some(Err(error)) = result {
                tracing::debug!(error = %error, "connection ended with an error");
            }
            metrics.open_connections.dec();
        });
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let apps = AppsConfig::load(&args.apps)?;
    let pool_max_memory = args.pool_max_memory_mib.saturating_mul(1 << 20);
    let keep_resident = usize::try_from(args.pool_keep_resident_kib.saturating_mul(1024)).unwrap_or(usize::MAX);
    let engine = build_engine(&EngineSettings { max_instances: args.max_instances, pool_max_memory, keep_resident })
        .map_err(|e| anyhow::anyhow!("cannot create the wasmtime engine: {e:#}"))?;
    let _ticker = spawn_epoch_ticker(engine.clone(), Duration::from_millis(args.epoch_tick_ms.max(1)))?;
    let cache = Arc::new(ArtifactCache::new(&args.cache_dir, &engine));
    let metrics = Arc::new(Metrics::new()?);

    let uses = |c: Capability| apps.apps.iter().any(|a| a.capabilities.contains(&c));
    let uses_cache = apps.apps.iter().any(|a| a.capabilities.iter().any(|c| c.uses_cache_backend()));
    let backends = Arc::new(Backends::from_args(&args).await?);
    if let Some(sql) = &backends.sql {
        let cancelled = metrics.sql_statements_cancelled_total.clone();
        sql.spawn_statement_reaper(move |app| cancelled.with_label_values(&[app]).inc());
    }
    tracing::info!(
        capability = "cache", backend = backends.cache.kind(), endpoint = %backends.cache_endpoint,
        used = uses_cache, "capability backend"
    );
    match &backends.sql {
        Some(sql) => tracing::info!(
            capability = "sql", backend = sql.kind(), endpoint = %sql.endpoint(), used = uses(Capability::Sql),
            "capability backend"
        ),
        None => {
            tracing::info!(
                capability = "sql",
                backend = "none",
                reason = "no DATABASE_URL",
                used = uses(Capability::Sql),
                "capability backend"
            )
        }
    }
    match &backends.docs {
        Some(docs) => tracing::info!(
            capability = "docs", backend = "mongodb", endpoint = %docs.endpoint(), used = uses(Capability::Docs),
            "capability backend"
        ),
        None => {
            tracing::info!(capability = "docs", backend = "none", used = uses(Capability::Docs), "capability backend")
        }
    }
    if apps.apps.iter().any(|a| !a.capabilities.is_empty()) {
        let backends = backends.clone();
        let period = Duration::from_millis(args.backend_probe_ms.max(100));
        tokio::spawn(async move {
            loop {
                backends.probe().await;
                tokio::time::sleep(period).await;
            }
        });
    }

    let slots: Vec<Arc<AppSlot>> = apps.apps.into_iter().map(|d| Arc::new(AppSlot::new(d))).collect();
    let linker = Arc::new(build_linker(&engine).map_err(|e| anyhow::anyhow!("cannot build the linker: {e:#}"))?);
    let admin = admin::Admin::new(
        args.admin_token.as_deref(),
        args.admin_max_upload_bytes,
        engine.clone(),
        linker.clone(),
        cache.clone(),
    );
    let bus: Arc<dyn ReleaseBus> = match &args.redis_url {
        Some(url) => Arc::new(
            RedisBus::start(url, &args.redis_key_prefix, Duration::from_millis(args.cache_timeout_ms.max(1)))
                .map_err(|e| anyhow::anyhow!("REDIS_URL is not a usable Redis URL: {e}"))?,
        ),
        None => Arc::new(InMemoryBus::new()),
    };
    let override_tokens = [args.admin_token.as_deref(), args.tester_token.as_deref()]
        .into_iter()
        .flatten()
        .filter(|token| !token.is_empty())
        .map(|token| sha2::Sha256::digest(token.as_bytes()).into())
        .collect();
    let releases = Arc::new(ReleaseController::new(
        backends.clone(),
        bus,
        slots.clone(),
        controller::LoadContext { engine, cache, linker, pool_max_memory },
        metrics.clone(),
        controller::Settings {
            poll: Duration::from_millis(args.release_poll_ms.max(50)),
            tick: Duration::from_millis(args.analysis_tick_ms.max(100)),
            override_tokens,
        },
    ));
    tracing::info!(
        store = if backends.sql.is_some() { "postgres" } else { "none" },
        bus = releases.bus_kind(),
        "releases"
    );
    let host = Arc::new(Host {
        admin,
        verifier: crate::auth::Verifier::default(),
        releases,
        metrics,
        backends,
        lifecycle: Lifecycle::default(),
        routes: RouteTable::new(&slots),
        slots,
        ops_on_main: args.ops_listen.is_none(),
    });

    let main_listener = bind(args.listen).await?;
    let ops_listener = match args.ops_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    tracing::info!(
        listen = %main_listener.local_addr()?,
        ops_listen = ?ops_listener.as_ref().and_then(|l| l.local_addr().ok()),
        apps = host.slots.len(),
        "budget-host listening"
    );

    let loader_host = host.clone();
    tokio::spawn(async move {
        loader_host.releases.load_all().await;
        loader_host.lifecycle.mark_started();
        loader_host.releases.spawn_loops();
    });

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(args.header_timeout_ms))
        // A request head larger than this is refused. It bounds what one
        // connection can make the host buffer, so the connection cap bounds
        // the whole: 1,024 connections × 64 KiB = 64 MiB of a 512 MiB pod.
        .max_buf_size(connections::MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30))
        .max_concurrent_streams(args.http2_max_streams.max(1));

    let open_file_limit = connections::raise_open_file_limit();
    let max_connections = connections::effective_max_connections(args.max_connections, open_file_limit);
    if max_connections < args.max_connections {
        tracing::warn!(
            requested = args.max_connections,
            max_connections,
            open_file_limit,
            "the open-file limit lowers the connection cap"
        );
    }
    let permits = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let policy =
        connections::ConnectionPolicy { first_request_timeout: Duration::from_millis(args.header_timeout_ms.max(1)) };

    let graceful = Arc::new(GracefulShutdown::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut loops = vec![tokio::spawn(accept_loop(
        host.clone(),
        main_listener,
        ListenerKind::Main,
        builder.clone(),
        graceful.clone(),
        permits.clone(),
        policy,
        stop_rx.clone(),
    ))];
    if let Some(listener) = ops_listener {
        loops.push(tokio::spawn(accept_loop(
            host.clone(),
            listener,
            ListenerKind::Ops,
            builder.clone(),
            graceful.clone(),
            // Probes and scrapes have their own few slots: a flood on the
            // application port must not fail the kubelet's probes.
            Arc::new(tokio::sync::Semaphore::new(connections::OPS_MAX_CONNECTIONS)),
            policy,
            stop_rx,
        )));
    }

    termination_signal().await;
    host.lifecycle.begin_draining();
    tracing::info!(delay_ms = args.shutdown_delay_ms, "termination requested; readiness now failing");
    tokio::time::sleep(Duration::from_millis(args.shutdown_delay_ms)).await;

    let _ = stop_tx.send(true);
    for accept in loops {
        let _ = accept.await;
    }
    tracing::info!(timeout_ms = args.drain_timeout_ms, "stopped accepting; draining in-flight requests");
    let graceful = Arc::try_unwrap(graceful).map_err(|_| anyhow::anyhow!("connection watcher still shared"))?;
    match tokio::time::timeout(Duration::from_millis(args.drain_timeout_ms), graceful.shutdown()).await {
        Ok(()) => tracing::info!("drained; exiting"),
        Err(_) => tracing::warn!("drain timeout reached; closing remaining connections"),
    }
    Ok(())
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))
}
