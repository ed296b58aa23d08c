//! Profiles and their access rules, as tenant admins shape them.
//!
//! Every change is traced as a `Profile` (or `User`, for an assignment) change
//! with before and after, and bumps the profile's access version: the commit
//! ends the tenant's kept credentials (`db::credentials`), and the next
//! credential check reads the new rules.

use entity::{api_token, app_user, entity_access, field_access, profile};
use sea_orm::{ColumnTrait, Condition, PaginatorTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use super::entities::EntityRef;
use super::{require_admin, users, validate};
use crate::auth::access::{EntityRights, FieldAccess};
use crate::db::trace::Change;
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

pub const ENTITY: &str = "Profile";

/// A profile's stored rules (overrides of full access).
pub struct Rules {
    pub entities: Vec<entity_access::Model>,
    pub fields: Vec<field_access::Model>,
}

fn snapshot(p: &profile::Model) -> Value {
    json!({ "name": p.name, "isAdmin": p.is_admin })
}

fn rights_json(r: EntityRights) -> Value {
    json!({ "canRead": r.read, "canCreate": r.create, "canUpdate": r.update, "canDelete": r.delete })
}

pub async fn get(scope: &impl Scope, id: Uuid) -> ServiceResult<profile::Model> {
    users::profile(scope, id).await
}

/// A profile named by an admin's input; unknown (or another tenant's) is BAD_USER_INPUT.
async fn named(scope: &impl Scope, field: &str, id: Uuid) -> ServiceResult<profile::Model> {
    get(scope, id).await.map_err(|e| match e {
        ServiceError::NotFound => ServiceError::invalid(field, "no such profile"),
        other => other,
    })
}

async fn check_name_free(tx: &TenantTx, name: &str, except: Option<Uuid>) -> ServiceResult<()> {
    let same = users::profiles(tx).await?;
    if same.iter().any(|p| p.name.eq_ignore_ascii_case(name) && Some(p.id) != except) {
        return Err(ServiceError::Conflict(format!("a profile named {name:?} already exists")));
    }
    Ok(())
}

/// A new profile with full access to everything (admins then narrow it).
pub async fn create(tx: &TenantTx, name: &str) -> ServiceResult<profile::Model> {
    require_admin(tx.actor())?;
    let name = validate::required_text("name", name, 100)?;
    check_name_free(tx, &name, None).await?;
    let created = tx
        .insert(profile::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name),
            is_admin: Set(false),
            created_at: Set(tx.now()),
            access_version: Set(0),
            ..Default::default()
        })
        .await?;
    tx.trace(Change::create(ENTITY, created.id, snapshot(&created))).await?;
    Ok(created)
}

pub async fn rename(tx: &TenantTx, id: Uuid, name: &str) -> ServiceResult<profile::Model> {
    require_admin(tx.actor())?;
    let before = get(tx, id).await?;
    let name = validate::required_text("name", name, 100)?;
    if name == before.name {
        return Ok(before);
    }
    check_name_free(tx, &name, Some(id)).await?;
    let mut model: profile::ActiveModel = before.clone().into();
    model.name = Set(name);
    let after = tx.update(model).await?;
    if let Some(change) = Change::update(ENTITY, id, &snapshot(&before), &snapshot(&after)) {
        tx.trace(change).await?;
    }
    Ok(after)
}

/// Lets the profile's users see every user's adoption metrics, or only their
/// own and their team's (admins only). Admin profiles always see everything.
pub async fn set_view_all_metrics(tx: &TenantTx, id: Uuid, allowed: bool) -> ServiceResult<profile::Model> {
    require_admin(tx.actor())?;
    let before = get(tx, id).await?;
    if before.is_admin {
        return Err(ServiceError::invalid("id", "admin profiles always see all metrics"));
    }
    if before.view_all_metrics == allowed {
        return Ok(before);
    }
    let mut model: profile::ActiveModel = before.clone().into();
    model.view_all_metrics = Set(allowed);
    let after = tx.update(model).await?;
    // The permission travels with the access rules: the same version makes
    // every process read it again.
    tx.bump_access_version(id).await?;
    let (old, new) = (json!({ "viewAllMetrics": before.view_all_metrics }), json!({ "viewAllMetrics": allowed }));
    if let Some(change) = Change::update(ENTITY, id, &old, &new) {
        tx.trace(change).await?;
    }
    Ok(after)
}

