//! Who may ask for tokens: clients (and, later, users).

pub mod clients;
