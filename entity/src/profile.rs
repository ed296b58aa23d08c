//! A profile decides what its users may see and do.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "profile")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub is_admin: bool,
    pub created_at: DateTimeUtc,
    /// Bumped by every change to the profile's access rules (invalidates caches).
    pub access_version: i64,
    /// Sees every user's adoption metrics (admin profiles always do).
    pub view_all_metrics: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
