//! Reads that run before there is an actor (login, credential checks), and
//! tenant bootstrap. Each is keyed by the tenant named in a verified credential
//! or by the tenant slug the person typed at login, never by a free id.

use std::sync::Arc;

use chrono::Utc;
use entity::{api_token, app_user, entity_access, field_access, profile, tenant, trace_head};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, JoinType, QueryFilter, QuerySelect, Select, Set};
use uuid::Uuid;

use super::trace::GENESIS_HASH;
use super::{Db, TenantTx};
use crate::auth::Actor;
use crate::auth::access::Permissions;

pub async fn tenant_by_slug<C: ConnectionTrait>(conn: &C, slug: &str) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find().filter(tenant::Column::Slug.eq(slug)).one(conn).await
}

pub async fn tenant_by_id<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find_by_id(id).one(conn).await
}

/// A user who may sign in: not deleted.
pub async fn user_by_email<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    email: &str,
) -> Result<Option<app_user::Model>, DbErr> {
    app_user::Entity::find()
        .filter(app_user::Column::TenantId.eq(tenant_id))
        .filter(app_user::Column::Email.eq(email))
        .filter(app_user::Column::DeletedAt.is_null())
        .one(conn)
        .await
}

/// The user named by a session token, if still active, with their current profile.
pub async fn active_user<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<Option<(app_user::Model, profile::Model)>, DbErr> {
    // One statement: this runs on every request.
    let found = app_user::Entity::find_by_id((tenant_id, user_id))
        .filter(app_user::Column::DeletedAt.is_null())
        .select_also(profile::Entity)
        .join(
            JoinType::InnerJoin,
            app_user::Entity::belongs_to(profile::Entity)
                .from((app_user::Column::TenantId, app_user::Column::ProfileId))
                .to((profile::Column::TenantId, profile::Column::Id))
                .into(),
        )
        .one(conn)
        .await?;
    Ok(found.and_then(|(user, profile)| profile.map(|p| (user, p))))
}

/// The current profile of the user a session token names, if the user is
/// still active: the credential check of every request, which needs nothing
/// of the user's own row (and so reads none of it, the password hash least).
pub async fn active_user_profile<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<Option<profile::Model>, DbErr> {
    user_profile(tenant_id, user_id).one(conn).await
}

/// [`active_user_profile`] with the tenant's trace head, in one statement:
/// a request that may be answered from a kept answer learns who asks and
/// where the tenant's data stands in one round trip. (Every tenant has its
/// head row; without one, the credential still holds.)
pub async fn active_user_profile_and_head<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<Option<(profile::Model, Option<trace_head::Model>)>, DbErr> {
    let head = app_user::Entity::belongs_to(trace_head::Entity)
        .from(app_user::Column::TenantId)
        .to(trace_head::Column::TenantId)
        .into();
    user_profile(tenant_id, user_id).select_also(trace_head::Entity).join(JoinType::LeftJoin, head).one(conn).await
}

fn user_profile(tenant_id: Uuid, user_id: Uuid) -> Select<profile::Entity> {
    let users = app_user::Entity::belongs_to(profile::Entity)
        .from((app_user::Column::TenantId, app_user::Column::ProfileId))
        .to((profile::Column::TenantId, profile::Column::Id))
        .into();
    profile::Entity::find()
        .join(JoinType::InnerJoin, sea_orm::RelationDef::rev(users))
        .filter(app_user::Column::TenantId.eq(tenant_id))
        .filter(app_user::Column::Id.eq(user_id))
        .filter(app_user::Column::DeletedAt.is_null())
}

/// An API token that has not been revoked, with its profile.
pub async fn live_api_token<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    token_id: Uuid,
) -> Result<Option<(api_token::Model, profile::Model)>, DbErr> {
    let found = api_token::Entity::find_by_id((tenant_id, token_id))
        .filter(api_token::Column::RevokedAt.is_null())
        .select_also(profile::Entity)
        .join(
            JoinType::InnerJoin,
            api_token::Entity::belongs_to(profile::Entity)
                .from((api_token::Column::TenantId, api_token::Column::ProfileId))
                .to((profile::Column::TenantId, profile::Column::Id))
                .into(),
        )
        .one(conn)
        .await?;
    Ok(found.and_then(|(token, profile)| profile.map(|p| (token, p))))
}

/// A (non-admin) profile's access rules, for the credential check's cache.
pub async fn access_rules<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    profile_id: Uuid,
) -> Result<Permissions, DbErr> {
    let entities = entity_access::Entity::find()
        .filter(entity_access::Column::TenantId.eq(tenant_id))
        .filter(entity_access::Column::ProfileId.eq(profile_id))
        .all(conn)
        .await?;
    let fields = field_access::Entity::find()
        .filter(field_access::Column::TenantId.eq(tenant_id))
        .filter(field_access::Column::ProfileId.eq(profile_id))
        .all(conn)
        .await?;
    Ok(Permissions::from_rows(entities, fields))
}

/// Starts the transaction that creates a tenant: the tenant row and its trace
/// head are written here; the caller seeds the rest through the returned
/// [`TenantTx`], acting as the system with the given admin profile id.
pub async fn begin_new_tenant(
    db: &Db,
    slug: &str,
    name: &str,
    admin_profile_id: Uuid,
) -> Result<(TenantTx, tenant::Model), DbErr> {
    let tenant_id = Uuid::now_v7();
    let actor = Arc::new(Actor::system(tenant_id, admin_profile_id));
    let tx = db.begin(actor, None).await?;
    let tenant = tenant::Entity::insert(tenant::ActiveModel {
        id: Set(tenant_id),
        slug: Set(slug.to_owned()),
        name: Set(name.to_owned()),
        time_zone: Set("UTC".to_owned()),
        created_at: Set(Utc::now()),
        // The column's default: SQLite's RETURNING omits columns the insert left out.
        stale_opportunity_days: Set(14),
        config_version: Set(0),
    })
    .exec_with_returning(tx.raw())
    .await?;
    trace_head::Entity::insert(trace_head::ActiveModel {
        tenant_id: Set(tenant_id),
        last_seq: Set(0),
        last_hash: Set(GENESIS_HASH.to_owned()),
        rollup_version: Set(0),
    })
    .exec(tx.raw())
    .await?;
    // Its default configuration (picklists) is written next, in this transaction.
    tx.changing_config().await?;
    Ok((tx, tenant))
}

/// Every tenant, for operator commands (`crm trace verify`).
pub async fn all_tenants<C: ConnectionTrait>(conn: &C) -> Result<Vec<tenant::Model>, DbErr> {
    tenant::Entity::find().all(conn).await
}
