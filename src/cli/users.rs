//! `jwtd users …`: create users, and look after their sessions and consents, through the
//! operations the admin API uses (so the same rules, the same audit events).

use clap::Subcommand;
use serde_json::json;

use super::CliResult;
use crate::accounts::passwords::PasswordHasher;
use crate::authority::{self, audit::Actor};
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::startup;

/// Ids may start with `-` (base64url): they are taken as values as they stand (`--user=ID`).
#[derive(Debug, Subcommand)]
pub(super) enum UsersCommand {
    /// Create a user; the password is read from standard input (never from the command line).
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// A custom claim for the user's tokens, `name=value`; a value that parses as JSON is
        /// taken as JSON (`roles=["admin"]`). Repeat for several.
        #[arg(long = "claim")]
        claims: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List a user's single sign-on sessions that have not ended: where each began, when it was
    /// last used, and the apps signed in through it.
    Sessions {
        #[arg(long, allow_hyphen_values = true)]
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// End one of a user's sessions (`--session`), or all of them (`--all`): the browser must
    /// sign in again and the refresh tokens of the apps signed in through it stop working.
    EndSession {
        #[arg(long, allow_hyphen_values = true)]
        user: String,
        #[arg(long, allow_hyphen_values = true, required_unless_present = "all", conflicts_with = "all")]
        session: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// List the apps a user allowed, and what each may have.
    Consents {
        #[arg(long, allow_hyphen_values = true)]
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Withdraw what a user allowed an app: it asks again next time, and its refresh tokens of
    /// the user stop working.
    RevokeConsent {
        #[arg(long, allow_hyphen_values = true)]
        user: String,
        #[arg(long, allow_hyphen_values = true)]
        client: String,
    },
}

pub(super) fn run(settings: &Settings, command: UsersCommand) -> CliResult {
    match command {
        UsersCommand::Create { email, password_stdin: _, claims, json } => {
            create_user(settings, &email, &claims, json)
        }
        UsersCommand::Sessions { user, json } => list_sessions(settings, &user, json),
        UsersCommand::EndSession { user, session, all: _ } => {
            end_session(settings, &user, session.as_deref())
        }
        UsersCommand::Consents { user, json } => list_consents(settings, &user, json),
        UsersCommand::RevokeConsent { user, client } => revoke_consent(settings, &user, &client),
    }
}

fn list_sessions(settings: &Settings, user: &str, as_json: bool) -> CliResult {
    let pool = startup::open_pool(settings)?;
    let sessions = authority::users::sessions(&mut *pool.get()?, user, SystemClock.now())?;
    if as_json {
        let list: Vec<_> = sessions.iter().map(|s| s.describe()).collect();
        println!("{}", json!({ "sessions": list }));
        return Ok(());
    }
    println!("{:<24} {:<12} {:<12} {:<16} APPS", "SESSION", "CREATED_AT", "LAST_SEEN", "ADDRESS");
    for s in &sessions {
        let session = &s.session;
        println!(
            "{:<24} {:<12} {:<12} {:<16} {}",
            session.id,
            session.created_at,
            session.last_seen_at,
            s.ip.as_deref().unwrap_or("-"),
            s.clients.join(",")
        );
    }
    Ok(())
}

fn end_session(settings: &Settings, user: &str, session: Option<&str>) -> CliResult {
    let (pool, now) = (startup::open_pool(settings)?, SystemClock.now());
    let conn = &mut *pool.get()?;
    match session {
        Some(session) => {
            let families = authority::users::end_session(conn, &Actor::cli(), user, session, now)?;
            println!("session {session} ended; {families} refresh families revoked");
        }
        None => {
            let (sessions, families) = authority::users::end_all_sessions(conn, &Actor::cli(), user, now)?;
            println!("{sessions} sessions ended; {families} refresh families revoked");
        }
    }
    Ok(())
}

fn list_consents(settings: &Settings, user: &str, as_json: bool) -> CliResult {
    let pool = startup::open_pool(settings)?;
    let consents = authority::consent::list(&mut *pool.get()?, user)?;
    if as_json {
        let list: Vec<_> = consents.iter().map(authority::consent::describe).collect();
        println!("{}", json!({ "consents": list }));
        return Ok(());
    }
    println!("{:<24} {:<24} {:<12} SCOPE", "CLIENT", "NAME", "GRANTED_AT");
    for c in &consents {
        println!("{:<24} {:<24} {:<12} {}", c.client_id, c.client_name, c.granted_at, c.scope);
    }
    Ok(())
}

fn revoke_consent(settings: &Settings, user: &str, client: &str) -> CliResult {
    let (pool, now) = (startup::open_pool(settings)?, SystemClock.now());
    let families = authority::consent::revoke(&mut *pool.get()?, &Actor::cli(), user, client, now)?;
    println!("consent withdrawn; {families} refresh families revoked");
    Ok(())
}

fn create_user(settings: &Settings, email: &str, claim_args: &[String], as_json: bool) -> CliResult {
    let mut claims = serde_json::Map::new();
    for arg in claim_args {
        let (name, value) = arg.split_once('=').ok_or("--claim takes name=value")?;
        let value =
            serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        claims.insert(name.to_owned(), value);
    }
    let email = authority::users::check_new(email, &claims)?;
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']);
    authority::users::check_password(password)?;
    let hash = PasswordHasher::new(&settings.passwords)?.hash_blocking(password)?;
    let (pool, now) = (startup::open_pool(settings)?, SystemClock.now());
    let user = authority::users::create(&mut *pool.get()?, &Actor::cli(), &email, &hash, &claims, now)?;
    if as_json {
        println!("{}", user.describe());
    } else {
        println!("created user {} ({})", user.email, user.id);
    }
    Ok(())
}
