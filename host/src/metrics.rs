//! Prometheus metrics, rendered in the text exposition format at `/metrics`.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

/// Labels for requests the host answered without an app.
pub const NO_APP: &str = "-";

pub struct Metrics {
    registry: Registry,
    pub http_requests_total: IntCounterVec,
    pub http_request_duration_seconds: HistogramVec,
    pub instantiation_seconds: HistogramVec,
    pub traps_total: IntCounterVec,
    pub timeouts_total: IntCounterVec,
    pub inflight_requests: IntGaugeVec,
    pub app_ready: IntGaugeVec,
    pub release_weight: IntGaugeVec,
    pub release_generation: IntGaugeVec,
    pub canary_state: IntGaugeVec,
    pub rollbacks_total: IntCounterVec,
    pub component_loads_total: IntCounterVec,
    pub release_load_failures_total: IntCounterVec,
    pub open_connections: prometheus::IntGauge,
    pub connections_closed_total: IntCounterVec,
    pub sql_statements_cancelled_total: IntCounterVec,
}

const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests_total = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered, by app, version, method and status."),
            &["app", "version", "method", "status"],
        )?;
        let http_request_duration_seconds = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from request arrival to response head, by app and version.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["app", "version"],
        )?;
        let instantiation_seconds = HistogramVec::new(
            HistogramOpts::new("budget_host_instantiation_seconds", "Time to instantiate a component for one request.")
                .buckets(vec![0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025, 0.1]),
            &["app", "version"],
        )?;
        let traps_total = IntCounterVec::new(
            Opts::new("budget_host_traps_total", "Guest traps (panics, stack overflow, memory exhaustion)."),
            &["app", "version"],
        )?;
        let timeouts_total = IntCounterVec::new(
            Opts::new("budget_host_timeouts_total", "Requests that ran past their app's deadline."),
            &["app", "version"],
        )?;
        let inflight_requests = IntGaugeVec::new(
            Opts::new("budget_host_inflight_requests", "Component instances currently running a request."),
            &["app"],
        )?;
        let app_ready = IntGaugeVec::new(
            Opts::new("budget_host_app_ready", "1 when the app's component is loaded and serving."),
            &["app", "version"],
        )?;
        let release_weight = IntGaugeVec::new(
            Opts::new("budget_host_release_weight", "Percent of users this pod sends to each version of an app."),
            &["app", "version"],
        )?;
        let release_generation = IntGaugeVec::new(
            Opts::new("budget_host_release_generation", "The release generation this pod serves, by app."),
            &["app"],
        )?;
        let canary_state = IntGaugeVec::new(
            Opts::new("budget_host_canary_state", "1 for the app's canary state (none, progressing, paused)."),
            &["app", "state"],
        )?;
        let rollbacks_total = IntCounterVec::new(
            Opts::new("budget_host_rollbacks_total", "Canaries rolled back by the analysis on this pod."),
            &["app"],
        )?;
        let component_loads_total = IntCounterVec::new(
            Opts::new(
                "budget_host_component_loads_total",
                "Component versions loaded, by where the machine code came from (artifact_cache or compiled).",
            ),
            &["app", "version", "source"],
        )?;
        let release_load_failures_total = IntCounterVec::new(
            Opts::new(
                "budget_host_release_load_failures_total",
                "Release versions this pod could not load (it serves stable meanwhile).",
            ),
            &["app", "version"],
        )?;
        let open_connections = prometheus::IntGauge::with_opts(Opts::new(
            "budget_host_open_connections",
            "Client connections open now, all listeners together (capped by --max-connections).",
        ))?;
        let connections_closed_total = IntCounterVec::new(
            Opts::new(
                "budget_host_connections_closed_total",
                "Client connections the host closed on its own, by reason (first_request_timeout).",
            ),
            &["reason"],
        )?;
        let sql_statements_cancelled_total = IntCounterVec::new(
            Opts::new(
                "budget_host_sql_statements_cancelled_total",
                "App statements cancelled for running past the app's request deadline.",
            ),
            &["app"],
        )?;
        registry.register(Box::new(sql_statements_cancelled_total.clone()))?;
        registry.register(Box::new(open_connections.clone()))?;
        registry.register(Box::new(connections_closed_total.clone()))?;
        registry.register(Box::new(release_load_failures_total.clone()))?;
        for collector in [&release_weight, &release_generation, &canary_state] {
            registry.register(Box::new(collector.clone()))?;
        }
        registry.register(Box::new(rollbacks_total.clone()))?;
        registry.register(Box::new(component_loads_total.clone()))?;
        registry.register(Box::new(http_requests_total.clone()))?;
        registry.register(Box::new(http_request_duration_seconds.clone()))?;
        registry.register(Box::new(instantiation_seconds.clone()))?;
        registry.register(Box::new(traps_total.clone()))?;
        registry.register(Box::new(timeouts_total.clone()))?;
        registry.register(Box::new(inflight_requests.clone()))?;
        registry.register(Box::new(app_ready.clone()))?;
        registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(Self {
            registry,
            http_requests_total,
            http_request_duration_seconds,
            instantiation_seconds,
            traps_total,
            timeouts_total,
            inflight_requests,
            app_ready,
            release_weight,
            release_generation,
            canary_state,
            rollbacks_total,
            component_loads_total,
            release_load_failures_total,
            open_connections,
            connections_closed_total,
            sql_statements_cancelled_total,
        })
    }

    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::with_capacity(16 * 1024);
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_conventional_names() {
        let metrics = Metrics::new().expect("metrics");
        metrics.http_requests_total.with_label_values(&["hello", "1.0.0", "GET", "200"]).inc();
        metrics.traps_total.with_label_values(&["hello", "1.0.0"]).inc();
        let text = metrics.render().expect("render");
        assert!(
            text.contains(r#"http_requests_total{app="hello",method="GET",status="200",version="1.0.0"} 1"#),
            "{text}"
        );
        assert!(text.contains("budget_host_traps_total"));
        assert!(text.contains("process_resident_memory_bytes"));
    }
}
