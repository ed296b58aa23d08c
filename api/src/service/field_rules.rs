//! Admins' rules on fields, enforced on every write through the record layer:
//! required built-in fields ("the minimum information a new customer needs")
//! and dependent picklists (sector → sub-sector), checked against the record
//! as it will be stored, whichever client or import wrote it.

use std::collections::HashMap;
use std::sync::Arc;

use entity::{field_definition, field_rule};
use sea_orm::{ColumnTrait, Condition, QueryFilter, Set};
use serde_json::{Map, Value, json};

use super::catalog::{self, EntityDef};
use super::custom_fields;
use super::entities::EntityRef;
use super::{configuring, picklists};
use crate::auth::access::Permissions;
use crate::db::trace::Change;
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

pub const ENTITY: &str = "FieldRule";

/// A dependent picklist: `field`'s options allowed by each `controlling` option.
#[derive(Clone, Debug)]
pub struct Dependency {
    pub field: String,
    pub controlling: String,
    pub allowed: HashMap<String, Vec<String>>,
}

/// The rules of one entity.
#[derive(Clone, Debug, Default)]
pub struct EntityRules {
    /// Built-in fields an admin made required.
    pub required: Vec<String>,
    pub dependencies: Vec<Dependency>,
}

fn parse(rows: Vec<field_rule::Model>) -> EntityRules {
    let mut rules = EntityRules::default();
    for row in rows {
        if row.required {
            rules.required.push(row.field.clone());
        }
        if let (Some(controlling), Some(Value::Object(allowed))) = (row.controlling_field, row.allowed) {
            let allowed = allowed
                .into_iter()
                .map(|(key, keys)| {
                    let keys =
                        keys.as_array().map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect());
                    (key, keys.unwrap_or_default())
                })
                .collect();
            rules.dependencies.push(Dependency { field: row.field, controlling, allowed });
        }
    }
    rules
}

/// The rules of an entity (memoized per transaction).
pub async fn rules(scope: &impl Scope, entity: &str) -> ServiceResult<Arc<EntityRules>> {
    scope.config_ready().await?;
    if let Some(known) = scope.memo().and_then(|m| m.field_rules(entity)) {
        return Ok(known);
    }
    let rows =
        scope.select::<field_rule::Entity>().filter(field_rule::Column::Entity.eq(entity)).all(scope.conn()).await?;
    let rules = Arc::new(parse(rows));
    if let Some(memo) = scope.memo() {
        memo.remember_field_rules(entity, rules.clone());
    }
    Ok(rules)
}

/// Every entity's rules (for metadata).
pub async fn all(scope: &impl Scope) -> ServiceResult<HashMap<String, EntityRules>> {
    let rows = scope.select::<field_rule::Entity>().all(scope.conn()).await?;
    let mut by_entity: HashMap<String, Vec<field_rule::Model>> = HashMap::new();
    for row in rows {
        by_entity.entry(row.entity.clone()).or_default().push(row);
    }
    Ok(by_entity.into_iter().map(|(entity, rows)| (entity, parse(rows))).collect())
}

fn empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

/// The trace keys holding a field's value (built-in fields may use other keys).
fn keys(def: Option<&'static EntityDef>, field: &str) -> Vec<String> {
    match def.and_then(|d| d.field(field)) {
        Some(f) => f.keys_or_name().map(str::to_owned).collect(),
        None => vec![field.to_owned()],
    }
}

