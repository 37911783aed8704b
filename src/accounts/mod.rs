//! Who may ask for tokens: clients (and, later, users).

pub mod bootstrap;
pub mod clients;
pub mod passwords;
pub mod throttle;
pub mod users;
