//! Tenants, profiles, users and API tokens.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenant {
    Table,
    Id,
    Slug,
    Name,
    TimeZone,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Profile {
    Table,
    TenantId,
    Id,
    Name,
    IsAdmin,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AppUser {
    Table,
    TenantId,
    Id,
    Email,
    DisplayName,
    PasswordHash,
    ProfileId,
    ManagerId,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum ApiToken {
    Table,
    TenantId,
    Id,
    Name,
    SecretHash,
    ProfileId,
    CreatedBy,
    CreatedAt,
    RevokedAt,
}

fn tenant_fk(table: impl IntoIden, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Tenant::Table, Tenant::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenant::Table)
                    .col(ColumnDef::new(Tenant::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Tenant::Slug).string_len(64).not_null().unique_key())
                    .col(ColumnDef::new(Tenant::Name).string_len(200).not_null())
                    .col(ColumnDef::new(Tenant::TimeZone).string_len(64).not_null().default("UTC"))
                    .col(ColumnDef::new(Tenant::CreatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Profile::Table)
                    .col(ColumnDef::new(Profile::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Profile::Id).uuid().not_null())
                    .col(ColumnDef::new(Profile::Name).string_len(100).not_null())
                    .col(ColumnDef::new(Profile::IsAdmin).boolean().not_null().default(false))
                    .col(ColumnDef::new(Profile::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Profile::TenantId).col(Profile::Id))
                    .foreign_key(&mut tenant_fk(Profile::Table, Profile::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_profile_tenant_name")
                    .table(Profile::Table)
                    .col(Profile::TenantId)
                    .col(Profile::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AppUser::Table)
                    .col(ColumnDef::new(AppUser::TenantId).uuid().not_null())
                    .col(ColumnDef::new(AppUser::Id).uuid().not_null())
                    .col(ColumnDef::new(AppUser::Email).string_len(254).not_null())
                    .col(ColumnDef::new(AppUser::DisplayName).string_len(200).not_null())
                    .col(ColumnDef::new(AppUser::PasswordHash).string_len(200).not_null())
                    .col(ColumnDef::new(AppUser::ProfileId).uuid().not_null())
                    .col(ColumnDef::new(AppUser::ManagerId).uuid().null())
                    .col(ColumnDef::new(AppUser::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(AppUser::UpdatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(AppUser::DeletedAt).timestamp_with_time_zone().null())
                    .primary_key(Index::create().col(AppUser::TenantId).col(AppUser::Id))
                    .foreign_key(&mut tenant_fk(AppUser::Table, AppUser::TenantId))
                    // Foreign keys stay within the tenant: (tenant_id, profile_id).
                    .foreign_key(
                        ForeignKey::create()
                            .from(AppUser::Table, (AppUser::TenantId, AppUser::ProfileId))
                            .to(Profile::Table, (Profile::TenantId, Profile::Id)),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AppUser::Table, (AppUser::TenantId, AppUser::ManagerId))
                            .to(AppUser::Table, (AppUser::TenantId, AppUser::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_app_user_tenant_email")
                    .table(AppUser::Table)
                    .col(AppUser::TenantId)
                    .col(AppUser::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiToken::Table)
                    .col(ColumnDef::new(ApiToken::TenantId).uuid().not_null())
                    .col(ColumnDef::new(ApiToken::Id).uuid().not_null())
                    .col(ColumnDef::new(ApiToken::Name).string_len(200).not_null())
                    .col(ColumnDef::new(ApiToken::SecretHash).string_len(64).not_null())
                    .col(ColumnDef::new(ApiToken::ProfileId).uuid().not_null())
                    .col(ColumnDef::new(ApiToken::CreatedBy).uuid().not_null())
                    .col(ColumnDef::new(ApiToken::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(ApiToken::RevokedAt).timestamp_with_time_zone().null())
                    .primary_key(Index::create().col(ApiToken::TenantId).col(ApiToken::Id))
                    .foreign_key(&mut tenant_fk(ApiToken::Table, ApiToken::TenantId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiToken::Table, (ApiToken::TenantId, ApiToken::ProfileId))
                            .to(Profile::Table, (Profile::TenantId, Profile::Id)),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiToken::Table, (ApiToken::TenantId, ApiToken::CreatedBy))
                            .to(AppUser::Table, (AppUser::TenantId, AppUser::Id)),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ApiToken::Table.into_iden(),
            AppUser::Table.into_iden(),
            Profile::Table.into_iden(),
            Tenant::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
