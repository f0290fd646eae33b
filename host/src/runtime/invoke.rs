//! Runs one request through a fresh instance of a loaded version.
//!
//! The guest runs in its own task so that it can keep streaming the body
//! after it has handed over the response head. Two clocks bound it: the
//! epoch callback interrupts a guest that computes past the deadline, and a
//! tokio timeout ends one that waits past it (on a clock or a stream).

use super::loader::LoadedVersion;
use super::state::RequestState;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::server::body::{GuestRequestBody, HostBody};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;
use wasmtime::{PoolConcurrencyLimitError, Store, Trap, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

/// Why a guest run ended badly. Internal: logged in full, shown to clients
/// only as an [`ApiError`].
#[derive(Debug)]
enum GuestFailure {
    /// No pooled slot was free.
    Overloaded(wasmtime::Error),
    /// Instantiation failed for another reason.
    Instantiate(wasmtime::Error),
    /// The guest trapped: panic, stack overflow, memory exhausted, ….
    Trap(wasmtime::Error),
    /// Interrupted by the epoch callback, or still waiting at the deadline.
    Deadline,
}

impl GuestFailure {
    fn classify_call(error: wasmtime::Error) -> Self {
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => GuestFailure::Deadline,
            _ => GuestFailure::Trap(error),
        }
    }

    fn classify_instantiate(error: wasmtime::Error) -> Self {
        if error.is::<PoolConcurrencyLimitError>() {
            GuestFailure::Overloaded(error)
        } else {
            GuestFailure::Instantiate(error)
        }
    }

    fn to_api_error(&self, deadline_ms: u128) -> ApiError {
        match self {
            GuestFailure::Overloaded(_) => ApiError::Overloaded,
            GuestFailure::Instantiate(_) | GuestFailure::Trap(_) => ApiError::ComponentFailed,
            GuestFailure::Deadline => ApiError::DeadlineExceeded { deadline_ms },
        }
    }
}

/// Runs `request` on a new instance of `version`; `deadline` bounds the
/// whole run including the response body.
pub async fn invoke(
    version: &LoadedVersion,
    request: http::Request<GuestRequestBody>,
    request_id: Arc<str>,
    deadline: tokio::time::Instant,
    metrics: Arc<Metrics>,
) -> Result<http::Response<HostBody>, ApiError> {
    let context = version.context.clone();
    let deadline_ms = context.limits.deadline.as_millis();
    let mut store = Store::new(version.pre.engine(), RequestState::new(context.clone(), request_id.clone()));
    store.limiter(|state| &mut state.limits);

    // Each epoch tick, either give the executor a turn (so a spinning guest
    // cannot starve other requests on this worker) or end the guest.
    let epoch_deadline = deadline.into_std();
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= epoch_deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
        }
    });

    let (sender, receiver) = oneshot::channel();
    let internal = |error: wasmtime::Error| {
        tracing::error!(request_id = %request_id, error = %format!("{error:#}"), "cannot hand request to component");
        ApiError::Internal
    };
    let incoming = store.data_mut().http().new_incoming_request(Scheme::Http, request).map_err(internal)?;
    let outparam = store.data_mut().http().new_response_outparam(sender).map_err(internal)?;

    let pre = version.pre.clone();
    let task_metrics = metrics.clone();
    let task_request_id = request_id.clone();
    let inflight = metrics.inflight_requests.with_label_values(&[context.app.as_str()]);
    inflight.inc();
    let task = tokio::spawn(async move {
        let run = async {
            let started = Instant::now();
            let proxy = pre.instantiate_async(&mut store).await.map_err(GuestFailure::classify_instantiate)?;
            task_metrics
                .instantiation_seconds
                .with_label_values(&[context.app.as_str(), context.version.as_str()])
                .observe(started.elapsed().as_secs_f64());
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
                .map_err(GuestFailure::classify_call)
        };
        let result = tokio::time::timeout_at(deadline, run).await.unwrap_or(Err(GuestFailure::Deadline));
        inflight.dec();
        if let Err(failure) = &result {
            record_failure(&task_metrics, &context.app, &context.version, &task_request_id, failure);
        }
        result
    });

    match tokio::time::timeout_at(deadline, receiver).await {
        Ok(Ok(Ok(response))) => Ok(response),
        Ok(Ok(Err(code))) => {
            tracing::warn!(
                request_id = %request_id, app = %version.context.app, version = %version.context.version,
                error = ?code, "component answered with an error code"
            );
            Err(ApiError::ComponentFailed)
        }
        // The guest dropped the outparam without answering: the task's
        // result says why.
        Ok(Err(_)) => match task.await {
            Ok(Err(failure)) => Err(failure.to_api_error(deadline_ms)),
            Ok(Ok(())) => {
                tracing::warn!(
                    request_id = %request_id, app = %version.context.app, version = %version.context.version,
                    "component returned without setting a response"
                );
                Err(ApiError::ComponentFailed)
            }
            Err(join_error) => {
                tracing::error!(request_id = %request_id, error = %join_error, "component task failed");
                Err(ApiError::Internal)
            }
        },
        // The task shares the deadline, so it is ending too; waiting for it
        // makes the timeout counted and logged before the 504 goes out.
        Err(_elapsed) => {
            let _ = task.await;
            Err(ApiError::DeadlineExceeded { deadline_ms })
        }
    }
}

fn record_failure(metrics: &Metrics, app: &str, version: &str, request_id: &str, failure: &GuestFailure) {
    let labels = [app, version];
    match failure {
        GuestFailure::Deadline => {
            metrics.timeouts_total.with_label_values(&labels).inc();
            tracing::warn!(request_id, app, version, "component ran past its deadline and was stopped");
        }
        GuestFailure::Trap(error) => {
            metrics.traps_total.with_label_values(&labels).inc();
            tracing::error!(request_id, app, version, error = %format!("{error:?}"), "component trapped");
        }
        GuestFailure::Overloaded(error) => {
            tracing::warn!(request_id, app, version, error = %format!("{error:#}"), "no free instance slot");
        }
        GuestFailure::Instantiate(error) => {
            tracing::error!(request_id, app, version, error = %format!("{error:#}"), "component failed to instantiate");
        }
    }
}
