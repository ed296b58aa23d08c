//! Data quality: each record's completeness (the share of its entity's key
//! fields that hold a value, kept on the row so that averages and buckets are
//! aggregate SQL), the admins' key-field lists, and the tenant's threshold for
//! stale opportunities.
//!
//! Existing rows start at 0: completeness is computed by the server on every
//! write and recomputed for a whole entity when its key fields change.
use sea_orm_migration::prelude::*;

use crate::common::{text, timestamp, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

const RECORD_TABLES: [&str; 6] = ["account", "contact", "lead", "opportunity", "activity", "custom_record"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One ALTER per column: SQLite takes a single change per statement.
        for table in RECORD_TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(ColumnDef::new(Alias::new("completeness")).double().not_null().default(0.0))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("tenant"))
                    .add_column(ColumnDef::new(Alias::new("stale_opportunity_days")).integer().not_null().default(14))
                    .to_owned(),
            )
            .await?;
        // One row per entity whose list an admin set; no row means the
        // built-in defaults, and a row with `[]` means "no key fields".
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("key_field_set"))
                    .col(uuid("tenant_id", true))
                    .col(text("entity", 100).not_null())
                    // JSON array of field API names, in the admin's order.
                    .col(ColumnDef::new(Alias::new("fields")).json_binary().not_null())
                    .col(timestamp("updated_at", true))
                    .primary_key(Index::create().col(Alias::new("tenant_id")).col(Alias::new("entity")))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("key_field_set"), Alias::new("tenant_id"))
                            .to(Alias::new("tenant"), Alias::new("id")),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new("key_field_set")).to_owned()).await?;
        manager
            .alter_table(
                Table::alter().table(Alias::new("tenant")).drop_column(Alias::new("stale_opportunity_days")).to_owned(),
            )
            .await?;
        for table in RECORD_TABLES {
            manager
                .alter_table(Table::alter().table(Alias::new(table)).drop_column(Alias::new("completeness")).to_owned())
                .await?;
        }
        Ok(())
    }
}
