//! Adoption: who uses the CRM, week by week, from rollups kept with the traces.

pub mod counters;
pub mod report;

use std::sync::Arc;

use entity::trace_head;
use uuid::Uuid;

use crate::auth::Actor;
use crate::db::{Db, Scope};
use crate::error::ServiceResult;

/// Where a tenant's adoption figures stand: it changes whenever they may.
/// Every write, sign-in and change of users, tokens, profiles or settings is
/// traced, and the rollup moves with the traces in their transaction, so the
/// last trace covers those; rebuilds of the rollup, which write no trace, bump
/// their own version. The last trace's hash, not only its sequence, tells two
/// histories apart that reach one sequence (a database restored from a backup
/// and written to again). (Time moves the figures too, as activities fall due
/// and weeks begin: see `report::Report::fresh_until`.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    last_seq: i64,
    last_hash: String,
    rollup_version: i64,
}

impl Version {
    /// Where a tenant stands, from its trace head.
    pub fn of(head: trace_head::Model) -> Self {
        Self { last_seq: head.last_seq, last_hash: head.last_hash, rollup_version: head.rollup_version }
    }
}

/// The caller's tenant's [`Version`], as committed now.
pub async fn version(scope: &impl Scope) -> ServiceResult<Version> {
    super::traces::head(scope).await.map(Version::of)
}

/// `crm metrics rebuild`: recomputes one tenant's rollup from its traces, in
/// one transaction (readers see the old counters until it commits). Returns
/// how many traces were counted.
pub async fn rebuild(db: &Db, tenant_id: Uuid) -> ServiceResult<u64> {
    let tx = db.begin(Arc::new(Actor::system(tenant_id, Uuid::nil())), None).await?;
    let counted = tx.rebuild_adoption().await?;
    tx.commit().await?;
    Ok(counted)
}
