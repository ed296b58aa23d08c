//! A tenant's settings: its time zone (where its weeks begin) and when an
//! open opportunity counts as stale.

use entity::tenant;
use sea_orm::Set;
use serde_json::json;

use super::require_admin;
use crate::db::trace::Change;
use crate::db::{Scope, TenantTx, own_tenant};
use crate::error::{ServiceError, ServiceResult};

/// A change to the settings; `None` keeps the current value.
#[derive(Default)]
pub struct SettingsPatch {
    pub time_zone: Option<String>,
    /// Days without a stage change after which an open opportunity is stale.
    pub stale_opportunity_days: Option<i32>,
}

pub async fn get(scope: &impl Scope) -> ServiceResult<tenant::Model> {
    Ok(own_tenant(scope).await?)
}

/// An IANA time-zone name, as the database of zones spells it.
fn time_zone(name: &str) -> ServiceResult<String> {
    let name = name.trim();
    let zone: chrono_tz::Tz = name
        .parse()
        .map_err(|_| ServiceError::invalid("timeZone", "is not an IANA time zone such as Europe/Paris or UTC"))?;
    Ok(zone.name().to_owned())
}

/// Changes the settings (admins only), traced as a `Tenant` update. A new time
/// zone moves week boundaries, so the adoption rollup is recomputed from the
/// traces in the same transaction.
pub async fn update(tx: &TenantTx, patch: SettingsPatch) -> ServiceResult<tenant::Model> {
    require_admin(tx.actor())?;
    let before = own_tenant(tx).await?;
    let mut model: tenant::ActiveModel = before.clone().into();
    let mut old = serde_json::Map::new();
    let mut new = serde_json::Map::new();
    if let Some(zone) = patch.time_zone {
        let zone = time_zone(&zone)?;
        if zone != before.time_zone {
            old.insert("timeZone".into(), json!(before.time_zone));
            new.insert("timeZone".into(), json!(zone));
            model.time_zone = Set(zone);
        }
    }
    if let Some(days) = patch.stale_opportunity_days {
        if !(1..=3650).contains(&days) {
            return Err(ServiceError::invalid("staleOpportunityDays", "must be between 1 and 3650"));
        }
        if days != before.stale_opportunity_days {
            old.insert("staleOpportunityDays".into(), json!(before.stale_opportunity_days));
            new.insert("staleOpportunityDays".into(), json!(days));
            model.stale_opportunity_days = Set(days);
        }
    }
    if new.is_empty() {
        return Ok(before);
    }
    let after = tx.update_own_tenant(model).await?;
    if new.contains_key("timeZone") {
        tx.rebuild_adoption().await?;
    }
    if let Some(change) = Change::update("Tenant", after.id, &old.into(), &new.into()) {
        tx.trace(change).await?;
    }
    Ok(after)
}
