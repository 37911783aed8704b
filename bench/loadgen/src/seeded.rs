//! `seeded`: refresh rotations of families seeded in bulk by `bench/growth/seed.sql`, spread at
//! random over all of them, so each rotation touches the pages of a random family as it would in
//! a database of that many sessions (the `refresh` scenario's few families stay in cache).
//!
//! The seed's conventions, which this module is the other half of (`bench/growth/seed.sql` and
//! `family_tokens.sql`): family `f`'s id is base64url of the first 16 bytes of
//! SHA-256(`bench-family-<f>`); it belongs to client `bench-client-<f % 1000>`, whose secret is
//! `bench-secret-<f % 1000>`; its unused head is the family token (`jwtd::tokens::refresh`) of
//! that id, generation `gens` and secret SHA-256(`bench-seed-<f>-<gens>`), tagged with the tag
//! key of the master key jwtd runs with ([`tag_key`]). PostgreSQL has no HMAC without pgcrypto,
//! so the seed computes the tag from the key's pads ([`tag_pads`]).
//!
//! Connection `k` owns the families `f ≡ k (mod connections)`, so no two connections ever present
//! one family's token (which would be a replay), and carries each family it rotated on with the
//! successor. The tokens families were left at go to a state file (`--seeded-state`) at the end
//! of a run, and the next run against the same database starts from them: a seeded head is good
//! only once.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use aws_lc_rs::{digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::BoxError;

/// Clients the seed spreads its families over.
const SEED_CLIENTS: u64 = 1000;
/// What jwtd derives its refresh-token tag key from the master key with (`keys::master`).
const TAG_KEY_LABEL: &[u8] = b"jwtd refresh-token tags v2";
const MASTER_KEY_BYTES: usize = 32;
const FAMILY_ID_BYTES: usize = 16;
const TAG_BYTES: usize = 16;
/// HMAC-SHA256's block: the key is zero-padded to it before the pads are made.
const HMAC_BLOCK: usize = 64;

/// The tag key of refresh tokens, 32 bytes.
pub type TagKey = [u8; 32];

/// The seeded population a run rotates, and the key its heads are tagged with.
#[derive(Debug, Clone)]
pub struct Seed {
    pub families: u64,
    pub gens: u64,
    tag_key: hmac::Key,
}

impl Seed {
    /// `master_key`: the base64 text of `JWTD_MASTER_KEY` the server runs with.
    pub fn new(families: u64, gens: u64, master_key: &str) -> Result<Self, BoxError> {
        let tag_key = hmac::Key::new(hmac::HMAC_SHA256, &tag_key(master_key)?);
        Ok(Self { families, gens, tag_key })
    }

    /// The head the seed wrote for family `family`.
    pub fn head_token(&self, family: u64) -> String {
        head_token(family, self.gens, &self.tag_key)
    }
}

/// jwtd's refresh-token tag key for the master key `master_key` (base64, standard or URL-safe,
/// padded or not, as jwtd reads it): HMAC-SHA256 of a fixed label under the key's 32 bytes.
pub fn tag_key(master_key: &str) -> Result<TagKey, BoxError> {
    let text = master_key.trim();
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
        .map_err(|_| "the master key is not base64")?;
    if bytes.len() != MASTER_KEY_BYTES {
        return Err(format!("the master key must be {MASTER_KEY_BYTES} bytes").into());
    }
    let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &bytes), TAG_KEY_LABEL);
    Ok(TagKey::try_from(derived.as_ref())?)
}

/// The two pads of HMAC-SHA256 under `tag_key`, in hex (`seed.sql`'s `tag_ipad` and
/// `tag_opad`): the key zero-padded to 64 bytes, XOR 0x36 and XOR 0x5c.
pub fn tag_pads(tag_key: &TagKey) -> (String, String) {
    let pad = |with: u8| -> String {
        (0..HMAC_BLOCK).map(|i| format!("{:02x}", tag_key.get(i).copied().unwrap_or(0) ^ with)).collect()
    };
    (pad(0x36), pad(0x5c))
}

/// Family `family`'s id bytes.
fn family_id_bytes(family: u64) -> Vec<u8> {
    let digest = digest::digest(&digest::SHA256, format!("bench-family-{family}").as_bytes());
    digest.as_ref().get(..FAMILY_ID_BYTES).unwrap_or_default().to_vec()
}

/// Family `family`'s id, as its row holds it.
pub fn family_id(family: u64) -> String {
    URL_SAFE_NO_PAD.encode(family_id_bytes(family))
}

/// The head token the seed wrote for family `family`, `gens` generations deep: its id, its
/// generation (big endian), its secret and the first 16 bytes of their HMAC under `tag_key`.
pub fn head_token(family: u64, gens: u64, tag_key: &hmac::Key) -> String {
    let mut bytes = family_id_bytes(family);
    bytes.extend_from_slice(&gens.to_be_bytes());
    let secret = digest::digest(&digest::SHA256, format!("bench-seed-{family}-{gens}").as_bytes());
    bytes.extend_from_slice(secret.as_ref());
    let tag = hmac::sign(tag_key, &bytes);
    bytes.extend_from_slice(tag.as_ref().get(..TAG_BYTES).unwrap_or_default());
    format!("jwtd_rt_{}", URL_SAFE_NO_PAD.encode(bytes))
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
    pub fn new(seed: &Seed, connection: usize, connections: usize, rotated: &HashMap<u64, String>) -> Self {
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
        Self { seed: seed.clone(), connection, connections, current, rng }
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
        self.current.get(&family).cloned().unwrap_or_else(|| self.seed.head_token(family))
    }

    /// The successor jwtd answered with.
    pub fn advance(&mut self, family: u64, successor: String) {
        self.current.insert(family, successor);
    }
}

