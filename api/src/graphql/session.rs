//! WebSocket connections authenticate each operation anew.
//!
//! A socket may stay open for hours. Its `connection_init` credential is kept,
//! not the actor it resolved to: every operation resolves it again, with the
//! same check as an HTTP request, so a removed user, a revoked token, a changed
//! profile or a narrowed rule applies to the next operation on an open socket
//! too. Each operation also gets its own request data (loaders included), so
//! nothing read for one operation is served to the next.

use std::sync::Arc;

use async_graphql::extensions::ExtensionContext;
use async_graphql::{ErrorExtensionValues, Request, ServerError, ServerResult};
use uuid::Uuid;

use super::context::RequestCtx;
use crate::auth::jwt::JwtKeys;
use crate::db::Db;
use crate::error::ErrorCode;
use crate::service;

/// What a WebSocket connection keeps: its credential and where to check it.
pub struct SocketSession {
    pub credential: String,
    pub db: Db,
    pub keys: Arc<JwtKeys>,
}

/// On a socket, resolves the connection's credential for this operation and
/// gives the operation its own request data; elsewhere leaves it as it is.
pub async fn authenticate(ctx: &ExtensionContext<'_>, mut request: Request) -> ServerResult<Request> {
    if let Some(session) = ctx.data_opt::<SocketSession>() {
        let actor =
            service::auth::authenticate(&session.db, &session.keys, &session.credential).await.map_err(|_| {
                let mut error = ServerError::new("the connection's credential is no longer valid", None);
                let mut extensions = ErrorExtensionValues::default();
                extensions.set("code", ErrorCode::Unauthenticated.as_str());
                error.extensions = Some(extensions);
                error
            })?;
        request.data.insert(RequestCtx::new(
            session.db.clone(),
            session.keys.clone(),
            Some(actor),
            Uuid::now_v7().to_string().into(),
        ));
    }
    Ok(request)
}
