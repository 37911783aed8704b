//! The client's address: the TCP peer, unless the peer is a configured reverse proxy, in which
//! case the nearest address in `X-Forwarded-For` that is not itself a trusted proxy. Headers
//! from anyone else are ignored, so a client cannot choose the address it is throttled under.

use std::net::IpAddr;

use actix_web::HttpRequest;

/// Networks whose `X-Forwarded-For` jwtd believes (`http.trusted_proxies`).
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
        self.0.iter().any(|(network, prefix)| contains(*network, *prefix, ip))
    }

    /// The client address of `req` as jwtd sees it.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in forwarded.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => continue,
                Ok(ip) => return Some(ip),
                // Something we cannot read: stop at the last address we can vouch for.
                Err(_) => return Some(peer),
            }
        }
        Some(peer)
    }
}

fn contains(network: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (network, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        if let Some(value) = forwarded {
            req = req.insert_header(("x-forwarded-for", value));
        }
        req.to_http_request()
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.1").unwrap();
        let ip = |peer, xff| proxies.client_ip(&request(peer, xff)).unwrap().to_string();
        // A client talking directly cannot pick its address.
        assert_eq!(ip("203.0.113.9", Some("198.51.100.1")), "203.0.113.9");
        // Behind a trusted proxy: the nearest untrusted hop, never a spoofed left-most entry.
        assert_eq!(ip("10.1.2.3", Some("198.51.100.1, 203.0.113.9")), "203.0.113.9");
        assert_eq!(ip("10.1.2.3", Some("203.0.113.9, 192.0.2.1")), "203.0.113.9");
        assert_eq!(ip("10.1.2.3", None), "10.1.2.3");
        assert_eq!(ip("10.1.2.3", Some("not-an-ip")), "10.1.2.3");
        assert_eq!(
            TrustedProxies::default().client_ip(&request("10.1.2.3", Some("1.2.3.4"))).unwrap().to_string(),
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
}
