//! The executor's hooks, in one extension.
//!
//! async-graphql passes every resolved field through the `resolve` of each
//! extension, as a boxed future per extension and field, even for extensions
//! that do not override it: with three, that chain was a visible share of a
//! list's CPU. So the concerns below share one extension; each keeps its logic
//! in its own module.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest, NextResolve, ResolveInfo,
};
use async_graphql::{Request, Response, ServerResult, Value};

use super::{codes, session, visibility};

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
}

#[async_trait::async_trait]
impl Extension for RequestHooks {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let request = session::authenticate(ctx, request).await?;
        next.run(ctx, request).await
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
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
