//! Per-tenant picklists (values are data, not enums) and accounts.
use sea_orm_migration::prelude::*;

use crate::common::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenant {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AppUser {
    Table,
    TenantId,
    Id,
}

#[derive(DeriveIden)]
enum Picklist {
    Table,
    TenantId,
    Id,
    Entity,
    Field,
    Multi,
}

#[derive(DeriveIden)]
enum PicklistOption {
    Table,
    TenantId,
    Id,
    PicklistId,
    Key,
    Label,
    Position,
    Active,
    Probability,
    IsClosed,
    IsWon,
}

#[derive(DeriveIden)]
enum Account {
    Table,
    TenantId,
    Id,
    Name,
    TypeId,
    Sector,
    Origin,
    PurchasePotentialId,
    Region,
    Phone,
    Email,
    Website,
    Street,
    City,
    State,
    PostalCode,
    Country,
    OwnerId,
    CreatedAt,
    UpdatedAt,
    CreatedBy,
    UpdatedBy,
    Version,
    ExternalId,
    DeletedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Picklist::Table)
                    .col(ColumnDef::new(Picklist::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Picklist::Id).uuid().not_null())
                    .col(ColumnDef::new(Picklist::Entity).string_len(64).not_null())
                    .col(ColumnDef::new(Picklist::Field).string_len(64).not_null())
                    .col(ColumnDef::new(Picklist::Multi).boolean().not_null().default(false))
                    .primary_key(Index::create().col(Picklist::TenantId).col(Picklist::Id))
                    .foreign_key(
                        ForeignKey::create().from(Picklist::Table, Picklist::TenantId).to(Tenant::Table, Tenant::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ux_picklist_field",
                Picklist::Table,
                vec![Picklist::TenantId.into_iden(), Picklist::Entity.into_iden(), Picklist::Field.into_iden()],
                true,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PicklistOption::Table)
                    .col(ColumnDef::new(PicklistOption::TenantId).uuid().not_null())
                    .col(ColumnDef::new(PicklistOption::Id).uuid().not_null())
                    .col(ColumnDef::new(PicklistOption::PicklistId).uuid().not_null())
                    .col(ColumnDef::new(PicklistOption::Key).string_len(64).not_null())
                    .col(ColumnDef::new(PicklistOption::Label).string_len(200).not_null())
                    .col(ColumnDef::new(PicklistOption::Position).integer().not_null())
                    .col(ColumnDef::new(PicklistOption::Active).boolean().not_null().default(true))
                    .col(ColumnDef::new(PicklistOption::Probability).integer().null())
                    .col(ColumnDef::new(PicklistOption::IsClosed).boolean().not_null().default(false))
                    .col(ColumnDef::new(PicklistOption::IsWon).boolean().not_null().default(false))
                    .primary_key(Index::create().col(PicklistOption::TenantId).col(PicklistOption::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PicklistOption::Table, (PicklistOption::TenantId, PicklistOption::PicklistId))
                            .to(Picklist::Table, (Picklist::TenantId, Picklist::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ux_picklist_option_key",
                PicklistOption::Table,
                vec![
                    PicklistOption::TenantId.into_iden(),
                    PicklistOption::PicklistId.into_iden(),
                    PicklistOption::Key.into_iden(),
                ],
                true,
            ))
            .await?;

        let text = |col: Account, len: u32| ColumnDef::new(col).string_len(len).null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(Account::Table)
                    .col(ColumnDef::new(Account::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Account::Id).uuid().not_null())
                    .col(ColumnDef::new(Account::Name).string_len(200).not_null())
                    .col(ColumnDef::new(Account::TypeId).uuid().null())
                    .col(text(Account::Sector, 100))
                    .col(text(Account::Origin, 100))
                    .col(ColumnDef::new(Account::PurchasePotentialId).uuid().null())
                    .col(text(Account::Region, 100))
                    .col(text(Account::Phone, 40))
                    .col(text(Account::Email, 254))
                    .col(text(Account::Website, 300))
                    .col(text(Account::Street, 200))
                    .col(text(Account::City, 100))
                    .col(text(Account::State, 100))
                    .col(text(Account::PostalCode, 20))
                    .col(text(Account::Country, 100))
                    .col(ColumnDef::new(Account::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(Account::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Account::UpdatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Account::CreatedBy).uuid().null())
                    .col(ColumnDef::new(Account::UpdatedBy).uuid().null())
                    .col(ColumnDef::new(Account::Version).integer().not_null().default(1))
                    .col(text(Account::ExternalId, 200))
                    .col(ColumnDef::new(Account::DeletedAt).timestamp_with_time_zone().null())
                    .primary_key(Index::create().col(Account::TenantId).col(Account::Id))
                    .foreign_key(
                        ForeignKey::create().from(Account::Table, Account::TenantId).to(Tenant::Table, Tenant::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Account::Table, (Account::TenantId, Account::OwnerId))
                            .to(AppUser::Table, (AppUser::TenantId, AppUser::Id)),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Account::Table, (Account::TenantId, Account::TypeId))
                            .to(PicklistOption::Table, (PicklistOption::TenantId, PicklistOption::Id)),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Account::Table, (Account::TenantId, Account::PurchasePotentialId))
                            .to(PicklistOption::Table, (PicklistOption::TenantId, PicklistOption::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        // NULL external ids never collide on either backend, so a plain unique index serves.
        manager
            .create_index(index(
                "ux_account_external_id",
                Account::Table,
                vec![Account::TenantId.into_iden(), Account::ExternalId.into_iden()],
                true,
            ))
            .await?;
        for (name, col) in [
            ("ix_account_name", Account::Name),
            ("ix_account_owner", Account::OwnerId),
            ("ix_account_updated_at", Account::UpdatedAt),
        ] {
            manager
                .create_index(index(name, Account::Table, vec![Account::TenantId.into_iden(), col.into_iden()], false))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Account::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(PicklistOption::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Picklist::Table).to_owned()).await
    }
}
