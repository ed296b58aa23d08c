//! Custom fields: admins add typed fields to the core entities; their values
//! live in each record's `custom` JSON column, stored normalized so that equal
//! values are equal JSON (see the custom-fields migration for why).
//!
//! Stored forms: text kinds as cleaned strings, INTEGER as a number, DECIMAL as
//! an integer of ten-thousandths, BOOLEAN as a boolean, DATE as `YYYY-MM-DD`,
//! DATETIME as fixed-width UTC text (so text order is time order), PICKLIST as
//! an option id, MULTI_PICKLIST as a sorted array of option ids, REFERENCE as
//! the record id.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    account, activity, contact, custom_record, field_definition, lead, opportunity, picklist, picklist_option,
};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Condition, Expr, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, QueryFilter, QueryOrder, Set};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::catalog::FieldKind;
use super::picklists::{self, Choosable};
use super::records::{self, Record};
use super::{configuring, validate};
use super::{custom_records, entities};
use crate::auth::access::Permissions;
use crate::db::trace::Change;
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

pub const ENTITY: &str = "FieldDefinition";
/// Custom fields per entity: forms stay usable, rows stay small.
pub const MAX_FIELDS: usize = 100;
const DECIMAL_SCALE: u32 = 4;
const MAX_DECIMAL: i64 = 1_000_000_000_000;

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "TEXT",
            Self::LongText => "LONG_TEXT",
            Self::Integer => "INTEGER",
            Self::Decimal => "DECIMAL",
            Self::Boolean => "BOOLEAN",
            Self::Date => "DATE",
            Self::DateTime => "DATETIME",
            Self::Email => "EMAIL",
            Self::Phone => "PHONE",
            Self::Url => "URL",
            Self::Picklist => "PICKLIST",
            Self::MultiPicklist => "MULTI_PICKLIST",
            Self::Reference => "REFERENCE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Text,
            Self::LongText,
            Self::Integer,
            Self::Decimal,
            Self::Boolean,
            Self::Date,
            Self::DateTime,
            Self::Email,
            Self::Phone,
            Self::Url,
            Self::Picklist,
            Self::MultiPicklist,
            Self::Reference,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// The kind of a stored definition (an unknown one is a server bug).
pub fn kind(def: &field_definition::Model) -> ServiceResult<FieldKind> {
    FieldKind::parse(&def.kind).ok_or_else(|| ServiceError::Internal(format!("unknown field kind {}", def.kind)))
}

/// The custom fields of an entity, in form order (memoized per transaction).
pub async fn definitions(scope: &impl Scope, entity: &str) -> ServiceResult<Vec<field_definition::Model>> {
    scope.config_ready().await?;
    if let Some(known) = scope.memo().and_then(|m| m.definitions(entity)) {
        return Ok(known);
    }
    let defs = scope
        .select::<field_definition::Entity>()
        .filter(field_definition::Column::Entity.eq(entity))
        .order_by_asc(field_definition::Column::Position)
        .order_by_asc(field_definition::Column::Id)
        .all(scope.conn())
        .await?;
    if let Some(memo) = scope.memo() {
        memo.remember_definitions(entity, &defs);
    }
    Ok(defs)
}

/// Every custom field of the tenant by entity (for metadata).
pub async fn all(scope: &impl Scope) -> ServiceResult<HashMap<String, Vec<field_definition::Model>>> {
    let defs = scope
        .select::<field_definition::Entity>()
        .order_by_asc(field_definition::Column::Position)
        .order_by_asc(field_definition::Column::Id)
        .all(scope.conn())
        .await?;
    let mut by_entity: HashMap<String, Vec<field_definition::Model>> = HashMap::new();
    for def in defs {
        by_entity.entry(def.entity.clone()).or_default().push(def);
    }
    Ok(by_entity)
}

/// A new custom field, as an admin describes it.
pub struct NewField {
    pub entity: String,
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
    /// Picklists: the options, as (key, label), in order.
    pub options: Vec<(String, String)>,
    /// References: the entity referred to.
    pub reference_to: Option<String>,
}

