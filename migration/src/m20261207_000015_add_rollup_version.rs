//! `trace_head.rollup_version`: bumped by every rebuild of the tenant's
//! adoption rollup (`crm metrics rebuild`, a time-zone change, a migration's
//! queued rebuild). Every other change of the rollup comes with a trace, which
//! moves `last_seq`: the two together tell a server whether a report it kept
//! still stands, whichever process changed the rollup.
use sea_orm_migration::prelude::*;

use crate::common;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(common::add_counter("trace_head", "rollup_version")).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(common::drop_column("trace_head", "rollup_version")).await
    }
}
