//! The executor's hooks, in one extension.
//!
//! async-graphql passes every resolved field through the `resolve` of each
//! extension, as a boxed future per extension and field, even for extensions
//! that do not override it: with three, that chain was a visible share of a
//! list's CPU. So the concerns below share one extension; each keeps its logic
//! in its own module.

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest, NextResolve, NextSubscribe,
    ResolveInfo,
};
use async_graphql::futures_util::stream::{BoxStream, StreamExt};
use async_graphql::registry::Registry;
use async_graphql::{Request, Response, ServerResult, Value};

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
    hidden: Arc<visibility::Hidden>,
    /// To order the response by.
    asked: Arc<Mutex<Option<order::Asked>>>,
}

/// What every response gets before it leaves, over HTTP (`request`) or
/// WebSocket (`subscribe`, which carries queries and mutations there too).
fn finish(
    hidden: &visibility::Hidden,
    asked: &Mutex<Option<order::Asked>>,
    registry: &Registry,
    response: &mut Response,
) {
    if let Some(asked) = asked.lock().unwrap_or_else(PoisonError::into_inner).take() {
        order::restore(&mut response.data, &asked, registry);
    }
    hidden.report(response);
    // Last, so that the errors reported just above get a code too.
    codes::fill_in(response);
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
        let document = session::prepare(ctx, &mut request)?;
        variables::fill_defaults(&mut request);
        *self.asked.lock().unwrap_or_else(PoisonError::into_inner) =
            document.and_then(|document| order::Asked::new(document, &request));
        next.run(ctx, request).await
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        finish(&self.hidden, &self.asked, &ctx.schema_env.registry, &mut response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let (hidden, asked, env) = (self.hidden.clone(), self.asked.clone(), ctx.schema_env.clone());
        next.run(ctx, stream)
            .map(move |mut response| {
                finish(&hidden, &asked, &env.registry, &mut response);
                response
            })
            .boxed()
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
