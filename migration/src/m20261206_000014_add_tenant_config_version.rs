//! `tenant.config_version`: bumped by every change of the configuration that
//! record writes read (custom fields, field rules, key fields, picklists,
//! custom entities), in the transaction of the change. A server keeps each
//! tenant's configuration in memory by that version, and a write reads the
//! version with the tenant's row it already reads: no process validates a
//! write against configuration older than the version it read.
use sea_orm_migration::prelude::*;

use crate::common;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(common::add_counter("tenant", "config_version")).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(common::drop_column("tenant", "config_version")).await
    }
}
