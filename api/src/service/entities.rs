//! Which entities exist in a tenant: the five core ones, plus the custom
//! entities its admins defined ("Course", "Complaint", …).

use entity::{
    custom_record, entity_access, entity_definition, field_access, field_definition, field_rule, key_field_set,
    picklist, picklist_option,
};
use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use super::catalog::{self, EntityDef};
use super::{configuring, validate};
use crate::db::trace::Change;
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

pub const ENTITY: &str = "EntityDefinition";

/// Names a custom entity cannot take: the core entities, and the types traces
/// use for administration and bookkeeping (a custom entity of that name would
/// make its readers see those traces, and be left out of adoption).
fn reserved(name: &str) -> bool {
    ["Account", "Contact", "Lead", "Opportunity", "Activity"]
        .iter()
        .chain(super::adoption::counters::SYSTEM_TYPES.iter())
        .any(|r| r.eq_ignore_ascii_case(name))
}

/// An entity of the tenant.
pub enum EntityRef {
    Core(&'static EntityDef),
    Custom(entity_definition::Model),
}

impl EntityRef {
    pub fn name(&self) -> &str {
        match self {
            Self::Core(def) => def.name,
            Self::Custom(def) => &def.name,
        }
    }

    /// A built-in field (custom entities have none).
    pub fn field(&self, name: &str) -> Option<&'static catalog::FieldDef> {
        self.core().and_then(|def| def.field(name))
    }

    /// The built-in fields (none for custom entities).
    pub fn fields(&self) -> &'static [catalog::FieldDef] {
        self.core().map_or(&[], |def| def.fields)
    }

    pub fn core(&self) -> Option<&'static EntityDef> {
        match self {
            Self::Core(def) => Some(def),
            Self::Custom(_) => None,
        }
    }
}

/// The tenant's custom entities, by name.
pub async fn custom(scope: &impl Scope) -> ServiceResult<Vec<entity_definition::Model>> {
    Ok(scope
        .select::<entity_definition::Entity>()
        .order_by_asc(entity_definition::Column::Name)
        .all(scope.conn())
        .await?)
}

pub async fn find_custom(scope: &impl Scope, name: &str) -> ServiceResult<Option<entity_definition::Model>> {
    Ok(scope
        .select::<entity_definition::Entity>()
        .filter(entity_definition::Column::Name.eq(name))
        .one(scope.conn())
        .await?)
}

/// An entity named in client input; an unknown one is BAD_USER_INPUT on `input`.
pub async fn resolve(scope: &impl Scope, input: &str, name: &str) -> ServiceResult<EntityRef> {
    let name = name.trim();
    if let Some(def) = catalog::entity(name) {
        return Ok(EntityRef::Core(def));
    }
    match find_custom(scope, name).await? {
        Some(def) => Ok(EntityRef::Custom(def)),
        None => Err(ServiceError::invalid(input, format!("unknown entity {name:?}"))),
    }
}

/// A custom entity by name, for its records' operations: unknown is
/// BAD_USER_INPUT on `entity`.
pub async fn custom_entity(scope: &impl Scope, name: &str) -> ServiceResult<entity_definition::Model> {
    match resolve(scope, "entity", name).await? {
        EntityRef::Custom(def) => Ok(def),
        EntityRef::Core(def) => {
            Err(ServiceError::invalid("entity", format!("{} is a built-in entity: use its own queries", def.name)))
        }
    }
}

fn snapshot(d: &entity_definition::Model) -> Value {
    json!({ "name": d.name, "label": d.label })
}

