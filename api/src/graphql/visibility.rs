//! Field visibility, enforced where every selected field passes: the executor.
//!
//! A field of a core record type that the caller's profile hides resolves to
//! `null`, and the response carries a FORBIDDEN error on that path; the rest of
//! the response is untouched. Because the check runs per resolved field, an
//! alias, a fragment or a nested selection reaches the same check. Filters,
//! orderings, writes and trace views are checked in the services.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest, NextResolve, ResolveInfo};
use async_graphql::{ErrorExtensionValues, PathSegment, QueryPathSegment, Response, ServerError, ServerResult, Value};

use super::context::RequestCtx;
use crate::error::ErrorCode;
use crate::service::catalog;

pub struct Visibility;

impl ExtensionFactory for Visibility {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(VisibilityExtension::default())
    }
}

/// One per request: the errors of the fields it turned into nulls (hidden or
/// failed), reported with the response.
#[derive(Default)]
struct VisibilityExtension {
    hidden: Mutex<Vec<ServerError>>,
}

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

#[async_trait::async_trait]
impl Extension for VisibilityExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        if let Ok(mut hidden) = self.hidden.lock() {
            response.errors.append(&mut hidden);
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if let Some(entity) = catalog::entity(info.parent_type)
            && let Some(actor) = ctx.data_opt::<RequestCtx>().and_then(|r| r.actor.get())
            && !actor.access.is_admin()
            && entity.fields_of_output(info.name).any(|f| !actor.access.can_see(entity.name, f.name))
        {
            let error = hidden_error(&info);
            if let Ok(mut hidden) = self.hidden.lock() {
                hidden.push(error);
            }
            return Ok(Some(Value::Null));
        }
        // A nullable field that fails resolves to null next to its error, as the
        // GraphQL specification asks (the executor would otherwise drop the key).
        let nullable = !info.return_type.ends_with('!');
        match next.run(ctx, info).await {
            Err(error) if nullable => {
                if let Ok(mut errors) = self.hidden.lock() {
                    errors.push(error);
                }
                Ok(Some(Value::Null))
            }
            other => other,
        }
    }
}