fn valid_name(name: &str) -> bool {
    (2..=50).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Names a record's view or input already uses for something else.
const RESERVED: [&str; 12] = [
    "id",
    "owner",
    "ownerId",
    "externalId",
    "createdAt",
    "updatedAt",
    "createdBy",
    "updatedBy",
    "version",
    "history",
    "customFields",
    "field",
];

/// Adds a custom field to an entity (admins only). Required fields apply to
/// records created or changed from now on.
pub async fn create(tx: &TenantTx, new: NewField) -> ServiceResult<field_definition::Model> {
    configuring(tx).await?;
    let target = entities::resolve(tx, "entity", &new.entity).await?;
    let entity = target.name().to_owned();
    let name = new.name.trim().to_owned();
    if !valid_name(&name) {
        return Err(ServiceError::invalid(
            "name",
            "must be 2 to 50 letters and digits, starting with a lowercase letter",
        ));
    }
    let clashes = target.core().is_some_and(|core| {
        core.fields.iter().any(|f| f.outputs_or_name().chain(f.keys_or_name()).any(|o| o.eq_ignore_ascii_case(&name)))
    });
    if clashes || RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&name)) {
        return Err(ServiceError::invalid("name", format!("{name} is a built-in field of {entity}")));
    }
    let label = validate::required_text("label", &new.label, 200)?;
    let existing = definitions(tx, &entity).await?;
    if existing.iter().any(|d| d.name.eq_ignore_ascii_case(&name)) {
        return Err(ServiceError::Conflict(format!("{entity} already has a field {name}")));
    }
    if existing.len() >= MAX_FIELDS {
        return Err(ServiceError::invalid("entity", format!("an entity has at most {MAX_FIELDS} custom fields")));
    }
    let picklist = matches!(new.kind, FieldKind::Picklist | FieldKind::MultiPicklist);
    if picklist && new.options.is_empty() {
        return Err(ServiceError::invalid("options", "a picklist needs at least one option"));
    }
    if !picklist && !new.options.is_empty() {
        return Err(ServiceError::invalid("options", "only picklists have options"));
    }
    let reference_to = match (new.kind, new.reference_to.as_deref()) {
        (FieldKind::Reference, Some(target)) => {
            Some(entities::resolve(tx, "referenceTo", target).await?.name().to_owned())
        }
        (FieldKind::Reference, None) => {
            return Err(ServiceError::invalid("referenceTo", "a reference needs its entity"));
        }
        (_, Some(_)) => return Err(ServiceError::invalid("referenceTo", "only references refer to an entity")),
        (_, None) => None,
    };
    let created = tx
        .insert(field_definition::ActiveModel {
            id: Set(Uuid::now_v7()),
            entity: Set(entity.clone()),
            name: Set(name.clone()),
            label: Set(label),
            kind: Set(new.kind.as_str().to_owned()),
            required: Set(new.required),
            reference_to: Set(reference_to),
            position: Set(existing.iter().map(|d| d.position).max().map_or(0, |p| p + 1)),
            created_at: Set(tx.now()),
            ..Default::default()
        })
        .await?;
    if picklist {
        picklists::create_list(tx, &entity, &name, new.kind == FieldKind::MultiPicklist, &new.options).await?;
    }
    tx.trace(Change::create(ENTITY, created.id, definition_json(&created))).await?;
    Ok(created)
}

fn definition_json(d: &field_definition::Model) -> Value {
    json!({
        "entity": d.entity, "name": d.name, "label": d.label, "type": d.kind,
        "required": d.required, "referenceTo": d.reference_to,
    })
}

