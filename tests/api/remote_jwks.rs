//! Fetching others' key sets (`jwtd::authority::remote_jwks`) against a small remote of the
//! test's own on 127.0.0.1: it counts requests and serves whatever key sets, headers and
//! statuses the test sets, so caching, refetching, single flight and every refusal show up as
//! request counts. Time is the `now` each call passes; nothing sleeps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use jwtd::authority::remote_jwks::{RemoteJwks, RemoteJwksError, RemoteJwksPolicy};

const T0: i64 = 1_700_000_000;
const JWKS: &str = "/jwks";
const DISCOVERY: &str = "/.well-known/openid-configuration";

/// A remote publishing documents: each path's answer, and every path requested, in order.
pub struct Remote {
    base: String,
    state: web::Data<Published>,
    handle: actix_web::dev::ServerHandle,
}

#[derive(Default)]
struct Published {
    answers: Mutex<HashMap<String, Answer>>,
    requests: Mutex<Vec<String>>,
}

#[derive(Clone)]
pub struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    /// Never answer (for the timeout).
    silent: bool,
}

impl Answer {
    pub fn ok(body: String, cache_control: Option<&str>) -> Self {
        let headers = cache_control.map(|value| ("cache-control", value.to_owned())).into_iter().collect();
        Self { status: 200, headers, body, silent: false }
    }
}

async fn publish(request: HttpRequest, state: web::Data<Published>) -> HttpResponse {
    let path = request.path().to_owned();
    state.requests.lock().unwrap().push(path.clone());
    let answer = state.answers.lock().unwrap().get(&path).cloned();
    let Some(answer) = answer else {
        return HttpResponse::NotFound().finish();
    };
    if answer.silent {
        std::future::pending::<()>().await;
    }
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(answer.status).unwrap());
    for (name, value) in answer.headers {
        response.insert_header((name, value));
    }
    response.content_type("application/json").body(answer.body)
}

