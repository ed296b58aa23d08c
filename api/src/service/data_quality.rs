//! Data quality: each entity's key fields (the information a good record
//! holds) and each record's completeness, the share of them it fills.
//!
//! Completeness is derived data kept on the record's row (`completeness`), so
//! that averages and distributions are aggregate SQL. Every write of a record
//! computes it through [`completeness`], from the same view the trace is built
//! from, before the insert or update: it costs no statement of its own. It is
//! not a change of the record: it moves no version and writes no trace.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use entity::{account, activity, contact, custom_record, key_field_set, lead, opportunity};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use super::catalog::FieldKind;
use super::custom_fields;
use super::entities::{self, EntityRef};
use super::records::{self, Record};
use super::{configuring, custom_records, picklists};
use crate::db::trace::{Change, ChangeType};
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

/// The entity type of key-field traces.
pub const ENTITY: &str = "KeyFields";

/// Records recomputed per statement pair (one read, a few updates) when a key-field list changes.
const CHUNK: u64 = 500;

/// Built-in key fields per core entity, used until an admin sets a list.
/// Custom entities have none by default: their required fields are filled in
/// every record written since they became required, so they would measure
/// nothing, and a default that followed the required flags would change
/// completeness without a write or a key-field change.
fn defaults(entity: &str) -> &'static [&'static str] {
    match entity {
        "Account" => {
            &["name", "type", "sector", "phone", "email", "website", "street", "city", "postalCode", "country"]
        }
        "Contact" => &["firstName", "lastName", "email", "phone", "title", "accountId"],
        "Lead" => &[
            "firstName",
            "lastName",
            "company",
            "title",
            "phone",
            "email",
            "street",
            "city",
            "state",
            "postalCode",
            "website",
        ],
        "Opportunity" => &["name", "amount", "closeDate", "stage", "accountId"],
        "Activity" => &["subject", "dueAt", "target"],
        _ => &[],
    }
}

/// The built-in key fields of an entity (none for custom entities).
pub fn default_key_fields(entity: &str) -> Vec<String> {
    defaults(entity).iter().map(|s| (*s).to_owned()).collect()
}

/// Every list an admin set, by entity, in one read (for metadata); entities
/// not in it use [`default_key_fields`].
pub async fn all_key_fields(scope: &impl Scope) -> ServiceResult<HashMap<String, Vec<String>>> {
    let rows = scope.select::<key_field_set::Entity>().all(scope.conn()).await?;
    Ok(rows.into_iter().map(|r| (r.entity, serde_json::from_value(r.fields).unwrap_or_default())).collect())
}

/// One key field, resolved against the entity's fields.
#[derive(Clone, Debug)]
pub struct KeyField {
    /// API name.
    pub name: String,
    /// The trace-view keys that hold its value (several for an activity's target).
    pub keys: Vec<String>,
    /// A custom field (its value lives in the `custom` JSON column).
    pub custom: bool,
    /// Database columns of a built-in field (SQL fill conditions).
    pub columns: &'static [&'static str],
    pub kind: FieldKind,
}

/// An entity's key fields as they apply now.
#[derive(Clone, Debug)]
pub struct KeyFields {
    pub fields: Vec<KeyField>,
    /// Whether an admin set the list (false: the defaults).
    pub overridden: bool,
}

impl KeyFields {
    pub fn names(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.name.clone()).collect()
    }

    /// The share of key fields `view` fills; 1.0 when there are none (nothing is missing).
    pub fn score(&self, view: &Value) -> f64 {
        if self.fields.is_empty() {
            return 1.0;
        }
        let filled = self.fields.iter().filter(|f| f.keys.iter().any(|k| is_filled(view.get(k)))).count();
        filled as f64 / self.fields.len() as f64
    }
}

/// Whether a trace-view value counts as filled: not null, text not blank, lists not empty.
pub fn is_filled(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(_) => true,
    }
}

/// THE completeness of a record of `entity` whose trace view is `view`: every
/// path that writes a record calls this, once, before its insert or update.
pub async fn completeness(tx: &TenantTx, entity: &str, view: &Value) -> ServiceResult<f64> {
    // `key_fields` reads the list holding the tenant's row: a concurrent
    // key-field change either commits first (and is read) or waits for this
    // write (and recomputes it).
    Ok(key_fields(tx, entity).await?.score(view))
}

/// The list an admin set for `entity`, as stored (`None`: the defaults apply).
async fn stored_names(scope: &impl Scope, entity: &str) -> ServiceResult<Option<Vec<String>>> {
    let stored = scope
        .select::<key_field_set::Entity>()
        .filter(key_field_set::Column::Entity.eq(entity))
        .one(scope.conn())
        .await?;
    stored
        .map(|row| {
            serde_json::from_value(row.fields)
                .map_err(|e| ServiceError::Internal(format!("stored key fields of {entity}: {e}")))
        })
        .transpose()
}

