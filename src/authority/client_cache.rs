//! Client rows read in the last few seconds, so `client_credentials` touches no database on
//! its hot path.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::clients::ClientRow;

/// The admin API forgets a client it changes at once; another instance's change reaches this
/// one within [`ClientCache::TTL_SECS`] on jwtd's clock. Only rows that exist are kept, and the
/// cache is bounded.
#[derive(Debug, Default)]
pub struct ClientCache(Mutex<HashMap<String, (ClientRow, i64)>>);

impl ClientCache {
    pub const TTL_SECS: i64 = 5;
    const MAX_ENTRIES: usize = 10_000;

    /// The row cached for `id`, if it was read less than the TTL before `now`.
    pub fn get(&self, id: &str, now: i64) -> Option<ClientRow> {
        let entries = self.0.lock().ok()?;
        entries.get(id).filter(|(_, at)| now - at < Self::TTL_SECS).map(|(row, _)| row.clone())
    }

    pub fn put(&self, row: ClientRow, now: i64) {
        if let Ok(mut entries) = self.0.lock() {
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(row.id.clone(), (row, now));
        }
    }

    /// Drops a client after it changed (secret rotated, deleted).
    pub fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.0.lock() {
            entries.remove(id);
        }
    }
}
