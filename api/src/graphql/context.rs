//! Per-request data every resolver reaches through [`request`].

use std::future::Future;
use std::sync::{Arc, OnceLock};

use async_graphql::{Context, ID};
use uuid::Uuid;

use super::batch::Batcher;
use super::loaders::Loaders;
use crate::auth::jwt::JwtKeys;
use crate::auth::{Actor, Source};
use crate::db::held::Hold;
use crate::db::{Db, TenantRead, TenantTx};
use crate::error::{ErrorCode, GqlError, GqlResult, ServiceError, ServiceResult};

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

    /// Runs `work` in a tenant-scoped write transaction for the caller and
    /// commits it when `work` succeeds (an error rolls it back). The work
    /// runs where transactions run (see `Db::write`), so it owns what it
    /// uses: a resolver moves its arguments in.
    pub async fn write<T, F, Fut>(&self, work: F) -> GqlResult<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<TenantTx>) -> Fut + Send + 'static,
        Fut: Future<Output = ServiceResult<T>> + Send + 'static,
    {
        let actor = self.actor()?.clone();
        self.transact(actor, |tx| async move {
            let tx = Arc::new(tx);
            let out = work(tx.clone()).await?;
            // The work's own handle went with its future.
            let tx = Arc::into_inner(tx)
                .ok_or_else(|| ServiceError::Internal("a write kept its transaction past its end".into()))?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    /// Runs a bulk load in a write transaction whose traces say IMPORT;
    /// `work` owns the transaction and commits what it keeps.
    pub async fn import<T, F, Fut>(&self, work: F) -> GqlResult<T>
    where
        T: Send + 'static,
        F: FnOnce(TenantTx) -> Fut + Send + 'static,
        Fut: Future<Output = ServiceResult<T>> + Send + 'static,
    {
        let actor = Arc::new(Actor { source: Source::Import, ..(**self.actor()?).clone() });
        self.transact(actor, work).await
    }

    async fn transact<T, F, Fut>(&self, actor: Arc<Actor>, work: F) -> GqlResult<T>
    where
        T: Send + 'static,
        F: FnOnce(TenantTx) -> Fut + Send + 'static,
        Fut: Future<Output = ServiceResult<T>> + Send + 'static,
    {
        self.release_hold().await;
        Ok(self.db.write(actor, Some(self.request_id.clone()), work).await?)
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