/// Deletes a profile nobody holds: no active user, no unrevoked API token.
/// The Admin profiles cannot be deleted.
pub async fn delete(tx: &TenantTx, id: Uuid) -> ServiceResult<profile::Model> {
    require_admin(tx.actor())?;
    let profile = get(tx, id).await?;
    if profile.is_admin {
        return Err(ServiceError::Conflict("an admin profile cannot be deleted".into()));
    }
    let users = tx
        .select::<app_user::Entity>()
        .filter(app_user::Column::ProfileId.eq(id))
        .filter(app_user::Column::DeletedAt.is_null())
        .count(tx.conn())
        .await?;
    let tokens = tx
        .select::<api_token::Entity>()
        .filter(api_token::Column::ProfileId.eq(id))
        .filter(api_token::Column::RevokedAt.is_null())
        .count(tx.conn())
        .await?;
    if users + tokens > 0 {
        return Err(ServiceError::Conflict(format!(
            "the profile is still assigned to {users} user(s) and {tokens} API token(s)"
        )));
    }
    let assigned_ever =
        tx.select::<app_user::Entity>().filter(app_user::Column::ProfileId.eq(id)).count(tx.conn()).await?
            + tx.select::<api_token::Entity>().filter(api_token::Column::ProfileId.eq(id)).count(tx.conn()).await?;
    if assigned_ever > 0 {
        // Removed users and revoked tokens still name it (traces refer to them).
        return Err(ServiceError::Conflict(
            "removed users or revoked API tokens still name the profile; rename it instead".into(),
        ));
    }
    let rules = rules(tx, id).await?;
    let mut before = snapshot(&profile);
    before["rules"] = rules_json(&rules);
    tx.delete_where::<entity_access::Entity>(entity_access::Column::ProfileId.eq(id)).await?;
    tx.delete_where::<field_access::Entity>(field_access::Column::ProfileId.eq(id)).await?;
    tx.delete_where::<profile::Entity>(profile::Column::Id.eq(id)).await?;
    tx.trace(Change::delete(ENTITY, id, before)).await?;
    Ok(profile)
}

/// Gives a user another profile. The last active admin cannot be moved out of
/// the admin profiles: the tenant would have nobody left to administer it.
pub async fn assign(tx: &TenantTx, user_id: Uuid, profile_id: Uuid) -> ServiceResult<app_user::Model> {
    require_admin(tx.actor())?;
    let user = users::get(tx, user_id).await?;
    let target = named(tx, "profileId", profile_id).await?;
    if user.profile_id == target.id {
        return Ok(user);
    }
    let current = get(tx, user.profile_id).await?;
    if current.is_admin && !target.is_admin {
        let admin_profiles: Vec<Uuid> =
            users::profiles(tx).await?.into_iter().filter(|p| p.is_admin).map(|p| p.id).collect();
        let admins = tx
            .select::<app_user::Entity>()
            .filter(app_user::Column::ProfileId.is_in(admin_profiles))
            .filter(app_user::Column::DeletedAt.is_null())
            .count(tx.conn())
            .await?;
        if admins <= 1 {
            return Err(ServiceError::Conflict("the tenant's last admin must keep an admin profile".into()));
        }
    }
    let mut model: app_user::ActiveModel = user.clone().into();
    model.profile_id = Set(target.id);
    model.updated_at = Set(tx.now());
    let after = tx.update(model).await?;
    tx.trace(
        Change::update(
            users::ENTITY,
            user.id,
            &json!({ "profileId": user.profile_id }),
            &json!({ "profileId": target.id }),
        )
        .ok_or_else(|| ServiceError::Internal("profile assignment without change".into()))?,
    )
    .await?;
    Ok(after)
}

/// A profile whose rules an admin edits: the admin profiles have none (they
/// always have full access, so an admin cannot lock the tenant out).
async fn editable(tx: &TenantTx, id: Uuid) -> ServiceResult<profile::Model> {
    require_admin(tx.actor())?;
    let profile = get(tx, id).await?;
    if profile.is_admin {
        return Err(ServiceError::invalid("profileId", "an admin profile always has full access"));
    }
    Ok(profile)
}

fn stored_rights(row: Option<&entity_access::Model>) -> EntityRights {
    row.map_or(EntityRights::ALL, |r| EntityRights {
        read: r.can_read,
        create: r.can_create,
        update: r.can_update,
        delete: r.can_delete,
    })
}

