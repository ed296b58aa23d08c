//! The adoption rollup now keeps overdue activities as steps, derived at
//! each write. Tenants that existed before have no steps yet: this queues
//! each of them for a rollup rebuild, which the server runs right after
//! migrating (the steps depend on the tenant's time zone, which SQL alone
//! cannot apply on SQLite).
use sea_orm_migration::prelude::*;

use crate::common::uuid;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("rollup_rebuild"))
                    .col(uuid("tenant_id", true).primary_key())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("rollup_rebuild"), Alias::new("tenant_id"))
                            .to(Alias::new("tenant"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let queue = Query::insert()
            .into_table(Alias::new("rollup_rebuild"))
            .columns([Alias::new("tenant_id")])
            .select_from(Query::select().column(Alias::new("id")).from(Alias::new("tenant")).to_owned())
            .map_err(|e| DbErr::Migration(e.to_string()))?
            .to_owned();
        manager.exec_stmt(queue).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new("rollup_rebuild")).to_owned()).await
    }
}
