//! Remembering the `jti` of each DPoP proof a resource server accepted, so a captured proof
//! cannot be sent again (RFC 9449 §11.1).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_lc_rs::digest::{Context, SHA256};

use super::ProofError;

/// How many proofs a [`ReplayCache`] built by the verifier remembers: at jwtd's rates about
/// 10 MB at the most, and enough for 1,600 proofs a second over the default 65 s window.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// The `(jkt, jti)` pairs of accepted proofs, each remembered for one window (a proof's
/// [`super::ProofPolicy::window`]: as long as the same proof could still be accepted).
///
/// Two limits to know:
/// - It is **per instance**: replicas of a resource server do not share it, so a proof replayed
///   to another replica within the window is accepted there. Route a client to one instance, or
///   accept that DPoP bounds a stolen proof's use to one window and one URL and method.
/// - It is **bounded** (`capacity` entries): when full, expired entries go first, then the
///   oldest, so a flood of fresh proofs can push out a remembered one before its window ends
///   rather than make the server refuse every new proof or grow without bound.
///
/// Cloning is cheap; clones share the entries. Entries are SHA-256 digests of the pair, so each
/// costs the same whatever the `jti`'s length.
#[derive(Clone)]
pub struct ReplayCache {
    inner: Arc<Mutex<Seen>>,
}

struct Seen {
    capacity: usize,
    window_secs: u64,
    /// Until when each entry is remembered (Unix seconds, exclusive).
    until: HashMap<[u8; 32], u64>,
    /// Entries in the order they were remembered, with their `until`; an entry whose `until`
    /// no longer matches the map's was remembered again since, and is skipped.
    order: VecDeque<([u8; 32], u64)>,
}

impl fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seen = self.lock();
        f.debug_struct("ReplayCache")
            .field("entries", &seen.until.len())
            .field("capacity", &seen.capacity)
            .field("window_secs", &seen.window_secs)
            .finish()
    }
}

impl ReplayCache {
    /// A cache of at most `capacity` entries (at least one) remembered for `window` (whole
    /// seconds).
    pub fn new(capacity: usize, window: Duration) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner: Arc::new(Mutex::new(Seen {
                capacity,
                window_secs: window.as_secs(),
                until: HashMap::new(),
                order: VecDeque::new(),
            })),
        }
    }

    /// `Ok` the first time `(jkt, jti)` is seen within the window, and remembers it;
    /// [`ProofError::Replayed`] when it was seen before. `now` is Unix seconds.
    pub fn check_and_remember(&self, jkt: &str, jti: &str, now: u64) -> Result<(), ProofError> {
        let key = entry_key(jkt, jti);
        let mut seen = self.lock();
        seen.forget_expired(now);
        if seen.until.get(&key).is_some_and(|&until| until > now) {
            return Err(ProofError::Replayed);
        }
        while seen.until.len() >= seen.capacity {
            if !seen.forget_oldest() {
                break;
            }
        }
        let until = now.saturating_add(seen.window_secs);
        seen.until.insert(key, until);
        seen.order.push_back((key, until));
        Ok(())
    }

    /// How many proofs are remembered now.
    pub fn len(&self) -> usize {
        self.lock().until.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters more than refusing every proof would.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Seen {
    fn forget_expired(&mut self, now: u64) {
        while let Some(&(_, until)) = self.order.front() {
            if until > now {
                break;
            }
            self.forget_oldest();
        }
    }

    /// Drops the oldest entry; false when there is none.
    fn forget_oldest(&mut self) -> bool {
        let Some((key, until)) = self.order.pop_front() else { return false };
        if self.until.get(&key) == Some(&until) {
            self.until.remove(&key);
        }
        true
    }
}

/// SHA-256 of the pair, the `jkt` length-prefixed so no two pairs share an input.
fn entry_key(jkt: &str, jti: &str) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    context.update(&(jkt.len() as u64).to_be_bytes());
    context.update(jkt.as_bytes());
    context.update(jti.as_bytes());
    // A SHA-256 digest is 32 bytes; were it not, every pair would share one key and every
    // proof after the first be refused: failing closed.
    <[u8; 32]>::try_from(context.finish().as_ref()).unwrap_or([0; 32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_accepted_once_per_window() {
        let cache = ReplayCache::new(10, Duration::from_secs(65));
        assert_eq!(cache.check_and_remember("k1", "j1", 1000), Ok(()));
        assert_eq!(cache.check_and_remember("k1", "j1", 1000), Err(ProofError::Replayed));
        assert_eq!(cache.check_and_remember("k1", "j1", 1064), Err(ProofError::Replayed));
        assert_eq!(cache.check_and_remember("k2", "j1", 1000), Ok(()), "another key's jti");
        assert_eq!(cache.check_and_remember("k1", "j2", 1000), Ok(()));
        assert_eq!(cache.check_and_remember("k", "1j1", 1000), Ok(()), "no ambiguity across the pair");
        assert_eq!(cache.check_and_remember("k1", "j1", 1065), Ok(()), "the window has passed");
        assert_eq!(cache.len(), 1, "expired entries are forgotten");
    }

    #[test]
    fn when_full_expired_entries_go_first_then_the_oldest() {
        let cache = ReplayCache::new(3, Duration::from_secs(10));
        for (jti, now) in [("a", 100), ("b", 105), ("c", 106)] {
            cache.check_and_remember("k", jti, now).unwrap();
        }
        // At 110, `a` has expired: it goes, and b and c are still remembered.
        cache.check_and_remember("k", "d", 110).unwrap();
        assert_eq!(cache.check_and_remember("k", "b", 110), Err(ProofError::Replayed));
        // Nothing expired: the oldest (b) is pushed out by e, and so could be replayed.
        cache.check_and_remember("k", "e", 111).unwrap();
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.check_and_remember("k", "c", 111), Err(ProofError::Replayed));
        assert_eq!(cache.check_and_remember("k", "b", 111), Ok(()));
    }

    #[test]
    fn clones_share_entries_and_a_zero_capacity_still_remembers_one() {
        let cache = ReplayCache::new(0, Duration::from_secs(10));
        let clone = cache.clone();
        cache.check_and_remember("k", "a", 1).unwrap();
        assert_eq!(clone.check_and_remember("k", "a", 2), Err(ProofError::Replayed));
        fn send_sync<T: Send + Sync>(_: &T) {}
        send_sync(&cache);
    }
}