/// An entity's key fields: the admin's list, else the defaults (memoized per
/// transaction, so a bulk upsert reads them once). Names that no longer
/// exist (a deleted custom field) are left out.
pub async fn key_fields(scope: &impl Scope, entity: &str) -> ServiceResult<Arc<KeyFields>> {
    scope.config_ready().await?;
    if let Some(known) = scope.memo().and_then(|m| m.key_fields(entity)) {
        return Ok(known);
    }
    let stored = stored_names(scope, entity).await?;
    let overridden = stored.is_some();
    let names = stored.unwrap_or_else(|| default_key_fields(entity));
    let core = super::catalog::entity(entity);
    let mut fields = Vec::with_capacity(names.len());
    let mut defs = None;
    for name in names {
        if let Some(field) = core.and_then(|c| c.field(&name)) {
            let keys = field.keys_or_name().map(str::to_owned).collect();
            fields.push(KeyField { name, keys, custom: false, columns: field.columns, kind: field.kind });
            continue;
        }
        // Only read when the list names a custom field: the defaults never do.
        if defs.is_none() {
            defs = Some(custom_fields::definitions(scope, entity).await?);
        }
        if let Some(def) = defs.iter().flatten().find(|d| d.name == name) {
            let kind = custom_fields::kind(def)?;
            fields.push(KeyField { keys: vec![name.clone()], name, custom: true, columns: &[], kind });
        }
    }
    let resolved = Arc::new(KeyFields { fields, overridden });
    if let Some(memo) = scope.memo() {
        memo.remember_key_fields(entity, Some(resolved.clone()));
    }
    Ok(resolved)
}

/// The key fields of an entity the caller may read (unreadable: NOT_FOUND;
/// unknown: BAD_USER_INPUT on `entity`).
pub async fn list(scope: &impl Scope, entity: &str) -> ServiceResult<Vec<String>> {
    let target = entities::resolve(scope, "entity", entity).await?;
    super::catalog::require(&scope.actor().access, target.name(), crate::auth::access::Op::Read)?;
    Ok(key_fields(scope, target.name()).await?.names())
}

/// Sets an entity's key fields (admins only) and recomputes the completeness
/// of all the tenant's records of that entity, in the same transaction. An
/// empty list is allowed: every record is then complete (1.0).
pub async fn set(tx: &TenantTx, entity: &str, fields: Vec<String>) -> ServiceResult<Vec<String>> {
    configuring(tx).await?;
    let target = entities::resolve(tx, "entity", entity).await?;
    let name = target.name().to_owned();
    if let Some(memo) = tx.memo() {
        memo.remember_key_fields(&name, None);
    }
    let defs = custom_fields::definitions(tx, &name).await?;
    let mut seen = HashSet::new();
    for field in &fields {
        if !seen.insert(field.as_str()) {
            return Err(ServiceError::invalid("fields", format!("{field} is listed twice")));
        }
        match target.field(field) {
            Some(def) if def.server_set => {
                return Err(ServiceError::invalid("fields", format!("{field} is set by the server, not entered")));
            }
            Some(_) => {}
            None if defs.iter().any(|d| &d.name == field) => {}
            None => return Err(ServiceError::invalid("fields", format!("{name} has no field {field}"))),
        }
    }
    let current = key_fields(tx, &name).await?;
    if current.overridden && current.names() == fields {
        return Ok(fields);
    }
    store(tx, &target, current.names(), &fields).await?;
    Ok(fields)
}

/// Stores an entity's list, recomputes its records and traces the change.
async fn store(tx: &TenantTx, target: &EntityRef, before: Vec<String>, fields: &[String]) -> ServiceResult<()> {
    let name = target.name().to_owned();
    tx.delete_where::<key_field_set::Entity>(key_field_set::Column::Entity.eq(name.as_str())).await?;
    tx.insert(key_field_set::ActiveModel {
        entity: Set(name.clone()),
        fields: Set(json!(fields)),
        updated_at: Set(tx.now()),
        ..Default::default()
    })
    .await?;
    if let Some(memo) = tx.memo() {
        memo.remember_key_fields(&name, None);
    }
    recompute(tx, target).await?;
    // The list has no id of its own: the entity names it, in both views.
    tx.trace(Change {
        change_type: ChangeType::Update,
        entity_type: ENTITY.into(),
        entity_id: None,
        before: Some(json!({ "entity": name, "fields": before })),
        after: Some(json!({ "entity": name, "fields": fields })),
    })
    .await?;
    Ok(())
}