async fn get(tx: &TenantTx, id: Uuid) -> ServiceResult<field_definition::Model> {
    tx.select::<field_definition::Entity>()
        .filter(field_definition::Column::Id.eq(id))
        .one(tx.conn())
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Relabels a field or changes whether it is required; its data stays.
pub async fn update(
    tx: &TenantTx,
    id: Uuid,
    label: Option<String>,
    required: Option<bool>,
) -> ServiceResult<field_definition::Model> {
    configuring(tx).await?;
    let before = get(tx, id).await?;
    let mut model: field_definition::ActiveModel = before.clone().into();
    if let Some(label) = label {
        model.label = Set(validate::required_text("label", &label, 200)?);
    }
    if let Some(required) = required {
        model.required = Set(required);
    }
    let after = tx.update(model).await?;
    if let Some(change) = Change::update(ENTITY, id, &definition_json(&before), &definition_json(&after)) {
        tx.trace(change).await?;
    }
    Ok(after)
}

/// Deletes a field. When records hold values for it, `force` is required; the
/// values are then removed from those records and recorded in the trace.
pub async fn delete(tx: &TenantTx, id: Uuid, force: bool) -> ServiceResult<field_definition::Model> {
    configuring(tx).await?;
    let def = get(tx, id).await?;
    let removed = match def.entity.as_str() {
        "Account" => strip::<account::Entity>(tx, &def, force).await?,
        "Contact" => strip::<contact::Entity>(tx, &def, force).await?,
        "Lead" => strip::<lead::Entity>(tx, &def, force).await?,
        "Opportunity" => strip::<opportunity::Entity>(tx, &def, force).await?,
        "Activity" => strip::<activity::Entity>(tx, &def, force).await?,
        _ => strip_custom(tx, &def, force).await?,
    };
    tx.delete_where::<field_definition::Entity>(field_definition::Column::Id.eq(id)).await?;
    if let Some(list) = tx
        .select::<picklist::Entity>()
        .filter(picklist::Column::Entity.eq(def.entity.as_str()))
        .filter(picklist::Column::Field.eq(def.name.as_str()))
        .one(tx.conn())
        .await?
    {
        tx.delete_where::<picklist_option::Entity>(picklist_option::Column::PicklistId.eq(list.id)).await?;
        tx.delete_where::<picklist::Entity>(picklist::Column::Id.eq(list.id)).await?;
    }
    let mut before = definition_json(&def);
    before["removedValues"] = Value::Object(removed);
    tx.trace(Change::delete(ENTITY, id, before)).await?;
    super::data_quality::field_deleted(tx, &def.entity, &def.name).await?;
    Ok(def)
}

/// Removes a field's values from every record of `R` (deleted ones too); the
/// removed values by record id. Each record's version moves on, so a client
/// holding the old version cannot write back the removed value unnoticed.
async fn strip<R: Record>(
    tx: &TenantTx,
    def: &field_definition::Model,
    force: bool,
) -> ServiceResult<Map<String, Value>> {
    let holders = tx
        .select::<R>()
        .filter(present(tx.conn().get_database_backend(), &table::<R>(), &def.name, true))
        .all(tx.conn())
        .await?;
    if holders.is_empty() {
        return Ok(Map::new());
    }
    if !force {
        return Err(ServiceError::Conflict(format!(
            "{} record(s) hold a value for {}; delete with force to remove them",
            holders.len(),
            def.name
        )));
    }
    let mut removed = Map::new();
    for holder in holders {
        let mut values = R::custom(&holder).and_then(Value::as_object).cloned().unwrap_or_default();
        if let Some(value) = values.remove(&def.name) {
            removed.insert(R::id(&holder).to_string(), value);
        }
        records::write_custom::<R>(tx, holder, values).await?;
    }
    Ok(removed)
}

/// [`strip`] for the records of a custom entity.
async fn strip_custom(tx: &TenantTx, def: &field_definition::Model, force: bool) -> ServiceResult<Map<String, Value>> {
    let holders = tx
        .select::<custom_record::Entity>()
        .filter(custom_record::Column::Entity.eq(def.entity.as_str()))
        .filter(present(tx.conn().get_database_backend(), "custom_record", &def.name, true))
        .all(tx.conn())
        .await?;
    if !holders.is_empty() && !force {
        return Err(ServiceError::Conflict(format!(
            "{} record(s) hold a value for {}; delete with force to remove them",
            holders.len(),
            def.name
        )));
    }
    let mut removed = Map::new();
    for holder in holders {
        let mut values = holder.custom.as_ref().and_then(Value::as_object).cloned().unwrap_or_default();
        if let Some(value) = values.remove(&def.name) {
            removed.insert(holder.id.to_string(), value);
        }
        custom_records::write_values(tx, holder, values).await?;
    }
    Ok(removed)
}

fn table<R: Record>() -> String {
    sea_orm::EntityName::table_name(&R::default()).to_owned()
}

fn decimal_e4(field: &str, value: &Value) -> ServiceResult<i64> {
    let parsed = match value {
        Value::String(s) => Decimal::from_str(s.trim()).ok(),
        Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
        _ => None,
    }
    .ok_or_else(|| ServiceError::invalid(field, "must be a decimal number"))?;
    if parsed.normalize().scale() > DECIMAL_SCALE {
        return Err(ServiceError::invalid(field, format!("must have at most {DECIMAL_SCALE} decimal places")));
    }
    if parsed.abs() > Decimal::from(MAX_DECIMAL) {
        return Err(ServiceError::invalid(field, format!("must be between -{MAX_DECIMAL} and {MAX_DECIMAL}")));
    }
    (parsed * Decimal::from(10_i64.pow(DECIMAL_SCALE)))
        .trunc()
        .mantissa()
        .try_into()
        .map_err(|_| ServiceError::invalid(field, "is out of range"))
}

fn text_value(field: &str, value: &Value) -> ServiceResult<String> {
    value.as_str().map(str::to_owned).ok_or_else(|| ServiceError::invalid(field, "must be a string"))
}

/// One value as given by a client, normalized to its stored form (`None`: empty).
/// `choosable` is `ActiveOnly` for writes, `Any` for filters.
pub async fn normalize(
    scope: &impl Scope,
    def: &field_definition::Model,
    input: &str,
    value: &Value,
    choosable: Choosable,
) -> ServiceResult<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    let text = || text_value(input, value);
    let kind = kind(def)?;
    let stored = match kind {
        FieldKind::Text => validate::optional_text(input, Some(&text()?), 255)?.map(Value::from),
        FieldKind::LongText => {
            let raw = text()?;
            let trimmed = raw.trim();
            if trimmed.chars().count() > 10_000 {
                return Err(ServiceError::invalid(input, "must be at most 10000 characters"));
            }
            (!trimmed.is_empty()).then(|| Value::from(trimmed))
        }
        FieldKind::Email => validate::optional_email(input, Some(&text()?))?.map(Value::from),
        FieldKind::Phone => validate::optional_phone(input, Some(&text()?))?.map(Value::from),
        FieldKind::Url => validate::optional_url(input, Some(&text()?))?.map(Value::from),
        FieldKind::Integer => {
            let n = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            let n = n.ok_or_else(|| ServiceError::invalid(input, "must be a whole number"))?;
            if n.unsigned_abs() > 9_007_199_254_740_991 {
                return Err(ServiceError::invalid(input, "must be within ±9007199254740991"));
            }
            Some(Value::from(n))
        }
        FieldKind::Decimal => Some(Value::from(decimal_e4(input, value)?)),
        FieldKind::Boolean => {
            Some(Value::from(value.as_bool().ok_or_else(|| ServiceError::invalid(input, "must be true or false"))?))
        }
        FieldKind::Date => {
            let date = NaiveDate::parse_from_str(text()?.trim(), "%Y-%m-%d")
                .map_err(|_| ServiceError::invalid(input, "must be a date like 2026-12-31"))?;
            validate::date(input, date)?;
            Some(Value::from(date.format("%Y-%m-%d").to_string()))
        }
        FieldKind::DateTime => {
            let at = DateTime::parse_from_rfc3339(text()?.trim())
                .map_err(|_| ServiceError::invalid(input, "must be an RFC 3339 time like 2026-12-31T09:00:00Z"))?
                .with_timezone(&Utc);
            validate::datetime(input, at)?;
            Some(Value::from(stored_time(at)))
        }
        FieldKind::Picklist => {
            let key = text()?;
            if key.trim().is_empty() {
                None
            } else {
                let id = picklists::resolve(scope, &def.entity, &def.name, input, &key, choosable).await?;
                Some(Value::from(id.to_string()))
            }
        }
        FieldKind::MultiPicklist => {
            let items = match value {
                Value::Array(items) => items.clone(),
                Value::String(_) => vec![value.clone()],
                _ => return Err(ServiceError::invalid(input, "must be a list of option keys")),
            };
            let mut ids = Vec::new();
            for item in &items {
                let key = text_value(input, item)?;
                let id = picklists::resolve(scope, &def.entity, &def.name, input, &key, choosable).await?;
                ids.push(id.to_string());
            }
            ids.sort_unstable();
            ids.dedup();
            (!ids.is_empty()).then(|| Value::from(ids))
        }
        FieldKind::Reference => {
            let raw = text()?;
            let id = Uuid::try_parse(raw.trim()).map_err(|_| ServiceError::invalid(input, "is not a valid id"))?;
            let target = def.reference_to.as_deref().unwrap_or_default();
            match target {
                "Account" => records::reference::<account::Entity>(scope, input, id).await?,
                "Contact" => records::reference::<contact::Entity>(scope, input, id).await?,
                "Lead" => records::reference::<lead::Entity>(scope, input, id).await?,
                "Opportunity" => records::reference::<opportunity::Entity>(scope, input, id).await?,
                "Activity" => records::reference::<activity::Entity>(scope, input, id).await?,
                custom => {
                    if !custom_records::exists(scope, custom, id).await? {
                        return Err(ServiceError::invalid(input, format!("no such {}", custom.to_lowercase())));
                    }
                    id
                }
            };
            Some(Value::from(id.to_string()))
        }
    };
    Ok(stored)
}

