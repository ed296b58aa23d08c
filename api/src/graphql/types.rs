//! GraphQL object types for tenants, profiles and users: our own structs,
//! converted from entity models, so no column becomes API by accident.

use async_graphql::parser::types::Field;
use async_graphql::{ComplexObject, Context, ContextSelectionSet, ID, Positioned, SimpleObject, Value};
use chrono::{DateTime, Utc};
use entity::{api_token, app_user, profile, tenant};
use uuid::Uuid;

use super::context::request;
use super::plain::{self, PlainObject};
use crate::error::GqlResult;
use crate::service;

/// A company using the CRM.
#[derive(SimpleObject, Clone)]
pub struct Tenant {
    pub id: ID,
    /// Short name typed at login.
    pub slug: String,
    pub name: String,
    /// IANA time zone used for weekly metrics.
    pub time_zone: String,
}

impl From<tenant::Model> for Tenant {
    fn from(t: tenant::Model) -> Self {
        Self { id: t.id.into(), slug: t.slug, name: t.name, time_zone: t.time_zone }
    }
}

/// What a group of users may see and do.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Profile {
    pub id: ID,
    pub name: String,
    /// Admin profiles administer the tenant and see everything.
    pub is_admin: bool,
    /// Its users see every user's adoption metrics; otherwise their own and
    /// their team's (always true for admin profiles).
    pub view_all_metrics: bool,
}

impl From<profile::Model> for Profile {
    fn from(p: profile::Model) -> Self {
        Self { id: p.id.into(), name: p.name, is_admin: p.is_admin, view_all_metrics: p.is_admin || p.view_all_metrics }
    }
}

/// A person who signs in to the CRM.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct User {
    pub id: ID,
    pub email: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    pub profile_id: Uuid,
    #[graphql(skip)]
    pub manager_id: Option<Uuid>,
}

#[ComplexObject]
impl User {
    /// The user's profile.
    async fn profile(&self, ctx: &Context<'_>) -> GqlResult<Profile> {
        let read = request(ctx)?.read()?;
        Ok(service::users::profile(&read, self.profile_id).await?.into())
    }

    /// The user's manager, if any.
    async fn manager(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        let Some(manager) = self.manager_id else { return Ok(None) };
        let read = request(ctx)?.read()?;
        Ok(service::users::get(&read, manager).await.ok().map(Into::into))
    }
}

impl PlainObject for User {
    fn field_value(&self, field: &Positioned<Field>, _: &ContextSelectionSet<'_>) -> Option<Value> {
        match field.node.name.node.as_str() {
            "id" => plain::scalar(&self.id),
            "email" => plain::scalar(&self.email),
            "displayName" => plain::scalar(&self.display_name),
            "createdAt" => plain::scalar(&self.created_at),
            _ => None,
        }
    }
}

impl From<app_user::Model> for User {
    fn from(u: app_user::Model) -> Self {
        Self {
            id: u.id.into(),
            email: u.email,
            display_name: u.display_name,
            created_at: u.created_at,
            profile_id: u.profile_id,
            manager_id: u.manager_id,
        }
    }
}

/// An integrator's credential. Its secret is never readable after creation.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct ApiToken {
    pub id: ID,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Set once revoked; a revoked token is refused.
    pub revoked_at: Option<DateTime<Utc>>,
    #[graphql(skip)]
    pub profile_id: Uuid,
}

#[ComplexObject]
impl ApiToken {
    /// The profile whose permissions the token acts with.
    async fn profile(&self, ctx: &Context<'_>) -> GqlResult<Profile> {
        let read = request(ctx)?.read()?;
        Ok(service::users::profile(&read, self.profile_id).await?.into())
    }
}

impl From<api_token::Model> for ApiToken {
    fn from(t: api_token::Model) -> Self {
        Self {
            id: t.id.into(),
            name: t.name,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
            profile_id: t.profile_id,
        }
    }
}
