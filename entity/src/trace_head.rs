//! One row per tenant: the last trace's sequence number and hash.
//!
//! Writers update this row first, so on PostgreSQL its row lock orders the
//! tenant's trace writers and commits follow sequence order.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trace_head")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub last_seq: i64,
    pub last_hash: String,
    /// Bumped by each rebuild of the tenant's adoption rollup: with `last_seq`,
    /// it changes whenever the rollup does.
    pub rollup_version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
