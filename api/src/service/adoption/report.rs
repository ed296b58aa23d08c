//! The adoption report: per user and week, tenant totals, integrations apart.
//!
//! Everything comes from the rollup: a few rows per user and week, whatever
//! the number of traces or activities. The overdue count, a state rather than
//! an event, is kept there as steps (see `counters::OVERDUE_STEP`).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use entity::{activity, adoption_rollup, app_user};
use sea_orm::{ColumnTrait, Condition, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::counters::{self, ActorKind, CREATED_PREFIX, LAST_ACTIVE_AT, OVERDUE_STEP, OVERDUE_STEPS_SUM};
use crate::db::{Scope, decode, rollup};
use crate::error::{ServiceError, ServiceResult};

type ActorWeekKey = (NaiveDate, ActorKind, Uuid);
/// An actor's counts in a week and their last activity.
type ActorStats = (Counts, Option<DateTime<Utc>>);

/// The longest range one report covers: two years of weeks.
pub const MAX_WEEKS: usize = 106;

/// One actor's (or the tenant's) counters for one week.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    pub activities_logged: i64,
    pub activities_completed: i64,
    /// Due date passed and not completed, as of the week's end (or now, for
    /// the current week).
    pub activities_overdue: i64,
    pub accounts_created: i64,
    pub contacts_created: i64,
    pub leads_created: i64,
    pub opportunities_created: i64,
    /// Custom entity name → records created.
    pub records_created: BTreeMap<String, i64>,
    /// Updates, deletions, restores and conversions of records.
    pub updates: i64,
    pub logins: i64,
}

impl Counts {
    fn add(&mut self, counter: &str, value: i64) {
        let slot = match counter {
            counters::ACTIVITIES_LOGGED => &mut self.activities_logged,
            counters::ACTIVITIES_COMPLETED => &mut self.activities_completed,
            counters::ACCOUNTS_CREATED => &mut self.accounts_created,
            counters::CONTACTS_CREATED => &mut self.contacts_created,
            counters::LEADS_CREATED => &mut self.leads_created,
            counters::OPPORTUNITIES_CREATED => &mut self.opportunities_created,
            counters::UPDATES => &mut self.updates,
            counters::LOGINS => &mut self.logins,
            other => match other.strip_prefix(CREATED_PREFIX) {
                Some(entity) => self.records_created.entry(entity.to_owned()).or_default(),
                None => return,
            },
        };
        *slot += value;
    }

    /// Writes to records of any kind: what makes a user count as writing.
    pub fn writes(&self) -> i64 {
        self.activities_logged
            + self.activities_completed
            + self.accounts_created
            + self.contacts_created
            + self.leads_created
            + self.opportunities_created
            + self.records_created.values().sum::<i64>()
            + self.updates
    }

    fn plus(&mut self, other: &Self) {
        self.combine(other, 1);
    }

    /// `self − previous`, field by field.
    pub fn minus(&self, previous: &Self) -> Self {
        let mut change = self.clone();
        change.combine(previous, -1);
        change
    }

    fn combine(&mut self, other: &Self, sign: i64) {
        self.activities_logged += sign * other.activities_logged;
        self.activities_completed += sign * other.activities_completed;
        self.activities_overdue += sign * other.activities_overdue;
        self.accounts_created += sign * other.accounts_created;
        self.contacts_created += sign * other.contacts_created;
        self.leads_created += sign * other.leads_created;
        self.opportunities_created += sign * other.opportunities_created;
        for (entity, n) in &other.records_created {
            *self.records_created.entry(entity.clone()).or_default() += sign * n;
        }
        self.updates += sign * other.updates;
        self.logins += sign * other.logins;
    }
}

/// One user's week.
#[derive(Clone, Debug)]
pub struct UserWeek {
    pub week: NaiveDate,
    pub user_id: Uuid,
    pub counts: Counts,
    pub last_active_at: Option<DateTime<Utc>>,
}

