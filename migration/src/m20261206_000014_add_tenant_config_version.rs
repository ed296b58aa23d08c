//! `tenant.config_version`: bumped by every change of the configuration that
//! record writes read (custom fields, field rules, key fields, picklists,
//! custom entities), in the transaction of the change. A server keeps each
//! tenant's configuration in memory by that version, and a write reads the
//! version with the tenant's row it already reads: no process validates a
//! write against configuration older than the version it read.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("tenant"))
                    .add_column(ColumnDef::new(Alias::new("config_version")).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Alias::new("tenant")).drop_column(Alias::new("config_version")).to_owned(),
            )
            .await
    }
}
