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
