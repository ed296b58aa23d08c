//! The executor's hooks, in one extension.
//!
//! async-graphql passes every resolved field through the `resolve` of each
//! extension, as a boxed future per extension and field, even for extensions
//! that do not override it: with three, that chain was a visible share of a
//! list's CPU. So the concerns below share one extension; each keeps its logic
//! in its own module.

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest, NextResolve,
    ResolveInfo,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerResult, Value, Variables};

use super::{codes, order, session, variables, visibility};

pub struct Hooks;

impl ExtensionFactory for Hooks {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestHooks::default())
    }
}

/// One per request.
#[derive(Default)]
struct RequestHooks {
    hidden: visibility::Hidden,
    /// The operation's name, then its document: to order the response by.
    operation: Mutex<Option<String>>,
    asked: Mutex<Option<order::Asked>>,
}

#[async_trait::async_trait]
impl Extension for RequestHooks {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let mut request = session::authenticate(ctx, request).await?;
        variables::fill_defaults(&mut request);
        *self.operation.lock().unwrap_or_else(PoisonError::into_inner) = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let operation = self.operation.lock().unwrap_or_else(PoisonError::into_inner).take();
        *self.asked.lock().unwrap_or_else(PoisonError::into_inner) = order::Asked::new(&document, operation, variables);
        Ok(document)
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        if let Some(asked) = self.asked.lock().unwrap_or_else(PoisonError::into_inner).take() {
            order::restore(&mut response.data, &asked, &ctx.schema_env.registry);
        }
        self.hidden.report(&mut response);
        // Last, so that the errors reported just above get a code too.
        codes::fill_in(&mut response);
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        self.hidden.resolve(ctx, info, next).await
    }
}