/// Sets what a profile may do with an entity's records.
pub async fn set_entity_access(
    tx: &TenantTx,
    profile_id: Uuid,
    entity: &str,
    rights: EntityRights,
) -> ServiceResult<EntityRights> {
    let profile = editable(tx, profile_id).await?;
    let def = super::entities::resolve(tx, "entity", entity).await?;
    let existing = tx
        .select::<entity_access::Entity>()
        .filter(entity_access::Column::ProfileId.eq(profile.id))
        .filter(entity_access::Column::Entity.eq(def.name()))
        .one(tx.conn())
        .await?;
    let before = stored_rights(existing.as_ref());
    if before == rights {
        return Ok(rights);
    }
    let row = entity_access::ActiveModel {
        profile_id: Set(profile.id),
        entity: Set(def.name().to_owned()),
        can_read: Set(rights.read),
        can_create: Set(rights.create),
        can_update: Set(rights.update),
        can_delete: Set(rights.delete),
        ..Default::default()
    };
    tx.delete_where::<entity_access::Entity>(
        Condition::all()
            .add(entity_access::Column::ProfileId.eq(profile.id))
            .add(entity_access::Column::Entity.eq(def.name())),
    )
    .await?;
    if rights != EntityRights::ALL {
        tx.insert(row).await?;
    }
    tx.bump_access_version(profile.id).await?;
    let key = format!("entityAccess.{}", def.name());
    tx.trace(
        Change::update(
            ENTITY,
            profile.id,
            &json!({ key.clone(): rights_json(before) }),
            &json!({ key: rights_json(rights) }),
        )
        .ok_or_else(|| ServiceError::Internal("entity access without change".into()))?,
    )
    .await?;
    Ok(rights)
}

/// A field an access rule names: built-in (server-set ones can only be hidden
/// or read) or custom.
async fn known_field(tx: &TenantTx, def: &EntityRef, name: &str) -> ServiceResult<(String, bool)> {
    if let Some(field) = def.field(name) {
        return Ok((field.name.to_owned(), field.server_set));
    }
    let custom = super::custom_fields::definitions(tx, def.name()).await?;
    if let Some(field) = custom.iter().find(|d| d.name == name) {
        return Ok((field.name.clone(), false));
    }
    let mut names: Vec<String> = def.fields().iter().map(|f| f.name.to_owned()).collect();
    names.extend(custom.into_iter().map(|d| d.name));
    Err(ServiceError::invalid(
        "field",
        format!("unknown field {name:?} of {}; known: {}", def.name(), names.join(", ")),
    ))
}

/// Sets how far a profile may go with one field. EDIT removes the rule.
pub async fn set_field_access(
    tx: &TenantTx,
    profile_id: Uuid,
    entity: &str,
    field: &str,
    access: FieldAccess,
) -> ServiceResult<FieldAccess> {
    let profile = editable(tx, profile_id).await?;
    let def = super::entities::resolve(tx, "entity", entity).await?;
    let (field, _server_set) = known_field(tx, &def, field).await?;
    let existing = tx
        .select::<field_access::Entity>()
        .filter(field_access::Column::ProfileId.eq(profile.id))
        .filter(field_access::Column::Entity.eq(def.name()))
        .filter(field_access::Column::Field.eq(field.as_str()))
        .one(tx.conn())
        .await?;
    let before = existing.as_ref().and_then(|r| FieldAccess::parse(&r.access)).unwrap_or(FieldAccess::Edit);
    if before == access {
        return Ok(access);
    }
    let condition = Condition::all()
        .add(field_access::Column::ProfileId.eq(profile.id))
        .add(field_access::Column::Entity.eq(def.name()))
        .add(field_access::Column::Field.eq(field.as_str()));
    tx.delete_where::<field_access::Entity>(condition).await?;
    if access != FieldAccess::Edit {
        tx.insert(field_access::ActiveModel {
            profile_id: Set(profile.id),
            entity: Set(def.name().to_owned()),
            field: Set(field.clone()),
            access: Set(access.as_str().to_owned()),
            ..Default::default()
        })
        .await?;
    }
    tx.bump_access_version(profile.id).await?;
    let key = format!("fieldAccess.{}.{}", def.name(), field);
    tx.trace(
        Change::update(ENTITY, profile.id, &json!({ key.clone(): before.as_str() }), &json!({ key: access.as_str() }))
            .ok_or_else(|| ServiceError::Internal("field access without change".into()))?,
    )
    .await?;
    Ok(access)
}

/// A profile's stored rules, in a stable order.
pub async fn rules(scope: &impl Scope, profile_id: Uuid) -> ServiceResult<Rules> {
    let entities = scope
        .select::<entity_access::Entity>()
        .filter(entity_access::Column::ProfileId.eq(profile_id))
        .order_by_asc(entity_access::Column::Entity)
        .all(scope.conn())
        .await?;
    let fields = scope
        .select::<field_access::Entity>()
        .filter(field_access::Column::ProfileId.eq(profile_id))
        .order_by_asc(field_access::Column::Entity)
        .order_by_asc(field_access::Column::Field)
        .all(scope.conn())
        .await?;
    Ok(Rules { entities, fields })
}

fn rules_json(rules: &Rules) -> Value {
    let entities: serde_json::Map<String, Value> =
        rules.entities.iter().map(|r| (r.entity.clone(), rights_json(stored_rights(Some(r))))).collect();
    let fields: serde_json::Map<String, Value> =
        rules.fields.iter().map(|r| (format!("{}.{}", r.entity, r.field), Value::from(r.access.clone()))).collect();
    json!({ "entityAccess": entities, "fieldAccess": fields })
}
