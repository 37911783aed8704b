//! The URL comparison of `htu` (RFC 9449 §4.3): both sides normalised by RFC 3986's
//! syntax-based (§6.2.2) and scheme-based (§6.2.3) rules, then compared as strings.

/// The normal form of an absolute `http`/`https` URL, for comparing a proof's `htu` with the
/// request it came with: scheme and host lowercased, the default port (80 for http, 443 for
/// https) and an empty port removed, an empty path made `/`, percent-encodings of unreserved
/// characters decoded and the others' hex digits uppercased, dot segments removed, query and
/// fragment dropped.
///
/// `None` when `url` is not an absolute http(s) URL, or holds what a request target cannot:
/// user information, characters outside RFC 3986's set, a broken percent-encoding, a bad port.
pub fn normalize_htu(url: &str) -> Option<String> {
    let url = url.split(['#', '?']).next().unwrap_or_default();
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |slash| rest.split_at(slash));
    let host_and_port = authority_without_default_port(authority, default_port)?;
    let path = if path.is_empty() { "/".to_owned() } else { remove_dot_segments(&normalize_percent(path)?) };
    Some(format!("{scheme}://{host_and_port}{path}"))
}

/// `host[:port]` lowercased, the port dropped when it is the default or empty.
fn authority_without_default_port(authority: &str, default_port: u16) -> Option<String> {
    // An IPv6 literal holds colons; the port is whatever follows its closing bracket.
    let (host, port) = match authority.strip_prefix('[') {
        Some(literal) => {
            let (address, after) = literal.split_once(']')?;
            if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                return None;
            }
            let port = if after.is_empty() { None } else { Some(after.strip_prefix(':')?) };
            (authority.get(..address.len() + 2)?, port)
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            let reg_name = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
            if host.is_empty() || !host.bytes().all(reg_name) {
                return None;
            }
            (host, port)
        }
    };
    let host = host.to_ascii_lowercase();
    match port.filter(|port| !port.is_empty()) {
        None => Some(host),
        Some(port) => {
            if !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            match port.parse::<u16>().ok()? {
                port if port == default_port => Some(host),
                port => Some(format!("{host}:{port}")),
            }
        }
    }
}

/// RFC 3986 §6.2.2.1–2: `%7e` becomes `~`, `%2f` becomes `%2F`. `None` for a byte a path
/// cannot hold or a `%` not followed by two hex digits.
fn normalize_percent(path: &str) -> Option<String> {
    let mut out = String::with_capacity(path.len());
    let mut bytes = path.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let (hi, lo) = (bytes.next()?, bytes.next()?);
            let decoded = hex_value(hi)? << 4 | hex_value(lo)?;
            if is_unreserved(decoded) {
                out.push(char::from(decoded));
            } else {
                out.push('%');
                out.push(char::from(hi.to_ascii_uppercase()));
                out.push(char::from(lo.to_ascii_uppercase()));
            }
        } else if is_unreserved(b) || b"!$&'()*+,;=:@/".contains(&b) {
            out.push(char::from(b));
        } else {
            return None;
        }
    }
    Some(out)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|digit| u8::try_from(digit).ok())
}

/// RFC 3986 §5.2.4 on an absolute path: `.` segments dropped, `..` removing the one before.
fn remove_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." | ".." => {
                if *segment == ".." {
                    kept.pop();
                }
                // A dot segment at the end leaves a directory: `/a/b/..` is `/a/`.
                if i == last {
                    kept.push("");
                }
            }
            other => kept.push(other),
        }
    }
    format!("/{}", kept.join("/"))
}

#[cfg(test)]
mod tests {
    use super::normalize_htu;

    #[test]
    fn equivalent_urls_normalise_alike() {
        for (url, normal) in [
            ("https://api.example.com/invoices", "https://api.example.com/invoices"),
            ("HTTPS://API.Example.COM/invoices", "https://api.example.com/invoices"),
            ("https://api.example.com:443/invoices", "https://api.example.com/invoices"),
            ("http://api.example.com:80/invoices", "http://api.example.com/invoices"),
            ("https://api.example.com:/invoices", "https://api.example.com/invoices"),
            ("http://api.example.com:443/x", "http://api.example.com:443/x"),
            ("https://api.example.com:80/x", "https://api.example.com:80/x"),
            ("https://api.example.com:8443/x", "https://api.example.com:8443/x"),
            ("https://api.example.com", "https://api.example.com/"),
            ("https://api.example.com?q=1", "https://api.example.com/"),
            ("https://api.example.com/a?q=1#f", "https://api.example.com/a"),
            ("https://api.example.com/a#f?q", "https://api.example.com/a"),
            ("https://api.example.com/%7euser/%2f%c3%A9", "https://api.example.com/~user/%2F%C3%A9"),
            ("https://api.example.com/a/./b/../c", "https://api.example.com/a/c"),
            ("https://api.example.com/a/b/..", "https://api.example.com/a/"),
            ("https://api.example.com/../../a", "https://api.example.com/a"),
            ("https://api.example.com/a/", "https://api.example.com/a/"),
            ("https://[::1]:443/a", "https://[::1]/a"),
            ("http://[2001:DB8::1]:8080/a", "http://[2001:db8::1]:8080/a"),
            ("http://127.0.0.1:8081/invoices", "http://127.0.0.1:8081/invoices"),
        ] {
            assert_eq!(normalize_htu(url).as_deref(), Some(normal), "{url}");
        }
        // Case in the path is meaningful.
        assert_ne!(normalize_htu("https://a.example/X"), normalize_htu("https://a.example/x"));
    }

    #[test]
    fn what_is_not_an_absolute_http_url_has_no_normal_form() {
        for url in [
            "",
            "/invoices",
            "api.example.com/invoices",
            "ftp://api.example.com/",
            "https:/api.example.com/",
            "https:///invoices",
            "https://user:pass@api.example.com/",
            "https://api.example.com:x/",
            "https://api.example.com:65536/",
            "https://api.example.com:-1/",
            "https://api.exa mple.com/",
            "https://api.example.com/a b",
            "https://api.example.com/%zz",
            "https://api.example.com/%4",
            "https://api.example.com/é",
            "https://[::1/",
            "https://[]/",
            "https://[::1]x/",
        ] {
            assert_eq!(normalize_htu(url), None, "{url}");
        }
    }
}
