//! What one trace adds to the weekly adoption counters.
//!
//! The same functions feed the incremental rollup (at commit, in the writing
//! transaction) and `crm metrics rebuild` (over the stored traces), so the two
//! cannot disagree by construction; a test checks that they do not.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use entity::trace;
use uuid::Uuid;

pub const ACTIVITIES_LOGGED: &str = "activities_logged";
pub const ACTIVITIES_COMPLETED: &str = "activities_completed";
pub const ACCOUNTS_CREATED: &str = "accounts_created";
pub const CONTACTS_CREATED: &str = "contacts_created";
pub const LEADS_CREATED: &str = "leads_created";
pub const OPPORTUNITIES_CREATED: &str = "opportunities_created";
pub const UPDATES: &str = "updates";
pub const LOGINS: &str = "logins";
/// Not a count: the latest trace's time, in microseconds since the epoch.
pub const LAST_ACTIVE_AT: &str = "last_active_at";
/// Records created per custom entity: `created:<Entity>`.
pub const CREATED_PREFIX: &str = "created:";

/// Trace entity types that are configuration or bookkeeping, not CRM records:
/// changing them is administration, not adoption. Custom entities cannot take
/// these names (see `entities::reserved`).
pub const SYSTEM_TYPES: [&str; 11] = [
    "User",
    "Profile",
    "Picklist",
    "FieldDefinition",
    "FieldRule",
    "EntityDefinition",
    "Tenant",
    "ApiToken",
    "KeyFields",
    "PointsAward",
    "PointsRule",
];

/// Who a trace's change counts for. People (APP) are measured; integrations,
/// a person's bulk imports and workflows are reported apart, so that none of
/// them inflates a person's adoption.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActorKind {
    User,
    Integration,
    Import,
    Workflow,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::Integration => "INTEGRATION",
            Self::Import => "IMPORT",
            Self::Workflow => "WORKFLOW",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::User, Self::Integration, Self::Import, Self::Workflow].into_iter().find(|k| k.as_str() == s)
    }
}

/// The actor a trace counts for: an API token for integrations, the user for
/// people and their imports, nobody (nil) for workflows.
pub fn actor_of(trace: &trace::Model) -> (ActorKind, Uuid) {
    match (trace.api_token_id, trace.source.as_str(), trace.user_id) {
        (Some(token), _, _) => (ActorKind::Integration, token),
        (None, "APP", Some(user)) => (ActorKind::User, user),
        (None, "IMPORT", Some(user)) => (ActorKind::Import, user),
        _ => (ActorKind::Workflow, Uuid::nil()),
    }
}

/// Whether an entity type names CRM records (core or custom).
pub fn is_record_type(entity_type: &str) -> bool {
    !SYSTEM_TYPES.contains(&entity_type)
}

/// The counters one trace increments by one (besides `last_active_at`).
pub fn counted(trace: &trace::Model) -> Vec<String> {
    let entity = trace.entity_type.as_str();
    let counter = match (trace.change_type.as_str(), entity) {
        ("LOGIN", _) => Some(LOGINS.to_owned()),
        (_, e) if !is_record_type(e) => None,
        ("CREATE", "Activity") => Some(ACTIVITIES_LOGGED.to_owned()),
        ("CREATE", "Account") => Some(ACCOUNTS_CREATED.to_owned()),
        ("CREATE", "Contact") => Some(CONTACTS_CREATED.to_owned()),
        ("CREATE", "Lead") => Some(LEADS_CREATED.to_owned()),
        ("CREATE", "Opportunity") => Some(OPPORTUNITIES_CREATED.to_owned()),
        ("CREATE", custom) => Some(format!("{CREATED_PREFIX}{custom}")),
        ("COMPLETE", _) => Some(ACTIVITIES_COMPLETED.to_owned()),
        ("UPDATE" | "DELETE" | "RESTORE" | "CONVERT", _) => Some(UPDATES.to_owned()),
        _ => None,
    };
    counter.into_iter().collect()
}

/// The Monday that starts the ISO week holding `at` in the tenant's time zone.
pub fn week_of(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    monday(at.with_timezone(&tz).date_naive())
}

/// The Monday of a date's ISO week.
pub fn monday(date: NaiveDate) -> NaiveDate {
    date - Days::new(u64::from(date.weekday().num_days_from_monday()))
}

/// A tenant's stored time zone; an unreadable one counts as UTC (the default),
/// since a metric must never fail a write.
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// Overdue activities are a state, not an event: each activity is overdue
/// over one stretch of week ends, kept as two steps per owner, +1 at the
/// stretch's first week and −1 at the week it stops (if it does). An owner's
/// overdue count at a week's end is the sum of their steps up to that week.
pub const OVERDUE_STEP: &str = "overdue_step";
/// The sum of an owner's steps over all weeks, kept at [`steps_sum_week`]:
/// a report then needs only the steps after its first week, not all history.
pub const OVERDUE_STEPS_SUM: &str = "overdue_steps_sum";

/// Where the step sums are kept: a week before any a report can ask about.
pub fn steps_sum_week() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// What makes an activity overdue, from its row alone: the write path and
/// the rebuild both derive the steps from this, so they cannot disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverdueSpan {
    pub owner: Uuid,
    pub due: DateTime<Utc>,
    pub created: DateTime<Utc>,
    pub completed: Option<DateTime<Utc>>,
}

impl OverdueSpan {
    /// An activity's span, if it can ever be overdue: it has a due time and
    /// is not deleted (deleted activities count in no week).
    pub fn of(
        owner: Uuid,
        due: Option<DateTime<Utc>>,
        created: DateTime<Utc>,
        completed: Option<DateTime<Utc>>,
        deleted: Option<DateTime<Utc>>,
    ) -> Option<Self> {
        match (due, deleted) {
            (Some(due), None) => Some(Self { owner, due, created, completed }),
            _ => None,
        }
    }

    /// Overdue as of `t`: due before it, logged by then, not completed by then.
    pub fn overdue_at(&self, t: DateTime<Utc>) -> bool {
        self.due < t && self.created <= t && self.completed.is_none_or(|done| done > t)
    }

    /// The weeks at whose end it is overdue, in `tz`: from the first, up to
    /// (not including) the second, or for good while it stays open. `None`
    /// when it is overdue at no week's end.
    pub fn weeks(&self, tz: Tz) -> Option<(NaiveDate, Option<NaiveDate>)> {
        // Stamps are microseconds: `x - 1µs < end` is `x <= end`.
        let tick = chrono::Duration::microseconds(1);
        let from = week_of(self.due, tz).max(week_of(self.created - tick, tz));
        match self.completed.map(|done| week_of(done - tick, tz)) {
            Some(to) if to <= from => None,
            to => Some((from, to)),
        }
    }
}
