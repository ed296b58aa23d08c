//! The immutable record of one change. The database refuses UPDATE and DELETE on it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trace")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// Per-tenant, gapless, assigned inside the writing transaction.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub id: Uuid,
    pub at: DateTimeUtc,
    pub user_id: Option<Uuid>,
    pub api_token_id: Option<Uuid>,
    pub change_type: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    /// JSON text, stored verbatim so the hash can be recomputed byte for byte.
    pub before: Option<String>,
    pub after: Option<String>,
    pub source: String,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
