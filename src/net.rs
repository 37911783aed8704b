//! The network as jwtd sees it. Client addresses, without HTTP: which reverse proxies are
//! trusted, which address a chain of `X-Forwarded-For` hops names, and which network an address
//! belongs to (throttling counts an IPv6 client per network; refresh binding compares networks).
//! And jwtd's own outbound requests (back-channel logout notices; fetching a client's
//! `jwks_uri`): one client shape, bounded in time and in what it reads.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

/// Networks whose `X-Forwarded-For` jwtd believes (`http.trusted_proxies`), parsed once when
/// the configuration loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("http.trusted_proxies: {0:?} is not an IP address or CIDR network")]
pub struct ProxyListError(String);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDR networks (`10.0.0.0/8, ::1`).
    pub fn parse(list: &str) -> Result<Self, ProxyListError> {
        let mut networks = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || ProxyListError(entry.to_owned());
            let (addr, prefix) = match entry.split_once('/') {
                Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().map_err(|_| bad())?)),
                None => (entry, None),
            };
            let addr: IpAddr = addr.parse().map_err(|_| bad())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = prefix.unwrap_or(max);
            if prefix > max {
                return Err(bad());
            }
            networks.push((addr, prefix));
        }
        Ok(Self(networks))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|(network, prefix)| same_network(*network, ip, *prefix))
    }

    /// The client's address, given the TCP peer and the `X-Forwarded-For` hops in order: the
    /// peer, unless it is a trusted proxy; then the nearest hop that is not one. A hop that is
    /// not an address stops the walk at the last address jwtd can vouch for.
    pub fn client_ip<'a>(&self, peer: IpAddr, forwarded: impl DoubleEndedIterator<Item = &'a str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        for hop in forwarded.rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => continue,
                Ok(ip) => return ip,
                Err(_) => return peer,
            }
        }
        peer
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = String::deserialize(deserializer)?;
        Self::parse(&list).map_err(serde::de::Error::custom)
    }
}

/// Whether `a` and `b` share their first `prefix` bits (false across address families).
pub fn same_network(a: IpAddr, b: IpAddr, prefix: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The HTTP client of jwtd's outbound requests: each whole exchange (connect, send, read)
/// bounded by `timeout`, redirects never followed (a registered URL is the one called: a
/// redirect could point a request carrying a token anywhere), TLS by rustls on aws-lc-rs with
/// the platform's trust store.
pub fn outbound_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("jwtd/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A response's body, or `None` when it is longer than `limit` bytes: reading stops at the
/// limit, so a peer cannot make jwtd hold more than that.
pub async fn read_limited(mut response: reqwest::Response, limit: usize) -> reqwest::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.1").unwrap();
        let ip = |peer: &str, xff: &str| {
            let hops = xff.split(',').filter(|h| !h.is_empty());
            proxies.client_ip(peer.parse().unwrap(), hops).to_string()
        };
        // A client talking directly cannot pick its address.
        assert_eq!(ip("203.0.113.9", "198.51.100.1"), "203.0.113.9");
        // Behind a trusted proxy: the nearest untrusted hop, never a spoofed left-most entry.
        assert_eq!(ip("10.1.2.3", "198.51.100.1, 203.0.113.9"), "203.0.113.9");
        assert_eq!(ip("10.1.2.3", "203.0.113.9, 192.0.2.1"), "203.0.113.9");
        assert_eq!(ip("10.1.2.3", ""), "10.1.2.3");
        assert_eq!(ip("10.1.2.3", "not-an-ip"), "10.1.2.3");
        let nobody = TrustedProxies::default();
        assert_eq!(
            nobody.client_ip("10.1.2.3".parse().unwrap(), ["1.2.3.4"].into_iter()).to_string(),
            "10.1.2.3"
        );
    }

    #[test]
    fn lists_parse_strictly() {
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
        assert!(TrustedProxies::parse("::1, fd00::/8").is_ok());
        for bad in ["10.0.0.0/33", "localhost", "10.0.0.0/x", "::/129"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn networks_compare_by_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(same_network(ip("203.0.113.9"), ip("203.0.113.200"), 24));
        assert!(!same_network(ip("203.0.113.9"), ip("203.0.114.9"), 24));
        assert!(same_network(ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff::1"), 64));
        assert!(!same_network(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"), 64));
        assert!(!same_network(ip("203.0.113.9"), ip("::ffff:203.0.113.9"), 0), "families differ");
    }
}
