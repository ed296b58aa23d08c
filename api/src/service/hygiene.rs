//! Hygiene lists: records a person should look at (stale or undated
//! opportunities, overdue activities, probable duplicates). The record lists
//! are filters over the usual paged lists, so they keep their cursors, access
//! rules and field visibility.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use entity::{account, activity, contact, lead, opportunity};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::catalog;
use super::picklists;
use super::records::{self, Criterion, MAX_PAGE, Record};
use crate::auth::access::Op;
use crate::db::{Scope, own_tenant};
use crate::error::{ServiceError, ServiceResult};

/// Bounds of the `days` override of the stale threshold.
pub const STALE_DAYS: std::ops::RangeInclusive<i32> = 1..=3650;

/// Words dropped from the end of an account name before comparing.
const LEGAL_SUFFIXES: [&str; 15] = [
    "inc",
    "incorporated",
    "ltd",
    "limited",
    "llc",
    "gmbh",
    "sa",
    "sas",
    "sarl",
    "ag",
    "bv",
    "nv",
    "plc",
    "corp",
    "corporation",
];

fn hidden(field: &str) -> ServiceError {
    ServiceError::ForbiddenField { field: field.into(), message: "is hidden by your profile".into() }
}

/// A list reads these fields to choose its records: a profile that cannot see
/// one gets FORBIDDEN, since membership in the list would reveal its values.
fn require_visible(scope: &impl Scope, entity: &str, fields: &[&str]) -> ServiceResult<()> {
    catalog::require(&scope.actor().access, entity, Op::Read)?;
    match fields.iter().find(|f| !scope.actor().access.can_see(entity, f)) {
        Some(field) => Err(hidden(field)),
        None => Ok(()),
    }
}

/// Stages that are not closed (neither won nor lost).
async fn open_stages(scope: &impl Scope) -> ServiceResult<Condition> {
    let options = picklists::options(scope, "Opportunity", "stage").await?;
    let open: Vec<Uuid> = options.iter().filter(|o| !o.is_closed).map(|o| o.id).collect();
    Ok(Condition::all().add(opportunity::Column::StageId.is_in(open)))
}

/// Open opportunities whose stage has not moved for `days` (default: the
/// tenant's `stale_opportunity_days`), i.e. `stageChangedAt` is more than that long ago.
pub async fn stale_opportunities(
    scope: &impl Scope,
    days: Option<i32>,
) -> ServiceResult<Vec<Criterion<opportunity::Column>>> {
    require_visible(scope, "Opportunity", &["stage"])?;
    let days = match days {
        Some(d) if STALE_DAYS.contains(&d) => d,
        Some(_) => return Err(ServiceError::invalid("days", "must be between 1 and 3650")),
        None => own_tenant(scope).await?.stale_opportunity_days,
    };
    let since = Utc::now() - Duration::days(i64::from(days));
    let condition = open_stages(scope).await?.add(opportunity::Column::StageChangedAt.lt(since));
    Ok(vec![Criterion::Where(&["stage"], condition)])
}

/// Open opportunities without a close date, or whose close date (UTC) is past.
pub async fn opportunities_needing_close_date(
    scope: &impl Scope,
) -> ServiceResult<Vec<Criterion<opportunity::Column>>> {
    require_visible(scope, "Opportunity", &["stage", "closeDate"])?;
    let today = Utc::now().date_naive();
    let date =
        Condition::any().add(opportunity::Column::CloseDate.is_null()).add(opportunity::Column::CloseDate.lt(today));
    Ok(vec![Criterion::Where(&["stage", "closeDate"], open_stages(scope).await?.add(date))])
}

/// Activities not completed whose due time has passed, optionally of one owner.
pub fn overdue_activities(scope: &impl Scope, owner: Option<Uuid>) -> ServiceResult<Vec<Criterion<activity::Column>>> {
    require_visible(scope, "Activity", &["dueAt", "completedAt"])?;
    let mut criteria = vec![super::activities::overdue(true)];
    criteria.extend(owner.map(|o| Criterion::Is(activity::Column::OwnerId, Some(o))));
    Ok(criteria)
}

/// Overdue activities per owner, by owner id.
pub async fn overdue_by_owner(scope: &impl Scope) -> ServiceResult<Vec<(Uuid, u64)>> {
    let criteria = overdue_activities(scope, None)?;
    let rows = records::filtered::<activity::Entity>(scope, &criteria)
        .await?
        .select_only()
        .column(activity::Column::OwnerId)
        .expr(Expr::cust("COUNT(*)"))
        .group_by(activity::Column::OwnerId)
        .order_by_asc(activity::Column::OwnerId)
        .into_tuple::<(Uuid, i64)>()
        .all(scope.conn())
        .await?;
    Ok(rows.into_iter().map(|(owner, n)| (owner, u64::try_from(n).unwrap_or(0))).collect())
}