impl Remote {
    pub fn start() -> Self {
        let state = web::Data::new(Published::default());
        let shared = state.clone();
        let server =
            HttpServer::new(move || App::new().app_data(shared.clone()).default_service(web::to(publish)))
                .workers(2)
                .bind("127.0.0.1:0")
                .unwrap();
        let base = format!("http://{}", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { base, state, handle }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn answer(&self, path: &str, answer: Answer) {
        self.state.answers.lock().unwrap().insert(path.to_owned(), answer);
    }

    /// Publishes a key set of these kids at [`JWKS`].
    fn keys(&self, kids: &[&str], cache_control: Option<&str>) {
        self.answer(JWKS, Answer::ok(jwks(kids), cache_control));
    }

    pub fn requests(&self, path: &str) -> usize {
        self.state.requests.lock().unwrap().iter().filter(|p| *p == path).count()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// A public EC P-256 key (RFC 7517 appendix A.1's point) under `kid`.
fn jwk(kid: &str) -> serde_json::Value {
    serde_json::json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
        "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
    })
}

fn jwks(kids: &[&str]) -> String {
    serde_json::json!({ "keys": kids.iter().map(|kid| jwk(kid)).collect::<Vec<_>>() }).to_string()
}

fn policy() -> RemoteJwksPolicy {
    RemoteJwksPolicy {
        timeout: Duration::from_secs(5),
        max_bytes: 65_536,
        min_max_age: 60,
        max_max_age: 86_400,
        default_max_age: 300,
        unknown_kid_cooldown: 30,
        allow_http_loopback: true,
    }
}

fn kids(set: &jsonwebtoken::jwk::JwkSet) -> Vec<String> {
    set.keys.iter().filter_map(|key| key.common.key_id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_is_fetched_once_per_max_age() {
    let remote = Remote::start();
    remote.keys(&["a"], Some("public, max-age=600"));
    let fetcher = RemoteJwks::new(policy()).unwrap();
    let uri = remote.url(JWKS);
    let first = fetcher.key_set(&uri, None, T0).await.unwrap();
    assert_eq!(kids(&first), ["a"]);
    let again = fetcher.key_set(&uri, Some("a"), T0 + 599).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "served from the cache");
    assert_eq!(remote.requests(JWKS), 1);
    fetcher.key_set(&uri, Some("a"), T0 + 600).await.unwrap();
    assert_eq!(remote.requests(JWKS), 2, "fetched again once stale");
    remote.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_is_clamped_and_defaulted() {
    let remote = Remote::start();
    let policy = RemoteJwksPolicy { max_max_age: 3_600, ..policy() };
    // (Cache-Control, the freshness it gives under min 60 s, max 1 h, default 5 min)
    for (cache_control, fresh_for) in
        [(Some("max-age=5"), 60), (Some("no-store"), 60), (Some("max-age=999999"), 3_600), (None, 300)]
    {
        remote.keys(&["a"], cache_control);
        let fetcher = RemoteJwks::new(policy).unwrap();
        let uri = remote.url(JWKS);
        let before = remote.requests(JWKS);
        fetcher.key_set(&uri, None, T0).await.unwrap();
        fetcher.key_set(&uri, None, T0 + fresh_for - 1).await.unwrap();
        assert_eq!(remote.requests(JWKS), before + 1, "{cache_control:?}: fresh until {fresh_for}s");
        fetcher.key_set(&uri, None, T0 + fresh_for).await.unwrap();
        assert_eq!(remote.requests(JWKS), before + 2, "{cache_control:?}: stale at {fresh_for}s");
    }
    remote.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_is_fetched_again_once_and_found_after_a_rotation() {
    let remote = Remote::start();
    remote.keys(&["old"], Some("max-age=3600"));
    let fetcher = RemoteJwks::new(policy()).unwrap();
    let uri = remote.url(JWKS);
    fetcher.key_set(&uri, Some("old"), T0).await.unwrap();
    remote.keys(&["old", "new"], Some("max-age=3600"));
    // Within the cool-down of the first fetch, the set is not fetched for it.
    let err = fetcher.key_set(&uri, Some("new"), T0 + 29).await.unwrap_err();
    assert_eq!(err, RemoteJwksError::UnknownKid("new".to_owned()));
    assert_eq!(remote.requests(JWKS), 1);
    // After it, once: the rotated set has it.
    let set = fetcher.key_set(&uri, Some("new"), T0 + 30).await.unwrap();
    assert_eq!(kids(&set), ["old", "new"]);
    assert_eq!(remote.requests(JWKS), 2);
    // A kid the remote never published: one fetch after the cool-down, then refused.
    let err = fetcher.key_set(&uri, Some("never"), T0 + 60).await.unwrap_err();
    assert!(matches!(&err, RemoteJwksError::UnknownKid(kid) if kid == "never"), "{err}");
    assert_eq!(remote.requests(JWKS), 3);
    assert!(err.to_string().contains("unknown_kid_cooldown"), "{err}");
    remote.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_costs_one_fetch_per_cool_down() {
    let remote = Remote::start();
    remote.keys(&["a"], Some("max-age=3600"));
    let fetcher = RemoteJwks::new(policy()).unwrap();
    let uri = remote.url(JWKS);
    fetcher.key_set(&uri, Some("a"), T0).await.unwrap();
    // One made-up kid a second for a minute: one fetch once the first cool-down is over, one
    // after the next.
    for second in 0..60 {
        let kid = format!("made-up-{second}");
        let err = fetcher.key_set(&uri, Some(&kid), T0 + second).await.unwrap_err();
        assert!(matches!(err, RemoteJwksError::UnknownKid(_)), "{err}");
    }
    assert_eq!(remote.requests(JWKS), 1 + 1);
    // A burst at one instant after the cool-down: one fetch for all of them.
    let burst = (0..20).map(|i| {
        let (fetcher, uri) = (&fetcher, &uri);
        async move { fetcher.key_set(uri, Some(&format!("burst-{i}")), T0 + 100).await }
    });
    for result in join_all(burst).await {
        assert!(matches!(result, Err(RemoteJwksError::UnknownKid(_))));
    }
    assert_eq!(remote.requests(JWKS), 3);
    // Known kids are served meanwhile without a fetch.
    fetcher.key_set(&uri, Some("a"), T0 + 101).await.unwrap();
    assert_eq!(remote.requests(JWKS), 3);
    remote.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_fetch() {
    let remote = Remote::start();
    remote.keys(&["a"], None);
    let fetcher = RemoteJwks::new(policy()).unwrap();
    let uri = remote.url(JWKS);
    // Polled together: every caller is waiting before the first fetch can have been answered.
    let callers = (0..16).map(|i| {
        let (fetcher, uri) = (&fetcher, &uri);
        async move { fetcher.key_set(uri, (i % 2 == 0).then_some("a"), T0).await.unwrap() }
    });
    let sets = join_all(callers).await;
    assert_eq!(remote.requests(JWKS), 1);
    assert!(sets.iter().all(|set| Arc::ptr_eq(set, &sets[0])), "one set for all");
    // And from separate tasks, once stale.
    let fetcher = Arc::new(fetcher);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (fetcher, uri) = (Arc::clone(&fetcher), uri.clone());
        tasks.spawn(async move { fetcher.key_set(&uri, None, T0 + 300).await.map(drop) });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    assert_eq!(remote.requests(JWKS), 2);
    remote.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_remote_leaves_the_cached_set_serving_until_max_max_age() {
    let remote = Remote::start();
    remote.keys(&["a"], Some("max-age=60"));
    let fetches = prometheus::IntCounterVec::new(prometheus::Opts::new("f", "f"), &["outcome"]).unwrap();
    let fetcher = RemoteJwks::new(RemoteJwksPolicy { max_max_age: 3_600, ..policy() })
        .unwrap()
        .counting(fetches.clone());
    let uri = remote.url(JWKS);
    let cached = fetcher.key_set(&uri, Some("a"), T0).await.unwrap();
    remote.answer(JWKS, Answer { status: 503, ..Answer::ok("down for maintenance".to_owned(), None) });
    // Stale, the refetch fails: the cached set serves.
    let served = fetcher.key_set(&uri, Some("a"), T0 + 100).await.unwrap();
    assert!(Arc::ptr_eq(&served, &cached));
    assert_eq!(remote.requests(JWKS), 2);
    // Within the cool-down the failed fetch is not repeated.
    fetcher.key_set(&uri, None, T0 + 129).await.unwrap();
    assert_eq!(remote.requests(JWKS), 2);
    fetcher.key_set(&uri, None, T0 + 3_599).await.unwrap();
    assert_eq!(remote.requests(JWKS), 3);
    // Older than max_max_age: the error, which says what the remote did and nothing it said.
    let err = fetcher.key_set(&uri, None, T0 + 3_600).await.unwrap_err();
    assert_eq!(err, RemoteJwksError::Status(503));
    assert!(!err.to_string().contains("maintenance"), "{err}");
    assert_eq!(fetches.with_label_values(&["ok"]).get(), 1);
    assert_eq!(fetches.with_label_values(&["failed"]).get(), 2);
    // Back up: fetched again once the last failure's cool-down is over.
    remote.keys(&["b"], None);
    assert!(fetcher.key_set(&uri, None, T0 + 3_628).await.is_err());
    assert_eq!(kids(&fetcher.key_set(&uri, None, T0 + 3_629).await.unwrap()), ["b"]);
    assert_eq!(remote.requests(JWKS), 4);
    remote.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_oversized_and_private_sets_are_refused() {
    let remote = Remote::start();
    remote.keys(&["a"], None);
    let fetcher = RemoteJwks::new(RemoteJwksPolicy { max_bytes: 4_096, ..policy() }).unwrap();
    // A redirect is not followed, even to a set that would do.
    let moved = Answer {
        status: 302,
        headers: vec![("location", remote.url(JWKS))],
        ..Answer::ok(String::new(), None)
    };
    remote.answer("/moved", moved);
    let err = fetcher.key_set(&remote.url("/moved"), None, T0).await.unwrap_err();
    assert_eq!(err, RemoteJwksError::Status(302));
    assert!(err.to_string().contains("redirects are not followed"), "{err}");
    assert_eq!(remote.requests(JWKS), 0);
    // More than max_bytes.
    let many: Vec<String> = (0..40).map(|i| format!("key-{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    remote.answer("/large", Answer::ok(jwks(&many), None));
    let err = fetcher.key_set(&remote.url("/large"), None, T0).await.unwrap_err();
    assert_eq!(err, RemoteJwksError::TooLarge(4_096));
    // A private member: not a published set.
    let mut private = jwk("leaked");
    private["d"] = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE".into();
    remote
        .answer("/private", Answer::ok(serde_json::json!({ "keys": [jwk("a"), private] }).to_string(), None));
    let err = fetcher.key_set(&remote.url("/private"), None, T0).await.unwrap_err();
    assert!(matches!(&err, RemoteJwksError::Malformed(why) if why.contains("\"d\"")), "{err}");
    assert!(!err.to_string().contains("870MB6"), "{err}");
    // Not JSON, or a status other than 200.
    remote.answer("/html", Answer::ok("<html>sign in first</html>".to_owned(), None));
    let err = fetcher.key_set(&remote.url("/html"), None, T0).await.unwrap_err();
    assert!(matches!(&err, RemoteJwksError::Malformed(_)) && !err.to_string().contains("sign in"), "{err}");
    let err = fetcher.key_set(&remote.url("/nowhere"), None, T0).await.unwrap_err();
    assert_eq!(err, RemoteJwksError::Status(404));
    remote.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_refused_off_loopback_and_outside_development() {
    let remote = Remote::start();
    remote.keys(&["a"], None);
    let fetcher = RemoteJwks::new(policy()).unwrap();
    for uri in ["http://issuer.example/jwks", "http://10.0.0.1/jwks", "ftp://127.0.0.1/jwks"] {
        let err = fetcher.key_set(uri, None, T0).await.unwrap_err();
        assert!(matches!(err, RemoteJwksError::NotAllowed(_)), "{uri}: {err}");
    }
    let production = RemoteJwks::new(RemoteJwksPolicy { allow_http_loopback: false, ..policy() }).unwrap();
    let err = production.key_set(&remote.url(JWKS), None, T0).await.unwrap_err();
    assert!(matches!(&err, RemoteJwksError::NotAllowed(why) if why.contains("https")), "{err}");
    let err = production.issuer_key_set(&remote.base, None, T0).await.unwrap_err();
    assert!(matches!(err, RemoteJwksError::NotAllowed(_)), "{err}");
    assert_eq!(remote.requests(JWKS) + remote.requests(DISCOVERY), 0, "nothing was requested");
    remote.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_that_does_not_answer_is_cut_off_at_the_timeout() {
    let remote = Remote::start();
    remote.answer(JWKS, Answer { silent: true, ..Answer::ok(String::new(), None) });
    let fetcher =
        RemoteJwks::new(RemoteJwksPolicy { timeout: Duration::from_millis(200), ..policy() }).unwrap();
    let err = fetcher.key_set(&remote.url(JWKS), None, T0).await.unwrap_err();
    assert!(matches!(err, RemoteJwksError::Unreachable(_)), "{err}");
    remote.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuers_keys_come_through_its_discovery_document_naming_it_exactly() {
    let remote = Remote::start();
    remote.keys(&["sa-1"], Some("max-age=3600"));
    let issuer = remote.base.clone();
    let discovery =
        |iss: &str| serde_json::json!({ "issuer": iss, "jwks_uri": remote.url(JWKS) }).to_string();
    remote.answer(DISCOVERY, Answer::ok(discovery(&issuer), Some("max-age=3600")));
    let fetcher = RemoteJwks::new(policy()).unwrap();
    let set = fetcher.issuer_key_set(&issuer, Some("sa-1"), T0).await.unwrap();
    assert_eq!(kids(&set), ["sa-1"]);
    fetcher.issuer_key_set(&issuer, Some("sa-1"), T0 + 100).await.unwrap();
    assert_eq!((remote.requests(DISCOVERY), remote.requests(JWKS)), (1, 1), "both cached");
    // A rotated service-account key: the set is fetched again, the discovery document is not.
    remote.keys(&["sa-1", "sa-2"], Some("max-age=3600"));
    fetcher.issuer_key_set(&issuer, Some("sa-2"), T0 + 200).await.unwrap();
    assert_eq!((remote.requests(DISCOVERY), remote.requests(JWKS)), (1, 2));
    // A document naming another issuer (or the same with a trailing slash) is refused.
    for named in ["https://other.example".to_owned(), format!("{issuer}/")] {
        remote.answer(DISCOVERY, Answer::ok(discovery(&named), None));
        let err = RemoteJwks::new(policy()).unwrap().issuer_key_set(&issuer, None, T0).await.unwrap_err();
        assert_eq!(err, RemoteJwksError::IssuerMismatch { expected: issuer.clone(), found: named.clone() });
    }
    assert_eq!(remote.requests(JWKS), 2, "no keys fetched for a mismatched issuer");
    remote.stop().await;
}

/// Polls all the futures together in this task (no futures crate here): every one has started
/// before any finishes.
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}
