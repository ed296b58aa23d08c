//! Recognition: points for qualifying events, and the weekly leaderboard.
//!
//! A rule awards points once per record (a unique key on rule and record), to
//! the person whose write qualified. Integrations, imports and workflows earn
//! nothing: points celebrate people using the CRM.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use entity::{points_award, points_rule};
use sea_orm::{ColumnTrait, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

use super::adoption::counters;
use super::adoption::report;
use super::require_admin;
use crate::auth::Source;
use crate::db::trace::Change;
use crate::db::{Scope, TenantTx, rollup};
use crate::error::{ServiceError, ServiceResult};

pub const AWARD_ENTITY: &str = "PointsAward";
const RULE_ENTITY: &str = "PointsRule";

/// The built-in rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// A lead reaches 100 % completeness within 3 days of its creation.
    LeadCompleted,
    /// An activity is completed.
    ActivityCompleted,
}

impl Rule {
    pub const ALL: [Self; 2] = [Self::LeadCompleted, Self::ActivityCompleted];

    pub fn key(self) -> &'static str {
        match self {
            Self::LeadCompleted => "LEAD_COMPLETED_QUICKLY",
            Self::ActivityCompleted => "ACTIVITY_COMPLETED",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.key() == key)
    }

    /// Points by default, taken from common CRM gamification practice.
    pub fn default_points(self) -> i32 {
        match self {
            Self::LeadCompleted => 10,
            Self::ActivityCompleted => 1,
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::LeadCompleted => "a lead reaches 100 % completeness within 3 days of its creation",
            Self::ActivityCompleted => "an activity is completed",
        }
    }
}

/// A rule as the tenant has it.
#[derive(Clone, Debug)]
pub struct RuleSetting {
    pub rule: Rule,
    pub points: i32,
    pub enabled: bool,
}

pub async fn rules(scope: &impl Scope) -> ServiceResult<Vec<RuleSetting>> {
    let stored = scope.select::<points_rule::Entity>().all(scope.conn()).await?;
    Ok(Rule::ALL
        .into_iter()
        .map(|rule| match stored.iter().find(|s| s.rule == rule.key()) {
            Some(s) => RuleSetting { rule, points: s.points, enabled: s.enabled },
            None => RuleSetting { rule, points: rule.default_points(), enabled: true },
        })
        .collect())
}

/// Changes a rule (admins only), traced. Points already awarded stay.
pub async fn set_rule(tx: &TenantTx, rule: Rule, points: i32, enabled: bool) -> ServiceResult<RuleSetting> {
    require_admin(tx.actor())?;
    if !(1..=1000).contains(&points) {
        return Err(ServiceError::invalid("points", "must be between 1 and 1000"));
    }
    let before = rules(tx).await?.into_iter().find(|r| r.rule == rule).ok_or(ServiceError::NotFound)?;
    if before.points == points && before.enabled == enabled {
        return Ok(before);
    }
    tx.delete_where::<points_rule::Entity>(points_rule::Column::Rule.eq(rule.key())).await?;
    tx.insert(points_rule::ActiveModel {
        tenant_id: Set(Uuid::nil()),
        rule: Set(rule.key().to_owned()),
        points: Set(points),
        enabled: Set(enabled),
    })
    .await?;
    let old = json!({ "rule": rule.key(), "points": before.points, "enabled": before.enabled });
    let new = json!({ "rule": rule.key(), "points": points, "enabled": enabled });
    if let Some(change) = Change::update(RULE_ENTITY, Uuid::nil(), &old, &new) {
        tx.trace(change).await?;
    }
    Ok(RuleSetting { rule, points, enabled })
}

/// Awards `rule`'s points for `record` to the acting person, once: a second
/// qualifying write of the same record awards nothing. Returns the award.
pub async fn award(
    tx: &TenantTx,
    rule: Rule,
    entity_type: &str,
    record: Uuid,
) -> ServiceResult<Option<points_award::Model>> {
    let actor = tx.actor();
    let (Some(user), Source::App, None) = (actor.user_id, actor.source, actor.api_token_id) else {
        return Ok(None);
    };
    let Some(setting) = rules(tx).await?.into_iter().find(|r| r.rule == rule && r.enabled) else {
        return Ok(None);
    };
    let award = points_award::Model {
        tenant_id: actor.tenant_id,
        id: Uuid::now_v7(),
        user_id: user,
        rule: rule.key().to_owned(),
        entity_type: entity_type.to_owned(),
        entity_id: record,
        points: setting.points,
        awarded_at: tx.now(),
    };
    if !tx.insert_if_absent(points_award::ActiveModel::from(award.clone())).await? {
        return Ok(None);
    }
    let after = json!({ "userId": user, "rule": award.rule, "points": award.points, "entityType": entity_type,
        "entityId": record });
    tx.trace(Change::create(AWARD_ENTITY, award.id, after)).await?;
    Ok(Some(award))
}

