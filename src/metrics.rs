//! Prometheus metrics, through the `prometheus` crate: counters the handlers move, gauges read
//! at scrape time (key ages, database pool, password-hash queue), and a latency histogram per
//! endpoint from a middleware. One registry per application, never a global, so every test
//! app counts on its own.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub tokens_issued: IntCounterVec,
    pub token_errors: IntCounterVec,
    pub refresh_reuse: IntCounter,
    pub families_revoked: IntCounterVec,
    pub key_rotations: IntCounter,
    pub key_age: IntGaugeVec,
    pub jwks_served: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub db_connections: IntGaugeVec,
    pub password_queue: IntGauge,
    pub password_verifications: IntCounter,
    pub requests_in_flight: IntGauge,
    pub background_restarts: IntCounterVec,
    /// Browser sign-in, consent and logout.
    pub sign_in: SignInMetrics,
    /// Client assertions (`private_key_jwt`), by outcome: accepted, or the reason refused.
    pub client_assertions: IntCounterVec,
    /// Token exchanges (RFC 8693), by outcome: granted, or the reason refused.
    pub token_exchanges: IntCounterVec,
    /// DPoP proofs (RFC 9449) at jwtd's endpoints, by outcome: accepted, or the reason refused.
    pub dpop_proofs: IntCounterVec,
    /// Fetches of others' key sets and discovery documents, by outcome (ok, failed).
    pub remote_jwks_fetches: IntCounterVec,
}

