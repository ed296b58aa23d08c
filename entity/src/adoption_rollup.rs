//! One weekly adoption counter of one actor, kept in step with the traces.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "adoption_rollup")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The Monday of the ISO week, in the tenant's time zone.
    #[sea_orm(primary_key, auto_increment = false)]
    pub week: Date,
    /// USER, INTEGRATION, IMPORT or WORKFLOW.
    #[sea_orm(primary_key, auto_increment = false)]
    pub actor_kind: String,
    /// The user or API token; nil for workflows.
    #[sea_orm(primary_key, auto_increment = false)]
    pub actor_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub counter: String,
    /// A count, or for `last_active_at` microseconds since the epoch.
    pub value: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
