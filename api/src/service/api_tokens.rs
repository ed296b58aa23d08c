//! Integrators' API tokens.

use entity::{api_token, profile};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{require_admin, validate};
use crate::auth::api_token as token_format;
use crate::db::trace::Change;
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

pub const ENTITY: &str = "ApiToken";

fn snapshot(token: &api_token::Model) -> Value {
    json!({ "name": token.name, "profileId": token.profile_id, "revokedAt": token.revoked_at })
}

/// A new token and its secret, which is shown this once and never stored.
pub struct Issued {
    pub token: api_token::Model,
    pub secret: String,
}

pub async fn list(scope: &impl Scope) -> ServiceResult<Vec<api_token::Model>> {
    require_admin(scope.actor())?;
    Ok(scope
        .select::<api_token::Entity>()
        .order_by_desc(api_token::Column::CreatedAt)
        .order_by_asc(api_token::Column::Id)
        .all(scope.conn())
        .await?)
}

pub async fn get(scope: &impl Scope, id: Uuid) -> ServiceResult<api_token::Model> {
    scope
        .select::<api_token::Entity>()
        .filter(api_token::Column::Id.eq(id))
        .one(scope.conn())
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Creates a token acting with `profile_id` (default: Admin). Admins only, and
/// only people: a token cannot mint further tokens.
pub async fn create(tx: &TenantTx, name: &str, profile_id: Option<Uuid>) -> ServiceResult<Issued> {
    require_admin(tx.actor())?;
    let created_by = tx
        .actor()
        .user_id
        .filter(|_| tx.actor().api_token_id.is_none())
        .ok_or_else(|| ServiceError::Forbidden("API tokens are created by a signed-in admin".into()))?;
    let name = validate::required_text("name", name, 200)?;
    let profile = match profile_id {
        Some(id) => tx.select::<profile::Entity>().filter(profile::Column::Id.eq(id)).one(tx.conn()).await?,
        None => tx.select::<profile::Entity>().filter(profile::Column::IsAdmin.eq(true)).one(tx.conn()).await?,
    }
    .ok_or_else(|| ServiceError::invalid("profileId", "no such profile"))?;

    let id = Uuid::now_v7();
    let (full_token, secret) = token_format::generate(tx.actor().tenant_id, id)?;
    let token = tx
        .insert(api_token::ActiveModel {
            id: Set(id),
            name: Set(name),
            secret_hash: Set(token_format::hash_secret(&secret)),
            profile_id: Set(profile.id),
            created_by: Set(created_by),
            created_at: Set(tx.now()),
            revoked_at: Set(None),
            ..Default::default()
        })
        .await?;
    tx.trace(Change::create(ENTITY, token.id, snapshot(&token))).await?;
    Ok(Issued { token, secret: full_token })
}

/// Revokes a token; it is refused from the next request on. Revoking twice is a no-op.
pub async fn revoke(tx: &TenantTx, id: Uuid) -> ServiceResult<api_token::Model> {
    require_admin(tx.actor())?;
    let token = get(tx, id).await?;
    if token.revoked_at.is_some() {
        return Ok(token);
    }
    let mut model: api_token::ActiveModel = token.clone().into();
    model.revoked_at = Set(Some(tx.now()));
    let revoked = tx.update(model).await?;
    if let Some(change) = Change::update(ENTITY, id, &snapshot(&token), &snapshot(&revoked)) {
        tx.trace(change).await?;
    }
    Ok(revoked)
}
