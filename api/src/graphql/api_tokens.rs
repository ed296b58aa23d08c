//! API tokens for integrators.

use async_graphql::{Context, ID, Object, SimpleObject};

use super::context::{parse_id, request};
use super::types::ApiToken;
use crate::error::GqlResult;
use crate::service;

/// A new API token. `token` is shown this once: store it now.
#[derive(SimpleObject)]
pub struct CreateApiTokenPayload {
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    api_token: ApiToken,
}

#[derive(Default)]
pub struct ApiTokenQuery;

#[Object]
impl ApiTokenQuery {
    /// The tenant's API tokens, newest first (admins only).
    async fn api_tokens(&self, ctx: &Context<'_>) -> GqlResult<Vec<ApiToken>> {
        let read = request(ctx)?.read()?;
        Ok(service::api_tokens::list(&read).await?.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct ApiTokenMutation;

#[Object]
impl ApiTokenMutation {
    /// Creates an API token acting with the given profile (default: Admin). Admins only.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        name: String,
        profile_id: Option<ID>,
    ) -> GqlResult<CreateApiTokenPayload> {
        let profile_id = profile_id.as_ref().map(|p| parse_id("profileId", p)).transpose()?;
        let issued = request(ctx)?
            .write(move |tx| async move { service::api_tokens::create(&tx, &name, profile_id).await })
            .await?;
        Ok(CreateApiTokenPayload { token: issued.secret, api_token: issued.token.into() })
    }

    /// Revokes an API token; it is refused from the next request on. Admins only.
    async fn revoke_api_token(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ApiToken> {
        let id = parse_id("id", &id)?;
        let token = request(ctx)?.write(move |tx| async move { service::api_tokens::revoke(&tx, id).await }).await?;
        Ok(token.into())
    }
}