/// The tenant's people in one week (integrations never count here).
#[derive(Clone, Debug)]
pub struct TenantWeek {
    pub week: NaiveDate,
    pub counts: Counts,
    /// Users whose account existed during the week, or who acted in it.
    pub seats: i64,
    /// Users who signed in or wrote anything.
    pub active_users: i64,
    /// Users who wrote to at least one record.
    pub writing_users: i64,
    /// `writing_users / seats` (0 without seats).
    pub writing_share: f64,
    /// Against the previous week: counts, and the share in points of 1.
    pub change: Counts,
    pub writing_share_change: f64,
}

/// An integration's, an import's or the workflows' week.
#[derive(Clone, Debug)]
pub struct ActorWeek {
    pub week: NaiveDate,
    pub kind: ActorKind,
    /// The API token (INTEGRATION) or the importing user (IMPORT); nil for workflows.
    pub actor_id: Uuid,
    pub counts: Counts,
    pub last_active_at: Option<DateTime<Utc>>,
}

pub struct Report {
    /// Until when the report holds as long as the tenant's data does not
    /// change (see `adoption::Version`): the next due time of an open
    /// activity that would count as overdue this week, or the next week.
    pub fresh_until: DateTime<Utc>,
    pub time_zone: String,
    pub weeks: Vec<NaiveDate>,
    pub users: Vec<UserWeek>,
    pub totals: Vec<TenantWeek>,
    pub integrations: Vec<ActorWeek>,
}

/// A date metrics can be asked about: years 1970 to 9999 (week arithmetic
/// on dates near chrono's limits would overflow).
pub fn plausible(field: &str, date: NaiveDate) -> ServiceResult<NaiveDate> {
    let earliest = NaiveDate::from_ymd_opt(1970, 1, 5).unwrap_or(NaiveDate::MIN);
    let latest = NaiveDate::from_ymd_opt(9999, 12, 24).unwrap_or(NaiveDate::MAX);
    if date < earliest || date > latest {
        return Err(ServiceError::invalid(field, "must be a date between 1970 and 9999"));
    }
    Ok(date)
}

/// The weeks from the one holding `from` to the one holding `to`.
pub fn weeks(from: NaiveDate, to: NaiveDate) -> ServiceResult<Vec<NaiveDate>> {
    let (from, to) = (plausible("from", from)?, plausible("to", to)?);
    if to < from {
        return Err(ServiceError::invalid("to", "must not be before `from`"));
    }
    let mut weeks = Vec::new();
    let mut week = counters::monday(from);
    while week <= to {
        if weeks.len() == MAX_WEEKS {
            return Err(ServiceError::invalid("to", format!("a report covers at most {MAX_WEEKS} weeks")));
        }
        weeks.push(week);
        week = week + Days::new(7);
    }
    Ok(weeks)
}

/// When a week starts, as an instant, in the tenant's zone.
pub fn week_start(week: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = week.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A zone whose midnight falls in a DST gap starts the day at its first valid instant.
    tz.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(midnight + chrono::Duration::hours(1))).earliest())
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

/// Who the caller may see the metrics of: everyone with `viewAllMetrics`,
/// else themselves and the people they manage, directly or through others.
pub fn visible_users(scope: &impl Scope, users: &[app_user::Model]) -> HashSet<Uuid> {
    let actor = scope.actor();
    if actor.access.views_all_metrics() {
        return users.iter().map(|u| u.id).collect();
    }
    let Some(me) = actor.user_id else { return HashSet::new() };
    let mut seen = HashSet::from([me]);
    let mut frontier = vec![me];
    while let Some(manager) = frontier.pop() {
        for user in users.iter().filter(|u| u.manager_id == Some(manager)) {
            if seen.insert(user.id) {
                frontier.push(user.id);
            }
        }
    }
    seen
}

/// Every user of the tenant, removed ones included (their past weeks count).
pub async fn all_users(scope: &impl Scope) -> ServiceResult<Vec<app_user::Model>> {
    Ok(decode::all(scope.select::<app_user::Entity>(), scope.conn()).await?)
}