/// An account name as duplicates are compared: lowercased, every character
/// that is not a letter or digit turned into a space, whitespace collapsed,
/// then trailing legal suffixes ([`LEGAL_SUFFIXES`]) dropped while a word
/// remains ("Acme, Inc." and "ACME inc" both give "acme").
pub fn normalize_account_name(name: &str) -> String {
    let lowered: String = name.to_lowercase().chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    let mut words: Vec<&str> = lowered.split_whitespace().collect();
    while words.len() > 1 && words.last().is_some_and(|w| LEGAL_SUFFIXES.contains(w)) {
        words.pop();
    }
    words.join(" ")
}

/// Records that share a normalized value, by that value.
pub enum Group {
    Accounts(String, Vec<account::Model>),
    Contacts(String, Vec<contact::Model>),
    Leads(String, Vec<lead::Model>),
}

/// Groups of live records of `entity` that look like the same one: accounts
/// with the same normalized name, contacts and leads with the same email
/// (stored lowercased and trimmed). Ordered by that value; `first` groups
/// after `offset`, plus whether more follow.
pub async fn duplicates(
    scope: &impl Scope,
    entity: &str,
    offset: u64,
    first: u64,
) -> ServiceResult<(Vec<Group>, bool)> {
    if first > MAX_PAGE {
        return Err(ServiceError::invalid("first", format!("must be at most {MAX_PAGE}")));
    }
    let target = super::entities::resolve(scope, "entity", entity).await?;
    match target.name() {
        "Account" => {
            require_visible(scope, "Account", &["name"])?;
            // Names are compared after normalization, which SQL cannot do the
            // same way on both databases: read ids and names only.
            let names = records::live::<account::Entity>(scope)
                .select_only()
                .column(account::Column::Id)
                .column(account::Column::Name)
                .into_tuple::<(Uuid, String)>()
                .all(scope.conn())
                .await?;
            let mut groups: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
            for (id, name) in names {
                groups.entry(normalize_account_name(&name)).or_default().push(id);
            }
            let (page, more) = page(groups.into_iter().filter(|(_, ids)| ids.len() > 1).collect(), offset, first);
            let ids: Vec<Uuid> = page.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
            let mut rows = records::by_ids::<account::Entity>(scope, &ids).await?;
            rows.sort_by_key(|r| r.id);
            let groups = page
                .into_iter()
                .map(|(key, ids)| Group::Accounts(key, rows.iter().filter(|r| ids.contains(&r.id)).cloned().collect()))
                .collect();
            Ok((groups, more))
        }
        "Contact" => {
            let (page, more) = by_email::<contact::Entity>(scope, contact::Column::Email, offset, first).await?;
            Ok((page.into_iter().map(|(k, rows)| Group::Contacts(k, rows)).collect(), more))
        }
        "Lead" => {
            let (page, more) = by_email::<lead::Entity>(scope, lead::Column::Email, offset, first).await?;
            Ok((page.into_iter().map(|(k, rows)| Group::Leads(k, rows)).collect(), more))
        }
        other => {
            Err(ServiceError::invalid("entity", format!("no duplicate check for {other}: Account, Contact or Lead")))
        }
    }
}

fn page<T>(all: Vec<T>, offset: u64, first: u64) -> (Vec<T>, bool) {
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(first).unwrap_or(usize::MAX);
    let more = all.len() > skip.saturating_add(take);
    (all.into_iter().skip(skip).take(take).collect(), more)
}

/// Emails held by more than one live record, grouped in SQL, then the records of one page of them.
async fn by_email<R: Record>(
    scope: &impl Scope,
    email: R::Column,
    offset: u64,
    first: u64,
) -> ServiceResult<(Vec<(String, Vec<R::Model>)>, bool)> {
    require_visible(scope, R::NAME, &["email"])?;
    let mut keys = records::live::<R>(scope)
        .filter(email.is_not_null())
        .select_only()
        .column(email)
        .group_by(email)
        .having(Expr::cust("COUNT(*) > 1"))
        .order_by_asc(email)
        .offset(offset)
        .limit(first + 1)
        .into_tuple::<String>()
        .all(scope.conn())
        .await?;
    let more = keys.len() as u64 > first;
    keys.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    let rows = records::live::<R>(scope)
        .filter(email.is_in(keys.iter().cloned()))
        .order_by_asc(R::COLUMNS.id)
        .all(scope.conn())
        .await?;
    let mut groups: BTreeMap<String, Vec<R::Model>> = keys.into_iter().map(|k| (k, Vec::new())).collect();
    for row in rows {
        let key = match sea_orm::ModelTrait::get(&row, email) {
            sea_orm::Value::String(Some(s)) => s,
            _ => continue,
        };
        if let Some(group) = groups.get_mut(&key) {
            group.push(row);
        }
    }
    Ok((groups.into_iter().collect(), more))
}
