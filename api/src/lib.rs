//! The CRM API server: one GraphQL API shared by many tenants.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod graphql;
pub mod http;
pub mod kept;
mod reports;
pub mod service;

use std::sync::Arc;

use axum::Router;

use crate::auth::jwt::JwtKeys;
use crate::config::{Config, Limits};
use crate::db::Db;
use crate::graphql::CrmSchema;
use crate::graphql::answers::Answers;
use crate::graphql::documents::Documents;

pub use crate::graphql::schema_builder;

/// Everything a request needs, built once at start-up.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    db: Db,
    schema: CrmSchema,
    keys: Arc<JwtKeys>,
    limits: Limits,
    documents: Arc<Documents>,
    answers: Answers,
}

impl AppState {
    /// Starts hearing other server processes' commits (see `db::events`):
    /// call inside the runtime.
    pub fn new(db: Db, config: &Config) -> Self {
        db.events().hear();
        Self(Arc::new(Inner {
            db,
            schema: schema_builder().finish(),
            keys: Arc::new(JwtKeys::new(config)),
            limits: config.limits.clone(),
            documents: Arc::new(Documents::new(config.limits.clone())),
            answers: Answers::default(),
        }))
    }

    pub fn db(&self) -> &Db {
        &self.0.db
    }

    pub fn schema(&self) -> &CrmSchema {
        &self.0.schema
    }

    pub fn keys(&self) -> &JwtKeys {
        &self.0.keys
    }

    pub fn keys_arc(&self) -> Arc<JwtKeys> {
        self.0.keys.clone()
    }

    pub fn limits(&self) -> &Limits {
        &self.0.limits
    }

    pub fn documents(&self) -> &Arc<Documents> {
        &self.0.documents
    }

    pub fn answers(&self) -> &Answers {
        &self.0.answers
    }
}

/// The HTTP application.
pub fn app(state: AppState) -> Router {
    http::router(state)
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn schema_sdl() -> String {
    schema_builder().finish().sdl()
}
