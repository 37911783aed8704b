//! Who may ask for tokens: clients (and, later, users).

pub mod bootstrap;
pub mod clients;
