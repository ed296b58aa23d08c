//! Per-request data every resolver reaches through [`request`].

use std::sync::{Arc, OnceLock};

use async_graphql::{Context, ID};
use uuid::Uuid;

use super::batch::Batcher;
use super::loaders::Loaders;
use crate::auth::jwt::JwtKeys;
use crate::auth::{Actor, Source};
use crate::db::held::Hold;
use crate::db::{Db, TenantRead, TenantTx};
use crate::error::{ErrorCode, GqlError, GqlResult, ServiceError};

/// Built by the HTTP layer for each request (or WebSocket connection).
pub struct RequestCtx {
    pub db: Db,
    pub keys: Arc<JwtKeys>,
    /// Empty when no valid credential came with the request; `login` fills it,
    /// so that the payload of a successful login resolves as the new session.
    pub actor: OnceLock<Arc<Actor>>,
    pub request_id: Arc<str>,
    loaders: OnceLock<Loaders>,
    /// Holds loader tasks until the request yields (see `batch`).
    pub batcher: Arc<Batcher>,
    /// The connection an HTTP request's reads share (see `db::held`); none
    /// for a socket's operations, which may live for hours.
    hold: Option<Arc<Hold>>,
}

impl RequestCtx {
    pub fn new(db: Db, keys: Arc<JwtKeys>, actor: Option<Actor>, request_id: Arc<str>) -> Self {
        let cell = OnceLock::new();
        if let Some(actor) = actor {
            let _ = cell.set(Arc::new(actor));
        }
        Self { db, keys, actor: cell, request_id, loaders: OnceLock::new(), batcher: Arc::default(), hold: None }
    }

    /// Runs the request's reads on one held connection (an HTTP request's).
    #[must_use]
    pub fn holding(self, hold: Arc<Hold>) -> Self {
        Self { hold: Some(hold), ..self }
    }

    pub fn actor(&self) -> GqlResult<&Arc<Actor>> {
        self.actor.get().ok_or_else(|| ServiceError::Unauthenticated.into())
    }

    /// Tenant-scoped reads for the caller.
    pub fn read(&self) -> GqlResult<TenantRead> {
        Ok(self.db.read_holding(self.actor()?.clone(), self.hold.as_ref()))
    }

    /// The request's DataLoaders, bound to the caller's tenant.
    pub fn loaders(&self) -> GqlResult<&Loaders> {
        let actor = self.actor()?;
        Ok(self
            .loaders
            .get_or_init(|| Loaders::new(|| self.db.read_holding(actor.clone(), self.hold.as_ref()), &self.batcher)))
    }

    /// A tenant-scoped write transaction for the caller.
    pub async fn begin(&self) -> GqlResult<TenantTx> {
        let actor = self.actor()?.clone();
        self.release_hold().await;
        Ok(self.db.begin(actor, Some(self.request_id.clone())).await?)
    }

    /// A write transaction whose traces say IMPORT (bulk loads from another system).
    pub async fn begin_import(&self) -> GqlResult<TenantTx> {
        let actor = Arc::new(Actor { source: Source::Import, ..(**self.actor()?).clone() });
        self.release_hold().await;
        Ok(self.db.begin(actor, Some(self.request_id.clone())).await?)
    }

    /// A transaction takes a connection of its own: the held one goes back
    /// first, so that no request holds one while it waits for another.
    pub async fn release_hold(&self) {
        if let Some(hold) = &self.hold {
            hold.release().await;
        }
    }
}

pub fn request<'a>(ctx: &Context<'a>) -> GqlResult<&'a RequestCtx> {
    ctx.data::<RequestCtx>().map_err(|_| GqlError::new(ErrorCode::Internal, "internal error"))
}

/// Parses a client-supplied id; a malformed one is a BAD_USER_INPUT on that argument.
pub fn parse_id(field: &str, id: &ID) -> GqlResult<Uuid> {
    Uuid::try_parse(id.as_str()).map_err(|_| ServiceError::invalid(field, "is not a valid id").into())
}
