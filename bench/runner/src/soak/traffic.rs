//! The soak's steady mix, one paced thread per kind of request, over both instances in turn:
//! `client_credentials`, refresh rotations (with logins to start and replace families, and now
//! and then a replay of a used token), JWKS fetches; and the caching verifier that checks every
//! access token issued, right after it was issued. Plain HTTP/1.1, one connection per request
//! (`crate::http`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::summary::{Event, Kind, Verification};
use crate::BoxError;
use crate::http::{self, Response};

/// A family is replaced by a new login after this many rotations of its own, or this age, so
/// none reaches the soak's short absolute lifetime while in use.
const REPLAY_EVERY: u64 = 25;
const FAMILY_MAX_AGE: f64 = 240.0;

/// What the threads share with the soak's main loop.
pub struct Shared {
    pub start: Instant,
    pub stop: AtomicBool,
    /// The instances, by index (a restarted one comes back on its address).
    pub addrs: Vec<SocketAddr>,
    pub events: Mutex<Vec<Event>>,
    /// Each successor answered with a 200, not yet looked up (its text: a family token says
    /// its family and generation).
    pub successors: Mutex<Vec<String>>,
    pub replays_refused: AtomicU64,
    pub refreshes_refused: Mutex<Vec<f64>>,
    pub verifications: Mutex<Vec<Verification>>,
    tokens: Mutex<Option<UnboundedSender<(f64, usize, String)>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(addrs: Vec<SocketAddr>) -> (Arc<Self>, UnboundedReceiver<(f64, usize, String)>) {
        let (tx, rx) = unbounded_channel();
        let shared = Self {
            start: Instant::now(),
            stop: AtomicBool::new(false),
            addrs,
            events: Mutex::new(Vec::new()),
            successors: Mutex::new(Vec::new()),
            replays_refused: AtomicU64::new(0),
            refreshes_refused: Mutex::new(Vec::new()),
            verifications: Mutex::new(Vec::new()),
            tokens: Mutex::new(Some(tx)),
        };
        (Arc::new(shared), rx)
    }

    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    fn addr(&self, instance: usize) -> Option<SocketAddr> {
        self.addrs.get(instance % self.addrs.len().max(1)).copied()
    }

    /// Sends a request to `instance` and records it.
    pub fn send(
        &self,
        kind: Kind,
        instance: usize,
        request: impl FnOnce(SocketAddr) -> std::io::Result<Response>,
    ) -> Option<Response> {
        let addr = self.addr(instance)?;
        let at = self.now();
        let sent = Instant::now();
        let response = request(addr).ok();
        let ms = sent.elapsed().as_secs_f64() * 1000.0;
        let status = response.as_ref().map_or(0, |r| r.status);
        lock(&self.events).push(Event { at, ms, kind, instance: instance % 2, status });
        let token =
            response.as_ref().filter(|r| r.status == 200).and_then(|r| field(&r.body, "access_token"));
        if let (Some(token), Some(tx)) = (token, lock(&self.tokens).as_ref()) {
            let _ = tx.send((at, instance % 2, token));
        }
        response
    }

    /// No more tokens to verify: the verifier ends once it has checked the last.
    pub fn close_tokens(&self) {
        lock(&self.tokens).take();
    }
}

fn field(body: &[u8], name: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get(name)?.as_str().map(str::to_owned)
}

