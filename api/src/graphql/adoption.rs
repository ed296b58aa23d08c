//! Adoption metrics, as a query.

use std::sync::Arc;

use async_graphql::parser::types::Field;
use async_graphql::{ComplexObject, Context, ContextSelectionSet, Enum, ID, Object, Positioned, SimpleObject, Value};
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::answers::Holds;
use super::context::{parse_id, request};
use super::plain::{self, PlainObject, Rows};
use super::types::User;
use crate::error::GqlResult;
use crate::service;
use crate::service::adoption::counters::ActorKind as Kind;
use crate::service::adoption::report::{ActorWeek, Counts, TenantWeek, UserWeek};

/// Records of one custom entity created in a week.
#[derive(SimpleObject, Clone)]
pub struct EntityCount {
    pub entity: String,
    pub count: i64,
}

/// What was done in one week. In `change`, each number is the difference to
/// the previous week.
#[derive(SimpleObject, Clone)]
pub struct AdoptionCounts {
    pub activities_logged: i64,
    pub activities_completed: i64,
    /// Activities whose due date had passed without completion at the end of
    /// the week (or now, for the current week), by owner.
    pub activities_overdue: i64,
    pub accounts_created: i64,
    pub contacts_created: i64,
    pub leads_created: i64,
    pub opportunities_created: i64,
    /// Records created per custom entity.
    pub records_created: Rows<EntityCount>,
    /// Updates, deletions, restores and conversions of records.
    pub updates: i64,
    pub logins: i64,
    /// All writes to records: creations, completions and updates.
    pub writes: i64,
}

impl PlainObject for EntityCount {
    fn field_value(&self, field: &Positioned<Field>, _: &ContextSelectionSet<'_>) -> Option<Value> {
        match field.node.name.node.as_str() {
            "entity" => plain::scalar(&self.entity),
            "count" => plain::scalar(&self.count),
            _ => None,
        }
    }
}

impl PlainObject for AdoptionCounts {
    fn field_value(&self, field: &Positioned<Field>, selection: &ContextSelectionSet<'_>) -> Option<Value> {
        match field.node.name.node.as_str() {
            "activitiesLogged" => plain::scalar(&self.activities_logged),
            "activitiesCompleted" => plain::scalar(&self.activities_completed),
            "activitiesOverdue" => plain::scalar(&self.activities_overdue),
            "accountsCreated" => plain::scalar(&self.accounts_created),
            "contactsCreated" => plain::scalar(&self.contacts_created),
            "leadsCreated" => plain::scalar(&self.leads_created),
            "opportunitiesCreated" => plain::scalar(&self.opportunities_created),
            "recordsCreated" => plain::list(&self.records_created.0, field, selection),
            "updates" => plain::scalar(&self.updates),
            "logins" => plain::scalar(&self.logins),
            "writes" => plain::scalar(&self.writes),
            _ => None,
        }
    }
}

impl From<&Counts> for AdoptionCounts {
    fn from(c: &Counts) -> Self {
        Self {
            activities_logged: c.activities_logged,
            activities_completed: c.activities_completed,
            activities_overdue: c.activities_overdue,
            accounts_created: c.accounts_created,
            contacts_created: c.contacts_created,
            leads_created: c.leads_created,
            opportunities_created: c.opportunities_created,
            records_created: c
                .records_created
                .iter()
                .filter(|(_, n)| **n != 0)
                .map(|(entity, n)| EntityCount { entity: entity.clone(), count: *n })
                .collect(),
            updates: c.updates,
            logins: c.logins,
            writes: c.writes(),
        }
    }
}

/// One user's week.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct UserAdoption {
    /// The Monday starting the ISO week, in the tenant's time zone.
    pub week: NaiveDate,
    pub user_id: ID,
    pub counts: AdoptionCounts,
    /// The user's last trace in that week (sign-in or write).
    pub last_active_at: Option<DateTime<Utc>>,
}

impl PlainObject for UserAdoption {
    /// `user` takes a loader: the executor's.
    fn field_value(&self, field: &Positioned<Field>, selection: &ContextSelectionSet<'_>) -> Option<Value> {
        match field.node.name.node.as_str() {
            "week" => plain::date(&self.week),
            "userId" => plain::scalar(&self.user_id),
            "counts" => plain::nested(&self.counts, field, selection),
            "lastActiveAt" => plain::nullable(self.last_active_at.as_ref()),
            _ => None,
        }
    }
}

