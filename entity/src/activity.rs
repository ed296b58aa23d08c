//! A commercial action (call, meeting, ...) concerning exactly one record.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "activity")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind_id: Uuid,
    pub subject: String,
    pub objective_id: Option<Uuid>,
    pub result_id: Option<Uuid>,
    pub due_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub notes: Option<String>,
    /// What it concerns: exactly one of the four is set (a CHECK enforces it).
    pub account_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    pub opportunity_id: Option<Uuid>,
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
