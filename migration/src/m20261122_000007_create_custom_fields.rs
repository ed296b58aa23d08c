//! Custom fields: their definitions, and a `custom` JSON column on each record
//! table holding their values.
//!
//! Why one JSON column rather than a value table (EAV) or a column per field:
//! the values travel with their row, so reading a page costs no extra statement,
//! and versions, traces and history cover them with the rest of the record;
//! adding a field needs no migration. Filtering stays cheap: values are stored
//! normalized (option ids, integers, decimals as ten-thousandths, fixed-width
//! UTC times), so equality is an exact match. On PostgreSQL the column is
//! `jsonb` with a GIN index, and equality filters are containment (`@>`)
//! queries that use it; on SQLite a filter reads the tenant's rows of one
//! table through its tenant index, which is cheap at the size of one tenant.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::common::{tenant_index, text, timestamp, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

const RECORD_TABLES: [&str; 5] = ["account", "contact", "lead", "opportunity", "activity"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("field_definition"))
                    .col(uuid("tenant_id", true))
                    .col(uuid("id", true))
                    .col(text("entity", 100).not_null())
                    .col(text("name", 100).not_null())
                    .col(text("label", 200).not_null())
                    .col(text("kind", 20).not_null())
                    .col(ColumnDef::new(Alias::new("required")).boolean().not_null().default(false))
                    .col(text("reference_to", 100))
                    .col(ColumnDef::new(Alias::new("position")).integer().not_null())
                    .col(timestamp("created_at", true))
                    .primary_key(Index::create().col(Alias::new("tenant_id")).col(Alias::new("id")))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("field_definition"), Alias::new("tenant_id"))
                            .to(Alias::new("tenant"), Alias::new("id")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(tenant_index("ux_field_definition_name", "field_definition", &["entity", "name"], true))
            .await?;
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        for table in RECORD_TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(ColumnDef::new(Alias::new("custom")).json_binary().null())
                        .to_owned(),
                )
                .await?;
            if postgres {
                manager
                    .get_connection()
                    .execute_unprepared(&format!(
                        "CREATE INDEX ix_{table}_custom ON {table} USING GIN (custom jsonb_path_ops)"
                    ))
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in RECORD_TABLES {
            if manager.get_database_backend() == DbBackend::Postgres {
                manager.get_connection().execute_unprepared(&format!("DROP INDEX ix_{table}_custom")).await?;
            }
            manager
                .alter_table(Table::alter().table(Alias::new(table)).drop_column(Alias::new("custom")).to_owned())
                .await?;
        }
        manager.drop_table(Table::drop().table(Alias::new("field_definition")).to_owned()).await
    }
}