/// `application/x-www-form-urlencoded` of one value (tokens and secrets are URL-safe already;
/// this keeps the form right whatever they hold).
pub fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `turn` every `every` until the soak stops (a slow turn is not caught up on).
fn paced(shared: &Shared, every: Duration, mut turn: impl FnMut(u64)) {
    let mut n = 0u64;
    let mut next = Instant::now();
    while shared.running() {
        turn(n);
        n += 1;
        next = (next + every).max(Instant::now());
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// `client_credentials`, alternating instances, `per_second`.
pub fn client_credentials(shared: Arc<Shared>, form: String, per_second: f64) {
    paced(&shared, Duration::from_secs_f64(1.0 / per_second), |n| {
        shared
            .send(Kind::ClientCredentials, n as usize, |addr| http::post_form(addr, "/oauth2/token", &form));
    });
}

/// JWKS fetches, alternating instances.
pub fn jwks(shared: Arc<Shared>, per_second: f64) {
    paced(&shared, Duration::from_secs_f64(1.0 / per_second), |n| {
        shared.send(Kind::Jwks, n as usize, |addr| http::get(addr, "/.well-known/jwks.json"));
    });
}

/// A user's login: its refresh token, and when.
struct Family {
    token: String,
    /// The token before the last one: a replay of the last one within `refresh.reuse_grace`
    /// is a client's retry, answered with the same successor; this one's is a reuse.
    before_last: Option<String>,
    last: Option<String>,
    born: f64,
    rotations: u64,
}

/// The app client's form fields and the users to log in as.
pub struct Logins {
    pub client: String,
    pub users: Vec<String>,
    pub password: String,
}

impl Logins {
    fn log_in(&self, shared: &Shared, n: u64) -> Option<Family> {
        let user = self.users.get(n as usize % self.users.len().max(1))?;
        let form = format!(
            "grant_type=password&{}&username={}&password={}&scope=read",
            self.client,
            form_encode(user),
            form_encode(&self.password)
        );
        let response =
            shared.send(Kind::Login, n as usize, |addr| http::post_form(addr, "/oauth2/token", &form))?;
        let token = field(&response.body, "refresh_token").filter(|_| response.status == 200)?;
        Some(Family { token, before_last: None, last: None, born: shared.now(), rotations: 0 })
    }

    fn refresh_form(&self, token: &str) -> String {
        format!("grant_type=refresh_token&{}&refresh_token={}", self.client, form_encode(token))
    }
}

/// Refresh rotations of `families` families in turn, `per_second`, alternating instances; every
/// [`REPLAY_EVERY`]th rotation of a family is followed by a replay of a used token (one older
/// than the reuse grace covers), and the family (revoked by it) replaced by a new login.
pub fn refresh(shared: Arc<Shared>, logins: Logins, families: usize, per_second: f64) {
    let mut logged_in: Vec<Option<Family>> = (0..families).map(|_| None).collect();
    let mut login_turn = 0u64;
    paced(&shared, Duration::from_secs_f64(1.0 / per_second), |n| {
        let index = n as usize % families.max(1);
        let Some(slot) = logged_in.get_mut(index) else { return };
        let family = match slot.take() {
            Some(family) if shared.now() - family.born < FAMILY_MAX_AGE => family,
            _ => {
                login_turn += 1;
                match logins.log_in(&shared, login_turn) {
                    Some(family) => family,
                    None => return,
                }
            }
        };
        *slot = rotate(&shared, &logins, family, n as usize + index);
    });
}

/// One rotation of `family` (and its replay when due): the family to go on with, if any.
fn rotate(shared: &Shared, logins: &Logins, mut family: Family, instance: usize) -> Option<Family> {
    let form = logins.refresh_form(&family.token);
    let at = shared.now();
    let response =
        shared.send(Kind::Refresh, instance, |addr| http::post_form(addr, "/oauth2/token", &form))?;
    match response.status {
        200 => {
            let next = field(&response.body, "refresh_token")?;
            lock(&shared.successors).push(next.clone());
            family.before_last = family.last.take();
            family.last = Some(std::mem::replace(&mut family.token, next));
            family.rotations += 1;
        }
        400 => {
            // Not a replay: the family was lost.
            lock(&shared.refreshes_refused).push(at);
            return None;
        }
        // An outage: the same token again next turn (within the reuse grace, if it did rotate).
        _ => return Some(family),
    }
    if family.rotations.is_multiple_of(REPLAY_EVERY) {
        let used = family.before_last.as_deref()?;
        let form = logins.refresh_form(used);
        let replay =
            shared.send(Kind::Replay, instance + 1, |addr| http::post_form(addr, "/oauth2/token", &form));
        if replay.is_some_and(|r| r.status == 400) {
            shared.replays_refused.fetch_add(1, Ordering::Relaxed);
        }
        // Revoked (or, after an outage, maybe): a new login takes its place.
        return None;
    }
    Some(family)
}

/// The caching verifier: jwtd-verify's JWKS cache of the issuer and a verifier, checking every
/// token it is sent until the senders are gone. Runs on its own thread.
pub fn verify(
    shared: Arc<Shared>,
    mut tokens: UnboundedReceiver<(f64, usize, String)>,
    issuer: String,
) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let keys = jwtd_verify::JwksCache::discover(&issuer).build()?;
        keys.refresh().await?;
        let _refresher = keys.spawn_refresh_task();
        let verifier = jwtd_verify::Verifier::builder(keys, &issuer, &issuer).build();
        while let Some((at, instance, token)) = tokens.recv().await {
            let error = verifier.verify(&token).await.err().map(|e| e.to_string());
            lock(&shared.verifications).push(Verification { at, instance, error });
        }
        Ok::<_, BoxError>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_what_jwtd_reads() {
        assert_eq!(form_encode("a+b@c d"), "a%2Bb%40c%20d");
    }
}
