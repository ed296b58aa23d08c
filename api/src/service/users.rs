//! People of a tenant.

use entity::{app_user, profile};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{require_admin, validate};
use crate::auth::password;
use crate::db::decode;
use crate::db::trace::Change;
use crate::db::{Scope, TenantRead, TenantTx};
use crate::error::{ServiceError, ServiceResult};

pub const ENTITY: &str = "User";

/// A new user, as the admin typed it.
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub password: String,
    /// Profile by id; `None` picks the profile named by `profile_name`.
    pub profile_id: Option<Uuid>,
    pub profile_name: Option<String>,
    pub manager_id: Option<Uuid>,
}

/// What a trace records of a user: never the password hash.
fn snapshot(user: &app_user::Model) -> Value {
    json!({
        "email": user.email,
        "displayName": user.display_name,
        "profileId": user.profile_id,
        "managerId": user.manager_id,
    })
}

pub async fn get(scope: &impl Scope, id: Uuid) -> ServiceResult<app_user::Model> {
    scope
        .select::<app_user::Entity>()
        .filter(app_user::Column::Id.eq(id))
        .filter(app_user::Column::DeletedAt.is_null())
        .one(scope.conn())
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Active users, by display name.
pub async fn list(scope: &impl Scope) -> ServiceResult<Vec<app_user::Model>> {
    Ok(scope
        .select::<app_user::Entity>()
        .filter(app_user::Column::DeletedAt.is_null())
        .order_by_asc(app_user::Column::DisplayName)
        .order_by_asc(app_user::Column::Id)
        .all(scope.conn())
        .await?)
}

pub async fn profile(scope: &impl Scope, id: Uuid) -> ServiceResult<profile::Model> {
    scope
        .select::<profile::Entity>()
        .filter(profile::Column::Id.eq(id))
        .one(scope.conn())
        .await?
        .ok_or(ServiceError::NotFound)
}

pub async fn profiles(scope: &impl Scope) -> ServiceResult<Vec<profile::Model>> {
    Ok(scope.select::<profile::Entity>().order_by_asc(profile::Column::Name).all(scope.conn()).await?)
}

/// Creates a user (admins only). An email already used in the tenant is a CONFLICT.
pub async fn create(tx: &TenantTx, input: NewUser) -> ServiceResult<app_user::Model> {
    require_admin(tx.actor())?;
    let email = validate::email("email", &input.email)?;
    let display_name = validate::required_text("displayName", &input.display_name, 200)?;
    validate::password("password", &input.password)?;

    let profile = match (input.profile_id, input.profile_name.as_deref()) {
        (Some(id), _) => tx.select::<profile::Entity>().filter(profile::Column::Id.eq(id)).one(tx.conn()).await?,
        (None, Some(name)) => {
            tx.select::<profile::Entity>().filter(profile::Column::Name.eq(name)).one(tx.conn()).await?
        }
        (None, None) => return Err(ServiceError::invalid("profileId", "is required")),
    }
    // A profile of another tenant is exactly as unknown as one that does not exist.
    .ok_or_else(|| ServiceError::invalid("profileId", "no such profile"))?;
    if let Some(manager) = input.manager_id {
        get(tx, manager).await.map_err(|_| ServiceError::invalid("managerId", "no such user"))?;
    }
    let taken =
        tx.select::<app_user::Entity>().filter(app_user::Column::Email.eq(email.as_str())).one(tx.conn()).await?;
    if taken.is_some() {
        return Err(ServiceError::Conflict("a user with this email already exists".into()));
    }

    let secret = input.password;
    let password_hash = tokio::task::spawn_blocking(move || password::hash(&secret))
        .await
        .map_err(|e| ServiceError::Internal(format!("password task: {e}")))??;
    let now = tx.now();
    let user = tx
        .insert(app_user::ActiveModel {
            id: Set(Uuid::now_v7()),
            email: Set(email),
            display_name: Set(display_name),
            password_hash: Set(password_hash),
            profile_id: Set(profile.id),
            manager_id: Set(input.manager_id),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            ..Default::default()
        })
        .await?;
    tx.trace(Change::create(ENTITY, user.id, snapshot(&user))).await?;
    Ok(user)
}

/// Removes a user (admins only): their sessions stop working at once. The row
/// stays, so that traces keep naming who did what.
pub async fn delete(tx: &TenantTx, id: Uuid) -> ServiceResult<app_user::Model> {
    require_admin(tx.actor())?;
    let user = get(tx, id).await?;
    if tx.actor().user_id == Some(id) {
        return Err(ServiceError::invalid("id", "you cannot delete yourself"));
    }
    let mut model: app_user::ActiveModel = user.clone().into();
    model.deleted_at = Set(Some(tx.now()));
    model.updated_at = Set(tx.now());
    let deleted = tx.update(model).await?;
    tx.trace(Change::delete(ENTITY, user.id, snapshot(&user))).await?;
    Ok(deleted)
}

/// Users by id for a read, deleted ones included, their password hashes
/// empty: the rows kept since an earlier read while they count (see
/// `db::credentials`), the others read and kept.
pub async fn by_ids_for_read(read: &TenantRead, ids: &[Uuid]) -> ServiceResult<Vec<app_user::Model>> {
    let (kept, tenant) = (read.kept(), read.actor().tenant_id);
    let (mut users, missing) = kept.users(tenant, ids);
    if !missing.is_empty() {
        let ticket = kept.ticket(tenant);
        let fresh = by_ids(read, &missing).await?;
        kept.keep_users(tenant, ticket, &fresh);
        users.extend(fresh.into_iter().map(|user| app_user::Model { password_hash: String::new(), ..user }));
    }
    Ok(users)
}

/// Users by id, deleted ones included (traces and owners keep naming them).
async fn by_ids(scope: &impl Scope, ids: &[Uuid]) -> ServiceResult<Vec<app_user::Model>> {
    let query = scope.select::<app_user::Entity>().filter(app_user::Column::Id.is_in(ids.iter().copied()));
    Ok(decode::all(query, scope.conn()).await?)
}
