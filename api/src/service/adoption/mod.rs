//! Adoption: who uses the CRM, week by week, from rollups kept with the traces.

pub mod counters;
pub mod report;

use std::sync::Arc;

use uuid::Uuid;

use crate::auth::Actor;
use crate::db::Db;
use crate::error::ServiceResult;

/// `crm metrics rebuild`: recomputes one tenant's rollup from its traces, in
/// one transaction (readers see the old counters until it commits). Returns
/// how many traces were counted.
pub async fn rebuild(db: &Db, tenant_id: Uuid) -> ServiceResult<u64> {
    let tx = db.begin(Arc::new(Actor::system(tenant_id, Uuid::nil())), None).await?;
    let counted = tx.rebuild_adoption().await?;
    tx.commit().await?;
    Ok(counted)
}