/// Checks a requested user list against what the caller may see.
fn requested(users: Option<&[Uuid]>, all: &[app_user::Model], visible: &HashSet<Uuid>) -> ServiceResult<HashSet<Uuid>> {
    let Some(ids) = users else { return Ok(visible.clone()) };
    for id in ids {
        if !all.iter().any(|u| u.id == *id) {
            return Err(ServiceError::NotFound);
        }
        if !visible.contains(id) {
            return Err(ServiceError::ForbiddenField {
                field: "users".into(),
                message: "you may see the metrics of yourself and your team only".into(),
            });
        }
    }
    Ok(ids.iter().copied().collect())
}

pub async fn report(
    scope: &impl Scope,
    from: NaiveDate,
    to: NaiveDate,
    users: Option<&[Uuid]>,
) -> ServiceResult<Report> {
    let weeks = weeks(from, to)?;
    let (Some(&first), Some(&last)) = (weeks.first(), weeks.last()) else {
        return Err(ServiceError::invalid("to", "the range holds no week"));
    };
    let tenant = scope.actor().tenant_id;
    let previous = first - Days::new(7);
    let now = Utc::now();
    // The range's counters, and for the overdue counts the steps after it
    // and their sums: one read of the rollup, whatever the history's length.
    // The steps are read from the week before UTC's current one, which starts
    // no later than the tenant's current week in any zone (at most a day
    // apart): the rollup is then read alongside the zone and the users,
    // instead of after them. Earlier steps read here are left unused.
    let since = previous.min(counters::week_of(now, Tz::UTC) - Days::new(7));
    let (week, counter) = (adoption_rollup::Column::Week, adoption_rollup::Column::Counter);
    let read = Condition::any()
        .add(week.between(previous, last))
        .add(Condition::all().add(week.gte(since)).add(counter.eq(OVERDUE_STEP)))
        .add(week.eq(counters::steps_sum_week()));
    let zone = async { Ok(rollup::tenant_zone_named(scope.conn(), tenant).await?) };
    let ((time_zone, tz), all, rows) = futures_util::try_join!(zone, all_users(scope), rollup_rows(scope, read))?;
    let visible = visible_users(scope, &all);
    let wanted = requested(users, &all, &visible)?;
    let mut by_actor = by_actor(&rows, previous, last);
    // The week before the range too: the first week's change is against it.
    let compared: Vec<NaiveDate> = std::iter::once(previous).chain(weeks.iter().copied()).collect();
    let current = counters::week_of(now, tz);
    let next_week = week_start(current + Days::new(7), tz);
    let (overdue, next_due) = overdue(scope, &compared, &rows, (current, next_week), now).await?;
    for ((week, owner), n) in overdue {
        by_actor.entry((week, ActorKind::User, owner)).or_default().0.activities_overdue += n;
    }
    let fresh_until = next_due.map_or(next_week, |due| due.min(next_week));

    // Each week's bounds once, not once per user: a zone conversion is not free.
    let bounds: HashMap<NaiveDate, (DateTime<Utc>, DateTime<Utc>)> =
        compared.iter().map(|&week| (week, (week_start(week, tz), week_start(week + Days::new(7), tz)))).collect();
    let exists = |user: &app_user::Model, week: NaiveDate| {
        let Some(&(start, end)) = bounds.get(&week) else { return false };
        user.created_at < end && user.deleted_at.is_none_or(|gone| gone >= start)
    };
    let mut user_rows = Vec::new();
    let mut totals = Vec::new();
    let mut prior: Option<TenantWeek> = None;
    for &week in &compared {
        let mut total = TenantWeek {
            week,
            counts: Counts::default(),
            seats: 0,
            active_users: 0,
            writing_users: 0,
            writing_share: 0.0,
            change: Counts::default(),
            writing_share_change: 0.0,
        };
        for user in &all {
            let stats = by_actor.get(&(week, ActorKind::User, user.id));
            // Someone who acted in a week held a seat in it, whatever their
            // account's stamps say (backdated or imported history): the share
            // of writing users then never exceeds one.
            let seated = exists(user, week) || stats.is_some();
            if !seated {
                continue;
            }
            let (counts, last_active) = stats.cloned().unwrap_or_default();
            total.seats += i64::from(seated);
            total.active_users += i64::from(last_active.is_some());
            total.writing_users += i64::from(counts.writes() > 0);
            total.counts.plus(&counts);
            if week != previous && wanted.contains(&user.id) {
                user_rows.push(UserWeek { week, user_id: user.id, counts, last_active_at: last_active });
            }
        }
        if total.seats > 0 {
            total.writing_share = total.writing_users as f64 / total.seats as f64;
        }
        if let Some(prior) = &prior {
            total.change = total.counts.minus(&prior.counts);
            total.writing_share_change = total.writing_share - prior.writing_share;
            totals.push(total.clone());
        }
        prior = Some(total);
    }

    let mut integrations: Vec<ActorWeek> = if scope.actor().access.views_all_metrics() {
        by_actor
            .iter()
            .filter(|((week, kind, _), _)| *kind != ActorKind::User && *week >= first)
            .map(|((week, kind, actor), (counts, last))| ActorWeek {
                week: *week,
                kind: *kind,
                actor_id: *actor,
                counts: counts.clone(),
                last_active_at: *last,
            })
            .collect()
    } else {
        Vec::new()
    };
    integrations.sort_by_key(|row| (row.week, row.kind, row.actor_id));
    let order: HashMap<Uuid, usize> = all.iter().enumerate().map(|(i, u)| (u.id, i)).collect();
    user_rows.sort_by_key(|row| (row.week, order.get(&row.user_id).copied()));
    Ok(Report { fresh_until, time_zone, weeks, users: user_rows, totals, integrations })
}

