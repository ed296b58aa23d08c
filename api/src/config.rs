//! One typed configuration, read from flags and environment, passed down (no globals).

use std::time::Duration;

/// Runtime settings of the server.
#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub jwt_secret: Vec<u8>,
    /// `iss` and `aud` claims of the tokens we issue and accept.
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub token_ttl: Duration,
    pub limits: Limits,
}

/// Guards applied to every request before execution.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest accepted HTTP body, in bytes.
    pub max_body_bytes: usize,
    /// Largest accepted GraphQL document, in bytes.
    pub max_document_bytes: usize,
    pub max_depth: usize,
    pub max_aliases: usize,
    /// Field selections after expanding fragments (each fragment counted where spread).
    pub max_selections: usize,
    /// How long a WebSocket may stay open without `connection_init`.
    pub ws_init_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 2 * 1024 * 1024,
            max_document_bytes: 64 * 1024,
            max_depth: 16,
            max_aliases: 50,
            max_selections: 2_000,
            ws_init_timeout: Duration::from_secs(5),
        }
    }
}

/// Default database: an embedded SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://crm.db?mode=rwc";

impl Config {
    pub fn new(database_url: impl Into<String>, jwt_secret: impl Into<Vec<u8>>) -> Self {
        Self {
            database_url: database_url.into(),
            jwt_secret: jwt_secret.into(),
            jwt_issuer: "crm-api".into(),
            jwt_audience: "crm".into(),
            token_ttl: Duration::from_secs(12 * 3600),
            limits: Limits::default(),
        }
    }
}
