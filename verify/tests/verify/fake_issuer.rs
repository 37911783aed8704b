//! A stand-in for jwtd's discovery and JWKS endpoints on 127.0.0.1, port 0, whose answer each
//! test chooses, and which counts the requests it gets.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// What `/jwks` answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with this JSON body, `Cache-Control: public, max-age=N` when given, and an ETag.
    Jwks {
        body: String,
        max_age: Option<u64>,
    },
    Status(u16),
    /// 200 `text/html`, as a misrouted proxy would answer.
    Html,
    /// 200 with an arbitrary JSON body.
    Json(String),
    /// 200 with a body of this many bytes (valid JSON, padded with spaces).
    Oversized(usize),
    /// Never answers.
    Hang,
}

/// What `/revocations` answers.
#[derive(Clone, Debug)]
pub enum FeedReply {
    /// 200 `application/jwt` with this body, `Cache-Control: public, max-age=N` when given,
    /// and an ETag over the body (304 when it matches `If-None-Match`).
    Feed {
        body: String,
        max_age: Option<u64>,
    },
    Status(u16),
    /// 200 with this body as it is.
    Raw(String),
    /// 200 with a body of this many bytes.
    Oversized(usize),
    /// Never answers.
    Hang,
}

#[derive(Default)]
pub struct Counters {
    pub feed: AtomicUsize,
    pub feed_not_modified: AtomicUsize,
    pub jwks: AtomicUsize,
    pub not_modified: AtomicUsize,
    pub discovery: AtomicUsize,
    pub attacker: AtomicUsize,
}

struct State {
    reply: Mutex<Reply>,
    feed: Mutex<FeedReply>,
    /// Milliseconds `/jwks` waits before answering (server side), to make fetches overlap.
    delay_ms: AtomicU64,
    issuer_in_metadata: Mutex<Option<String>>,
    counters: Arc<Counters>,
    url: String,
}

pub struct FakeIssuer {
    pub url: String,
    pub counters: Arc<Counters>,
    state: web::Data<State>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeIssuer {
    pub fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counters = Arc::new(Counters::default());
        let state = web::Data::new(State {
            reply: Mutex::new(reply),
            feed: Mutex::new(FeedReply::Status(404)),
            delay_ms: AtomicU64::new(0),
            issuer_in_metadata: Mutex::new(None),
            counters: counters.clone(),
            url: url.clone(),
        });
        let app_state = state.clone();
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(app_state.clone())
                        .route("/jwks", web::get().to(jwks))
                        .route("/.well-known/openid-configuration", web::get().to(discovery))
                        .route("/attacker/jwks", web::get().to(attacker))
                        .route("/revocations", web::get().to(revocations))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(0)
                .listen(listener)
                .unwrap()
                .run();
                handle_tx.send(server.handle()).unwrap();
                server.await.unwrap();
            });
        });
        let handle = handle_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Self { url, counters, state, handle }
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.url)
    }

    pub fn set_reply(&self, reply: Reply) {
        *self.state.reply.lock().unwrap() = reply;
    }

    pub fn feed_url(&self) -> String {
        format!("{}/revocations", self.url)
    }

    pub fn set_feed(&self, reply: FeedReply) {
        *self.state.feed.lock().unwrap() = reply;
    }

    pub fn feed_hits(&self) -> usize {
        self.counters.feed.load(Ordering::SeqCst)
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Makes discovery claim another `issuer` than the server's own URL.
    pub fn set_metadata_issuer(&self, issuer: &str) {
        *self.state.issuer_in_metadata.lock().unwrap() = Some(issuer.to_owned());
    }

    pub fn jwks_hits(&self) -> usize {
        self.counters.jwks.load(Ordering::SeqCst)
    }
}

impl Drop for FakeIssuer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// `body` with an ETag over its content and, when given, `Cache-Control: public, max-age`;
/// 304 (counted in `not_modified`) when the request's `If-None-Match` names that ETag.
fn conditional(
    req: &HttpRequest,
    body: String,
    max_age: Option<u64>,
    content_type: &str,
    not_modified: &AtomicUsize,
) -> HttpResponse {
    let etag =
        format!("\"{:x}\"", body.bytes().fold(0_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
    let matches = req.headers().get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str());
    let mut response = if matches {
        not_modified.fetch_add(1, Ordering::SeqCst);
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response.insert_header(("ETag", etag));
    if let Some(max_age) = max_age {
        response.insert_header(("Cache-Control", format!("public, max-age={max_age}")));
    }
    if matches {
        return response.finish();
    }
    response.content_type(content_type.to_owned()).body(body)
}

async fn jwks(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    state.counters.jwks.fetch_add(1, Ordering::SeqCst);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        actix_web::rt::time::sleep(Duration::from_millis(delay)).await;
    }
    let reply = state.reply.lock().unwrap().clone();
    match reply {
        Reply::Jwks { body, max_age } => {
            conditional(&req, body, max_age, "application/json", &state.counters.not_modified)
        }
        Reply::Status(code) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).body("{\"keys\":[]}")
        }
        Reply::Html => {
            HttpResponse::Ok().content_type("text/html").body("<html><body>Welcome to nginx!</body></html>")
        }
        Reply::Json(body) => HttpResponse::Ok().content_type("application/json").body(body),
        Reply::Oversized(len) => {
            let mut body = String::from("{\"keys\":[]}");
            body.push_str(&" ".repeat(len.saturating_sub(body.len())));
            HttpResponse::Ok().content_type("application/json").body(body)
        }
        Reply::Hang => std::future::pending().await,
    }
}

async fn discovery(state: web::Data<State>) -> HttpResponse {
    state.counters.discovery.fetch_add(1, Ordering::SeqCst);
    let issuer = state.issuer_in_metadata.lock().unwrap().clone().unwrap_or_else(|| state.url.clone());
    HttpResponse::Ok().json(serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/jwks", state.url),
    }))
}

async fn attacker(state: web::Data<State>) -> HttpResponse {
    state.counters.attacker.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().body("{\"keys\":[]}")
}

async fn revocations(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    state.counters.feed.fetch_add(1, Ordering::SeqCst);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        actix_web::rt::time::sleep(Duration::from_millis(delay)).await;
    }
    let reply = state.feed.lock().unwrap().clone();
    match reply {
        FeedReply::Feed { body, max_age } => {
            conditional(&req, body, max_age, "application/jwt", &state.counters.feed_not_modified)
        }
        FeedReply::Status(code) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).finish()
        }
        FeedReply::Raw(body) => HttpResponse::Ok().content_type("application/jwt").body(body),
        FeedReply::Oversized(len) => HttpResponse::Ok().content_type("application/jwt").body("A".repeat(len)),
        FeedReply::Hang => std::future::pending().await,
    }
}
