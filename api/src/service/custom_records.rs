//! Records of custom entities: the same life as core records (owner, stamps,
//! version check, soft delete, restore, external id, a trace per change, field
//! rules and access rules), with all their fields custom.

use chrono::{DateTime, Utc};
use entity::custom_record::{self, Column, Entity, Model};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ExprTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::custom_fields::{self, Test};
use super::entities;
use super::field_rules;
use super::records::{MAX_PAGE, default_owner, owner_of};
use super::validate::Patch;
use super::{catalog, require_admin};
use crate::auth::access::Op;
use crate::db::trace::{Change, ChangeType};
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

const TABLE: &str = "custom_record";

/// A record as a client sends it.
#[derive(Default)]
pub struct Input {
    pub owner: Patch<Uuid>,
    pub external_id: Patch<String>,
    /// Field values by API name; `None` leaves them all.
    pub values: Option<Map<String, Value>>,
}

/// One condition of a list filter.
pub enum Criterion {
    Owner(Uuid),
    Mine,
    ExternalId(String),
    Created(Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    Updated(Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    Custom(String, Test),
}

/// What a list is ordered by.
pub enum Sort {
    CreatedAt,
    UpdatedAt,
    ExternalId,
    Field(String),
}

/// The entity's live records, after the caller's read permission and the
/// entity's existence are checked.
async fn live(scope: &impl Scope, entity: &str) -> ServiceResult<(String, Select<Entity>)> {
    let def = entities::custom_entity(scope, entity).await?;
    catalog::require(&scope.actor().access, &def.name, Op::Read)?;
    let query =
        scope.select::<Entity>().filter(Column::Entity.eq(def.name.as_str())).filter(Column::DeletedAt.is_null());
    Ok((def.name, query))
}

pub async fn get(scope: &impl Scope, entity: &str, id: Uuid) -> ServiceResult<Model> {
    let (_, query) = live(scope, entity).await?;
    query.filter(Column::Id.eq(id)).one(scope.conn()).await?.ok_or(ServiceError::NotFound)
}

/// Whether a live record of custom entity `entity` has this id (for references).
pub async fn exists(scope: &impl Scope, entity: &str, id: Uuid) -> ServiceResult<bool> {
    match get(scope, entity, id).await {
        Ok(_) => Ok(true),
        Err(ServiceError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The trace view: field values plus owner and external id.
pub async fn snapshot(scope: &impl Scope, record: &Model) -> ServiceResult<Value> {
    let mut fields = custom_fields::view(scope, &record.entity, record.custom.as_ref()).await?;
    fields.insert("ownerId".into(), Value::from(record.owner_id.to_string()));
    fields.insert("externalId".into(), record.external_id.clone().map_or(Value::Null, Value::from));
    Ok(Value::Object(fields))
}

fn external_id(patch: Patch<String>) -> ServiceResult<Patch<Option<String>>> {
    super::records::text(patch, "externalId", 200)
}

/// Creates a record of a custom entity, with its CREATE trace.
pub async fn create(tx: &TenantTx, entity: &str, input: Input) -> ServiceResult<Model> {
    let def = entities::custom_entity(tx, entity).await?;
    catalog::require(&tx.actor().access, &def.name, Op::Create)?;
    let owner = owner_of(tx, default_owner(tx, input.owner)?).await?.unwrap_or_default();
    let values = custom_fields::apply(tx, &def.name, None, input.values, true).await?.flatten();
    let now = tx.now();
    let external_id = match external_id(input.external_id)? {
        Patch::Set(id) => id,
        _ => None,
    };
    let created = tx
        .insert(custom_record::ActiveModel {
            id: Set(Uuid::now_v7()),
            entity: Set(def.name.clone()),
            custom: Set(values),
            owner_id: Set(owner),
            created_at: Set(now),
            updated_at: Set(now),
            created_by: Set(tx.actor().user_id),
            updated_by: Set(tx.actor().user_id),
            version: Set(1),
            external_id: Set(external_id),
            deleted_at: Set(None),
            ..Default::default()
        })
        .await?;
    let view = snapshot(tx, &created).await?;
    if let Value::Object(fields) = &view {
        field_rules::check(&*field_rules::rules(tx, &def.name).await?, &def.name, fields, None)?;
    }
    tx.trace(Change::create(def.name, created.id, view)).await?;
    Ok(created)
}

/// Writes `model` over `before` when something changed, with the version check and a trace.
async fn save(
    tx: &TenantTx,
    before: Model,
    mut model: custom_record::ActiveModel,
    kind: ChangeType,
) -> ServiceResult<Model> {
    let preview: Model = sea_orm::TryIntoModel::try_into_model(model.clone())?;
    let old = snapshot(tx, &before).await?;
    let new = snapshot(tx, &preview).await?;
    let Some(mut change) = Change::update(before.entity.clone(), before.id, &old, &new) else {
        return Ok(before);
    };
    if let (Value::Object(fields), Some(Value::Object(changed))) = (&new, &change.after) {
        let changed: Vec<String> = changed.keys().cloned().collect();
        field_rules::check(&*field_rules::rules(tx, &before.entity).await?, &before.entity, fields, Some(&changed))?;
    }
    change.change_type = kind;
    stamp(tx, &before, &mut model);
    let saved =
        tx.update_where(model, Column::Version.eq(before.version)).await.map_err(|e| match ServiceError::from(e) {
            ServiceError::NotFound => ServiceError::Conflict(format!("the {} was changed concurrently", before.entity)),
            other => other,
        })?;
    tx.trace(change).await?;
    Ok(saved)
}

fn stamp(tx: &TenantTx, before: &Model, model: &mut custom_record::ActiveModel) {
    model.version = Set(before.version + 1);
    model.updated_at = Set(tx.now());
    model.updated_by = Set(tx.actor().user_id);
}

/// Changes the given values only; a stale `expected_version` is a CONFLICT.
pub async fn update(
    tx: &TenantTx,
    entity: &str,
    id: Uuid,
    input: Input,
    expected_version: Option<i32>,
) -> ServiceResult<Model> {
    let before = get(tx, entity, id).await?;
    catalog::require(&tx.actor().access, &before.entity, Op::Update)?;
    if expected_version.is_some_and(|v| v != before.version) {
        return Err(ServiceError::Conflict(format!(
            "the {} is at version {}",
            before.entity.to_lowercase(),
            before.version
        )));
    }
    let mut model: custom_record::ActiveModel = before.clone().into();
    if let Some(owner) = owner_of(tx, input.owner).await? {
        model.owner_id = Set(owner);
    }
    if let Patch::Set(id) = external_id(input.external_id)? {
        model.external_id = Set(id);
    }
    if let Some(values) = custom_fields::apply(tx, &before.entity, before.custom.as_ref(), input.values, false).await? {
        model.custom = Set(values);
    }
    save(tx, before, model, ChangeType::Update).await
}

/// Soft delete: the record leaves every query; an admin can restore it.
pub async fn delete(tx: &TenantTx, entity: &str, id: Uuid) -> ServiceResult<Model> {
    let before = get(tx, entity, id).await?;
    catalog::require(&tx.actor().access, &before.entity, Op::Delete)?;
    let mut model: custom_record::ActiveModel = before.clone().into();
    model.deleted_at = Set(Some(tx.now()));
    stamp(tx, &before, &mut model);
    let deleted = tx.update_where(model, Column::Version.eq(before.version)).await?;
    tx.trace(Change::delete(before.entity.clone(), id, snapshot(tx, &before).await?)).await?;
    Ok(deleted)
}

/// Brings a deleted record back (admins only).
pub async fn restore(tx: &TenantTx, entity: &str, id: Uuid) -> ServiceResult<Model> {
    require_admin(tx.actor())?;
    let def = entities::custom_entity(tx, entity).await?;
    let deleted = tx
        .select::<Entity>()
        .filter(Column::Entity.eq(def.name.as_str()))
        .filter(Column::Id.eq(id))
        .filter(Column::DeletedAt.is_not_null())
        .one(tx.conn())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let mut model: custom_record::ActiveModel = deleted.clone().into();
    model.deleted_at = Set(None);
    stamp(tx, &deleted, &mut model);
    let restored = tx.update_where(model, Column::Version.eq(deleted.version)).await?;
    let after = snapshot(tx, &restored).await?;
    tx.trace(Change {
        change_type: ChangeType::Restore,
        entity_type: def.name.into(),
        entity_id: Some(id),
        before: None,
        after: Some(after),
    })
    .await?;
    Ok(restored)
}

async fn filtered(scope: &impl Scope, entity: &str, criteria: &[Criterion]) -> ServiceResult<(String, Select<Entity>)> {
    let (name, mut query) = live(scope, entity).await?;
    for criterion in criteria {
        query = match criterion {
            Criterion::Owner(owner) => query.filter(Column::OwnerId.eq(*owner)),
            Criterion::Mine => {
                let me = scope
                    .actor()
                    .user_id
                    .ok_or_else(|| ServiceError::invalid("filter.mine", "needs a signed-in user"))?;
                query.filter(Column::OwnerId.eq(me))
            }
            Criterion::ExternalId(id) => query.filter(Column::ExternalId.eq(id.trim())),
            Criterion::Created(from, to) => range(query, Column::CreatedAt, *from, *to),
            Criterion::Updated(from, to) => range(query, Column::UpdatedAt, *from, *to),
            Criterion::Custom(field, test) => {
                query.filter(custom_fields::condition_on(scope, &name, TABLE, field, test).await?)
            }
        };
    }
    Ok((name, query))
}

fn range(
    query: Select<Entity>,
    column: Column,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Select<Entity> {
    let query = match from {
        Some(from) => query.filter(column.gte(from)),
        None => query,
    };
    match to {
        Some(to) => query.filter(column.lte(to)),
        None => query,
    }
}

/// One page of an entity's records, plus whether more follow; the id breaks ties.
pub async fn list(
    scope: &impl Scope,
    entity: &str,
    criteria: &[Criterion],
    sort: Sort,
    descending: bool,
    offset: u64,
    first: u64,
) -> ServiceResult<(Vec<Model>, bool)> {
    if first > MAX_PAGE {
        return Err(ServiceError::invalid("first", format!("must be at most {MAX_PAGE}")));
    }
    let (name, mut query) = filtered(scope, entity, criteria).await?;
    let direction = if descending { sea_orm::Order::Desc } else { sea_orm::Order::Asc };
    query = match sort {
        Sort::CreatedAt => query.order_by(Column::CreatedAt, direction.clone()),
        Sort::UpdatedAt => query.order_by(Column::UpdatedAt, direction.clone()),
        Sort::ExternalId => query
            .order_by(Expr::col((Entity, Column::ExternalId)).is_null(), sea_orm::Order::Asc)
            .order_by(Column::ExternalId, direction.clone()),
        Sort::Field(field) => {
            let expr = custom_fields::order_on(scope, &name, TABLE, &field).await?;
            query.order_by(expr.clone().is_null(), sea_orm::Order::Asc).order_by(expr, direction.clone())
        }
    };
    let mut rows = query.order_by(Column::Id, direction).offset(offset).limit(first + 1).all(scope.conn()).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    Ok((rows, more))
}

pub async fn count(scope: &impl Scope, entity: &str, criteria: &[Criterion]) -> ServiceResult<u64> {
    Ok(filtered(scope, entity, criteria).await?.1.count(scope.conn()).await?)
}
