//! `seeded`: refresh rotations of families seeded in bulk by `bench/growth/seed.sql`, spread at
//! random over all of them, so each rotation touches the pages of a random family as it would in
//! a database of that many sessions (the `refresh` scenario's few families stay in cache).
//!
//! The seed's conventions, which this module is the other half of: family `f` belongs to client
//! `bench-client-<f % 1000>`, whose secret is `bench-secret-<f % 1000>`, and its unused head, at
//! generation `gens`, is `jwtd_rt_` + base64url(SHA-256(`bench-seed-<f>-<gens>`)). Connection `k`
//! owns the families `f ≡ k (mod connections)`, so no two connections ever present one family's
//! token (which would be a replay), and carries each family it rotated on with the successor.
//! The tokens families were left at go to a state file (`--seeded-state`) at the end of a run,
//! and the next run against the same database starts from them: a seeded head is good only once.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Clients the seed spreads its families over.
const SEED_CLIENTS: u64 = 1000;

/// The seeded population a run rotates.
#[derive(Debug, Clone, Copy)]
pub struct Seed {
    pub families: u64,
    pub gens: u64,
}

/// The head token the seed wrote for family `family`.
pub fn head_token(family: u64, gens: u64) -> String {
    let seed = format!("bench-seed-{family}-{gens}");
    format!("jwtd_rt_{}", URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, seed.as_bytes())))
}

/// The form fields authenticating family `family`'s client (`client_secret_post`).
pub fn client_fields(family: u64) -> String {
    let client = family % SEED_CLIENTS;
    format!("client_id=bench-client-{client}&client_secret=bench-secret-{client}")
}

/// One connection's share of the families: which to rotate next, and each one's current token.
pub struct Families {
    seed: Seed,
    connection: u64,
    connections: u64,
    /// Tokens of the families this connection rotated (the others are still at their seeded head).
    current: HashMap<u64, String>,
    rng: u64,
}

impl Families {
    /// Connection `connection`'s share, with the tokens of `rotated` (families rotated by
    /// earlier runs) that are its own.
    pub fn new(seed: Seed, connection: usize, connections: usize, rotated: &HashMap<u64, String>) -> Self {
        let (connection, connections) = (connection as u64, connections.max(1) as u64);
        let current = rotated
            .iter()
            .filter(|(family, _)| *family % connections == connection)
            .map(|(family, token)| (*family, token.clone()))
            .collect();
        // Any odd start that differs by connection and by run: xorshift needs a non-zero state.
        let run =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let rng = (connection + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (run as u64) | 1;
        Self { seed, connection, connections, current, rng }
    }

    /// The tokens of the families this connection's share has rotated, to save.
    pub fn into_rotated(self) -> HashMap<u64, String> {
        self.current
    }

    /// Families this connection owns: `connection`, `connection + connections`, … below `families`.
    fn owned(&self) -> u64 {
        self.seed.families.saturating_sub(self.connection).div_ceil(self.connections)
    }

    /// A random family of this connection's share (`None`: the share is empty).
    pub fn pick(&mut self) -> Option<u64> {
        let owned = self.owned();
        if owned == 0 {
            return None;
        }
        // xorshift64: uniform enough for spreading load, and no crate for it.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        Some(self.connection + self.connections * (self.rng % owned))
    }

    /// The token family `family` is at now.
    pub fn token(&self, family: u64) -> String {
        self.current.get(&family).cloned().unwrap_or_else(|| head_token(family, self.seed.gens))
    }

    /// The successor jwtd answered with.
    pub fn advance(&mut self, family: u64, successor: String) {
        self.current.insert(family, successor);
    }
}

/// The tokens families were left at by earlier runs: `FAMILY TOKEN` lines (none: no file yet).
pub fn load_state(path: &Path) -> Result<HashMap<u64, String>, crate::BoxError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(e.into()),
    };
    text.lines()
        .map(|line| {
            let (family, token) = line.split_once(' ').ok_or("a state line without a token")?;
            Ok((family.parse()?, token.to_owned()))
        })
        .collect()
}

/// Saves where the families are now, for the next run.
pub fn save_state(path: &Path, rotated: &HashMap<u64, String>) -> Result<(), crate::BoxError> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (family, token) in rotated {
        writeln!(file, "{family} {token}")?;
    }
    file.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_is_the_one_seed_sql_writes() {
        // psql: SELECT 'jwtd_rt_' || translate(rtrim(encode(sha256(convert_to('bench-seed-7-4',
        // 'UTF8')), 'base64'), '='), '+/', '-_');
        let head = head_token(7, 4);
        assert!(head.starts_with("jwtd_rt_") && head.len() == 8 + 43);
        let digest = digest::digest(&digest::SHA256, b"bench-seed-7-4");
        assert_eq!(URL_SAFE_NO_PAD.decode(&head[8..]).unwrap(), digest.as_ref());
        assert_ne!(head, head_token(7, 5));
        assert_eq!(client_fields(1234), "client_id=bench-client-234&client_secret=bench-secret-234");
    }

    #[test]
    fn connections_pick_only_their_own_families_and_spread_over_them() {
        let seed = Seed { families: 1000, gens: 4 };
        let mut seen = std::collections::HashSet::new();
        let mut families = Families::new(seed, 3, 8, &HashMap::new());
        for _ in 0..5000 {
            let family = families.pick().unwrap();
            assert!(family < 1000 && family % 8 == 3, "{family}");
            seen.insert(family);
        }
        // 125 families are this connection's; 5000 random picks reach nearly all of them.
        assert!(seen.len() > 120, "{}", seen.len());
        assert_eq!(Families::new(Seed { families: 3, gens: 4 }, 5, 8, &HashMap::new()).pick(), None);
    }

    #[test]
    fn a_family_goes_on_from_its_successor() {
        let seed = Seed { families: 10, gens: 2 };
        let mut families = Families::new(seed, 0, 2, &HashMap::new());
        assert_eq!(families.token(4), head_token(4, 2));
        families.advance(4, "jwtd_rt_next".into());
        assert_eq!(families.token(4), "jwtd_rt_next");
        assert_eq!(families.token(6), head_token(6, 2));

        // The next run starts where this one left off, each connection with its own families.
        let dir = std::env::temp_dir().join(format!("jwtd-loadgen-state-{}", std::process::id()));
        let mut rotated = families.into_rotated();
        rotated.insert(7, "jwtd_rt_seven".into());
        save_state(&dir, &rotated).unwrap();
        let loaded = load_state(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(loaded, rotated);
        assert_eq!(Families::new(seed, 0, 2, &loaded).token(4), "jwtd_rt_next");
        assert_eq!(Families::new(seed, 1, 2, &loaded).token(7), "jwtd_rt_seven");
        assert_eq!(Families::new(seed, 1, 2, &loaded).into_rotated().len(), 1);
        assert!(load_state(Path::new("/nonexistent/jwtd-state")).unwrap().is_empty());
    }
}