/// After a person's write set a record's completeness: a lead that reaches
/// 100 % within 3 days of its creation earns its writer the lead rule's points.
pub async fn on_completeness(
    tx: &TenantTx,
    entity: &str,
    record: Uuid,
    created_at: chrono::DateTime<chrono::Utc>,
    before: Option<f64>,
    after: f64,
) -> ServiceResult<()> {
    const COMPLETE: f64 = 1.0 - 1e-9;
    let reached = after >= COMPLETE && before.is_none_or(|b| b < COMPLETE);
    if entity == "Lead" && reached && tx.now() - created_at <= chrono::Duration::days(3) {
        award(tx, Rule::LeadCompleted, entity, record).await?;
    }
    Ok(())
}

/// One place on a leaderboard.
#[derive(Clone, Debug)]
pub struct Place {
    /// 1 for the best; equal scores share a rank (1, 1, 3).
    pub rank: u32,
    pub user_id: Uuid,
    pub points: i64,
    /// `None` for users whose metrics the caller may not see.
    pub writes: Option<i64>,
}

pub struct Leaderboard {
    pub week: NaiveDate,
    pub by_points: Vec<Place>,
    pub by_activity: Vec<Place>,
}

/// The week's people ranked by points (public: recognition is meant to be
/// seen) and by writes (only the users whose metrics the caller may see, as
/// in `adoption`). Removed users are left out.
pub async fn leaderboard(scope: &impl Scope, week: NaiveDate) -> ServiceResult<Leaderboard> {
    let week = counters::monday(report::plausible("week", week)?);
    let tz = rollup::tenant_zone(scope.conn(), scope.actor().tenant_id).await?;
    let (start, end) = (report::week_start(week, tz), report::week_start(week + Days::new(7), tz));
    let awards = scope
        .select::<points_award::Entity>()
        .filter(points_award::Column::AwardedAt.gte(start))
        .filter(points_award::Column::AwardedAt.lt(end))
        .all(scope.conn())
        .await?;
    let mut points: HashMap<Uuid, i64> = HashMap::new();
    for a in awards {
        *points.entry(a.user_id).or_default() += i64::from(a.points);
    }
    let activity = report::writes_in_week(scope, week).await?;
    let users = report::all_users(scope).await?;
    let visible = report::visible_users(scope, &users);
    let live: Vec<Uuid> = users.iter().filter(|u| u.deleted_at.is_none()).map(|u| u.id).collect();
    let mut rows: Vec<Place> = live
        .iter()
        .map(|id| Place {
            rank: 0,
            user_id: *id,
            points: points.get(id).copied().unwrap_or(0),
            writes: visible.contains(id).then(|| activity.get(id).copied().unwrap_or(0)),
        })
        .collect();
    let by_points = ranked(&mut rows.clone(), |p| p.points);
    let by_activity = ranked(&mut rows, |p| p.writes.unwrap_or(0));
    Ok(Leaderboard { week, by_points, by_activity })
}

/// Those with a score above zero, best first, ranked with ties sharing a rank.
fn ranked(rows: &mut Vec<Place>, score: impl Fn(&Place) -> i64) -> Vec<Place> {
    rows.retain(|p| score(p) > 0);
    rows.sort_by(|a, b| score(b).cmp(&score(a)).then(a.user_id.cmp(&b.user_id)));
    let mut out = Vec::with_capacity(rows.len());
    let mut previous: Option<(i64, u32)> = None;
    for (i, mut place) in rows.drain(..).enumerate() {
        let position = u32::try_from(i + 1).unwrap_or(u32::MAX);
        place.rank = match previous {
            Some((s, rank)) if s == score(&place) => rank,
            _ => position,
        };
        previous = Some((score(&place), place.rank));
        out.push(place);
    }
    out
}
