//! Sign-in and "who am I".

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::request;
use super::types::{ApiToken, Profile, Tenant, User};
use crate::db::{Scope, system};
use crate::error::{GqlResult, ServiceError};
use crate::service;

/// A session token for the signed-in user.
#[derive(SimpleObject)]
pub struct LoginPayload {
    /// JWT to send as `Authorization: Bearer <token>`.
    token: String,
    expires_at: DateTime<Utc>,
    user: User,
}

/// The caller: a person, or an API token.
#[derive(SimpleObject)]
pub struct Me {
    /// The signed-in person; null when an API token is calling.
    user: Option<User>,
    /// The API token calling, if any.
    api_token: Option<ApiToken>,
    tenant: Tenant,
    profile: Profile,
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The caller, their tenant and their profile.
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<Me> {
        let req = request(ctx)?;
        let read = req.read()?;
        let actor = req.actor()?;
        let tenant = system::tenant_by_id(read.conn(), actor.tenant_id).await?.ok_or(ServiceError::NotFound)?;
        let user = match actor.user_id.filter(|_| actor.api_token_id.is_none()) {
            Some(id) => Some(service::users::get(&read, id).await?.into()),
            None => None,
        };
        let api_token = match actor.api_token_id {
            Some(id) => Some(service::api_tokens::get(&read, id).await?.into()),
            None => None,
        };
        let profile = service::users::profile(&read, actor.profile_id).await?.into();
        Ok(Me { user, api_token, tenant: tenant.into(), profile })
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Signs in. Any wrong part (tenant, email or password) gives the same UNAUTHENTICATED error.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Tenant slug")] tenant: String,
        email: String,
        password: String,
    ) -> GqlResult<LoginPayload> {
        let req = request(ctx)?;
        req.release_hold().await;
        let session =
            service::auth::login(&req.db, &req.keys, &tenant, &email, &password, Some(req.request_id.clone())).await?;
        // Only a request that came without a valid credential takes on the new session.
        let _ = req.actor.set(std::sync::Arc::new(session.actor));
        Ok(LoginPayload { token: session.token, expires_at: session.expires_at, user: session.user.into() })
    }
}