/// A stored counter: week, actor kind, actor, counter, value.
type RollupRow = (NaiveDate, String, Uuid, String, i64);

/// The tenant's stored counters matching `condition`.
async fn rollup_rows(scope: &impl Scope, condition: Condition) -> ServiceResult<Vec<RollupRow>> {
    use adoption_rollup::Column;
    Ok(scope
        .select::<adoption_rollup::Entity>()
        .filter(condition)
        .select_only()
        .columns([Column::Week, Column::ActorKind, Column::ActorId, Column::Counter, Column::Value])
        .into_tuple()
        .all(scope.conn())
        .await?)
}

/// The counters of the weeks `first..=last` among `rows`, per (week, actor).
fn by_actor<'a>(
    rows: impl IntoIterator<Item = &'a RollupRow>,
    first: NaiveDate,
    last: NaiveDate,
) -> HashMap<ActorWeekKey, ActorStats> {
    let mut by_actor: HashMap<ActorWeekKey, ActorStats> = HashMap::new();
    for (week, kind, actor, counter, value) in rows {
        let Some(kind) = ActorKind::parse(kind) else { continue };
        if *week < first || *week > last {
            continue;
        }
        let entry = by_actor.entry((*week, kind, *actor)).or_default();
        if counter == LAST_ACTIVE_AT {
            entry.1 = DateTime::from_timestamp_micros(*value);
        } else {
            entry.0.add(counter, *value);
        }
    }
    by_actor
}

/// The stored counters of the weeks `first..=last`, per (week, actor).
async fn stored(
    scope: &impl Scope,
    first: NaiveDate,
    last: NaiveDate,
) -> ServiceResult<HashMap<ActorWeekKey, ActorStats>> {
    let rows = rollup_rows(scope, Condition::all().add(adoption_rollup::Column::Week.between(first, last))).await?;
    Ok(by_actor(&rows, first, last))
}

/// Each person's writes to records in one week, from the rollup.
pub async fn writes_in_week(scope: &impl Scope, week: NaiveDate) -> ServiceResult<HashMap<Uuid, i64>> {
    Ok(stored(scope, week, week)
        .await?
        .into_iter()
        .filter(|((_, kind, _), _)| *kind == ActorKind::User)
        .map(|((_, _, user), (counts, _))| (user, counts.writes()))
        .collect())
}