/// Fixed-width UTC text: comparing the text compares the times.
fn stored_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Applies a client's custom values onto a record's stored ones: each must be
/// a known field the caller may edit; `null` clears; required fields must hold
/// a value after the write. `None` when the record has none at all.
pub async fn apply(
    tx: &TenantTx,
    entity: &str,
    current: Option<&Value>,
    given: Option<Map<String, Value>>,
    creating: bool,
) -> ServiceResult<Option<Option<Value>>> {
    let defs = definitions(tx, entity).await?;
    if defs.is_empty() && given.as_ref().is_none_or(Map::is_empty) {
        return Ok(None);
    }
    let mut values = current.and_then(Value::as_object).cloned().unwrap_or_default();
    let touched = given.is_some();
    for (name, value) in given.unwrap_or_default() {
        let input = format!("customFields.{name}");
        let Some(def) = defs.iter().find(|d| d.name == name) else {
            return Err(ServiceError::invalid(input, format!("{entity} has no custom field {name}")));
        };
        super::catalog::require_edit(tx.actor().access.field(entity, &name), input.clone())?;
        match normalize(tx, def, &input, &value, Choosable::ActiveOnly).await? {
            Some(stored) => values.insert(name, stored),
            None => values.remove(&name),
        };
    }
    if creating || touched {
        for def in defs.iter().filter(|d| d.required) {
            if !values.contains_key(&def.name) {
                return Err(ServiceError::invalid(format!("customFields.{}", def.name), "is required"));
            }
        }
    }
    if !touched && !creating {
        return Ok(None);
    }
    Ok(Some((!values.is_empty()).then_some(Value::Object(values))))
}