#[ComplexObject]
impl UserAdoption {
    async fn user(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        let id = parse_id("userId", &self.user_id)?;
        Ok(request(ctx)?.loaders()?.users.load_one(id).await?.map(Into::into))
    }
}

impl From<UserWeek> for UserAdoption {
    fn from(row: UserWeek) -> Self {
        Self {
            week: row.week,
            user_id: row.user_id.into(),
            counts: (&row.counts).into(),
            last_active_at: row.last_active_at,
        }
    }
}

/// The tenant's people in one week; integrations are never counted here.
#[derive(SimpleObject, Clone)]
pub struct AdoptionTotals {
    pub week: NaiveDate,
    pub counts: AdoptionCounts,
    /// Users whose account existed during the week, or who acted in it.
    pub seats: i64,
    /// Users who signed in or wrote anything.
    pub active_users: i64,
    /// Users who wrote to at least one record.
    pub writing_users: i64,
    /// `writingUsers / seats`, from 0 to 1.
    pub writing_share: f64,
    /// The counts minus the previous week's.
    pub change: AdoptionCounts,
    /// `writingShare` minus the previous week's.
    pub writing_share_change: f64,
}

impl PlainObject for AdoptionTotals {
    fn field_value(&self, field: &Positioned<Field>, selection: &ContextSelectionSet<'_>) -> Option<Value> {
        match field.node.name.node.as_str() {
            "week" => plain::date(&self.week),
            "counts" => plain::nested(&self.counts, field, selection),
            "seats" => plain::scalar(&self.seats),
            "activeUsers" => plain::scalar(&self.active_users),
            "writingUsers" => plain::scalar(&self.writing_users),
            "writingShare" => plain::scalar(&self.writing_share),
            "change" => plain::nested(&self.change, field, selection),
            "writingShareChange" => plain::scalar(&self.writing_share_change),
            _ => None,
        }
    }
}

impl From<TenantWeek> for AdoptionTotals {
    fn from(t: TenantWeek) -> Self {
        Self {
            week: t.week,
            counts: (&t.counts).into(),
            seats: t.seats,
            active_users: t.active_users,
            writing_users: t.writing_users,
            writing_share: t.writing_share,
            change: (&t.change).into(),
            writing_share_change: t.writing_share_change,
        }
    }
}

/// Who, besides people, changed data.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum AutomatedActor {
    /// An integration with an API token.
    Integration,
    /// A person's bulk import (never counted as their adoption).
    Import,
    /// The server itself or operator commands.
    Workflow,
}

/// The week of an integration, an import or the workflows.
#[derive(SimpleObject, Clone)]
pub struct AutomatedAdoption {
    pub week: NaiveDate,
    pub kind: AutomatedActor,
    /// The API token, for INTEGRATION.
    pub api_token_id: Option<ID>,
    /// The importing user, for IMPORT.
    pub user_id: Option<ID>,
    pub counts: AdoptionCounts,
    pub last_active_at: Option<DateTime<Utc>>,
}

impl PlainObject for AutomatedAdoption {
    fn field_value(&self, field: &Positioned<Field>, selection: &ContextSelectionSet<'_>) -> Option<Value> {
        match field.node.name.node.as_str() {
            "week" => plain::date(&self.week),
            "kind" => Some(async_graphql::resolver_utils::enum_value(self.kind)),
            "apiTokenId" => plain::nullable(self.api_token_id.as_ref()),
            "userId" => plain::nullable(self.user_id.as_ref()),
            "counts" => plain::nested(&self.counts, field, selection),
            "lastActiveAt" => plain::nullable(self.last_active_at.as_ref()),
            _ => None,
        }
    }
}

impl From<ActorWeek> for AutomatedAdoption {
    fn from(row: ActorWeek) -> Self {
        let (kind, token, user) = match row.kind {
            Kind::Integration => (AutomatedActor::Integration, Some(row.actor_id), None),
            Kind::Import | Kind::User => (AutomatedActor::Import, None, Some(row.actor_id)),
            Kind::Workflow => (AutomatedActor::Workflow, None, None),
        };
        Self {
            week: row.week,
            kind,
            api_token_id: token.map(Into::into),
            user_id: user.map(Into::into),
            counts: (&row.counts).into(),
            last_active_at: row.last_active_at,
        }
    }
}

