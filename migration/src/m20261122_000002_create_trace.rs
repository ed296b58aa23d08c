//! The append-only trace and its per-tenant head (sequence and hash chain).
//!
//! Append-only is enforced by the database, not only by the application:
//! triggers refuse UPDATE and DELETE on both backends, SQLite also refuses an
//! INSERT that would replace a row (`INSERT OR REPLACE` deletes without firing
//! DELETE triggers), and PostgreSQL refuses TRUNCATE (row triggers miss it).
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenant {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Trace {
    Table,
    TenantId,
    Seq,
    Id,
    At,
    UserId,
    ApiTokenId,
    ChangeType,
    EntityType,
    EntityId,
    Before,
    After,
    Source,
    RequestId,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum TraceHead {
    Table,
    TenantId,
    LastSeq,
    LastHash,
}

const SQLITE_TRIGGERS: &[&str] = &[
    "CREATE TRIGGER trace_no_update BEFORE UPDATE ON trace \
     BEGIN SELECT RAISE(ABORT, 'trace is append-only'); END",
    "CREATE TRIGGER trace_no_delete BEFORE DELETE ON trace \
     BEGIN SELECT RAISE(ABORT, 'trace is append-only'); END",
    "CREATE TRIGGER trace_no_replace BEFORE INSERT ON trace \
     WHEN EXISTS (SELECT 1 FROM trace WHERE tenant_id = NEW.tenant_id AND (seq = NEW.seq OR id = NEW.id)) \
     BEGIN SELECT RAISE(ABORT, 'trace is append-only'); END",
];

const POSTGRES_TRIGGERS: &[&str] = &[
    "CREATE FUNCTION trace_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN RAISE EXCEPTION 'trace is append-only'; END $$",
    "CREATE TRIGGER trace_no_update_delete BEFORE UPDATE OR DELETE ON trace \
     FOR EACH ROW EXECUTE FUNCTION trace_append_only()",
    "CREATE TRIGGER trace_no_truncate BEFORE TRUNCATE ON trace \
     FOR EACH STATEMENT EXECUTE FUNCTION trace_append_only()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Trace::Table)
                    .col(ColumnDef::new(Trace::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Trace::Seq).big_integer().not_null())
                    .col(ColumnDef::new(Trace::Id).uuid().not_null())
                    .col(ColumnDef::new(Trace::At).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Trace::UserId).uuid().null())
                    .col(ColumnDef::new(Trace::ApiTokenId).uuid().null())
                    .col(ColumnDef::new(Trace::ChangeType).string_len(16).not_null())
                    .col(ColumnDef::new(Trace::EntityType).string_len(64).not_null())
                    .col(ColumnDef::new(Trace::EntityId).uuid().null())
                    .col(ColumnDef::new(Trace::Before).text().null())
                    .col(ColumnDef::new(Trace::After).text().null())
                    .col(ColumnDef::new(Trace::Source).string_len(16).not_null())
                    .col(ColumnDef::new(Trace::RequestId).string_len(64).null())
                    .col(ColumnDef::new(Trace::PrevHash).string_len(64).not_null())
                    .col(ColumnDef::new(Trace::Hash).string_len(64).not_null())
                    .primary_key(Index::create().col(Trace::TenantId).col(Trace::Seq))
                    .foreign_key(ForeignKey::create().from(Trace::Table, Trace::TenantId).to(Tenant::Table, Tenant::Id))
                    .to_owned(),
            )
            .await?;
        // One index per trace filter, each ending in seq so "newest first" pages are index scans.
        let indexes: [(&str, Vec<Trace>); 5] = [
            ("ux_trace_tenant_id", vec![Trace::Id]),
            ("ix_trace_user", vec![Trace::UserId, Trace::Seq]),
            ("ix_trace_entity", vec![Trace::EntityType, Trace::EntityId, Trace::Seq]),
            ("ix_trace_change_type", vec![Trace::ChangeType, Trace::Seq]),
            ("ix_trace_at", vec![Trace::At]),
        ];
        for (name, cols) in indexes {
            let mut index = Index::create();
            index.name(name).table(Trace::Table).col(Trace::TenantId);
            for col in cols {
                index.col(col);
            }
            if name.starts_with("ux_") {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(TraceHead::Table)
                    .col(ColumnDef::new(TraceHead::TenantId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(TraceHead::LastSeq).big_integer().not_null())
                    .col(ColumnDef::new(TraceHead::LastHash).string_len(64).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(TraceHead::Table, TraceHead::TenantId)
                            .to(Tenant::Table, Tenant::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        let db = manager.get_connection();
        let statements = match db.get_database_backend() {
            DbBackend::Postgres => POSTGRES_TRIGGERS,
            _ => SQLITE_TRIGGERS,
        };
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TraceHead::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Trace::Table).to_owned()).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared("DROP FUNCTION IF EXISTS trace_append_only()").await?;
        }
        Ok(())
    }
}
