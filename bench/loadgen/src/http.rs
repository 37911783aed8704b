//! Just enough HTTP/1.1 for a benchmark client: prebuilt request bytes, one request in flight
//! per keep-alive connection, responses framed by `Content-Length` or chunked encoding. Of the
//! response headers only `Location` and `Set-Cookie` are kept (the browser scenarios follow a
//! redirect by reading it, and carry cookies).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::BoxError;

/// Largest response accepted (a JWKS or a token response is a few KiB).
const MAX_RESPONSE: usize = 1 << 20;
const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    host: String,
    path: String,
}

impl Target {
    /// `http://IP:PORT/path`: a benchmark targets loopback, so no name resolution.
    pub fn parse(url: &str) -> Result<Self, BoxError> {
        let rest = url.strip_prefix("http://").ok_or("the URL must start with http://")?;
        let (host, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        let addr: SocketAddr = host.parse().map_err(|_| format!("{host}: need IP:PORT"))?;
        Ok(Self { addr, host: host.to_owned(), path: path.to_owned() })
    }

    /// The same server at another path.
    pub fn at(&self, path: &str) -> Self {
        Self { addr: self.addr, host: self.host.clone(), path: path.to_owned() }
    }

    /// The same path with `query` (already encoded).
    pub fn with_query(&self, query: &str) -> Self {
        self.at(&format!("{}?{query}", self.path))
    }

    pub fn get(&self, extra_headers: &str) -> Vec<u8> {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: jwtd-loadgen\r\n{extra_headers}\r\n",
            self.path, self.host
        )
        .into_bytes()
    }

    pub fn post(&self, extra_headers: &str, form: &str) -> Vec<u8> {
        format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: jwtd-loadgen\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{extra_headers}\r\n{form}",
            self.path,
            self.host,
            form.len()
        )
        .into_bytes()
    }
}

pub struct Response {
    pub status: u16,
    /// Filled only when the caller asked for it.
    pub body: Vec<u8>,
    /// The `Location` header, when there is one.
    pub location: Option<String>,
    /// Each `Set-Cookie` header's `name=value` (its attributes left off).
    pub cookies: Vec<String>,
}

/// A keep-alive connection, (re)opened on demand.
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, stream: None, buf: Vec::with_capacity(16 * 1024) }
    }

    /// Sends one request and reads its response. On any error the connection is dropped, and
    /// the next call opens a new one.
    pub async fn send(&mut self, request: &[u8], want_body: bool) -> Result<Response, BoxError> {
        let result = self.exchange(request, want_body).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self, request: &[u8], want_body: bool) -> Result<Response, BoxError> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().ok_or("no connection")?;
        stream.write_all(request).await?;
        self.buf.clear();
        let head = loop {
            if let Some(head) = parse_head(&self.buf)? {
                break head;
            }
            read_more(stream, &mut self.buf).await?;
        };
        let mut body = Vec::new();
        match head.framing {
            Framing::Empty => {}
            Framing::Length(length) => {
                let total = head.len.checked_add(length).ok_or("response too large")?;
                while self.buf.len() < total {
                    read_more(stream, &mut self.buf).await?;
                }
                if want_body {
                    body.extend_from_slice(self.buf.get(head.len..total).ok_or("short body")?);
                }
            }
            Framing::Chunked => {
                let mut at = head.len;
                loop {
                    let line_end = loop {
                        if let Some(i) = find_crlf(self.buf.get(at..).unwrap_or_default()) {
                            break at + i;
                        }
                        read_more(stream, &mut self.buf).await?;
                    };
                    let size_text = std::str::from_utf8(self.buf.get(at..line_end).ok_or("chunk")?)?;
                    let size_text = size_text.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(size_text, 16)?;
                    let data_start = line_end + 2;
                    // A chunk's data and its CRLF; the last chunk is just the final CRLF
                    // (trailers are not expected from these servers).
                    let data_end = data_start.checked_add(size).ok_or("chunk too large")?;
                    while self.buf.len() < data_end + 2 {
                        read_more(stream, &mut self.buf).await?;
                    }
                    if size == 0 {
                        break;
                    }
                    if want_body {
                        body.extend_from_slice(self.buf.get(data_start..data_end).ok_or("chunk")?);
                    }
                    at = data_end + 2;
                }
            }
        }
        if head.close {
            self.stream = None;
        }
        Ok(Response { status: head.status, body, location: head.location, cookies: head.cookies })
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), BoxError> {
    if buf.len() >= MAX_RESPONSE {
        return Err("response too large".into());
    }
    buf.reserve(8 * 1024);
    if stream.read_buf(buf).await? == 0 {
        return Err("connection closed by the server".into());
    }
    Ok(())
}

enum Framing {
    Empty,
    Length(usize),
    Chunked,
}

struct Head {
    status: u16,
    /// Bytes of the status line and headers.
    len: usize,
    framing: Framing,
    close: bool,
    location: Option<String>,
    cookies: Vec<String>,
}

fn parse_head(buf: &[u8]) -> Result<Option<Head>, BoxError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let status = response.code.ok_or("no status")?;
    let bodiless = status == 204 || status == 304 || status < 200;
    let mut framing = if bodiless { Framing::Empty } else { Framing::Length(0) };
    let mut close = response.version == Some(0);
    let mut location = None;
    let mut cookies = Vec::new();
    for header in response.headers.iter() {
        if bodiless {
            // No body whatever the headers say; only `Connection` matters.
        } else if header.name.eq_ignore_ascii_case("content-length") {
            framing = Framing::Length(std::str::from_utf8(header.value)?.trim().parse()?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding")
            && header.value.eq_ignore_ascii_case(b"chunked")
        {
            framing = Framing::Chunked;
        }
        if header.name.eq_ignore_ascii_case("connection") {
            close = header.value.eq_ignore_ascii_case(b"close");
        } else if header.name.eq_ignore_ascii_case("location") {
            location = Some(std::str::from_utf8(header.value)?.to_owned());
        } else if header.name.eq_ignore_ascii_case("set-cookie") {
            let cookie = std::str::from_utf8(header.value)?;
            cookies.push(cookie.split(';').next().unwrap_or_default().trim().to_owned());
        }
    }
    Ok(Some(Head { status, len, framing, close, location, cookies }))
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_framed() {
        let head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").unwrap().unwrap();
        assert!(matches!(head.framing, Framing::Length(5)));
        assert_eq!(head.len, 38);
        let head = parse_head(b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n").unwrap().unwrap();
        assert!(matches!(head.framing, Framing::Empty));
        let head = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap().unwrap();
        assert!(matches!(head.framing, Framing::Chunked));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-").unwrap().is_none());
    }

    #[test]
    fn a_redirect_keeps_its_location_and_cookies() {
        let head = parse_head(
            b"HTTP/1.1 303 See Other\r\nLocation: https://app.example/cb?code=abc&state=s\r\n\
              Set-Cookie: __Host-jwtd_session=xyz; Path=/; Secure; HttpOnly\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.status, 303);
        assert_eq!(head.location.as_deref(), Some("https://app.example/cb?code=abc&state=s"));
        assert_eq!(head.cookies, ["__Host-jwtd_session=xyz"]);
    }
}
