//! Domain rules: validation, permissions, transactions and traces live here.

pub mod accounts;
pub mod activities;
pub mod adoption;
pub mod api_tokens;
pub mod auth;
pub mod catalog;
pub mod contacts;
pub mod custom_fields;
pub mod custom_records;
pub mod data_quality;
pub mod demo;
pub mod entities;
pub mod field_rules;
pub mod hygiene;
pub mod leads;
pub mod metadata;
pub mod opportunities;
pub mod picklists;
pub mod points;
pub mod profiles;
pub mod quality_report;
pub mod records;
pub mod tenant_settings;
pub mod tenants;
pub mod traces;
pub mod upsert;
pub mod users;
pub mod validate;

use crate::auth::Actor;
use crate::error::{ServiceError, ServiceResult};

/// Tenant administration is for admin profiles only.
pub fn require_admin(actor: &Actor) -> ServiceResult<()> {
    if actor.is_admin {
        Ok(())
    } else {
        Err(ServiceError::Forbidden("this operation requires an admin profile".into()))
    }
}

/// The start of an admin's change of the configuration that record writes
/// read: admins only, and the tenant's configuration version bumped before
/// anything else (see `TenantTx::changing_config`).
pub async fn configuring(tx: &crate::db::TenantTx) -> ServiceResult<()> {
    use crate::db::Scope;
    require_admin(tx.actor())?;
    tx.changing_config().await?;
    Ok(())
}
