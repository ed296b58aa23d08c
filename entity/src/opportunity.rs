//! A potential sale to an account, moving through the stage pipeline.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "opportunity")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    pub stage_id: Uuid,
    /// The amount in ten-thousandths: exact sums and ranges on SQLite too,
    /// whose driver would read a DECIMAL back through an f64.
    pub amount_e4: Option<i64>,
    pub currency: Option<String>,
    pub close_date: Option<Date>,
    pub stage_changed_at: DateTimeUtc,
    pub owner_id: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub created_by: Option<Uuid>,
    pub updated_by: Option<Uuid>,
    pub version: i32,
    pub external_id: Option<String>,
    pub deleted_at: Option<DateTimeUtc>,
    /// Share of the entity's key fields that hold a value (0.0..=1.0), set on every write.
    pub completeness: f64,
    /// Custom field values by API name (see the custom-fields migration).
    pub custom: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
