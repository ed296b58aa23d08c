//! Recognition: points rules, the leaderboard, and the award event.

use async_graphql::{ComplexObject, Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};

use super::context::{parse_id, request};
use super::types::User;
use crate::error::GqlResult;
use crate::service;
use crate::service::points::{Place, Rule, RuleSetting};

/// The built-in points rules.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum PointsRuleKey {
    /// A lead reaches 100 % completeness within 3 days of its creation (10 by default).
    LeadCompletedQuickly,
    /// An activity is completed (1 by default).
    ActivityCompleted,
}

impl From<PointsRuleKey> for Rule {
    fn from(key: PointsRuleKey) -> Self {
        match key {
            PointsRuleKey::LeadCompletedQuickly => Self::LeadCompleted,
            PointsRuleKey::ActivityCompleted => Self::ActivityCompleted,
        }
    }
}

impl From<Rule> for PointsRuleKey {
    fn from(rule: Rule) -> Self {
        match rule {
            Rule::LeadCompleted => Self::LeadCompletedQuickly,
            Rule::ActivityCompleted => Self::ActivityCompleted,
        }
    }
}

/// A points rule as the tenant has it.
#[derive(SimpleObject)]
pub struct PointsRule {
    pub rule: PointsRuleKey,
    pub description: String,
    pub points: i32,
    pub enabled: bool,
}

impl From<RuleSetting> for PointsRule {
    fn from(s: RuleSetting) -> Self {
        Self { rule: s.rule.into(), description: s.rule.description().to_owned(), points: s.points, enabled: s.enabled }
    }
}

/// One place on the leaderboard.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct LeaderboardEntry {
    /// 1 for the best; equal scores share a rank (1, 1, 3).
    pub rank: u32,
    pub user_id: ID,
    pub points: i64,
    /// Writes to records that week; null for users whose metrics the caller
    /// may not see (see `adoption`).
    pub writes: Option<i64>,
}

#[ComplexObject]
impl LeaderboardEntry {
    async fn user(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        let id = parse_id("userId", &self.user_id)?;
        Ok(request(ctx)?.loaders()?.users.load_one(id).await?.map(Into::into))
    }
}

impl From<Place> for LeaderboardEntry {
    fn from(p: Place) -> Self {
        Self { rank: p.rank, user_id: p.user_id.into(), points: p.points, writes: p.writes }
    }
}

/// A week's best users.
#[derive(SimpleObject)]
pub struct Leaderboard {
    /// The Monday of the week, in the tenant's time zone.
    pub week: NaiveDate,
    /// Users with points, most first.
    pub by_points: Vec<LeaderboardEntry>,
    /// Users who wrote to records, most writes first: those whose metrics
    /// the caller may see (everyone with `viewAllMetrics`, else their team).
    pub by_activity: Vec<LeaderboardEntry>,
}

/// Points a user just earned.
#[derive(SimpleObject, Clone)]
pub struct PointsAwarded {
    pub points: i32,
    pub rule: PointsRuleKey,
    pub entity_type: String,
    pub entity_id: ID,
    pub awarded_at: DateTime<Utc>,
    /// A message to show the user.
    pub message: String,
}

impl PointsAwarded {
    /// The award a `PointsAward` trace records, if it is one.
    pub fn from_trace(trace: &entity::trace::Model) -> Option<(uuid::Uuid, Self)> {
        if trace.entity_type != service::points::AWARD_ENTITY || trace.change_type != "CREATE" {
            return None;
        }
        let after: serde_json::Value = serde_json::from_str(trace.after.as_deref()?).ok()?;
        let user = after["userId"].as_str()?.parse().ok()?;
        let rule = Rule::parse(after["rule"].as_str()?)?;
        let points = i32::try_from(after["points"].as_i64()?).ok()?;
        let message = format!("Well done! +{points} points: {}.", rule.description());
        Some((
            user,
            Self {
                points,
                rule: rule.into(),
                entity_type: after["entityType"].as_str()?.to_owned(),
                entity_id: ID(after["entityId"].as_str()?.to_owned()),
                awarded_at: trace.at,
                message,
            },
        ))
    }
}

#[derive(Default)]
pub struct PointsQuery;

#[Object]
impl PointsQuery {
    /// The tenant's points rules.
    async fn points_rules(&self, ctx: &Context<'_>) -> GqlResult<Vec<PointsRule>> {
        let rules = service::points::rules(&request(ctx)?.read()?).await?;
        Ok(rules.into_iter().map(Into::into).collect())
    }

    /// The week's users ranked by points and by activity (the week holding `week`).
    async fn leaderboard(&self, ctx: &Context<'_>, week: NaiveDate) -> GqlResult<Leaderboard> {
        let board = service::points::leaderboard(&request(ctx)?.read()?, week).await?;
        Ok(Leaderboard {
            week: board.week,
            by_points: board.by_points.into_iter().map(Into::into).collect(),
            by_activity: board.by_activity.into_iter().map(Into::into).collect(),
        })
    }
}

#[derive(Default)]
pub struct PointsMutation;

#[Object]
impl PointsMutation {
    /// Changes a points rule (admins only; `points` 1 to 1000). Points already
    /// awarded stay.
    async fn set_points_rule(
        &self,
        ctx: &Context<'_>,
        rule: PointsRuleKey,
        points: i32,
        enabled: bool,
    ) -> GqlResult<PointsRule> {
        let setting = request(ctx)?
            .write(move |tx| async move { service::points::set_rule(&tx, rule.into(), points, enabled).await })
            .await?;
        Ok(setting.into())
    }
}
