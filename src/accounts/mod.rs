//! Who may ask for tokens: clients (and, later, users).

pub mod clients;
pub mod passwords;
pub mod throttle;
pub mod users;
