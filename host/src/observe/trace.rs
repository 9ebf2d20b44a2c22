//! Traces over OTLP/HTTP, when `[trace] otlp_endpoint` is set (off by default).
//!
//! Each request is a span (joined to the caller's trace when it sends a W3C
//! `traceparent`), with the plugin calls inside it as child spans. Spans are
//! batched and posted from the SDK's own thread through a blocking reqwest client;
//! a collector that is down loses spans, never requests.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer as _;

use crate::config::{TraceConfig, TraceProtocol};

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether spans are exported: without an exporter no span is made at all, so the
/// text log keeps its plain lines and a request pays nothing.
pub fn enabled() -> bool {
    PROVIDER.get().is_some()
}

/// The `tracing` layer exporting spans, or `None` when tracing is off. Logging calls
/// it once at start.
pub fn layer<S>(cfg: &TraceConfig) -> Result<Option<impl tracing_subscriber::Layer<S>>, String>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    if cfg.otlp_endpoint.is_empty() {
        return Ok(None);
    }
    let endpoint = traces_url(&cfg.otlp_endpoint)?;
    let protocol = match cfg.protocol {
        TraceProtocol::Protobuf => Protocol::HttpBinary,
        TraceProtocol::Json => Protocol::HttpJson,
    };
    let timeout = Duration::from_secs(cfg.export_timeout_seconds.max(1));
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("[trace]: cannot make the OTLP client: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(BlockingClient(client))
        .with_protocol(protocol)
        .with_endpoint(endpoint)
        .with_timeout(timeout)
        .build()
        .map_err(|e| format!("[trace] otlp_endpoint: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(cfg.service_name.clone())
        .build();
    let ratio = cfg.sample_ratio.clamp(0.0, 1.0);
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio))))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("binyard");
    let _ = PROVIDER.set(provider);
    // Only the spans made here are exported: the listener's and tower-http's log
    // spans stay in the log, and a plugin call's parent is its request span. At INFO,
    // their level: a TRACE filter here raised the global maximum level and sent every
    // `log::trace!` of the plugin compiler through the subscriber (a minute per start).
    let only_ours = tracing_subscriber::filter::Targets::new().with_target("binyard::trace", tracing::Level::INFO);
    Ok(Some(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(only_ours),
    ))
}

/// Sends what is still batched (at shutdown; waits at most the export timeout).
pub fn flush() {
    if let Some(p) = PROVIDER.get()
        && let Err(e) = p.shutdown()
    {
        tracing::warn!(error = %e, "the last spans could not be exported");
    }
}

/// The span of one request, a child of the caller's `traceparent` when it sent one;
/// `Span::none()` when tracing is off.
pub fn request_span(
    headers: &reqwest::header::HeaderMap,
    method: &str,
    route: &str,
    path: &str,
    id: &str,
) -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        target: "binyard::trace",
        "request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        url.path = path,
        binyard.request_id = id,
        http.response.status_code = tracing::field::Empty,
        enduser.id = tracing::field::Empty,
    );
    let parent = TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    let _ = span.set_parent(parent);
    span
}

/// A child span for a call into a plugin (`Span::none()` when tracing is off).
pub fn plugin_span(plugin: &str, version: &str) -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    tracing::info_span!(target: "binyard::trace", "plugin call", otel.name = %format!("plugin {plugin}"), binyard.plugin = plugin, binyard.plugin.version = version)
}

/// `http://collector:4318` → `http://collector:4318/v1/traces`, as the
/// `OTEL_EXPORTER_OTLP_ENDPOINT` convention; a URL with a path is taken as it is.
fn traces_url(endpoint: &str) -> Result<String, String> {
    let url = url::Url::parse(endpoint).map_err(|e| format!("[trace] otlp_endpoint '{endpoint}': {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "[trace] otlp_endpoint '{endpoint}': only http and https are supported"
        ));
    }
    if url.path() == "/" || url.path().is_empty() {
        Ok(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
    } else {
        Ok(endpoint.to_string())
    }
}

/// The exporter's HTTP client: binyard's blocking reqwest. The SDK calls it from its
/// batch thread, which is not a runtime worker, so blocking there is fine.
#[derive(Debug)]
struct BlockingClient(reqwest::blocking::Client);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for BlockingClient {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<bytes::Bytes>,
    ) -> Result<opentelemetry_http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let mut req = self.0.request(parts.method, parts.uri.to_string()).body(body.to_vec());
        for (k, v) in &parts.headers {
            req = req.header(k, v);
        }
        let res = req.send()?;
        let mut out = opentelemetry_http::Response::builder().status(res.status());
        for (k, v) in res.headers() {
            out = out.header(k, v);
        }
        Ok(out.body(res.bytes()?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_to_a_bare_endpoint() {
        assert_eq!(traces_url("http://c:4318").unwrap(), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/").unwrap(), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("https://c/otlp/v1/traces").unwrap(),
            "https://c/otlp/v1/traces"
        );
        assert!(traces_url("ftp://c").is_err());
        assert!(traces_url("not a url").is_err());
    }
}
