//! Token exchange (RFC 8693) for the `exchange` scenario: a service trades the user tokens sent
//! to it for tokens for the next API, on the users' behalf.
//!
//! Before the clock starts each connection logs its users in through the front end's client
//! (the password grant with `resource` naming the service's API, so each token's `aud` is exactly
//! that API and its `sid` a live refresh family, which every exchange reads in the database) and
//! has one of its tokens exchanged, the answer checked. Measured then: the service's exchanges
//! (`client_secret_basic`), each connection's subject tokens in turn, each for the next API.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::http::{Conn, Target};
use crate::{BoxError, form_encode};

/// RFC 8693 §2.1 and §3.
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// What a subject token must outlive beyond the warm-up and the window: the other connections'
/// logins, which run before the clock starts.
const SETUP_SLACK_SECS: f64 = 60.0;

/// The exchanging service and what it asks for.
pub struct Exchanger {
    /// `&resource=…` of the users' logins: the service's API.
    login_param: String,
    /// `Authorization: Basic …` of the service (RFC 6749 §2.3.1), with its line end.
    authorization: String,
    /// The request's form up to the subject token.
    form_head: String,
    /// How long a subject token must live at login: the warm-up, the window and the setup.
    needed_secs: f64,
}

impl Exchanger {
    /// The service `client_id`/`client_secret` exchanges tokens for `subject_resource` (the API
    /// it serves) for tokens for `resource`, during a run of `run_secs` (warm-up included).
    pub fn new(
        (client_id, client_secret): (&str, &str),
        subject_resource: &str,
        resource: &str,
        run_secs: f64,
    ) -> Result<Self, BoxError> {
        if [client_id, client_secret, subject_resource, resource].iter().any(|v| v.is_empty()) {
            return Err("exchange needs --exchange-client-id, --exchange-client-secret, --subject-resource \
                        and --resource"
                .into());
        }
        let credentials = format!("{}:{}", form_encode(client_id), form_encode(client_secret));
        Ok(Self {
            login_param: format!("&resource={}", form_encode(subject_resource)),
            authorization: format!("Authorization: Basic {}\r\n", STANDARD.encode(credentials)),
            form_head: format!(
                "grant_type={}&subject_token_type={}&resource={}&subject_token=",
                form_encode(GRANT_TYPE),
                form_encode(ACCESS_TOKEN_TYPE),
                form_encode(resource)
            ),
            needed_secs: run_secs + SETUP_SLACK_SECS,
        })
    }

    /// Appended to the password-grant form of the users' logins.
    pub fn login_param(&self) -> &str {
        &self.login_param
    }

    /// One exchange of `subject_token`.
    pub fn request(&self, target: &Target, extra_headers: &str, subject_token: &str) -> Vec<u8> {
        let headers = format!("{extra_headers}{}", self.authorization);
        target.post(&headers, &format!("{}{}", self.form_head, form_encode(subject_token)))
    }

    /// The access token of a user's login answer, refused when it would expire before the run
    /// ends (jwtd's default lifetime is 900 s; a shorter one configured would fail the run's
    /// last exchanges rather than measure them).
    pub fn subject_token_of(&self, body: &[u8]) -> Result<String, BoxError> {
        let value: serde_json::Value = serde_json::from_slice(body)?;
        let token = value.get("access_token").and_then(serde_json::Value::as_str);
        let lives = value.get("expires_in").and_then(serde_json::Value::as_f64);
        match (token, lives) {
            (Some(token), Some(lives)) if lives >= self.needed_secs => Ok(token.to_owned()),
            (Some(_), Some(lives)) => Err(format!(
                "subject tokens live {lives} s, less than the run needs ({} s): obtain fresh ones or \
                 shorten the run",
                self.needed_secs
            )
            .into()),
            _ => Err("a login answer without access_token or expires_in".into()),
        }
    }

    /// Exchanges `subject_token` once, unmeasured, and checks the answer is the one RFC 8693
    /// §2.2.1 describes: a Bearer access token, its type named, with its lifetime. The measured
    /// turns count statuses only, so a 200 of another shape is caught here.
    pub async fn check(
        &self,
        (target, extra_headers): (&Target, &str),
        conn: &mut Conn,
        subject_token: &str,
    ) -> Result<(), BoxError> {
        let response = conn.send(&self.request(target, extra_headers, subject_token), true).await?;
        let body = String::from_utf8_lossy(&response.body);
        if response.status != 200 {
            return Err(format!("the first exchange answered {}: {body}", response.status).into());
        }
        let value: serde_json::Value = serde_json::from_slice(&response.body)?;
        let text = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
        let shaped = text("access_token").is_some_and(|t| !t.is_empty())
            && text("issued_token_type") == Some(ACCESS_TOKEN_TYPE)
            && text("token_type") == Some("Bearer")
            && value.get("expires_in").and_then(serde_json::Value::as_i64).is_some_and(|s| s > 0);
        if !shaped {
            return Err(
                format!("the first exchange's answer is not a token-exchange response: {body}").into()
            );
        }
        Ok(())
    }
}
