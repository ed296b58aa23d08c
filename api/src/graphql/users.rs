//! Users and profiles of the caller's tenant.

use async_graphql::{Context, ID, InputObject, Object};

use super::context::{parse_id, request};
use super::types::{Profile, User};
use crate::error::GqlResult;
use crate::service;
use crate::service::users::NewUser;

/// A new user of the caller's tenant.
#[derive(InputObject)]
pub struct CreateUserInput {
    pub email: String,
    pub display_name: String,
    /// At least 8 characters.
    pub password: String,
    pub profile_id: ID,
    pub manager_id: Option<ID>,
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// One user of the caller's tenant.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> GqlResult<User> {
        let read = request(ctx)?.read()?;
        Ok(service::users::get(&read, parse_id("id", &id)?).await?.into())
    }

    /// The active users of the caller's tenant, by display name.
    async fn users(&self, ctx: &Context<'_>) -> GqlResult<Vec<User>> {
        let read = request(ctx)?.read()?;
        Ok(service::users::list(&read).await?.into_iter().map(Into::into).collect())
    }

    /// The profiles of the caller's tenant.
    async fn profiles(&self, ctx: &Context<'_>) -> GqlResult<Vec<Profile>> {
        let read = request(ctx)?.read()?;
        Ok(service::users::profiles(&read).await?.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Creates a user (admins only).
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> GqlResult<User> {
        let new = NewUser {
            profile_id: Some(parse_id("profileId", &input.profile_id)?),
            manager_id: input.manager_id.as_ref().map(|m| parse_id("managerId", m)).transpose()?,
            email: input.email,
            display_name: input.display_name,
            password: input.password,
            profile_name: None,
        };
        let user = request(ctx)?.write(move |tx| async move { service::users::create(&tx, new).await }).await?;
        Ok(user.into())
    }

    /// Removes a user (admins only); their sessions stop working at once.
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> GqlResult<User> {
        let id = parse_id("id", &id)?;
        let user = request(ctx)?.write(move |tx| async move { service::users::delete(&tx, id).await }).await?;
        Ok(user.into())
    }
}
