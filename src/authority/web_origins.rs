//! The web origins enabled clients registered, read in the last few seconds, so a browser's
//! request to the token endpoint is answered with its CORS headers without a query of its own.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{Authority, Error};
use crate::store;

/// The admin API forgets the set when it changes a client, so the next request reloads it;
/// another instance's change reaches this one within [`WebOrigins::TTL_SECS`] on jwtd's clock.
#[derive(Debug, Default)]
pub struct WebOrigins {
    loaded: RwLock<Loaded>,
    /// Held by the one request reloading the set; the others answer from the stale set meanwhile.
    reloading: tokio::sync::Mutex<()>,
}

/// Each registered origin, and whether a client that registered it takes its refresh token in a
/// cookie (so the token endpoint must let that origin send cookies).
type Origins = HashMap<String, bool>;

#[derive(Debug, Default)]
struct Loaded {
    origins: Option<Arc<Origins>>,
    at: i64,
    /// Bumped by every [`WebOrigins::forget`]: a reload that began before it stores nothing.
    generation: u64,
    stale: bool,
}

/// The set as last loaded, whether it is still fresh, and the generation it belongs to.
type Snapshot = (Option<Arc<Origins>>, bool, u64);

impl WebOrigins {
    pub const TTL_SECS: i64 = 5;

    fn snapshot(&self, now: i64) -> Snapshot {
        match self.loaded.read() {
            Ok(loaded) => {
                let fresh = loaded.origins.is_some() && !loaded.stale && now - loaded.at < Self::TTL_SECS;
                (loaded.origins.clone(), fresh, loaded.generation)
            }
            Err(_) => (None, false, 0),
        }
    }

    fn put(&self, origins: Arc<Origins>, now: i64, generation: u64) {
        if let Ok(mut loaded) = self.loaded.write()
            && loaded.generation == generation
        {
            *loaded = Loaded { origins: Some(origins), at: now, generation, stale: false };
        }
    }

    /// Makes the next check reload the set (a client was created, changed or deleted).
    pub fn forget(&self) {
        if let Ok(mut loaded) = self.loaded.write() {
            loaded.generation = loaded.generation.wrapping_add(1);
            loaded.stale = true;
        }
    }
}

impl Authority {
    /// Whether an enabled client registered `origin` (exactly as a browser sends it in
    /// `Origin`) as one of its web origins: `None` if none did, else whether one of them takes
    /// its refresh token in a cookie. Answers from a set read less than
    /// [`WebOrigins::TTL_SECS`] ago; when it is older, one request reloads it (one query) while
    /// the others answer from the older set.
    pub async fn registered_origin(&self, origin: &str) -> Result<Option<bool>, Error> {
        let now = self.clock.now();
        let (known, fresh, _) = self.web_origins.snapshot(now);
        if let (Some(origins), true) = (&known, fresh) {
            return Ok(origins.get(origin).copied());
        }
        let _reloading = match (self.web_origins.reloading.try_lock(), &known) {
            (Ok(guard), _) => guard,
            (Err(_), Some(origins)) => return Ok(origins.get(origin).copied()),
            (Err(_), None) => self.web_origins.reloading.lock().await,
        };
        let (known, fresh, generation) = self.web_origins.snapshot(now);
        if let (Some(origins), true) = (known, fresh) {
            return Ok(origins.get(origin).copied());
        }
        let listed = self.with_conn(|conn| Ok(store::clients::web_origins(conn)?)).await?;
        let mut origins = Origins::with_capacity(listed.len());
        for (origin, cookie) in listed {
            *origins.entry(origin).or_default() |= cookie;
        }
        let origins = Arc::new(origins);
        self.web_origins.put(Arc::clone(&origins), now, generation);
        Ok(origins.get(origin).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(origins: &[&str]) -> Arc<Origins> {
        Arc::new(origins.iter().map(|o| ((*o).to_owned(), false)).collect())
    }

    #[test]
    fn the_set_is_fresh_for_its_ttl_until_forgotten() {
        let cache = WebOrigins::default();
        assert!(!cache.snapshot(100).1, "nothing loaded yet");
        cache.put(set(&["https://a.example"]), 100, 0);
        assert!(cache.snapshot(100 + WebOrigins::TTL_SECS - 1).1);
        assert!(!cache.snapshot(100 + WebOrigins::TTL_SECS).1);
        cache.forget();
        let (origins, fresh, generation) = cache.snapshot(100);
        assert!(!fresh && origins.is_some_and(|o| o.contains_key("https://a.example")));
        cache.put(set(&[]), 100, generation - 1);
        assert!(!cache.snapshot(100).1, "a reload begun before the change stores nothing");
        cache.put(set(&[]), 100, generation);
        assert!(cache.snapshot(100).1);
    }
}
