//! sea-orm entities of the CRM. Nothing here knows about GraphQL or HTTP.
//!
//! Every tenant-owned entity implements [`TenantOwned`], which is how the scoping
//! layer in `crm-api` finds the column it must filter and stamp.

pub mod account;
pub mod activity;
pub mod adoption_rollup;
pub mod api_token;
pub mod app_user;
pub mod contact;
pub mod custom_record;
pub mod entity_access;
pub mod entity_definition;
pub mod field_access;
pub mod field_definition;
pub mod field_rule;
pub mod key_field_set;
pub mod lead;
pub mod opportunity;
pub mod picklist;
pub mod picklist_option;
pub mod points_award;
pub mod points_rule;
pub mod profile;
pub mod tenant;
pub mod trace;
pub mod trace_head;

use sea_orm::EntityTrait;

/// An entity whose rows belong to one tenant.
pub trait TenantOwned: EntityTrait {
    /// The `tenant_id` column, leading the entity's primary key.
    fn tenant_column() -> Self::Column;

    /// Rows that configure how records are written (custom fields, rules,
    /// key fields, picklists, custom entities): a change of one bumps the
    /// tenant's `config_version`, which servers key their cached copy by.
    const CONFIG: bool = false;
}

macro_rules! tenant_owned {
    ($($module:ident),* $(,)?) => {
        $(impl TenantOwned for $module::Entity {
            fn tenant_column() -> Self::Column {
                $module::Column::TenantId
            }
        })*
    };
    (config: $($module:ident),* $(,)?) => {
        $(impl TenantOwned for $module::Entity {
            fn tenant_column() -> Self::Column {
                $module::Column::TenantId
            }

            const CONFIG: bool = true;
        })*
    };
}

tenant_owned!(config: entity_definition, field_definition, field_rule, key_field_set, picklist, picklist_option);

tenant_owned!(
    account,
    adoption_rollup,
    activity,
    api_token,
    app_user,
    contact,
    custom_record,
    entity_access,
    field_access,
    lead,
    opportunity,
    points_award,
    points_rule,
    profile,
    trace,
    trace_head
);