/// Defines a custom entity (admins only). Its fields are then added with
/// `custom_fields::create`; every profile may use it until an admin narrows that.
pub async fn create(tx: &TenantTx, name: &str, label: &str) -> ServiceResult<entity_definition::Model> {
    configuring(tx).await?;
    let name = name.trim().to_owned();
    let valid = (2..=50).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    if !valid {
        return Err(ServiceError::invalid(
            "name",
            "must be 2 to 50 letters and digits, starting with a capital letter",
        ));
    }
    if reserved(&name) {
        return Err(ServiceError::invalid("name", format!("{name} is a built-in entity type")));
    }
    let label = validate::required_text("label", label, 200)?;
    let taken = custom(tx).await?;
    if taken.iter().any(|d| d.name.eq_ignore_ascii_case(&name)) {
        return Err(ServiceError::Conflict(format!("an entity named {name} already exists")));
    }
    let created = tx
        .insert(entity_definition::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name),
            label: Set(label),
            created_at: Set(tx.now()),
            ..Default::default()
        })
        .await?;
    tx.trace(Change::create(ENTITY, created.id, snapshot(&created))).await?;
    Ok(created)
}

async fn get(tx: &TenantTx, id: Uuid) -> ServiceResult<entity_definition::Model> {
    tx.select::<entity_definition::Entity>()
        .filter(entity_definition::Column::Id.eq(id))
        .one(tx.conn())
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Relabels a custom entity (its API name stays, so clients and traces keep working).
pub async fn update(tx: &TenantTx, id: Uuid, label: &str) -> ServiceResult<entity_definition::Model> {
    configuring(tx).await?;
    let before = get(tx, id).await?;
    let mut model: entity_definition::ActiveModel = before.clone().into();
    model.label = Set(validate::required_text("label", label, 200)?);
    let after = tx.update(model).await?;
    if let Some(change) = Change::update(ENTITY, id, &snapshot(&before), &snapshot(&after)) {
        tx.trace(change).await?;
    }
    Ok(after)
}

/// Deletes a custom entity that has no records (deleted ones included: their
/// traces name it), with its fields, picklists and access rules.
pub async fn delete(tx: &TenantTx, id: Uuid) -> ServiceResult<entity_definition::Model> {
    configuring(tx).await?;
    let def = get(tx, id).await?;
    let records = tx
        .select::<custom_record::Entity>()
        .filter(custom_record::Column::Entity.eq(def.name.as_str()))
        .count(tx.conn())
        .await?;
    if records > 0 {
        return Err(ServiceError::Conflict(format!("{} has {records} record(s); it cannot be deleted", def.name)));
    }
    let name = def.name.as_str();
    let lists: Vec<Uuid> = tx
        .select::<picklist::Entity>()
        .filter(picklist::Column::Entity.eq(name))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|l| l.id)
        .collect();
    tx.delete_where::<picklist_option::Entity>(picklist_option::Column::PicklistId.is_in(lists.clone())).await?;
    tx.delete_where::<picklist::Entity>(picklist::Column::Id.is_in(lists)).await?;
    tx.delete_where::<field_definition::Entity>(field_definition::Column::Entity.eq(name)).await?;
    tx.delete_where::<field_rule::Entity>(field_rule::Column::Entity.eq(name)).await?;
    // A later entity of the same name starts with no key fields, like any new one.
    tx.delete_where::<key_field_set::Entity>(key_field_set::Column::Entity.eq(name)).await?;
    let profiles: Vec<Uuid> = tx
        .select::<entity_access::Entity>()
        .filter(entity_access::Column::Entity.eq(name))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|r| r.profile_id)
        .chain(
            tx.select::<field_access::Entity>()
                .filter(field_access::Column::Entity.eq(name))
                .all(tx.conn())
                .await?
                .into_iter()
                .map(|r| r.profile_id),
        )
        .collect();
    tx.delete_where::<entity_access::Entity>(entity_access::Column::Entity.eq(name)).await?;
    tx.delete_where::<field_access::Entity>(field_access::Column::Entity.eq(name)).await?;
    for profile in profiles {
        tx.bump_access_version(profile).await?;
    }
    tx.delete_where::<entity_definition::Entity>(entity_definition::Column::Id.eq(id)).await?;
    tx.trace(Change::delete(ENTITY, id, snapshot(&def))).await?;
    Ok(def)
}
