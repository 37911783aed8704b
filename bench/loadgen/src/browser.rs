//! A browser's side of signing in, for the `code-flow` and `sign-in` scenarios.
//!
//! Each connection is one browser with its own PKCE verifier. Before the clock starts it opens
//! jwtd's sign-in page once (`GET /oauth2/authorize` without a session: the page sets the CSRF
//! cookie and carries the form's hidden `csrf_token` and `auth_request`), and for `code-flow`
//! posts the form once to get its single sign-on session cookie. Measured then:
//!
//! - `code-flow`: `GET /oauth2/authorize` with the session cookie → 303 to the redirect URI with
//!   a code (never visited: only `Location` is read) → `POST /oauth2/token` redeems the code with
//!   the verifier → 200 with an access token and an ID token. One cycle, two requests.
//! - `sign-in`: `POST /login` with the CSRF pair and a user's password → 303 with a code (and a
//!   new session, whose cookie is not sent back).

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::http::{Conn, Response, Target};
use crate::tally::Turn;
use crate::{BoxError, form_encode};

/// jwtd's cookie names (`src/http/authorize.rs`).
const SESSION_COOKIE: &str = "__Host-jwtd_session";
const CSRF_COOKIE: &str = "__Host-jwtd_csrf";

/// The endpoints and the client of a run.
pub struct Flow {
    /// `/oauth2/authorize`, the URL the load generator was given.
    authorize: Target,
    login: Target,
    token: Target,
    client_id: String,
    /// `client_id=…&client_secret=…` (client_secret_post).
    client: String,
    redirect_uri: String,
    scope: String,
}

/// One connection's browser.
pub struct Browser {
    verifier: String,
    challenge: String,
    /// `Cookie: __Host-jwtd_csrf=…` and CRLF, sent with the sign-in form.
    csrf_cookie: String,
    /// The form's hidden fields, form-encoded: `csrf_token=…&auth_request=…`.
    form: String,
    /// `GET /oauth2/authorize` with the session cookie, once signed in.
    authorize: Vec<u8>,
}

impl Flow {
    /// The authorization endpoint at `authorize`; `/login` and `/oauth2/token` on the same server.
    pub fn new(authorize: Target, client_id: &str, client: String, redirect_uri: &str, scope: &str) -> Self {
        Self {
            login: authorize.at("/login"),
            token: authorize.at("/oauth2/token"),
            authorize,
            client_id: client_id.to_owned(),
            client,
            redirect_uri: redirect_uri.to_owned(),
            scope: scope.to_owned(),
        }
    }

    /// The authorization request with this browser's PKCE challenge, with `cookie` (a whole
    /// header line, or nothing).
    fn authorize_request(&self, challenge: &str, cookie: &str) -> Vec<u8> {
        let query = format!(
            "response_type=code&client_id={}&redirect_uri={}&scope={}&state=bench-state&code_challenge={challenge}\
             &code_challenge_method=S256",
            form_encode(&self.client_id),
            form_encode(&self.redirect_uri),
            form_encode(&self.scope)
        );
        self.authorize.with_query(&query).get(cookie)
    }

    /// `POST /login` as `email`.
    fn sign_in_request(&self, browser: &Browser, email: &str, password: &str) -> Vec<u8> {
        let body =
            format!("{}&username={}&password={}", browser.form, form_encode(email), form_encode(password));
        self.login.post(&browser.csrf_cookie, &body)
    }

    /// The code in a 303 back to the client (still form-encoded, as it goes into the token
    /// request's form); none for anything else, an error redirect included.
    fn code_of<'a>(&self, response: &'a Response) -> Option<&'a str> {
        if response.status != 303 {
            return None;
        }
        let query =
            response.location.as_deref()?.strip_prefix(self.redirect_uri.as_str())?.strip_prefix('?')?;
        query.split('&').find_map(|pair| pair.strip_prefix("code=")).filter(|code| !code.is_empty())
    }

    /// Whether a sign-in answered as a successful one does: 303 back to the client with a code.
    fn signed_in(&self, response: &Response) -> bool {
        self.code_of(response).is_some()
    }
}

/// Opens the sign-in page as browser `index` of the run, which has no session yet (unmeasured).
pub async fn open(flow: &Flow, conn: &mut Conn, index: usize) -> Result<Browser, BoxError> {
    // 43 to 128 unreserved characters (RFC 7636 §4.1); one per connection, fixed for the run.
    let verifier = format!("jwtd-bench-pkce-verifier-{index:08}-0123456789abcdef");
    let challenge = s256(&verifier);
    let page = conn.send(&flow.authorize_request(&challenge, ""), true).await?;
    if page.status != 200 {
        return Err(format!(
            "the authorization request without a session answered {}, not the sign-in page",
            page.status
        )
        .into());
    }
    let csrf = page
        .cookies
        .iter()
        .find_map(|c| c.strip_prefix(CSRF_COOKIE).and_then(|rest| rest.strip_prefix('=')))
        .ok_or("the sign-in page set no CSRF cookie")?;
    let html = std::str::from_utf8(&page.body)?;
    let form = format!(
        "csrf_token={}&auth_request={}",
        form_encode(&hidden_input(html, "csrf_token")?),
        form_encode(&hidden_input(html, "auth_request")?)
    );
    Ok(Browser {
        verifier,
        challenge,
        csrf_cookie: format!("Cookie: {CSRF_COOKIE}={csrf}\r\n"),
        form,
        authorize: Vec::new(),
    })
}