/// The option ids a record's stored values name (to load them in one go).
pub fn option_ids(stored: Option<&Value>) -> Vec<Uuid> {
    let Some(values) = stored.and_then(Value::as_object) else { return Vec::new() };
    values
        .values()
        .flat_map(|v| match v {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        })
        .filter_map(|v| v.as_str().and_then(|s| Uuid::try_parse(s).ok()))
        .collect()
}

/// Stored values as clients and traces see them: picklists by key, decimals as
/// decimal text, in the definitions' order; values of deleted fields are left out.
pub fn render(
    defs: &[field_definition::Model],
    stored: Option<&Value>,
    options: &HashMap<Uuid, picklist_option::Model>,
) -> ServiceResult<Map<String, Value>> {
    let Some(values) = stored.and_then(Value::as_object) else { return Ok(Map::new()) };
    let key_of = |v: &Value| -> Value {
        v.as_str()
            .and_then(|s| Uuid::try_parse(s).ok())
            .and_then(|id| options.get(&id))
            .map_or(Value::Null, |o| Value::from(o.key.clone()))
    };
    let mut view = Map::new();
    for def in defs {
        let Some(value) = values.get(&def.name) else { continue };
        let shown = match kind(def)? {
            FieldKind::Picklist => key_of(value),
            FieldKind::MultiPicklist => {
                Value::from(value.as_array().map(|items| items.iter().map(key_of).collect::<Vec<_>>()))
            }
            FieldKind::Decimal => value
                .as_i64()
                .map_or(Value::Null, |e4| Value::from(Decimal::new(e4, DECIMAL_SCALE).normalize().to_string())),
            _ => value.clone(),
        };
        view.insert(def.name.clone(), shown);
    }
    Ok(view)
}

