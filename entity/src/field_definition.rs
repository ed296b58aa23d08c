//! A custom field an admin added to an entity.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "field_definition")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub entity: String,
    /// API name: unique per entity, never one of the entity's built-in fields.
    pub name: String,
    pub label: String,
    /// TEXT, LONG_TEXT, INTEGER, DECIMAL, BOOLEAN, DATE, DATETIME, EMAIL, PHONE,
    /// URL, PICKLIST, MULTI_PICKLIST or REFERENCE.
    pub kind: String,
    pub required: bool,
    /// For references: the entity referred to.
    pub reference_to: Option<String>,
    pub position: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
