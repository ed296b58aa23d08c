//! WebSocket connections authenticate each operation anew.
//!
//! A socket may stay open for hours. Its `connection_init` credential is kept,
//! not the actor it resolved to: every operation resolves it again, with the
//! same check as an HTTP request, so a removed user, a revoked token, a changed
//! profile or a narrowed rule applies to the next operation on an open socket
//! too. Each operation also gets its own request data (loaders included), so
//! nothing read for one operation is served to the next.

use std::any::TypeId;
use std::sync::Arc;

use async_graphql::extensions::ExtensionContext;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ErrorExtensionValues, Request, ServerError, ServerResult};
use uuid::Uuid;

use super::context::RequestCtx;
use super::documents::{Documents, Prepared};
use crate::auth::jwt::JwtKeys;
use crate::db::Db;
use crate::error::ErrorCode;
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
        let actor = service::auth::authenticate(&session.db, &session.keys, &session.credential)
            .await
            .map_err(|_| coded(ErrorCode::Unauthenticated, "the connection's credential is no longer valid".into()))?;
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
/// or on a socket, prepared now and set on the request for the executor.
pub fn prepare(ctx: &ExtensionContext<'_>, request: &mut Request) -> ServerResult<Option<Arc<ExecutableDocument>>> {
    if let Some(Prepared(document)) = request.data.get(&TypeId::of::<Prepared>()).and_then(|d| d.downcast_ref()) {
        return Ok(Some(document.clone()));
    }
    let Some(session) = ctx.data_opt::<SocketSession>() else {
        // Neither (a schema executed directly): the executor parses it.
        return Ok(request.parsed_query().ok().map(|document| Arc::new(document.clone())));
    };
    let document = session
        .documents
        .prepare(&request.query)
        .map_err(|refused| coded(ErrorCode::BadUserInput, refused.message()))?;
    request.set_parsed_query(ExecutableDocument::clone(&document));
    Ok(Some(document))
}

fn coded(code: ErrorCode, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    error.extensions = Some(extensions);
    error
}
