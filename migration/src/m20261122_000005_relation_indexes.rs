//! Indexes that serve each list's filter and order together.
//!
//! `account.opportunities` asks for one account's opportunities by close date;
//! with separate indexes on (tenant, account) and (tenant, close date), SQLite's
//! planner may walk the close-date index to avoid a sort and scan every
//! opportunity of the tenant. One index on (tenant, parent, order) serves both.
use sea_orm_migration::prelude::*;

use crate::common::tenant_index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (old index, table, parent column, order column)
const RELATIONS: [(&str, &str, &str, &str); 6] = [
    ("ix_contact_account", "contact", "account_id", "last_name"),
    ("ix_opportunity_account", "opportunity", "account_id", "close_date"),
    ("ix_activity_account", "activity", "account_id", "due_at"),
    ("ix_activity_contact", "activity", "contact_id", "due_at"),
    ("ix_activity_lead", "activity", "lead_id", "due_at"),
    ("ix_activity_opportunity", "activity", "opportunity_id", "due_at"),
];

/// The default order of each record list, with the id that breaks ties, so a
/// first page is an index walk rather than a sort of the tenant's rows.
/// (replaced index or "", table, columns)
const ORDERS: [(&str, &str, &str, [&str; 2]); 5] = [
    ("ix_account_name", "account", "ix_account_name_id", ["name", "id"]),
    ("ix_contact_last_name", "contact", "ix_contact_last_name_id", ["last_name", "id"]),
    ("", "lead", "ix_lead_created_at_id", ["created_at", "id"]),
    ("ix_opportunity_close_date", "opportunity", "ix_opportunity_close_date_id", ["close_date", "id"]),
    ("", "activity", "ix_activity_due_at_id", ["due_at", "id"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (old, table, parent, order) in RELATIONS {
            manager.drop_index(Index::drop().name(old).table(Alias::new(table)).to_owned()).await?;
            manager.create_index(tenant_index(&format!("{old}_{order}"), table, &[parent, order], false)).await?;
        }
        for (old, table, new, columns) in ORDERS {
            if !old.is_empty() {
                manager.drop_index(Index::drop().name(old).table(Alias::new(table)).to_owned()).await?;
            }
            manager.create_index(tenant_index(new, table, &columns, false)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (old, table, new, columns) in ORDERS {
            manager.drop_index(Index::drop().name(new).table(Alias::new(table)).to_owned()).await?;
            if !old.is_empty() {
                manager.create_index(tenant_index(old, table, &columns[..1], false)).await?;
            }
        }
        for (old, table, parent, order) in RELATIONS {
            manager
                .drop_index(Index::drop().name(format!("{old}_{order}")).table(Alias::new(table)).to_owned())
                .await?;
            manager.create_index(tenant_index(old, table, &[parent], false)).await?;
        }
        Ok(())
    }
}
