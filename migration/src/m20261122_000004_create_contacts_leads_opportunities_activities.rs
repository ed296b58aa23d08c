//! Contacts, leads, opportunities and activities.
use sea_orm_migration::prelude::*;

use crate::common::{record_indexes, record_table, tenant_fk, tenant_index, text, timestamp, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

const OPTION: &str = "picklist_option";

fn tables() -> Vec<(TableCreateStatement, Vec<IndexCreateStatement>)> {
    let mut contact = record_table(
        "contact",
        vec![
            uuid("account_id", false),
            text("first_name", 100),
            ColumnDef::new(Alias::new("last_name")).string_len(100).not_null().to_owned(),
            text("title", 100),
            text("email", 254),
            text("phone", 40),
            text("mobile", 40),
        ],
    );
    contact.foreign_key(&mut tenant_fk("contact", "account_id", "account"));

    let mut lead = record_table(
        "lead",
        vec![
            text("first_name", 100),
            ColumnDef::new(Alias::new("last_name")).string_len(100).not_null().to_owned(),
            text("company", 200),
            text("title", 100),
            text("phone", 40),
            text("email", 254),
            text("street", 200),
            text("city", 100),
            text("state", 100),
            text("postal_code", 20),
            text("website", 300),
            uuid("status_id", true),
            uuid("source_id", false),
            timestamp("converted_at", false),
            uuid("converted_account_id", false),
            uuid("converted_contact_id", false),
            uuid("converted_opportunity_id", false),
        ],
    );
    lead.foreign_key(&mut tenant_fk("lead", "status_id", OPTION))
        .foreign_key(&mut tenant_fk("lead", "source_id", OPTION))
        .foreign_key(&mut tenant_fk("lead", "converted_account_id", "account"))
        .foreign_key(&mut tenant_fk("lead", "converted_contact_id", "contact"));

    let mut opportunity = record_table(
        "opportunity",
        vec![
            uuid("account_id", true),
            ColumnDef::new(Alias::new("name")).string_len(200).not_null().to_owned(),
            uuid("stage_id", true),
            ColumnDef::new(Alias::new("amount_e4")).big_integer().null().to_owned(),
            text("currency", 3),
            ColumnDef::new(Alias::new("close_date")).date().null().to_owned(),
            timestamp("stage_changed_at", true),
        ],
    );
    opportunity
        .foreign_key(&mut tenant_fk("opportunity", "account_id", "account"))
        .foreign_key(&mut tenant_fk("opportunity", "stage_id", OPTION))
        .check(Expr::cust("amount_e4 IS NULL OR amount_e4 >= 0"));

    let mut activity = record_table(
        "activity",
        vec![
            uuid("kind_id", true),
            ColumnDef::new(Alias::new("subject")).string_len(200).not_null().to_owned(),
            uuid("objective_id", false),
            uuid("result_id", false),
            timestamp("due_at", false),
            timestamp("completed_at", false),
            ColumnDef::new(Alias::new("notes")).text().null().to_owned(),
            uuid("account_id", false),
            uuid("contact_id", false),
            uuid("lead_id", false),
            uuid("opportunity_id", false),
        ],
    );
    activity
        .foreign_key(&mut tenant_fk("activity", "kind_id", OPTION))
        .foreign_key(&mut tenant_fk("activity", "objective_id", OPTION))
        .foreign_key(&mut tenant_fk("activity", "result_id", OPTION))
        .foreign_key(&mut tenant_fk("activity", "account_id", "account"))
        .foreign_key(&mut tenant_fk("activity", "contact_id", "contact"))
        .foreign_key(&mut tenant_fk("activity", "lead_id", "lead"))
        .foreign_key(&mut tenant_fk("activity", "opportunity_id", "opportunity"))
        .check(Expr::cust(
            "(CASE WHEN account_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN contact_id IS NULL THEN 0 ELSE 1 END) \
             + (CASE WHEN lead_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN opportunity_id IS NULL THEN 0 ELSE 1 END) = 1",
        ));

    let with = |table: &str, extra: &[(&str, &[&str])]| {
        let mut indexes = record_indexes(table);
        indexes.extend(extra.iter().map(|(name, cols)| tenant_index(name, table, cols, false)));
        indexes
    };
    vec![
        (
            contact.to_owned(),
            with(
                "contact",
                &[
                    ("ix_contact_account", &["account_id"]),
                    ("ix_contact_last_name", &["last_name"]),
                    ("ix_contact_email", &["email"]),
                ],
            ),
        ),
        (
            lead.to_owned(),
            with(
                "lead",
                &[
                    ("ix_lead_last_name", &["last_name"]),
                    ("ix_lead_status", &["status_id"]),
                    ("ix_lead_email", &["email"]),
                ],
            ),
        ),
        (
            opportunity.to_owned(),
            with(
                "opportunity",
                &[
                    ("ix_opportunity_account", &["account_id"]),
                    ("ix_opportunity_stage", &["stage_id"]),
                    ("ix_opportunity_close_date", &["close_date"]),
                ],
            ),
        ),
        (
            activity.to_owned(),
            with(
                "activity",
                &[
                    ("ix_activity_account", &["account_id"]),
                    ("ix_activity_contact", &["contact_id"]),
                    ("ix_activity_lead", &["lead_id"]),
                    ("ix_activity_opportunity", &["opportunity_id"]),
                    ("ix_activity_owner_due", &["owner_id", "due_at"]),
                ],
            ),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, indexes) in tables() {
            manager.create_table(table).await?;
            for index in indexes {
                manager.create_index(index).await?;
            }
        }
        // Lead conversion may point at an opportunity, created after the lead table.
        // SQLite cannot add a foreign key to an existing table; the service checks it there.
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
            manager.create_foreign_key(tenant_fk("lead", "converted_opportunity_id", "opportunity")).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Lead before opportunity and contact: it references both.
        for table in ["activity", "lead", "opportunity", "contact"] {
            manager.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
