//! Records of custom entities: the same life as core records (owner, stamps,
//! version check, soft delete, restore, external id, a trace per change, field
//! rules and access rules), with all their fields custom.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::custom_record::{self, Column, Entity, Model};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ExprTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::custom_fields::{self, Test};
use super::field_rules;
use super::records::{MAX_PAGE, default_owner, owner_of};
use super::upsert::{MAX_BATCH, Mode, Outcome, Report, Status, failed};
use super::validate::{self, Patch};
use super::{catalog, require_admin};
use super::{data_quality, entities};
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
    let new = prepare(tx, &def.name, input).await?;
    let created = tx.insert(new.row).await?;
    tx.trace(Change::create(def.name, created.id, new.view)).await?;
    Ok(created)
}

/// A new record checked and built, not yet stored.
struct NewRecord {
    /// Every column set, so that the row stored is exactly `model`.
    row: custom_record::ActiveModel,
    model: Model,
    /// What its CREATE trace shows.
    view: Value,
}

/// Everything [`create`] does before its insert (permission, values, field
/// rules, completeness) for entity `name`; writes nothing, so a bulk upsert
/// can insert many such records together.
async fn prepare(tx: &TenantTx, name: &str, input: Input) -> ServiceResult<NewRecord> {
    catalog::require(&tx.actor().access, name, Op::Create)?;
    let owner = owner_of(tx, default_owner(tx, input.owner)?).await?.unwrap_or_default();
    let values = custom_fields::apply(tx, name, None, input.values, true).await?.flatten();
    let now = tx.now();
    let external_id = match external_id(input.external_id)? {
        Patch::Set(id) => id,
        _ => None,
    };
    let mut row = custom_record::ActiveModel {
        id: Set(Uuid::now_v7()),
        entity: Set(name.to_owned()),
        custom: Set(values),
        owner_id: Set(owner),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(tx.actor().user_id),
        updated_by: Set(tx.actor().user_id),
        version: Set(1),
        external_id: Set(external_id),
        deleted_at: Set(None),
        tenant_id: Set(tx.actor().tenant_id),
        completeness: Set(0.0),
    };
    // Every column is set: the row as it will be stored gives the view, the
    // field-rule check and the completeness before the insert.
    let view = snapshot(tx, &sea_orm::TryIntoModel::try_into_model(row.clone())?).await?;
    if let Value::Object(fields) = &view {
        field_rules::check(&tx.actor().access, &*field_rules::rules(tx, name).await?, name, fields, None)?;
    }
    row.completeness = Set(data_quality::completeness(tx, name, &view).await?);
    let model = sea_orm::TryIntoModel::try_into_model(row.clone())?;
    Ok(NewRecord { row, model, view })
}

/// An update worked out and checked, not yet written.
enum Planned {
    /// Nothing changes: no write, no trace.
    Unchanged(Model),
    Write {
        before: Model,
        model: Box<custom_record::ActiveModel>,
        change: Change,
    },
}

/// Everything an update of `before` does before its write (permission,
/// values, field rules, completeness); writes nothing, so a bulk upsert can
/// compare a resent record without a savepoint.
async fn plan_update(tx: &TenantTx, before: Model, input: Input) -> ServiceResult<Planned> {
    catalog::require(&tx.actor().access, &before.entity, Op::Update)?;
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
    let preview: Model = sea_orm::TryIntoModel::try_into_model(model.clone())?;
    let old = snapshot(tx, &before).await?;
    let new = snapshot(tx, &preview).await?;
    let Some(change) = Change::update(before.entity.clone(), before.id, &old, &new) else {
        return Ok(Planned::Unchanged(before));
    };
    if let (Value::Object(fields), Some(Value::Object(changed))) = (&new, &change.after) {
        let changed: Vec<String> = changed.keys().cloned().collect();
        field_rules::check(
            &tx.actor().access,
            &*field_rules::rules(tx, &before.entity).await?,
            &before.entity,
            fields,
            Some(&changed),
        )?;
    }
    stamp(tx, &before, &mut model);
    model.completeness = Set(data_quality::completeness(tx, &before.entity, &new).await?);
    Ok(Planned::Write { before, model: Box::new(model), change })
}

