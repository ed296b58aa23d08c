//! `trace_head.rollup_version`: bumped by every rebuild of the tenant's
//! adoption rollup (`crm metrics rebuild`, a time-zone change, a migration's
//! queued rebuild). Every other change of the rollup comes with a trace, which
//! moves `last_seq`: the two together tell a server whether a report it kept
//! still stands, whichever process changed the rollup.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("trace_head"))
                    .add_column(ColumnDef::new(Alias::new("rollup_version")).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Alias::new("trace_head")).drop_column(Alias::new("rollup_version")).to_owned(),
            )
            .await
    }
}
