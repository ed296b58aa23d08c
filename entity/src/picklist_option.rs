//! One option of a picklist. Records store its id: relabeling rewrites no row.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "picklist_option")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub picklist_id: Uuid,
    /// Stable key integrators and filters use.
    pub key: String,
    pub label: String,
    pub position: i32,
    /// Inactive options stay valid on records holding them but cannot be chosen anew.
    pub active: bool,
    /// Opportunity stages: win probability in percent, closed and won flags.
    pub probability: Option<i32>,
    pub is_closed: bool,
    pub is_won: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
