//! Custom entities: their definitions, and one table holding the records of
//! every custom entity (keyed by tenant, then entity), with the shared record
//! columns and the same JSON column of custom field values as the core tables.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::common::{record_table, tenant_index, text, timestamp, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("entity_definition"))
                    .col(uuid("tenant_id", true))
                    .col(uuid("id", true))
                    .col(text("name", 100).not_null())
                    .col(text("label", 200).not_null())
                    .col(timestamp("created_at", true))
                    .primary_key(Index::create().col(Alias::new("tenant_id")).col(Alias::new("id")))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("entity_definition"), Alias::new("tenant_id"))
                            .to(Alias::new("tenant"), Alias::new("id")),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(tenant_index("ux_entity_definition_name", "entity_definition", &["name"], true)).await?;
        manager
            .create_table(record_table(
                "custom_record",
                vec![
                    text("entity", 100).not_null().to_owned(),
                    ColumnDef::new(Alias::new("custom")).json_binary().null().to_owned(),
                ],
            ))
            .await?;
        for index in [
            tenant_index("ux_custom_record_external_id", "custom_record", &["entity", "external_id"], true),
            tenant_index("ix_custom_record_created_at_id", "custom_record", &["entity", "created_at", "id"], false),
            tenant_index("ix_custom_record_owner", "custom_record", &["owner_id"], false),
            tenant_index("ix_custom_record_updated_at", "custom_record", &["updated_at"], false),
        ] {
            manager.create_index(index).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "CREATE INDEX ix_custom_record_custom ON custom_record USING GIN (custom jsonb_path_ops)",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new("custom_record")).to_owned()).await?;
        manager.drop_table(Table::drop().table(Alias::new("entity_definition")).to_owned()).await
    }
}