/// The trace view of a record's custom values (all of them: traces are
/// filtered for their reader when read).
pub async fn view(scope: &impl Scope, entity: &str, stored: Option<&Value>) -> ServiceResult<Map<String, Value>> {
    if stored.and_then(Value::as_object).is_none_or(Map::is_empty) {
        return Ok(Map::new());
    }
    let defs = definitions(scope, entity).await?;
    let ids = option_ids(stored);
    let options = if ids.is_empty() { HashMap::new() } else { picklists::by_ids(scope, &ids).await? };
    render(&defs, stored, &options)
}

/// What a reader may see of a record's custom values.
pub fn shown(
    access: &Permissions,
    entity: &str,
    defs: &[field_definition::Model],
    stored: Option<&Value>,
    options: &HashMap<Uuid, picklist_option::Model>,
) -> ServiceResult<Map<String, Value>> {
    let mut view = render(defs, stored, options)?;
    view.retain(|name, _| access.can_see(entity, name));
    Ok(view)
}

/// One custom field of a record, for the typed accessor: its definition and
/// rendered value. A field the reader may not see is FORBIDDEN; an unknown
/// one is BAD_USER_INPUT.
pub fn one<'a>(
    access: &Permissions,
    entity: &str,
    defs: &'a [field_definition::Model],
    name: &str,
) -> ServiceResult<&'a field_definition::Model> {
    let def = defs
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| ServiceError::invalid("name", format!("{entity} has no custom field {name}")))?;
    if !access.can_see(entity, name) {
        return Err(ServiceError::ForbiddenField {
            field: name.to_owned(),
            message: "is hidden by your profile".into(),
        });
    }
    Ok(def)
}

/// A filter on one custom field.
#[derive(Clone, Debug)]
pub enum Test {
    Equals(Value),
    Contains(String),
    Range(Option<Value>, Option<Value>),
    Present(bool),
}

fn json_path(backend: DbBackend, table: &str, name: &str) -> String {
    // `name` matched `valid_name` (letters and digits) when the field was created.
    match backend {
        DbBackend::Postgres => format!("(\"{table}\".\"custom\" -> '{name}')"),
        _ => format!("json_extract(\"{table}\".\"custom\", '$.{name}')"),
    }
}

fn json_text(backend: DbBackend, table: &str, name: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("(\"{table}\".\"custom\" ->> '{name}')"),
        _ => json_path(backend, table, name),
    }
}

/// SQL that holds when a row of `table` has a value for custom field `name`
/// (values are stored normalized: blank text and empty lists are never stored).
pub fn present_sql(backend: DbBackend, table: &str, name: &str) -> String {
    format!("{} IS NOT NULL", json_path(backend, table, name))
}

fn present(backend: DbBackend, table: &str, name: &str, wanted: bool) -> SimpleExpr {
    let path = json_path(backend, table, name);
    Expr::cust(if wanted { format!("{path} IS NOT NULL") } else { format!("{path} IS NULL") })
}

fn sql_value(value: &Value) -> sea_orm::Value {
    match value {
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => n.as_i64().map_or_else(|| n.to_string().into(), Into::into),
        Value::String(s) => s.clone().into(),
        other => other.to_string().into(),
    }
}

/// The condition a custom-field filter puts on `R`'s rows.
pub async fn condition<R: Record>(scope: &impl Scope, name: &str, test: &Test) -> ServiceResult<Condition> {
    condition_on(scope, R::NAME, &table::<R>(), name, test).await
}

