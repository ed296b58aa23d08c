//! Field visibility, enforced where every selected field passes: the executor.
//!
//! A field of a core record type that the caller's profile hides resolves to
//! `null`, and the response carries a FORBIDDEN error on that path; the rest of
//! the response is untouched. Because the check runs per resolved field, an
//! alias, a fragment or a nested selection reaches the same check. Filters,
//! orderings, writes and trace views are checked in the services.

use std::sync::Mutex;

use async_graphql::extensions::{ExtensionContext, NextResolve, ResolveInfo};
use async_graphql::{ErrorExtensionValues, PathSegment, QueryPathSegment, Response, ServerError, ServerResult, Value};

use super::context::RequestCtx;
use crate::auth::Actor;
use crate::error::ErrorCode;
use crate::service::catalog;

/// One per request: the errors of the fields it turned into nulls (hidden or
/// failed), reported with the response.
#[derive(Default)]
pub struct Hidden(Mutex<Vec<ServerError>>);

fn hidden_error(info: &ResolveInfo<'_>) -> ServerError {
    let mut path: Vec<PathSegment> = std::iter::once(info.path_node)
        .chain(info.path_node.parents())
        .map(|node| match node.segment {
            QueryPathSegment::Index(i) => PathSegment::Index(i),
            QueryPathSegment::Name(name) => PathSegment::Field(name.to_owned()),
        })
        .collect();
    path.reverse();
    let mut error = ServerError::new(
        format!("{}.{} is hidden by your profile", info.parent_type, info.name),
        Some(info.field.name.pos),
    );
    error.path = path;
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", ErrorCode::Forbidden.as_str());
    extensions.set("field", info.name);
    error.extensions = Some(extensions);
    error
}

/// Whether the caller's profile hides the output field `field` of
/// `parent_type` (only fields of the catalog's record types can be hidden).
/// Without a caller nothing is hidden here: the resolvers refuse the request.
pub fn hides(actor: Option<&Actor>, parent_type: &str, field: &str) -> bool {
    actor.is_some_and(|actor| {
        !actor.access.is_admin()
            && catalog::entity(parent_type).is_some_and(|entity| {
                entity.fields_of_output(field).any(|f| !actor.access.can_see(entity.name, f.name))
            })
    })
}

impl Hidden {
    /// Adds the errors of the fields turned into nulls to the response.
    pub fn report(&self, response: &mut Response) {
        if let Ok(mut hidden) = self.0.lock() {
            response.errors.append(&mut hidden);
        }
    }

    fn push(&self, error: ServerError) {
        if let Ok(mut hidden) = self.0.lock() {
            hidden.push(error);
        }
    }

    /// Resolves a field, or turns it into a null when the caller may not see it.
    pub async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let actor = ctx.data_opt::<RequestCtx>().and_then(|r| r.actor.get());
        if hides(actor.map(AsRef::as_ref), info.parent_type, info.name) {
            self.push(hidden_error(&info));
            return Ok(Some(Value::Null));
        }
        // A nullable field that fails resolves to null next to its error, as the
        // GraphQL specification asks (the executor would otherwise drop the key).
        let nullable = !info.return_type.ends_with('!');
        match next.run(ctx, info).await {
            Err(error) if nullable => {
                self.push(error);
                Ok(Some(Value::Null))
            }
            other => other,
        }
    }
}
