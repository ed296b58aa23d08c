//! Data quality: each record's completeness (the share of its entity's key
//! fields that hold a value, kept on the row so that averages and buckets are
//! aggregate SQL), the admins' key-field lists, and the tenant's threshold for
//! stale opportunities.
//!
//! The server computes completeness on every write and recomputes an entity
//! when its key fields change; this migration computes it once for the rows
//! that exist, from the default key fields (no tenant has set a list yet).
use sea_orm_migration::prelude::*;

use crate::common::{text, timestamp, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

const RECORD_TABLES: [&str; 6] = ["account", "contact", "lead", "opportunity", "activity", "custom_record"];

/// The server's default key fields (`api/src/service/data_quality.rs`) as
/// columns: `T:` text (filled when not blank), several columns joined by `|`
/// are one field (an activity's target), anything else is filled when not NULL.
const DEFAULT_KEYS: [(&str, &[&str]); 5] = [
    (
        "account",
        &[
            "T:name",
            "type_id",
            "T:sector",
            "T:phone",
            "T:email",
            "T:website",
            "T:street",
            "T:city",
            "T:postal_code",
            "T:country",
        ],
    ),
    ("contact", &["T:first_name", "T:last_name", "T:email", "T:phone", "T:title", "account_id"]),
    (
        "lead",
        &[
            "T:first_name",
            "T:last_name",
            "T:company",
            "T:title",
            "T:phone",
            "T:email",
            "T:street",
            "T:city",
            "T:state",
            "T:postal_code",
            "T:website",
        ],
    ),
    ("opportunity", &["T:name", "amount_e4", "close_date", "stage_id", "account_id"]),
    ("activity", &["T:subject", "due_at", "account_id|contact_id|lead_id|opportunity_id"]),
];

/// `UPDATE table SET completeness = filled / n`, in floating point on both
/// databases (as the server divides), so equal inputs give equal figures.
fn backfill(table: &str, fields: &[&str]) -> String {
    let filled: Vec<String> = fields
        .iter()
        .map(|field| {
            let condition = match field.strip_prefix("T:") {
                Some(column) => format!("({column} IS NOT NULL AND TRIM({column}) <> '')"),
                None => field.split('|').map(|c| format!("{c} IS NOT NULL")).collect::<Vec<_>>().join(" OR "),
            };
            format!("CASE WHEN {condition} THEN 1 ELSE 0 END")
        })
        .collect();
    format!(
        "UPDATE {table} SET completeness = CAST({} AS DOUBLE PRECISION) / CAST({} AS DOUBLE PRECISION)",
        filled.join(" + "),
        fields.len()
    )
}

/// The statements that compute existing rows' completeness (a test holds
/// them to the server's own computation).
pub fn backfill_statements() -> Vec<String> {
    let mut statements: Vec<String> = DEFAULT_KEYS.iter().map(|(table, fields)| backfill(table, fields)).collect();
    // Custom entities have no key fields by default: nothing is missing.
    statements.push("UPDATE custom_record SET completeness = 1.0".into());
    statements
}

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
        for statement in backfill_statements() {
            manager.get_connection().execute_unprepared(&statement).await?;
        }
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
