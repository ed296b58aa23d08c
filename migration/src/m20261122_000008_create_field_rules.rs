//! Per-field rules an admin sets on any entity: required (built-in fields; custom
//! ones carry the flag on their definition) and picklist dependencies (which
//! options of this field each option of a controlling field allows).
use sea_orm_migration::prelude::*;

use crate::common::{text, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("field_rule"))
                    .col(uuid("tenant_id", true))
                    .col(text("entity", 100).not_null())
                    .col(text("field", 100).not_null())
                    .col(ColumnDef::new(Alias::new("required")).boolean().not_null().default(false))
                    .col(text("controlling_field", 100))
                    // {"controlling option key": ["allowed option key", …]}; keys never change.
                    .col(ColumnDef::new(Alias::new("allowed")).json_binary().null())
                    .primary_key(
                        Index::create().col(Alias::new("tenant_id")).col(Alias::new("entity")).col(Alias::new("field")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("field_rule"), Alias::new("tenant_id"))
                            .to(Alias::new("tenant"), Alias::new("id")),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new("field_rule")).to_owned()).await
    }
}