/// Checks a record as it will be stored (`after`, its trace view). `changed`:
/// the keys this write changes, or `None` on create (everything is checked).
/// Rules only bind the fields a write touches, so a rule added later never
/// blocks an unrelated change to an old record.
pub fn check(
    access: &Permissions,
    rules: &EntityRules,
    entity: &str,
    after: &Map<String, Value>,
    changed: Option<&[String]>,
) -> ServiceResult<()> {
    let def = catalog::entity(entity);
    let touched =
        |field: &str| changed.is_none_or(|keys_changed| keys(def, field).iter().any(|k| keys_changed.contains(k)));
    for field in rules.required.iter().filter(|f| touched(f)) {
        if keys(def, field).iter().all(|k| empty(after.get(k))) {
            return Err(ServiceError::invalid(field.clone(), "is required"));
        }
    }
    for dep in &rules.dependencies {
        if !touched(&dep.field) && !touched(&dep.controlling) {
            continue;
        }
        let Some(Value::String(controlling)) = after.get(&dep.controlling) else { continue };
        let Some(allowed) = dep.allowed.get(controlling) else { continue };
        let chosen: Vec<&str> = match after.get(&dep.field) {
            Some(Value::String(key)) => vec![key.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if let Some(refused) = chosen.iter().find(|key| !allowed.iter().any(|a| a == *key)) {
            // The values are named only to a caller who may see both fields.
            if !access.can_see(entity, &dep.field) || !access.can_see(entity, &dep.controlling) {
                return Err(ServiceError::invalid(
                    dep.field.clone(),
                    format!("this value is not allowed with the record's {}", dep.controlling),
                ));
            }
            return Err(ServiceError::invalid(
                dep.field.clone(),
                format!(
                    "{refused:?} is not allowed when {} is {controlling:?}; allowed: {}",
                    dep.controlling,
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

async fn existing(tx: &TenantTx, entity: &str, field: &str) -> ServiceResult<Option<field_rule::Model>> {
    Ok(tx
        .select::<field_rule::Entity>()
        .filter(field_rule::Column::Entity.eq(entity))
        .filter(field_rule::Column::Field.eq(field))
        .one(tx.conn())
        .await?)
}

fn rule_json(rule: Option<&field_rule::Model>) -> Value {
    rule_view(
        rule.is_some_and(|r| r.required),
        rule.and_then(|r| r.controlling_field.clone()),
        rule.and_then(|r| r.allowed.clone()),
    )
}

fn rule_view(required: bool, controlling_field: Option<String>, allowed: Option<Value>) -> Value {
    json!({ "required": required, "controllingField": controlling_field, "allowed": allowed })
}

/// Writes a field's rule row (or removes it when it holds nothing) and traces it.
async fn store(
    tx: &TenantTx,
    entity: &str,
    field: &str,
    rule: field_rule::ActiveModel,
    keep: bool,
) -> ServiceResult<()> {
    let before = existing(tx, entity, field).await?;
    let wanted = if keep {
        rule_view(
            rule.required.try_as_ref().copied().unwrap_or_default(),
            rule.controlling_field.try_as_ref().cloned().flatten(),
            rule.allowed.try_as_ref().cloned().flatten(),
        )
    } else {
        rule_json(None)
    };
    // Saved as it was: nothing to write, nothing to trace.
    if wanted == rule_json(before.as_ref()) {
        return Ok(());
    }
    tx.delete_where::<field_rule::Entity>(
        Condition::all().add(field_rule::Column::Entity.eq(entity)).add(field_rule::Column::Field.eq(field)),
    )
    .await?;
    let after = if keep { Some(tx.insert(rule).await?) } else { None };
    let old = rule_json(before.as_ref());
    let new = rule_json(after.as_ref());
    if let Some(mut change) = Change::update(ENTITY, uuid::Uuid::nil(), &old, &new) {
        // A rule has no id of its own: the entity and field name it, in every trace.
        change.entity_id = None;
        for view in [change.before.as_mut(), change.after.as_mut()].into_iter().flatten() {
            view["entity"] = json!(entity);
            view["field"] = json!(field);
        }
        tx.trace(change).await?;
    }
    Ok(())
}

/// Makes a field required or optional (admins only). Custom fields carry the
/// flag on their definition; built-in ones that are always required or set by
/// the server cannot be changed.
pub async fn set_required(tx: &TenantTx, entity: &str, field: &str, required: bool) -> ServiceResult<bool> {
    configuring(tx).await?;
    let def = super::entities::resolve(tx, "entity", entity).await?;
    if let Some(builtin) = def.field(field) {
        if builtin.required || builtin.server_set {
            return Err(ServiceError::invalid("field", format!("{}.{field} cannot be changed", def.name())));
        }
        let before = existing(tx, def.name(), field).await?;
        let rule = field_rule::ActiveModel {
            entity: Set(def.name().to_owned()),
            field: Set(field.to_owned()),
            required: Set(required),
            controlling_field: Set(before.as_ref().and_then(|r| r.controlling_field.clone())),
            allowed: Set(before.as_ref().and_then(|r| r.allowed.clone())),
            ..Default::default()
        };
        let keep = required || before.as_ref().is_some_and(|r| r.controlling_field.is_some());
        store(tx, def.name(), field, rule, keep).await?;
        return Ok(required);
    }
    let custom = custom_field(tx, &def, field).await?;
    Ok(custom_fields::update(tx, custom.id, None, Some(required)).await?.required)
}

async fn custom_field(tx: &TenantTx, def: &EntityRef, field: &str) -> ServiceResult<field_definition::Model> {
    custom_fields::definitions(tx, def.name())
        .await?
        .into_iter()
        .find(|d| d.name == field)
        .ok_or_else(|| ServiceError::invalid("field", format!("{} has no field {field}", def.name())))
}

/// Whether a field is a picklist (and a multi-select one), built-in or custom.
async fn picklist_kind(tx: &TenantTx, def: &EntityRef, field: &str, input: &str) -> ServiceResult<bool> {
    let kind = match def.field(field) {
        Some(builtin) => builtin.kind,
        None => custom_fields::kind(
            &custom_field(tx, def, field)
                .await
                .map_err(|_| ServiceError::invalid(input, format!("{} has no field {field}", def.name())))?,
        )?,
    };
    match kind {
        catalog::FieldKind::Picklist => Ok(false),
        catalog::FieldKind::MultiPicklist => Ok(true),
        _ => Err(ServiceError::invalid(input, format!("{}.{field} is not a picklist", def.name()))),
    }
}

/// Limits the options of `field` by the value of `controlling` (admins only):
/// for each listed controlling option, only the given options of `field` are
/// allowed; unlisted controlling options allow everything. `None` removes the
/// dependency.
pub async fn set_dependency(
    tx: &TenantTx,
    entity: &str,
    field: &str,
    controlling: Option<&str>,
    allowed: Vec<(String, Vec<String>)>,
) -> ServiceResult<()> {
    configuring(tx).await?;
    let def = super::entities::resolve(tx, "entity", entity).await?;
    picklist_kind(tx, &def, field, "field").await?;
    let before = existing(tx, def.name(), field).await?;
    let required = before.as_ref().is_some_and(|r| r.required);
    let Some(controlling) = controlling else {
        let rule = field_rule::ActiveModel {
            entity: Set(def.name().to_owned()),
            field: Set(field.to_owned()),
            required: Set(required),
            controlling_field: Set(None),
            allowed: Set(None),
            ..Default::default()
        };
        return store(tx, def.name(), field, rule, required).await;
    };
    if controlling == field {
        return Err(ServiceError::invalid("controllingField", "a field cannot control itself"));
    }
    if picklist_kind(tx, &def, controlling, "controllingField").await? {
        return Err(ServiceError::invalid("controllingField", "must be a single-select picklist"));
    }
    let controlling_keys: Vec<String> =
        picklists::options(tx, def.name(), controlling).await?.into_iter().map(|o| o.key).collect();
    let field_keys: Vec<String> = picklists::options(tx, def.name(), field).await?.into_iter().map(|o| o.key).collect();
    let mut map = Map::new();
    for (key, keys) in allowed {
        if !controlling_keys.contains(&key) {
            return Err(ServiceError::invalid("rules.controllingKey", format!("{controlling} has no option {key:?}")));
        }
        if let Some(unknown) = keys.iter().find(|k| !field_keys.contains(k)) {
            return Err(ServiceError::invalid("rules.allowedKeys", format!("{field} has no option {unknown:?}")));
        }
        if map.insert(key.clone(), json!(keys)).is_some() {
            return Err(ServiceError::invalid("rules.controllingKey", format!("{key:?} is given twice")));
        }
    }
    let rule = field_rule::ActiveModel {
        entity: Set(def.name().to_owned()),
        field: Set(field.to_owned()),
        required: Set(required),
        controlling_field: Set(Some(controlling.to_owned())),
        allowed: Set(Some(Value::Object(map))),
        ..Default::default()
    };
    store(tx, def.name(), field, rule, true).await
}
