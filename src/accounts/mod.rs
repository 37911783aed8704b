//! Who may ask for tokens: clients (and, later, users).

pub mod clients;
pub mod consent;
pub mod passwords;
pub mod sessions;
pub mod throttle;
pub mod users;
