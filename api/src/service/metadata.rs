//! What the caller may see and do, for frontends to build forms and lists from.

use std::sync::Arc;

use entity::picklist_option;

use super::catalog::{self, FieldKind};
use super::{custom_fields, data_quality, entities, field_rules, picklists, profiles};
use crate::auth::access::{EntityRights, FieldAccess, Op, Permissions};
use crate::db::Scope;
use crate::error::ServiceResult;

pub struct FieldMeta {
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
    pub server_set: bool,
    pub custom: bool,
    /// A key field of the entity (data quality).
    pub is_key: bool,
    pub refers_to: Vec<String>,
    /// READ or EDIT (hidden fields are not listed).
    pub access: FieldAccess,
    /// Picklist options in order, inactive ones included (and flagged).
    pub options: Vec<picklist_option::Model>,
    /// A dependent picklist: its controlling field and rules.
    pub dependency: Option<field_rules::Dependency>,
}

pub struct EntityMeta {
    pub name: String,
    pub label: String,
    pub custom: bool,
    pub rights: EntityRights,
    pub fields: Vec<FieldMeta>,
}

/// The entities the caller may read, each with the fields they may see:
/// built-in ones first, then the custom ones in their order.
pub async fn metadata(scope: &impl Scope) -> ServiceResult<Vec<EntityMeta>> {
    let permissions = scope.actor().access.clone();
    let mut picklists = picklists::all(scope).await?;
    let mut custom = custom_fields::all(scope).await?;
    let mut rules = field_rules::all(scope).await?;
    let mut key_fields = data_quality::all_key_fields(scope).await?;
    let mut entities = Vec::new();
    let custom_entities = entities::custom(scope).await?;
    let all = catalog::CORE
        .iter()
        .map(|def| (def.name.to_owned(), def.label.to_owned(), def.fields))
        .chain(custom_entities.into_iter().map(|d| (d.name, d.label, &[][..])));
    for (name, label, builtin) in all.filter(|(name, ..)| permissions.allows(name, Op::Read)) {
        let mut options = |field: &str| picklists.remove(&(name.clone(), field.to_owned())).unwrap_or_default();
        let entity_rules = rules.remove(&name).unwrap_or_default();
        let dependency = |field: &str| entity_rules.dependencies.iter().find(|d| d.field == field).cloned();
        let keys = key_fields.remove(&name).unwrap_or_else(|| data_quality::default_key_fields(&name));
        let is_key = |field: &str| keys.iter().any(|k| k == field);
        let mut fields = Vec::new();
        for f in builtin {
            let access = catalog::access(&permissions, &name, f);
            if access > FieldAccess::Hidden {
                fields.push(FieldMeta {
                    name: f.name.to_owned(),
                    label: f.label.to_owned(),
                    kind: f.kind,
                    required: f.required || entity_rules.required.iter().any(|r| r == f.name),
                    server_set: f.server_set,
                    custom: false,
                    is_key: is_key(f.name),
                    refers_to: f.refers_to.iter().map(|e| (*e).to_owned()).collect(),
                    access,
                    options: options(f.name),
                    dependency: dependency(f.name),
                });
            }
        }
        for d in custom.remove(&name).unwrap_or_default() {
            let access = permissions.field(&name, &d.name);
            if access > FieldAccess::Hidden {
                fields.push(FieldMeta {
                    is_key: is_key(&d.name),
                    kind: custom_fields::kind(&d)?,
                    options: options(&d.name),
                    dependency: dependency(&d.name),
                    name: d.name,
                    label: d.label,
                    required: d.required,
                    server_set: false,
                    custom: true,
                    refers_to: d.reference_to.into_iter().collect(),
                    access,
                });
            }
        }
        let rights = permissions.entity(&name);
        let is_custom = builtin.is_empty();
        entities.push(EntityMeta { name, label, custom: is_custom, rights, fields });
    }
    Ok(entities)
}

/// A profile's effective rules for every entity and field (admins, or the
/// profile's own holders).
pub async fn profile_rules(scope: &impl Scope, profile_id: uuid::Uuid) -> ServiceResult<Arc<Permissions>> {
    let actor = scope.actor();
    if !actor.is_admin && actor.profile_id != profile_id {
        return Err(crate::error::ServiceError::Forbidden("only admins see other profiles' rules".into()));
    }
    let profile = profiles::get(scope, profile_id).await?;
    if profile.is_admin {
        return Ok(crate::auth::admin_access());
    }
    let rules = profiles::rules(scope, profile_id).await?;
    Ok(Arc::new(Permissions::from_rows(rules.entities, rules.fields)))
}