/// Adoption over a range of weeks.
#[derive(SimpleObject)]
pub struct AdoptionReport {
    /// The tenant's time zone, where its weeks begin.
    pub time_zone: String,
    /// Each week's Monday, oldest first.
    pub weeks: Vec<NaiveDate>,
    /// Per user and week, for the users the caller may see: everyone with
    /// `viewAllMetrics`, else themselves and the people they manage.
    pub users: Rows<UserAdoption>,
    /// Tenant totals per week (everyone sees these).
    pub totals: Rows<AdoptionTotals>,
    /// Integrations, imports and workflows, apart (only with `viewAllMetrics`).
    pub automated: Rows<AutomatedAdoption>,
}

#[derive(Default)]
pub struct AdoptionQuery;

#[Object]
impl AdoptionQuery {
    /// Who uses the CRM, week by week (ISO weeks starting Monday in the
    /// tenant's time zone), for the weeks holding `from` through `to` (at most
    /// 106 weeks). `users` narrows the rows to some users the caller may see.
    async fn adoption(
        &self,
        ctx: &Context<'_>,
        from: NaiveDate,
        to: NaiveDate,
        users: Option<Vec<ID>>,
    ) -> GqlResult<AdoptionReport> {
        let users: Option<Vec<Uuid>> =
            users.map(|ids| ids.iter().map(|id| parse_id("users", id)).collect::<GqlResult<_>>()).transpose()?;
        let read = request(ctx)?.read()?;
        let report = service::adoption::report::report(&read, from, to, users.as_deref()).await?;
        if let Some(holds) = ctx.data_opt::<Arc<Holds>>() {
            holds.until(report.fresh_until);
        }
        Ok(AdoptionReport {
            time_zone: report.time_zone,
            weeks: report.weeks,
            users: report.users.into_iter().map(Into::into).collect(),
            totals: report.totals.into_iter().map(Into::into).collect(),
            automated: report.integrations.into_iter().map(Into::into).collect(),
        })
    }
}

/// A tenant's settings.
#[derive(SimpleObject)]
pub struct TenantSettings {
    /// IANA time zone where the tenant's days and weeks begin (default UTC).
    pub time_zone: String,
    /// Days without a stage change after which an open opportunity is listed
    /// by `staleOpportunities` (default 14).
    pub stale_opportunity_days: i32,
}

impl From<entity::tenant::Model> for TenantSettings {
    fn from(t: entity::tenant::Model) -> Self {
        Self { time_zone: t.time_zone, stale_opportunity_days: t.stale_opportunity_days }
    }
}

/// A change to the settings; omitted fields keep their value.
#[derive(async_graphql::InputObject)]
pub struct TenantSettingsInput {
    /// An IANA time zone such as `Europe/Paris`. Changing it recomputes the
    /// weekly adoption metrics.
    pub time_zone: Option<String>,
    /// 1 to 3650.
    pub stale_opportunity_days: Option<i32>,
}

#[derive(Default)]
pub struct SettingsQuery;

#[Object]
impl SettingsQuery {
    /// The caller's tenant settings.
    async fn tenant_settings(&self, ctx: &Context<'_>) -> GqlResult<TenantSettings> {
        Ok(service::tenant_settings::get(&request(ctx)?.read()?).await?.into())
    }
}

#[derive(Default)]
pub struct SettingsMutation;

#[Object]
impl SettingsMutation {
    /// Changes the tenant's settings (admins only).
    async fn update_tenant_settings(&self, ctx: &Context<'_>, input: TenantSettingsInput) -> GqlResult<TenantSettings> {
        let patch = service::tenant_settings::SettingsPatch {
            time_zone: input.time_zone,
            stale_opportunity_days: input.stale_opportunity_days,
        };
        let tenant =
            request(ctx)?.write(move |tx| async move { service::tenant_settings::update(&tx, patch).await }).await?;
        Ok(tenant.into())
    }
}