/// Overdue activities per (week, owner), as of each week's end or now, from
/// the rollup's steps (`rows`: those from the first or the current week on,
/// whichever is earlier, and the sums).
///
/// A week's count is the owner's sum of all steps less the steps after that
/// week. The steps count as of week ends; the current week (and any later
/// one) counts as of now instead: the activities due between now and the
/// week's end, read through the due-time index, make the difference; the
/// earliest of their due times comes back too, as the counts change then.
/// `(current, next_week)`: the week holding `now` and when the next begins.
async fn overdue(
    scope: &impl Scope,
    weeks: &[NaiveDate],
    rows: &[RollupRow],
    (current, next_week): (NaiveDate, DateTime<Utc>),
    now: DateTime<Utc>,
) -> ServiceResult<(HashMap<(NaiveDate, Uuid), i64>, Option<DateTime<Utc>>)> {
    let (Some(&first), Some(&last)) = (weeks.first(), weeks.last()) else { return Ok((HashMap::new(), None)) };
    // Per owner: the sum of all steps, and the steps after the first week,
    // or after the current one when the range starts later (the counts as of
    // now take back every step after it).
    let after = first.min(current);
    let mut sums: HashMap<Uuid, i64> = HashMap::new();
    let mut steps: HashMap<Uuid, BTreeMap<NaiveDate, i64>> = HashMap::new();
    for (week, kind, owner, counter, value) in rows {
        if kind != ActorKind::User.as_str() {
            continue;
        }
        match counter.as_str() {
            OVERDUE_STEPS_SUM => *sums.entry(*owner).or_default() += value,
            OVERDUE_STEP if *week > after => *steps.entry(*owner).or_default().entry(*week).or_default() += value,
            _ => {}
        }
    }
    let (mut not_yet, mut next_due) = (HashMap::new(), None);
    if last >= current {
        (not_yet, next_due) = due_before_week_end(scope, now, next_week).await?;
    }
    let owners: HashSet<Uuid> = sums.keys().chain(steps.keys()).chain(not_yet.keys()).copied().collect();
    let mut counts = HashMap::new();
    let empty = BTreeMap::new();
    for owner in owners {
        let sum = sums.get(&owner).copied().unwrap_or_default();
        let owner_steps = steps.get(&owner).unwrap_or(&empty);
        let at_week_end = |week: NaiveDate| sum - owner_steps.range(week + Days::new(1)..).map(|(_, n)| n).sum::<i64>();
        let as_of_now = at_week_end(current) - not_yet.get(&owner).copied().unwrap_or_default();
        for &week in weeks {
            let n = if week >= current { as_of_now } else { at_week_end(week) };
            if n > 0 {
                counts.insert((week, owner), n);
            }
        }
    }
    Ok((counts, next_due))
}

/// Per owner, the activities counted overdue at the end of the week holding
/// `now` but not as of `now`: those falling due in between (creation and
/// completion are stamped by the server, never after now); and the earliest
/// due time among those, when one of them will count from then on.
async fn due_before_week_end(
    scope: &impl Scope,
    now: DateTime<Utc>,
    week_end: DateTime<Utc>,
) -> ServiceResult<(HashMap<Uuid, i64>, Option<DateTime<Utc>>)> {
    use activity::Column;
    let due_soon = scope.select::<activity::Entity>().filter(Column::DueAt.gte(now)).filter(Column::DueAt.lt(week_end));
    let mut counts: HashMap<Uuid, i64> = HashMap::new();
    let mut next_due: Option<DateTime<Utc>> = None;
    for span in rollup::overdue_spans(scope.conn(), due_soon).await? {
        let counted = i64::from(span.overdue_at(week_end)) - i64::from(span.overdue_at(now));
        if counted != 0 {
            next_due = Some(next_due.map_or(span.due, |t| t.min(span.due)));
        }
        *counts.entry(span.owner).or_default() += counted;
    }
    Ok((counts, next_due))
}
