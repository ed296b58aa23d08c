//! Adoption metrics: weekly counters per actor kept in step with the traces,
//! the profile permission to see everyone's metrics, and recognition points.
use sea_orm_migration::prelude::*;

use crate::common::{tenant_index, text, timestamp, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One row per (week, actor, counter). `actor_kind` keeps people apart
        // from integrations and workflows, so that neither inflates the other.
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("adoption_rollup"))
                    .col(uuid("tenant_id", true))
                    .col(ColumnDef::new(Alias::new("week")).date().not_null())
                    .col(text("actor_kind", 16).not_null())
                    .col(uuid("actor_id", true))
                    .col(text("counter", 120).not_null())
                    .col(ColumnDef::new(Alias::new("value")).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("week"))
                            .col(Alias::new("actor_kind"))
                            .col(Alias::new("actor_id"))
                            .col(Alias::new("counter")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("adoption_rollup"), Alias::new("tenant_id"))
                            .to(Alias::new("tenant"), Alias::new("id")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("profile"))
                    .add_column(ColumnDef::new(Alias::new("view_all_metrics")).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        // Per-tenant overrides of the built-in points rules; no row = the default.
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("points_rule"))
                    .col(uuid("tenant_id", true))
                    .col(text("rule", 40).not_null())
                    .col(ColumnDef::new(Alias::new("points")).integer().not_null())
                    .col(ColumnDef::new(Alias::new("enabled")).boolean().not_null())
                    .primary_key(Index::create().col(Alias::new("tenant_id")).col(Alias::new("rule")))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("points_rule"), Alias::new("tenant_id"))
                            .to(Alias::new("tenant"), Alias::new("id")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("points_award"))
                    .col(uuid("tenant_id", true))
                    .col(uuid("id", true))
                    .col(uuid("user_id", true))
                    .col(text("rule", 40).not_null())
                    .col(text("entity_type", 100).not_null())
                    .col(uuid("entity_id", true))
                    .col(ColumnDef::new(Alias::new("points")).integer().not_null())
                    .col(timestamp("awarded_at", true))
                    .primary_key(Index::create().col(Alias::new("tenant_id")).col(Alias::new("id")))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("points_award"), Alias::new("tenant_id"))
                            .to(Alias::new("tenant"), Alias::new("id")),
                    )
                    .to_owned(),
            )
            .await?;
        // Once per qualifying event: a re-save cannot award the same record twice.
        manager.create_index(tenant_index("points_award_once", "points_award", &["rule", "entity_id"], true)).await?;
        manager.create_index(tenant_index("points_award_time", "points_award", &["awarded_at"], false)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new("points_award")).to_owned()).await?;
        manager.drop_table(Table::drop().table(Alias::new("points_rule")).to_owned()).await?;
        manager
            .alter_table(
                Table::alter().table(Alias::new("profile")).drop_column(Alias::new("view_all_metrics")).to_owned(),
            )
            .await?;
        manager.drop_table(Table::drop().table(Alias::new("adoption_rollup")).to_owned()).await
    }
}
