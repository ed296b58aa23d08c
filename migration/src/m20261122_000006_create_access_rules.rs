//! Per-profile access rules: which entities a profile may read, create, update
//! and delete, and which fields it may see or edit.
//!
//! Rules are stored as overrides: no row means full access, so a new entity or
//! field is usable by everyone until an admin narrows it. `profile.access_version`
//! is bumped with every rule change; the credential check reads it with the
//! profile, so every server process notices a change on its next request.
use sea_orm_migration::prelude::*;

use crate::common::{text, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn flag(col: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(col)).boolean().not_null().default(true).to_owned()
}

fn profile_fk(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(Alias::new(table), (Alias::new("tenant_id"), Alias::new("profile_id")))
        .to(Alias::new("profile"), (Alias::new("tenant_id"), Alias::new("id")))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("profile"))
                    .add_column(ColumnDef::new(Alias::new("access_version")).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("entity_access"))
                    .col(uuid("tenant_id", true))
                    .col(uuid("profile_id", true))
                    .col(text("entity", 100).not_null())
                    .col(flag("can_read"))
                    .col(flag("can_create"))
                    .col(flag("can_update"))
                    .col(flag("can_delete"))
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("profile_id"))
                            .col(Alias::new("entity")),
                    )
                    .foreign_key(&mut profile_fk("entity_access"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("field_access"))
                    .col(uuid("tenant_id", true))
                    .col(uuid("profile_id", true))
                    .col(text("entity", 100).not_null())
                    .col(text("field", 100).not_null())
                    // HIDDEN or READ; EDIT is the absence of a row.
                    .col(text("access", 10).not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("profile_id"))
                            .col(Alias::new("entity"))
                            .col(Alias::new("field")),
                    )
                    .foreign_key(&mut profile_fk("field_access"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new("field_access")).to_owned()).await?;
        manager.drop_table(Table::drop().table(Alias::new("entity_access")).to_owned()).await?;
        manager
            .alter_table(
                Table::alter().table(Alias::new("profile")).drop_column(Alias::new("access_version")).to_owned(),
            )
            .await
    }
}
