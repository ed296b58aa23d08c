//! Reading the trace: the tenant-wide list and each record's history.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::trace::{self, Column};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use uuid::Uuid;

use super::{accounts, activities, contacts, entities, leads, opportunities, records};
use crate::auth::access::Op;
use crate::db::Scope;
use crate::db::events::TraceBatch;
use crate::error::{ServiceError, ServiceResult};

/// Entity types whose traces any signed-in user may read; administrative ones
/// (users, tokens, profiles, picklists) are for admins.
pub const CRM_ENTITIES: [&str; 5] =
    [accounts::ENTITY, contacts::ENTITY, leads::ENTITY, opportunities::ENTITY, activities::ENTITY];

/// Largest page of traces.
pub const MAX_PAGE: u64 = 500;
/// Largest page of the change feed.
pub const MAX_FEED_PAGE: u64 = 1_000;

#[derive(Default)]
pub struct TraceFilter {
    pub user_id: Option<Uuid>,
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    pub change_type: Option<&'static str>,
    pub source: Option<&'static str>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The tenant's trace head as committed now: its last trace's number and
/// hash, and the rollup's version.
pub async fn head(scope: &impl Scope) -> ServiceResult<entity::trace_head::Model> {
    let head = scope.select::<entity::trace_head::Entity>().one(scope.conn()).await?;
    // Every tenant gets its head row with the tenant, in one transaction.
    head.ok_or_else(|| ServiceError::Internal("a tenant without a trace head".into()))
}

/// The entity types whose traces the actor may read: `None` for admins (all),
/// else the CRM entities (core and custom) their profile may read.
pub async fn readable_types(scope: &impl Scope) -> ServiceResult<Option<Vec<String>>> {
    if scope.actor().is_admin {
        return Ok(None);
    }
    let access = &scope.actor().access;
    let custom: Vec<String> = entities::custom(scope).await?.into_iter().map(|d| d.name).collect();
    Ok(Some(CRM_ENTITIES.into_iter().map(str::to_owned).chain(custom).filter(|e| access.allows(e, Op::Read)).collect()))
}

async fn visible(scope: &impl Scope) -> ServiceResult<Select<trace::Entity>> {
    let query = scope.select::<trace::Entity>();
    Ok(match readable_types(scope).await? {
        None => query,
        Some(readable) => query.filter(Column::EntityType.is_in(readable)),
    })
}

/// A batch's traces as the caller's profile shows them (hidden fields left
/// out; another tenant's never), each with its view made by `view`: worked
/// out once per profile, whatever the number of its subscribers.
pub fn redacted<V: Send + Sync + 'static>(
    scope: &impl Scope,
    batch: &TraceBatch,
    view: impl Fn(&trace::Model) -> V,
) -> Arc<Vec<(trace::Model, V)>> {
    let tenant = scope.actor().tenant_id;
    batch.shown_as(&scope.actor().access, |rows| {
        let shown = rows.iter().filter(|row| row.tenant_id == tenant).map(|row| redact(scope, row.clone()));
        shown
            .map(|row| {
                let view = view(&row);
                (row, view)
            })
            .collect()
    })
}

/// Whether a live subscriber may see a trace at all (see [`readable_types`]).
pub fn may_read(readable: Option<&[String]>, row: &trace::Model) -> bool {
    readable.is_none_or(|types| types.contains(&row.entity_type))
}

/// A stored JSON text as `redact` re-serializes it (for comparing).
fn normalized(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text).map_or_else(|_| text.to_owned(), |v| v.to_string())
}

/// A trace as the actor may see it: the values of fields their profile hides
/// are left out of `before` and `after`.
fn redact(scope: &impl Scope, mut row: trace::Model) -> trace::Model {
    if scope.actor().access.is_admin() {
        return row;
    }
    let entity = row.entity_type.clone();
    let strip = |text: Option<String>| {
        let value: serde_json::Value = serde_json::from_str(text.as_deref()?).ok()?;
        Some(records::visible(scope, &entity, value).to_string())
    };
    let (before, after) = (strip(row.before.clone()), strip(row.after.clone()));
    // The hash covers the full entry: shown next to a redacted one, it would let
    // a reader test guesses of the hidden values. It goes with any redaction.
    if before != row.before.as_deref().map(normalized) || after != row.after.as_deref().map(normalized) {
        row.hash = String::new();
    }
    row.before = before;
    row.after = after;
    row
}

/// The change feed: oldest first, the `first` changes after sequence `after_seq`
/// (of the given entity types, when given), plus whether more follow.
///
/// Resuming from the last sequence seen never skips a change: a tenant's writers
/// take sequence numbers under the `trace_head` row lock and commit in that order,
/// so no change can become visible below a sequence a reader has already passed.
pub async fn changes(
    scope: &impl Scope,
    after_seq: i64,
    entities: Option<&[String]>,
    first: u64,
) -> ServiceResult<(Vec<trace::Model>, bool)> {
    if first > MAX_FEED_PAGE {
        return Err(ServiceError::invalid("first", format!("must be at most {MAX_FEED_PAGE}")));
    }
    let mut query = visible(scope).await?.filter(Column::Seq.gt(after_seq));
    if let Some(entities) = entities {
        if entities.is_empty() || entities.len() > 50 {
            return Err(ServiceError::invalid("entities", "must name between 1 and 50 entity types"));
        }
        query = query.filter(Column::EntityType.is_in(entities.iter().map(String::as_str)));
    }
    let mut rows = query.order_by_asc(Column::Seq).limit(first + 1).all(scope.conn()).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    Ok((rows.into_iter().map(|row| redact(scope, row)).collect(), more))
}

/// Newest first: `first` traces with a sequence below `before_seq`, plus whether more follow.
pub async fn list(
    scope: &impl Scope,
    filter: &TraceFilter,
    before_seq: Option<i64>,
    first: u64,
) -> ServiceResult<(Vec<trace::Model>, bool)> {
    if first > MAX_PAGE {
        return Err(ServiceError::invalid("first", format!("must be at most {MAX_PAGE}")));
    }
    let mut query = visible(scope).await?;
    if let Some(user) = filter.user_id {
        query = query.filter(Column::UserId.eq(user));
    }
    if let Some(entity_type) = &filter.entity_type {
        query = query.filter(Column::EntityType.eq(entity_type.as_str()));
    }
    if let Some(id) = filter.entity_id {
        query = query.filter(Column::EntityId.eq(id));
    }
    if let Some(change_type) = filter.change_type {
        query = query.filter(Column::ChangeType.eq(change_type));
    }
    if let Some(source) = filter.source {
        query = query.filter(Column::Source.eq(source));
    }
    if let Some(from) = filter.from {
        query = query.filter(Column::At.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(Column::At.lte(to));
    }
    if let Some(seq) = before_seq {
        query = query.filter(Column::Seq.lt(seq));
    }
    let mut rows = query.order_by_desc(Column::Seq).limit(first + 1).all(scope.conn()).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    Ok((rows.into_iter().map(|row| redact(scope, row)).collect(), more))
}