/// The condition a filter on custom field `name` of `entity` puts on rows of `table`.
pub async fn condition_on(
    scope: &impl Scope,
    entity: &str,
    table: &str,
    name: &str,
    test: &Test,
) -> ServiceResult<Condition> {
    let input = format!("filter.custom.{name}");
    let defs = definitions(scope, entity).await?;
    let def = defs
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| ServiceError::invalid(&input, format!("{entity} has no custom field {name}")))?;
    if !scope.actor().access.can_see(entity, name) {
        return Err(ServiceError::invalid("filter", format!("{name} is not visible to your profile")));
    }
    let backend = scope.conn().get_database_backend();
    let table = table.to_owned();
    let kind = kind(def)?;
    let numeric = matches!(kind, FieldKind::Integer | FieldKind::Decimal);
    let placeholder = if backend == DbBackend::Postgres { "$1" } else { "?" };
    let expr = match test {
        Test::Present(wanted) => present(backend, &table, name, *wanted),
        Test::Equals(value) => {
            let Some(stored) = normalize(scope, def, &input, value, Choosable::Any).await? else {
                return Ok(Condition::all().add(present(backend, &table, name, false)));
            };
            match backend {
                // Containment: the GIN index on `custom` answers it. For a
                // multi-picklist, "holds this option".
                DbBackend::Postgres => Expr::cust_with_values(
                    format!("\"{table}\".\"custom\" @> $1::jsonb"),
                    [json!({ name: stored }).to_string()],
                ),
                // Several options given: the record must hold each (as containment does).
                _ if kind == FieldKind::MultiPicklist => {
                    let mut all = Condition::all();
                    for option in stored.as_array().into_iter().flatten() {
                        all = all.add(Expr::cust_with_values(
                            format!(
                                "EXISTS (SELECT 1 FROM json_each(\"{table}\".\"custom\", '$.{name}') WHERE value = ?)"
                            ),
                            [sql_value(option)],
                        ));
                    }
                    return Ok(all);
                }
                _ => Expr::cust_with_values(format!("{} = ?", json_path(backend, &table, name)), [sql_value(&stored)]),
            }
        }
        Test::Contains(needle) => {
            if !matches!(
                kind,
                FieldKind::Text | FieldKind::LongText | FieldKind::Email | FieldKind::Phone | FieldKind::Url
            ) {
                return Err(ServiceError::invalid(&input, "contains works on text fields"));
            }
            let escaped = needle.trim().to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            Expr::cust_with_values(
                format!("lower({}) LIKE {placeholder} ESCAPE '\\'", json_text(backend, &table, name)),
                [format!("%{escaped}%")],
            )
        }
        Test::Range(from, to) => {
            if !(numeric || matches!(kind, FieldKind::Date | FieldKind::DateTime)) {
                return Err(ServiceError::invalid(&input, "ranges work on numbers, dates and times"));
            }
            let mut all = Condition::all();
            for (bound, op) in [(from, ">="), (to, "<=")] {
                let Some(bound) = bound else { continue };
                let Some(stored) = normalize(scope, def, &input, bound, Choosable::Any).await? else { continue };
                let column = if numeric && backend == DbBackend::Postgres {
                    format!("{}::numeric", json_text(backend, &table, name))
                } else {
                    json_text(backend, &table, name)
                };
                all = all.add(Expr::cust_with_values(format!("{column} {op} {placeholder}"), [sql_value(&stored)]));
            }
            return Ok(all);
        }
    };
    Ok(Condition::all().add(expr))
}

/// The expression a list orders by for a custom field (NULLs handled by the caller).
pub async fn order_expr<R: Record>(scope: &impl Scope, name: &str) -> ServiceResult<SimpleExpr> {
    order_on(scope, R::NAME, &table::<R>(), name).await
}

/// The expression ordering rows of `table` by custom field `name` of `entity`.
pub async fn order_on(scope: &impl Scope, entity: &str, table: &str, name: &str) -> ServiceResult<SimpleExpr> {
    let defs = definitions(scope, entity).await?;
    if !defs.iter().any(|d| d.name == name) {
        return Err(ServiceError::invalid("orderBy.customField", format!("{entity} has no custom field {name}")));
    }
    if !scope.actor().access.can_see(entity, name) {
        return Err(ServiceError::invalid("orderBy", format!("{name} is not visible to your profile")));
    }
    Ok(Expr::cust(json_path(scope.conn().get_database_backend(), table, name)))
}