/// Writes a planned update, with the version check and its trace.
async fn write_planned(tx: &TenantTx, planned: Planned) -> ServiceResult<Model> {
    let (before, model, change) = match planned {
        Planned::Unchanged(model) => return Ok(model),
        Planned::Write { before, model, change } => (before, model, change),
    };
    let saved =
        tx.update_where(*model, Column::Version.eq(before.version)).await.map_err(|e| match ServiceError::from(e) {
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
    update_loaded(tx, before, input).await
}

/// [`update`] of a record just read in this transaction; the version in the
/// write still guards against a concurrent change.
async fn update_loaded(tx: &TenantTx, before: Model, input: Input) -> ServiceResult<Model> {
    write_planned(tx, plan_update(tx, before, input).await?).await
}

/// Replaces a record's values without a trace of its own (like
/// `records::write_custom`): for a deleted field's values, which its
/// definition's trace records.
pub async fn write_values(tx: &TenantTx, before: Model, values: Map<String, Value>) -> ServiceResult<()> {
    let mut model: custom_record::ActiveModel = before.clone().into();
    model.custom = Set((!values.is_empty()).then_some(Value::Object(values)));
    stamp(tx, &before, &mut model);
    let view = snapshot(tx, &sea_orm::TryIntoModel::try_into_model(model.clone())?).await?;
    model.completeness = Set(data_quality::completeness(tx, &before.entity, &view).await?);
    tx.update_where(model, Column::Version.eq(before.version)).await?;
    Ok(())
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
    // Restoring changes no value: the deleted row's view is the restored one's.
    let after = snapshot(tx, &deleted).await?;
    model.completeness = Set(data_quality::completeness(tx, &def.name, &after).await?);
    let restored = tx.update_where(model, Column::Version.eq(deleted.version)).await?;
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

/// One record of a bulk upsert, matched on its external id.
pub struct Item {
    pub external_id: String,
    pub owner: Patch<Uuid>,
    pub values: Option<Map<String, Value>>,
}

/// New records checked per insert statement (a few hundred rows, as for core records).
const CHUNK: usize = 500;

/// Bulk upsert of a custom entity's records by external id, with the same
/// contract as the core entities' (`upsert::upsert`): results in input order,
/// PARTIAL or ALL_OR_NOTHING, dry runs, idempotent, no record half-written.
///
/// New records are checked one by one and inserted [`CHUNK`] per statement in
/// a savepoint; when such an insert does not take every row (another batch
/// created one of the external ids meanwhile), the savepoint is rolled back
/// and its records go one by one, each in its own savepoint. A record that
/// exists is updated in its own savepoint, after the new records before it
/// are stored, so that traces follow the input order.
pub async fn upsert(
    tx: TenantTx,
    entity: &str,
    items: Vec<Item>,
    mode: Mode,
    validate_only: bool,
) -> ServiceResult<Report> {
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ServiceError::invalid("records", format!("must hold between 1 and {MAX_BATCH} records")));
    }
    let def = entities::custom_entity(&tx, entity).await?;
    catalog::require(&tx.actor().access, &def.name, Op::Read)?;
    let mut batch = Batch {
        tx: &tx,
        entity: &def.name,
        known: prefetch(&tx, &def.name, &items).await?,
        outcomes: vec![None; items.len()],
        pending: Vec::new(),
        unsettled: HashSet::new(),
    };
    for (index, item) in items.into_iter().enumerate() {
        let key = item.external_id.trim().to_owned();
        if let Err(error) = validate::required_text("externalId", &item.external_id, 200) {
            batch.outcomes[index] = Some(failed(index, item.external_id, error)?);
            continue;
        }
        // A second record with the same external id updates the first: it must be stored by then.
        if batch.unsettled.contains(&key) {
            batch.flush().await?;
        }
        match batch.known.get(&key).cloned() {
            None => {
                let input = Input {
                    owner: item.owner.clone(),
                    external_id: Patch::Set(key.clone()),
                    values: item.values.clone(),
                };
                match prepare(&tx, &def.name, input).await {
                    Ok(new) => {
                        batch.unsettled.insert(key);
                        batch.pending.push((index, item, new));
                        if batch.pending.len() >= CHUNK {
                            batch.flush().await?;
                        }
                    }
                    Err(error) => batch.outcomes[index] = Some(failed(index, item.external_id, error)?),
                }
            }
            Some(existing) => {
                batch.flush().await?;
                batch.update_existing(index, item, existing).await?;
            }
        }
    }
    batch.flush().await?;
    let outcomes: Vec<Outcome> = std::mem::take(&mut batch.outcomes)
        .into_iter()
        .collect::<Option<_>>()
        .ok_or_else(|| ServiceError::Internal("an upsert record was left without an outcome".into()))?;
    let refused = mode == Mode::AllOrNothing && outcomes.iter().any(|o| o.status == Status::Failed);
    let written = !validate_only && !refused;
    if written {
        tx.commit().await?;
    }
    Ok(Report { outcomes, written })
}

/// Where a custom-entity batch stands while it runs.
struct Batch<'a> {
    tx: &'a TenantTx,
    entity: &'a str,
    /// The records holding the batch's external ids, as they are now.
    known: HashMap<String, Model>,
    outcomes: Vec<Option<Outcome>>,
    /// New records checked and waiting for their insert.
    pending: Vec<(usize, Item, NewRecord)>,
    /// The external ids of `pending`.
    unsettled: HashSet<String>,
}

