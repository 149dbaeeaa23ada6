//! Where the binary's diagnostics go: logs to standard error (`LATCHKEY_LOG`,
//! `LATCHKEY_LOG_FORMAT=json`), and with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the same
//! spans as traces to an OpenTelemetry collector over OTLP/HTTP (protobuf), batched on a
//! thread of their own so a slow collector never slows a request. The exporter reads
//! the standard `OTEL_*` variables (endpoint, headers, timeout); `OTEL_SERVICE_NAME`
//! defaults to `latchkey`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the trace exporter alive; [`Telemetry::shutdown`] sends what is still queued.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

/// Installs logging, and trace export when a collector is configured.
pub fn init(default_filter: &str) -> Telemetry {
    let filter =
        EnvFilter::try_from_env("LATCHKEY_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let logs = if std::env::var("LATCHKEY_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().boxed()
    } else {
        logs.boxed()
    };
    let (traces, trace_layer) = match trace_provider() {
        Some(provider) => {
            let tracer = provider.tracer("latchkey");
            let layer = tracing_opentelemetry::layer().with_tracer(tracer).boxed();
            (Some(provider), Some(layer))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(trace_layer)
        .init();
    Telemetry { traces }
}

/// The OTLP exporter, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its traces-only variant)
/// names a collector.
fn trace_provider() -> Option<SdkTracerProvider> {
    let configured = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()));
    if !configured {
        return None;
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
    {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("warning: traces are not exported: {error}");
            return None;
        }
    };
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "latchkey".to_owned());
    Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(service).build())
            .build(),
    )
}

impl Telemetry {
    /// Sends the spans still queued; run before the process exits.
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(error) = provider.shutdown()
        {
            eprintln!("warning: the last traces were not exported: {error}");
        }
    }
}
