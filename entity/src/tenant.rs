//! A company using the CRM. Not tenant-owned itself: it is the tenant.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    pub time_zone: String,
    pub created_at: DateTimeUtc,
    /// Days without a stage change after which an open opportunity counts as stale.
    pub stale_opportunity_days: i32,
    /// Bumped by every change of the configuration record writes read, in
    /// its transaction: what servers key their cached configuration by.
    pub config_version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