/// The PKCE challenge of `verifier`: base64url(SHA-256), unpadded (RFC 7636 §4.2).
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// Signs the browser in as `email` (unmeasured): its session cookie goes with every later
/// authorization request.
pub async fn sign_in(
    flow: &Flow,
    conn: &mut Conn,
    browser: &mut Browser,
    email: &str,
    password: &str,
) -> Result<(), BoxError> {
    let response = conn.send(&flow.sign_in_request(browser, email, password), false).await?;
    if !flow.signed_in(&response) {
        return Err(format!(
            "signing in as {email} answered {}, not a redirect with a code",
            response.status
        )
        .into());
    }
    let session = response
        .cookies
        .iter()
        .find(|c| c.strip_prefix(SESSION_COOKIE).is_some_and(|rest| rest.starts_with('=')))
        .ok_or("signing in set no session cookie")?;
    browser.authorize = flow.authorize_request(&browser.challenge, &format!("Cookie: {session}\r\n"));
    Ok(())
}

/// One cycle of the code flow with the browser's live session: a code, redeemed.
pub async fn code_flow(flow: &Flow, conn: &mut Conn, browser: &Browser) -> Result<Turn, BoxError> {
    let redirect = conn.send(&browser.authorize, false).await?;
    let Some(code) = flow.code_of(&redirect) else {
        return Ok(Turn { statuses: [Some(redirect.status), None], ok: false });
    };
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={}&{}",
        form_encode(&flow.redirect_uri),
        browser.verifier,
        flow.client
    );
    let tokens = conn.send(&flow.token.post("", &body), true).await?;
    let ok = tokens.status == 200 && has_id_token(&tokens.body);
    Ok(Turn { statuses: [Some(redirect.status), Some(tokens.status)], ok })
}

/// One sign-in form posted as `email`: a success is the redirect back with a code.
pub async fn sign_in_turn(
    flow: &Flow,
    conn: &mut Conn,
    browser: &Browser,
    email: &str,
    password: &str,
) -> Result<Turn, BoxError> {
    let response = conn.send(&flow.sign_in_request(browser, email, password), false).await?;
    Ok(Turn { statuses: [Some(response.status), None], ok: flow.signed_in(&response) })
}

/// A token response with both an access token and an ID token.
fn has_id_token(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|value| {
        ["access_token", "id_token"]
            .iter()
            .all(|name| value.get(name).is_some_and(serde_json::Value::is_string))
    })
}

/// The value of the hidden input `name` in jwtd's sign-in page, unescaped.
fn hidden_input(html: &str, name: &str) -> Result<String, BoxError> {
    let marker = format!("name=\"{name}\" value=\"");
    let start =
        html.find(&marker).ok_or_else(|| format!("the sign-in page has no {name} field"))? + marker.len();
    let rest = html.get(start..).unwrap_or_default();
    let end = rest.find('"').ok_or_else(|| format!("the sign-in page's {name} field is not closed"))?;
    Ok(unescape(rest.get(..end).unwrap_or_default()))
}

/// HTML character references as a template engine writes them in an attribute (askama: `&#38;`,
/// `&#34;`, …; the named five too).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let tail = rest.get(at..).unwrap_or_default();
        let decoded = tail.find(';').and_then(|end| {
            let entity = tail.get(1..end)?;
            let c = match entity {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let number = entity.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = tail.get(len..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = tail.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_hidden_fields_are_read_unescaped() {
        let html = r#"<form method="post" action="/login" novalidate>
<input type="hidden" name="csrf_token" value="abc-_123">
<input type="hidden" name="auth_request" value="response_type=code&#38;client_id=x&#38;state=a&#34;b&amp;c">"#;
        assert_eq!(hidden_input(html, "csrf_token").unwrap(), "abc-_123");
        assert_eq!(
            hidden_input(html, "auth_request").unwrap(),
            "response_type=code&client_id=x&state=a\"b&c"
        );
        assert!(hidden_input(html, "username").is_err());
        assert_eq!(unescape("a & b &#x27;c&#39; &bogus; &"), "a & b 'c' &bogus; &");
    }

    #[test]
    fn the_code_is_read_from_a_redirect_back_to_the_client_only() {
        let target = Target::parse("http://127.0.0.1:1/oauth2/authorize").unwrap();
        let flow = Flow::new(target, "id", String::new(), "https://app.example/cb", "openid");
        let redirect = |status, location: &str| Response {
            status,
            body: Vec::new(),
            location: Some(location.to_owned()),
            cookies: Vec::new(),
        };
        let good = redirect(303, "https://app.example/cb?code=c%2Bd&state=bench-state&iss=http%3A%2F%2Fx");
        assert_eq!(flow.code_of(&good), Some("c%2Bd"));
        assert_eq!(flow.code_of(&redirect(303, "https://app.example/cb?error=access_denied&state=s")), None);
        assert_eq!(flow.code_of(&redirect(303, "https://evil.example/cb?code=x")), None);
        assert_eq!(flow.code_of(&redirect(302, "https://app.example/cb?code=x")), None);
    }

    #[test]
    fn the_challenge_is_the_verifiers_s256() {
        // RFC 7636 appendix B.
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