impl Batch<'_> {
    fn done(&mut self, index: usize, external_id: String, model: Model, status: Status) {
        self.outcomes[index] = Some(Outcome {
            index,
            external_id,
            id: Some(model.id),
            status,
            field: None,
            message: None,
            code: None,
            duplicates: Vec::new(),
        });
        if let Some(key) = model.external_id.clone() {
            self.known.insert(key, model);
        }
    }

    /// Inserts the pending records together in a savepoint, then traces them;
    /// when the insert does not take every row, rolls it back and upserts
    /// them one by one.
    async fn flush(&mut self) -> ServiceResult<()> {
        self.unsettled.clear();
        let chunk = std::mem::take(&mut self.pending);
        if chunk.is_empty() {
            return Ok(());
        }
        let point = self.tx.savepoint().await?;
        let rows: Vec<_> = chunk.iter().map(|(_, _, new)| new.row.clone()).collect();
        let count = rows.len() as u64;
        if point.insert_new(rows).await? == count {
            point.commit().await?;
            for (index, item, new) in chunk {
                self.tx.trace(Change::create(self.entity.to_owned(), new.model.id, new.view)).await?;
                self.done(index, item.external_id, new.model, Status::Created);
            }
            return Ok(());
        }
        // Dropping the savepoint rolls it back.
        drop(point);
        tracing::debug!("a bulk insert of custom records did not take every row; upserting them one by one");
        for (index, item, _) in chunk {
            let existing = by_external_id(self.tx, self.entity, item.external_id.trim()).await?;
            self.one_by_one(index, item, existing).await?;
        }
        Ok(())
    }

    /// A record whose external id is taken: compared without a savepoint (a
    /// resent batch is mostly unchanged records); only a real change is
    /// written, in its own savepoint.
    async fn update_existing(&mut self, index: usize, item: Item, existing: Model) -> ServiceResult<()> {
        let planned = if existing.deleted_at.is_some() {
            Err(super::upsert::deleted_holder())
        } else {
            let input = Input { owner: item.owner.clone(), external_id: Patch::Keep, values: item.values.clone() };
            plan_update(self.tx, existing, input).await
        };
        // The record's own failures become its outcome; the savepoint's abort the batch.
        let written = match planned {
            Ok(Planned::Unchanged(model)) => Ok((model, Status::Unchanged)),
            Ok(write) => self
                .tx
                .in_savepoint(|point| Box::pin(write_planned(point, write)))
                .await?
                .map(|model| (model, Status::Updated)),
            Err(error) => Err(error),
        };
        match written {
            Ok((model, status)) => self.done(index, item.external_id, model, status),
            Err(error) => self.outcomes[index] = Some(failed(index, item.external_id, error)?),
        }
        Ok(())
    }

    /// Upserts one record in its own savepoint and records its outcome;
    /// `existing` is the record holding its external id, if any.
    async fn one_by_one(&mut self, index: usize, item: Item, mut existing: Option<Model>) -> ServiceResult<()> {
        let key = item.external_id.trim().to_owned();
        // Twice at most: a concurrent batch may create the same external id between
        // our lookup and our insert; the second attempt then updates its record.
        for attempt in 0..2 {
            let point = self.tx.savepoint().await?;
            let input = Input { owner: item.owner.clone(), external_id: Patch::Keep, values: item.values.clone() };
            let created = existing.is_none();
            let result = match existing.take() {
                Some(found) if found.deleted_at.is_some() => Err(super::upsert::deleted_holder()),
                Some(found) => {
                    let version = found.version;
                    update_loaded(&point, found, input).await.map(|m| {
                        let status = if m.version == version { Status::Unchanged } else { Status::Updated };
                        (m, status)
                    })
                }
                None => {
                    let input = Input { external_id: Patch::Set(key.clone()), ..input };
                    create(&point, self.entity, input).await.map(|m| (m, Status::Created))
                }
            };
            match result {
                Ok((model, status)) => {
                    point.commit().await?;
                    self.done(index, item.external_id, model, status);
                    return Ok(());
                }
                Err(ServiceError::Conflict(_)) if attempt == 0 && created => {
                    // Roll the failed insert back before looking again.
                    drop(point);
                    existing = by_external_id(self.tx, self.entity, &key).await?;
                    if existing.is_none() {
                        let error = ServiceError::Conflict("a record with the same unique value already exists".into());
                        self.outcomes[index] = Some(failed(index, item.external_id, error)?);
                        return Ok(());
                    }
                }
                Err(error) => {
                    self.outcomes[index] = Some(failed(index, item.external_id, error)?);
                    return Ok(());
                }
            }
        }
        let error = ServiceError::Conflict("written concurrently; send it again".into());
        self.outcomes[index] = Some(failed(index, item.external_id, error)?);
        Ok(())
    }
}

async fn by_external_id(scope: &impl Scope, entity: &str, external_id: &str) -> ServiceResult<Option<Model>> {
    Ok(scope
        .select::<Entity>()
        .filter(Column::Entity.eq(entity))
        .filter(Column::ExternalId.eq(external_id))
        .one(scope.conn())
        .await?)
}

/// The records already holding the batch's external ids (deleted ones too): one query per 500.
async fn prefetch(tx: &TenantTx, entity: &str, items: &[Item]) -> ServiceResult<HashMap<String, Model>> {
    let wanted: BTreeSet<&str> = items.iter().map(|i| i.external_id.trim()).filter(|e| !e.is_empty()).collect();
    let wanted: Vec<&str> = wanted.into_iter().collect();
    let mut known = HashMap::new();
    for chunk in wanted.chunks(500) {
        let rows = tx
            .select::<Entity>()
            .filter(Column::Entity.eq(entity))
            .filter(Column::ExternalId.is_in(chunk.iter().copied()))
            .all(tx.conn())
            .await?;
        for row in rows {
            if let Some(external_id) = row.external_id.clone() {
                known.insert(external_id, row);
            }
        }
    }
    Ok(known)
}