/// The tokens families were left at by earlier runs: `FAMILY TOKEN` lines (none: no file yet).
pub fn load_state(path: &Path) -> Result<HashMap<u64, String>, BoxError> {
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
pub fn save_state(path: &Path, rotated: &HashMap<u64, String>) -> Result<(), BoxError> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (family, token) in rotated {
        writeln!(file, "{family} {token}")?;
    }
    file.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use jwtd::keys::master::MasterKey;
    use jwtd::tokens::refresh::{Located, Position, RefreshToken};

    use super::*;

    /// Base64 of 32 bytes of 7.
    const MASTER_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

    fn seed(families: u64, gens: u64) -> Seed {
        Seed::new(families, gens, MASTER_KEY).unwrap()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn jwtd_reads_a_seeded_head_as_its_familys_token_of_that_generation() {
        let master = MasterKey::from_base64(MASTER_KEY).unwrap();
        for (family, gens) in [(0, 1), (7, 4), (123_456_789, 40)] {
            let head = seed(family + 1, gens).head_token(family);
            let position = Position { family_id: family_id(family), generation: gens as i64 };
            let parsed = RefreshToken::parse(&head).unwrap();
            assert_eq!(parsed.locate(&master), Located::Family(position), "family {family}");
            let other = MasterKey::from_bytes(&[8; 32]).unwrap();
            assert_eq!(parsed.locate(&other), Located::Forged);
        }
        assert_eq!(family_id(7).len(), 22);
    }

    #[test]
    fn the_head_and_id_are_the_ones_seed_sql_writes() {
        // psql, with family_tokens.sql and the pads of tag_pads(&tag_key(MASTER_KEY)):
        // SELECT pg_temp.bench_head_token(7, 4, decode(:'ipad', 'hex'), decode(:'opad', 'hex')),
        //        pg_temp.base64url(pg_temp.bench_family_id(7));
        assert_eq!(
            seed(10, 4).head_token(7),
            "jwtd_rt_A162CFLaTqVq_ZjVElapVwAAAAAAAAAEkq5tNmRmdOSEBFKGQlSctm0UwTdZNHDOxB-x3bv67wIXa2G10na5BHZI8iKk-8k9"
        );
        assert_eq!(family_id(7), "A162CFLaTqVq_ZjVElapVw");
        assert_ne!(seed(10, 5).head_token(7), seed(10, 4).head_token(7));
        assert_eq!(client_fields(1234), "client_id=bench-client-234&client_secret=bench-secret-234");
    }

    #[test]
    fn the_pads_make_hmac_sha256_as_seed_sql_computes_it() {
        let key = tag_key(MASTER_KEY).unwrap();
        let (ipad, opad) = tag_pads(&key);
        assert_eq!((ipad.len(), opad.len()), (128, 128));
        assert!(ipad.ends_with("3636") && opad.ends_with("5c5c"));
        // sha256(opad ‖ sha256(ipad ‖ message)), as the SQL does it, is the HMAC.
        let sha256 = |bytes: &[u8]| digest::digest(&digest::SHA256, bytes).as_ref().to_vec();
        let message = b"the first 56 bytes of a token";
        let inner = sha256(&[&decode_hex(&ipad)[..], message].concat());
        let outer = sha256(&[decode_hex(&opad), inner].concat());
        let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), message);
        assert_eq!(hex(&outer), hex(mac.as_ref()));
        // The key unpadded and surrounded by whitespace, as jwtd accepts it: the same tag key.
        let unpadded = MASTER_KEY.trim_end_matches('=');
        assert_eq!(tag_key(&format!(" {unpadded}\n")).unwrap(), key);
        assert!(tag_key("c2hvcnQ=").is_err());
        assert!(tag_key("not base64!").is_err());
    }

    fn decode_hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn connections_pick_only_their_own_families_and_spread_over_them() {
        let mut seen = std::collections::HashSet::new();
        let mut families = Families::new(&seed(1000, 4), 3, 8, &HashMap::new());
        for _ in 0..5000 {
            let family = families.pick().unwrap();
            assert!(family < 1000 && family % 8 == 3, "{family}");
            seen.insert(family);
        }
        // 125 families are this connection's; 5000 random picks reach nearly all of them.
        assert!(seen.len() > 120, "{}", seen.len());
        assert_eq!(Families::new(&seed(3, 4), 5, 8, &HashMap::new()).pick(), None);
    }

    #[test]
    fn a_family_goes_on_from_its_successor() {
        let seed = seed(10, 2);
        let mut families = Families::new(&seed, 0, 2, &HashMap::new());
        assert_eq!(families.token(4), seed.head_token(4));
        families.advance(4, "jwtd_rt_next".into());
        assert_eq!(families.token(4), "jwtd_rt_next");
        assert_eq!(families.token(6), seed.head_token(6));

        // The next run starts where this one left off, each connection with its own families.
        let dir = std::env::temp_dir().join(format!("jwtd-loadgen-state-{}", std::process::id()));
        let mut rotated = families.into_rotated();
        rotated.insert(7, "jwtd_rt_seven".into());
        save_state(&dir, &rotated).unwrap();
        let loaded = load_state(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(loaded, rotated);
        assert_eq!(Families::new(&seed, 0, 2, &loaded).token(4), "jwtd_rt_next");
        assert_eq!(Families::new(&seed, 1, 2, &loaded).token(7), "jwtd_rt_seven");
        assert_eq!(Families::new(&seed, 1, 2, &loaded).into_rotated().len(), 1);
        assert!(load_state(Path::new("/nonexistent/jwtd-state")).unwrap().is_empty());
    }
}
