//! Schema migrations, shared by SQLite and PostgreSQL. Never imports `entity`.
pub use sea_orm_migration::prelude::*;

mod common;
mod m20261122_000001_create_foundation;
mod m20261122_000002_create_trace;
mod m20261122_000003_create_picklists_accounts;
mod m20261122_000004_create_contacts_leads_opportunities_activities;
mod m20261122_000005_relation_indexes;
mod m20261122_000006_create_access_rules;
mod m20261122_000007_create_custom_fields;
mod m20261122_000008_create_field_rules;
mod m20261122_000009_create_custom_entities;
mod m20261122_000010_create_adoption_metrics;
mod m20261122_000011_create_data_quality;
mod m20261123_000012_duplicate_key_indexes;
mod m20261123_000013_queue_rollup_rebuilds;
mod m20261206_000014_add_tenant_config_version;
mod m20261207_000015_add_rollup_version;

/// How the data-quality migration computes the completeness of existing rows.
pub use m20261122_000011_create_data_quality::backfill_statements as data_quality_backfill;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_foundation::Migration),
            Box::new(m20261122_000002_create_trace::Migration),
            Box::new(m20261122_000003_create_picklists_accounts::Migration),
            Box::new(m20261122_000004_create_contacts_leads_opportunities_activities::Migration),
            Box::new(m20261122_000005_relation_indexes::Migration),
            Box::new(m20261122_000006_create_access_rules::Migration),
            Box::new(m20261122_000007_create_custom_fields::Migration),
            Box::new(m20261122_000008_create_field_rules::Migration),
            Box::new(m20261122_000009_create_custom_entities::Migration),
            Box::new(m20261122_000010_create_adoption_metrics::Migration),
            Box::new(m20261122_000011_create_data_quality::Migration),
            Box::new(m20261123_000012_duplicate_key_indexes::Migration),
            Box::new(m20261123_000013_queue_rollup_rebuilds::Migration),
            Box::new(m20261206_000014_add_tenant_config_version::Migration),
            Box::new(m20261207_000015_add_rollup_version::Migration),
        ]
    }
}
