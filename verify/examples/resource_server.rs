//! A resource server that accepts jwtd access tokens on one endpoint.
//!
//! ```sh
//! JWTD_ISSUER=http://127.0.0.1:8080 JWTD_AUDIENCE=https://api.example.com ADDR=127.0.0.1:8081 \
//!     cargo run -p jwtd-verify --example resource_server
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:8081/invoices
//! ```
//!
//! `JWTD_URL` (default: the issuer) is where jwtd is reached for its JWKS and revocation feed,
//! when that differs from the public issuer URL tokens carry (e.g. inside docker compose).
//!
//! DPoP-bound tokens (RFC 9449) come as `Authorization: DPoP $ACCESS_TOKEN` with a `DPoP: $PROOF`
//! header whose `htu` is `PUBLIC_ORIGIN` + `/invoices`. `PUBLIC_ORIGIN` (default:
//! `http://$ADDR`) is the URL clients call this server by, e.g. `https://api.example.com` behind
//! a proxy; it is never taken from the request's `Host` header.

use actix_web::{App, HttpResponse, HttpServer, web};
use jwtd_verify::{Authenticated, BearerError, JwksCache, RevocationFeed, Verifier};

async fn invoices(auth: Authenticated) -> Result<HttpResponse, BearerError> {
    auth.require_scope("invoices:read")?;
    // `sub` is the user; `client_id` the service calling; `actors` the services that acted on
    // the user's behalf through token exchange, most recent first (empty for a direct call).
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "sub": auth.sub,
        "client_id": auth.client_id,
        "actors": auth.actors().collect::<Vec<_>>(),
        // Whether the token is bound to the caller's key (and came with a proof of it).
        "dpop": auth.is_dpop(),
        "invoices": [],
    })))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let issuer = env("JWTD_ISSUER", "http://127.0.0.1:8080");
    let audience = env("JWTD_AUDIENCE", "https://api.example.com");
    let addr = env("ADDR", "127.0.0.1:8081");
    let public_origin = env("PUBLIC_ORIGIN", &format!("http://{addr}"));

    let url = env("JWTD_URL", &issuer);
    let keys = JwksCache::from_url(&format!("{url}/.well-known/jwks.json"))
        .build()
        .map_err(std::io::Error::other)?;
    if let Err(error) = keys.refresh().await {
        eprintln!("jwtd at {issuer} is not reachable yet ({error}); the first request will retry");
    }
    let _refresher = keys.spawn_refresh_task();
    // Tokens of revoked sessions (logout, refresh-token reuse) are refused within seconds.
    let revocations = RevocationFeed::from_url(&format!("{url}/revocations"), &issuer, keys.clone())
        .build()
        .map_err(std::io::Error::other)?;
    let _poller = revocations.spawn_refresh_task();
    let verifier = web::Data::new(
        Verifier::builder(keys, issuer, audience)
            .revocations(revocations)
            .public_origin(&public_origin)
            .build(),
    );

    HttpServer::new(move || App::new().app_data(verifier.clone()).route("/invoices", web::get().to(invoices)))
        .bind(addr)?
        .run()
        .await
}
