//! The client's address: the TCP peer, unless the peer is a configured reverse proxy, in which
//! case the nearest address in `X-Forwarded-For` that is not itself a trusted proxy (see
//! [`crate::net::TrustedProxies`]). Headers from anyone else are ignored, so a client cannot
//! choose the address it is throttled under.

use std::net::IpAddr;

use actix_web::HttpRequest;

use crate::net::TrustedProxies;

/// The client address of `req` as jwtd sees it.
pub fn client_ip(proxies: &TrustedProxies, req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    Some(proxies.client_ip(peer, forwarded.into_iter()))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn every_forwarded_header_line_counts_in_order() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let req = TestRequest::default()
            .peer_addr("10.1.2.3:4000".parse().unwrap())
            .append_header(("x-forwarded-for", "198.51.100.1"))
            .append_header(("x-forwarded-for", "203.0.113.9, 10.9.9.9"))
            .to_http_request();
        assert_eq!(client_ip(&proxies, &req).unwrap().to_string(), "203.0.113.9");
    }
}
