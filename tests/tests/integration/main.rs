//! The integration suite: one binary, every test on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::print_stderr, reason = "tests fail loudly")]

mod accounts;
mod auth;
mod hostile;
mod schema;
mod tenancy;
mod trace;
mod ws;
