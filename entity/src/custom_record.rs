//! A record of a custom entity (a "Course", a "Complaint", …): the shared record
//! columns plus its custom field values.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "custom_record")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The custom entity's API name.
    pub entity: String,
    /// Field values by API name, stored like the core entities' custom fields.
    pub custom: Option<Json>,
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