/// What browser sign-in counts: sign-ins, codes, consents, logouts, live sessions and
/// back-channel logout deliveries.
pub struct SignInMetrics {
    pub codes: IntCounterVec,
    pub sign_ins: IntCounterVec,
    pub consents: IntCounterVec,
    pub logouts: IntCounterVec,
    pub sessions_live: IntGauge,
    pub backchannel_deliveries: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("jwtd".into()), None)?;
        let counter =
            |name: &str, help: &str, labels: &[&str]| register_counter(&registry, name, help, labels);
        let sign_in = SignInMetrics::new(&registry)?;
        let client_assertions = counter(
            "client_assertions_total",
            "private_key_jwt client assertions, by outcome (accepted, or why refused).",
            &["outcome"],
        )?;
        let token_exchanges = counter(
            "token_exchanges_total",
            "Token exchanges (RFC 8693), by outcome (granted, or why refused).",
            &["outcome"],
        )?;
        let dpop_proofs = counter(
            "dpop_proofs_total",
            "DPoP proofs (RFC 9449) at jwtd's endpoints, by outcome (accepted, or why refused).",
            &["outcome"],
        )?;
        let tokens_issued =
            counter("tokens_issued_total", "Access tokens issued, by grant type.", &["grant"])?;
        let token_errors =
            counter("token_errors_total", "Token endpoint errors, by OAuth error code.", &["error"])?;
        let families_revoked =
            counter("refresh_families_revoked_total", "Refresh families revoked, by reason.", &["reason"])?;
        let background_restarts = counter(
            "background_task_restarts_total",
            "Background tasks (key-ring maintenance, purge) that failed and were started again.",
            &["task"],
        )?;
        let jwks_served =
            counter("jwks_served_total", "JWKS responses, by status (200 or 304).", &["status"])?;
        let remote_jwks_fetches = remote_jwks_fetches(&registry)?;
        let refresh_reuse =
            IntCounter::new("refresh_reuse_detected_total", "Used refresh tokens presented again.")?;
        registry.register(Box::new(refresh_reuse.clone()))?;
        let key_rotations =
            IntCounter::new("key_rotations_total", "Changes of the signing key this instance observed.")?;
        registry.register(Box::new(key_rotations.clone()))?;
        let key_age = IntGaugeVec::new(
            Opts::new("key_state_age_seconds", "Seconds since each published key entered its state."),
            &["state", "kid"],
        )?;
        registry.register(Box::new(key_age.clone()))?;
        let request_seconds = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Request latency by endpoint.")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["endpoint", "method", "status"],
        )?;
        registry.register(Box::new(request_seconds.clone()))?;
        let db_connections = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections, by state (in_use, idle, max)."),
            &["state"],
        )?;
        registry.register(Box::new(db_connections.clone()))?;
        let password_queue =
            IntGauge::new("password_hash_queue_depth", "Logins waiting for a password-hashing slot.")?;
        registry.register(Box::new(password_queue.clone()))?;
        let password_verifications = IntCounter::new(
            "password_verifications_total",
            "Password checks run, including those against the dummy hash for unknown accounts.",
        )?;
        registry.register(Box::new(password_verifications.clone()))?;
        let requests_in_flight = IntGauge::new("http_requests_in_flight", "Requests being served now.")?;
        registry.register(Box::new(requests_in_flight.clone()))?;
        registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(Self {
            registry,
            tokens_issued,
            token_errors,
            refresh_reuse,
            families_revoked,
            key_rotations,
            key_age,
            jwks_served,
            request_seconds,
            db_connections,
            password_queue,
            password_verifications,
            requests_in_flight,
            background_restarts,
            sign_in,
            client_assertions,
            token_exchanges,
            dpop_proofs,
            remote_jwks_fetches,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// A counter with labels, registered.
fn register_counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

/// Fetches of others' key sets (`authority::remote_jwks`), by outcome.
fn remote_jwks_fetches(registry: &Registry) -> Result<IntCounterVec, prometheus::Error> {
    let help = "Fetches of clients' and external issuers' key sets and discovery documents, by outcome.";
    Ok(outcomes(
        register_counter(registry, "remote_jwks_fetches_total", help, &["outcome"])?,
        &["ok", "failed"],
    ))
}

/// A counter by outcome with every outcome at 0 from the start, so a rate or an alert on one
/// exists before it happens.
fn outcomes(counter: IntCounterVec, outcomes: &[&str]) -> IntCounterVec {
    for outcome in outcomes {
        counter.with_label_values(&[*outcome]);
    }
    counter
}

impl SignInMetrics {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter =
            |name: &str, help: &str, labels: &[&str]| register_counter(registry, name, help, labels);
        let codes = counter(
            "authorization_codes_total",
            "Authorization codes, by outcome (issued, redeemed, replayed, refused).",
            &["outcome"],
        )?;
        let sign_ins = counter(
            "sign_ins_total",
            "Sign-ins on the login page, by outcome (success, failure).",
            &["outcome"],
        )?;
        let consents =
            counter("consents_total", "Consent pages, by outcome (shown, granted, denied).", &["outcome"])?;
        let logouts = counter(
            "logouts_total",
            "RP-initiated logouts, by how the session was named (id_token_hint, confirmed).",
            &["via"],
        )?;
        let sessions_live = IntGauge::new(
            "sessions_live",
            "Single sign-on sessions not ended and not past their absolute end (read at scrape).",
        )?;
        registry.register(Box::new(sessions_live.clone()))?;
        let backchannel_deliveries = counter(
            "backchannel_logout_deliveries_total",
            "Back-channel logout notices, by outcome (delivered; failed: an attempt that will be \
             retried; gave_up).",
            &["outcome"],
        )?;
        let backchannel_deliveries = outcomes(backchannel_deliveries, &["delivered", "failed", "gave_up"]);
        Ok(Self { codes, sign_ins, consents, logouts, sessions_live, backchannel_deliveries })
    }
}

/// Middleware recording each request's latency under its route pattern (never the raw path,
/// which would let clients create unbounded label values).
pub struct RequestTimer(pub std::sync::Arc<Metrics>);

impl<S, B> Transform<S, ServiceRequest> for RequestTimer
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = RequestTimerService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestTimerService { service: Rc::new(service), metrics: std::sync::Arc::clone(&self.0) }))
    }
}

pub struct RequestTimerService<S> {
    service: Rc<S>,
    metrics: std::sync::Arc<Metrics>,
}

impl<S, B> Service<ServiceRequest> for RequestTimerService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        #[allow(
            clippy::disallowed_methods,
            reason = "a request's latency for the histogram, not a time of day"
        )]
        let started = Instant::now();
        let method = req.method().as_str().to_owned();
        let metrics = std::sync::Arc::clone(&self.metrics);
        let service = Rc::clone(&self.service);
        metrics.requests_in_flight.inc();
        Box::pin(async move {
            let response = service.call(req).await;
            metrics.requests_in_flight.dec();
            let response = response?;
            // Routing has happened by now, so the pattern is known.
            let endpoint = response.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
            let status = response.status().as_u16().to_string();
            metrics
                .request_seconds
                .with_label_values(&[endpoint.as_str(), method.as_str(), status.as_str()])
                .observe(started.elapsed().as_secs_f64());
            Ok(response)
        })
    }
}