/// After custom field `field` of `entity` is deleted (its definition row
/// gone): an admin's list that named it loses it, and the entity's records
/// are recomputed, so a later field of the same name is no key field unasked.
pub async fn field_deleted(tx: &TenantTx, entity: &str, field: &str) -> ServiceResult<()> {
    tx.changing_config().await?;
    if let Some(memo) = tx.memo() {
        memo.remember_key_fields(entity, None);
        // This transaction changed the definitions: read them again.
        memo.forget_definitions(entity);
    }
    // The stored list, not the resolved one: resolution already leaves out
    // the deleted field, and the records still count it until recomputed.
    if let Some(before) = stored_names(tx, entity).await?
        && before.iter().any(|n| n == field)
    {
        let after: Vec<String> = before.iter().filter(|n| *n != field).cloned().collect();
        store(tx, &entities::resolve(tx, "entity", entity).await?, before, &after).await?;
    }
    Ok(())
}

/// Recomputes the completeness of every record of `target` in the tenant
/// (deleted ones too: a restore brings them back as they are), in chunks.
pub async fn recompute(tx: &TenantTx, target: &EntityRef) -> ServiceResult<()> {
    // Trace views show picklists by key: loading them once spares a read per record.
    for ((entity, field), options) in picklists::all(tx).await? {
        if let Some(memo) = tx.memo() {
            memo.remember_picklist(&entity, &field, &options);
        }
    }
    match target {
        EntityRef::Core(def) => match def.name {
            "Account" => recompute_core::<account::Entity>(tx).await,
            "Contact" => recompute_core::<contact::Entity>(tx).await,
            "Lead" => recompute_core::<lead::Entity>(tx).await,
            "Opportunity" => recompute_core::<opportunity::Entity>(tx).await,
            "Activity" => recompute_core::<activity::Entity>(tx).await,
            other => Err(ServiceError::Internal(format!("{other} has no record table"))),
        },
        EntityRef::Custom(def) => recompute_custom(tx, &def.name).await,
    }
}

async fn recompute_core<R: Record>(tx: &TenantTx) -> ServiceResult<()> {
    let mut last: Option<Uuid> = None;
    loop {
        let mut query = tx.select::<R>();
        if let Some(last) = last {
            query = query.filter(R::COLUMNS.id.gt(last));
        }
        let rows = query.order_by_asc(R::COLUMNS.id).limit(CHUNK).all(tx.conn()).await?;
        let Some(tail) = rows.last() else { return Ok(()) };
        last = Some(R::id(tail));
        let mut changed = Vec::new();
        for row in &rows {
            let view = records::snapshot::<R>(tx, row).await?;
            changed.push((R::id(row), R::completeness(row), completeness(tx, R::NAME, &view).await?));
        }
        for (value, ids) in by_value(changed) {
            tx.set_column_where::<R>(R::COLUMNS.completeness, value, R::COLUMNS.id.is_in(ids)).await?;
        }
        if (rows.len() as u64) < CHUNK {
            return Ok(());
        }
    }
}

async fn recompute_custom(tx: &TenantTx, entity: &str) -> ServiceResult<()> {
    use custom_record::{Column, Entity};
    let mut last: Option<Uuid> = None;
    loop {
        let mut query = tx.select::<Entity>().filter(Column::Entity.eq(entity));
        if let Some(last) = last {
            query = query.filter(Column::Id.gt(last));
        }
        let rows = query.order_by_asc(Column::Id).limit(CHUNK).all(tx.conn()).await?;
        let Some(tail) = rows.last() else { return Ok(()) };
        last = Some(tail.id);
        let mut changed = Vec::new();
        for row in &rows {
            let view = custom_records::snapshot(tx, row).await?;
            changed.push((row.id, row.completeness, completeness(tx, entity, &view).await?));
        }
        for (value, ids) in by_value(changed) {
            tx.set_column_where::<Entity>(Column::Completeness, value, Column::Id.is_in(ids)).await?;
        }
        if (rows.len() as u64) < CHUNK {
            return Ok(());
        }
    }
}

/// The records whose completeness moved, grouped by their new value: with n
/// key fields there are at most n + 1 values, so a chunk costs a few UPDATEs.
fn by_value(rows: Vec<(Uuid, f64, f64)>) -> Vec<(f64, Vec<Uuid>)> {
    let mut groups: HashMap<u64, (f64, Vec<Uuid>)> = HashMap::new();
    for (id, old, new) in rows {
        if old.to_bits() != new.to_bits() {
            groups.entry(new.to_bits()).or_insert_with(|| (new, Vec::new())).1.push(id);
        }
    }
    groups.into_values().collect()
}
