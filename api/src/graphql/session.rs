//! What each operation gets before it runs: its actor and its document.
//!
//! WebSocket connections authenticate each operation anew. A socket may stay
//! open for hours. Its `connection_init` credential is kept,
//! not the actor it resolved to: every operation resolves it again, with the
//! same check as an HTTP request, so a removed user, a revoked token, a changed
//! profile or a narrowed rule applies to the next operation on an open socket
//! too. Each operation also gets its own request data (loaders included), so
//! nothing read for one operation is served to the next.
//!
//! Documents are checked (see `documents`) over HTTP before the request is
//! built, and on a socket here, before the operation runs.

use std::any::TypeId;
use std::sync::Arc;

use async_graphql::extensions::ExtensionContext;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerResult};
use uuid::Uuid;

use super::context::RequestCtx;
use super::documents::{Documents, Prepared};
use crate::auth::jwt::JwtKeys;
use crate::db::Db;
use crate::error::{ErrorCode, GqlError};
use crate::service;

/// What a WebSocket connection keeps: its credential and where to check it.
pub struct SocketSession {
    pub credential: String,
    pub db: Db,
    pub keys: Arc<JwtKeys>,
    pub documents: Arc<Documents>,
}

/// On a socket, resolves the connection's credential for this operation and
/// gives the operation its own request data; elsewhere leaves it as it is.
pub async fn authenticate(ctx: &ExtensionContext<'_>, mut request: Request) -> ServerResult<Request> {
    if let Some(session) = ctx.data_opt::<SocketSession>() {
        let actor =
            service::auth::authenticate(&session.db, &session.keys, &session.credential).await.map_err(|_| {
                GqlError::new(ErrorCode::Unauthenticated, "the connection's credential is no longer valid")
                    .into_server_error()
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

/// The request's document, checked (see `documents`): the one HTTP prepared,
/// or on a socket, prepared now (and kept: the socket's credential was just
/// checked) and set on the request for the executor.
pub fn prepare(ctx: &ExtensionContext<'_>, request: &mut Request) -> ServerResult<Option<Arc<ExecutableDocument>>> {
    if let Some(Prepared(document)) = request.data.get(&TypeId::of::<Prepared>()).and_then(|d| d.downcast_ref()) {
        return Ok(Some(document.clone()));
    }
    // Neither is the schema run without HTTP or a socket, as no path of the
    // server runs it: the executor then parses and reports on its own.
    let Some(session) = ctx.data_opt::<SocketSession>() else { return Ok(None) };
    let document = session
        .documents
        .prepare(&request.query)
        .map_err(|refused| GqlError::new(ErrorCode::BadUserInput, refused.message()).into_server_error())?;
    let ctx = request.data.get(&TypeId::of::<RequestCtx>()).and_then(|d| d.downcast_ref::<RequestCtx>());
    if let Some(actor) = ctx.and_then(|ctx| ctx.actor.get()) {
        session.documents.keep(&request.query, &document, actor.tenant_id);
    }
    request.set_parsed_query(ExecutableDocument::clone(&document));
    Ok(Some(document))
}
