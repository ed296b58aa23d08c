//! Indexes for the probable-duplicate check of bulk upserts, which looks
//! records up by their lowercased account name or email: without them each
//! batch of 500 keys scanned every live record of the tenant.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index, table, column): the same expression the check filters on.
const INDEXES: [(&str, &str, &str); 3] = [
    ("ix_account_lower_name", "account", "name"),
    ("ix_contact_lower_email", "contact", "email"),
    ("ix_lead_lower_email", "lead", "email"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (index, table, column) in INDEXES {
            // Expression indexes: the same statement on SQLite and PostgreSQL.
            db.execute_unprepared(&format!("CREATE INDEX {index} ON {table} (tenant_id, lower({column}))")).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (index, _, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {index}")).await?;
        }
        Ok(())
    }
}
