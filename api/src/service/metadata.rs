//! What the caller may see and do, for frontends to build forms and lists from.

use std::sync::Arc;

use entity::picklist_option;

use super::catalog::{self, EntityDef, FieldDef};
use super::{picklists, profiles};
use crate::auth::access::{EntityRights, FieldAccess, Op, Permissions};
use crate::db::Scope;
use crate::error::ServiceResult;

pub struct FieldMeta {
    pub def: &'static FieldDef,
    /// READ or EDIT (hidden fields are not listed).
    pub access: FieldAccess,
    /// Picklist options in order, inactive ones included (and flagged).
    pub options: Vec<picklist_option::Model>,
}

pub struct EntityMeta {
    pub def: &'static EntityDef,
    pub rights: EntityRights,
    pub fields: Vec<FieldMeta>,
}

/// The entities the caller may read, each with the fields they may see.
pub async fn metadata(scope: &impl Scope) -> ServiceResult<Vec<EntityMeta>> {
    let permissions = scope.actor().access.clone();
    let mut picklists = picklists::all(scope).await?;
    Ok(catalog::CORE
        .iter()
        .filter(|e| permissions.allows(e.name, Op::Read))
        .map(|def| EntityMeta {
            def,
            rights: permissions.entity(def.name),
            fields: def
                .fields
                .iter()
                .filter_map(|f| {
                    let access = catalog::access(&permissions, def.name, f);
                    (access > FieldAccess::Hidden).then(|| FieldMeta {
                        def: f,
                        access,
                        options: picklists.remove(&(def.name.to_owned(), f.name.to_owned())).unwrap_or_default(),
                    })
                })
                .collect(),
        })
        .collect())
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
