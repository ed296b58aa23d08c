//! The adoption rollup's writer: weekly counters per actor, added to in the
//! transaction that writes the traces they count.
//!
//! Counting happens at commit, over the traces the transaction appended (and
//! those of its committed savepoints), as one upsert per few hundred
//! counters: a bulk import of thousands of records costs a handful of
//! statements here, not one per trace.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use entity::{activity, adoption_rollup, tenant, trace, trace_head};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Select, Set, Statement,
};
use uuid::Uuid;

use crate::service::adoption::counters::{
    self, ActorKind, LAST_ACTIVE_AT, OVERDUE_STEP, OVERDUE_STEPS_SUM, OverdueSpan,
};

/// Rows per upsert statement (far below both backends' bind-parameter limits).
const CHUNK: usize = 500;

type Key = (NaiveDate, ActorKind, Uuid, String);

/// Counter changes to add to one tenant's rollup.
#[derive(Default)]
pub struct Rollup {
    counts: HashMap<Key, i64>,
}

impl Rollup {
    /// Adds what one trace counts for, in the tenant's time zone.
    pub fn add(&mut self, trace: &trace::Model, tz: Tz) {
        let week = counters::week_of(trace.at, tz);
        let (kind, actor) = counters::actor_of(trace);
        for counter in counters::counted(trace) {
            *self.counts.entry((week, kind, actor, counter)).or_default() += 1;
        }
        let micros = trace.at.timestamp_micros();
        let last = self.counts.entry((week, kind, actor, LAST_ACTIVE_AT.to_owned())).or_insert(micros);
        *last = (*last).max(micros);
    }

    /// Adds (`sign` 1) or takes back (−1) an activity's overdue steps.
    pub fn add_overdue(&mut self, span: &OverdueSpan, sign: i64, tz: Tz) {
        let Some((from, to)) = span.weeks(tz) else { return };
        let mut step = |week: NaiveDate, counter: &str, delta: i64| {
            *self.counts.entry((week, ActorKind::User, span.owner, counter.to_owned())).or_default() += delta;
        };
        step(from, OVERDUE_STEP, sign);
        match to {
            Some(to) => step(to, OVERDUE_STEP, -sign),
            // Only a stretch that never ends leaves its owner's sum changed.
            None => step(counters::steps_sum_week(), OVERDUE_STEPS_SUM, sign),
        }
    }

    /// Adds an activity's change: its span before (taken back) and after.
    pub fn move_overdue(&mut self, before: Option<&OverdueSpan>, after: Option<&OverdueSpan>, tz: Tz) {
        if let Some(span) = before {
            self.add_overdue(span, -1, tz);
        }
        if let Some(span) = after {
            self.add_overdue(span, 1, tz);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The (week, actor) pairs this rollup touches.
    pub fn touched(&self) -> impl Iterator<Item = (NaiveDate, ActorKind, Uuid)> + '_ {
        self.counts.keys().map(|(week, kind, actor, _)| (*week, *kind, *actor))
    }
}

/// The tenant's time zone, which decides where its weeks begin.
pub async fn tenant_zone<C: ConnectionTrait>(conn: &C, tenant_id: Uuid) -> Result<Tz, DbErr> {
    Ok(tenant_zone_named(conn, tenant_id).await?.1)
}

/// The tenant's time zone with its stored name.
pub async fn tenant_zone_named<C: ConnectionTrait>(conn: &C, tenant_id: Uuid) -> Result<(String, Tz), DbErr> {
    let zone: Option<String> = tenant::Entity::find_by_id(tenant_id)
        .select_only()
        .column(tenant::Column::TimeZone)
        .into_tuple()
        .one(conn)
        .await?;
    let name = zone.unwrap_or_else(|| "UTC".to_owned());
    let tz = counters::zone(&name);
    Ok((name, tz))
}

/// Counts `traces` and the activities' overdue changes `(before, after)`
/// (all of one tenant) into its rollup, in the tenant's time zone (`zone`
/// when the caller holds it already, else read).
pub async fn count<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    zone: Option<&str>,
    traces: &[trace::Model],
    overdue: &[OverdueMove],
) -> Result<Rollup, DbErr> {
    let mut rollup = Rollup::default();
    if traces.is_empty() && overdue.is_empty() {
        return Ok(rollup);
    }
    let tz = match zone {
        Some(name) => counters::zone(name),
        None => tenant_zone(conn, tenant_id).await?,
    };
    for trace in traces {
        rollup.add(trace, tz);
    }
    for (before, after) in overdue {
        rollup.move_overdue(before.as_ref(), after.as_ref(), tz);
    }
    Ok(rollup)
}

/// One write's change of an activity's overdue span: before, after.
pub type OverdueMove = (Option<OverdueSpan>, Option<OverdueSpan>);

/// The stored counters' rows for `rollup`'s changes.
fn rows(tenant_id: Uuid, rollup: &Rollup) -> Vec<adoption_rollup::ActiveModel> {
    rollup
        .counts
        .iter()
        // Steps that cancelled out within the transaction change nothing.
        .filter(|(_, value)| **value != 0)
        .map(|((week, kind, actor, counter), value)| adoption_rollup::ActiveModel {
            tenant_id: Set(tenant_id),
            week: Set(*week),
            actor_kind: Set(kind.as_str().to_owned()),
            actor_id: Set(*actor),
            counter: Set(counter.clone()),
            value: Set(*value),
        })
        .collect()
}

/// How a counter's stored value takes an added one: counts add up,
/// `last_active_at` keeps the later time.
fn merge() -> String {
    format!(
        "CASE WHEN adoption_rollup.counter = '{LAST_ACTIVE_AT}' \
         THEN (CASE WHEN excluded.value > adoption_rollup.value THEN excluded.value ELSE adoption_rollup.value END) \
         ELSE adoption_rollup.value + excluded.value END"
    )
}

/// The upsert of [`write`] as a part of a combined statement (PostgreSQL),
/// to be followed by [`drop_zero_steps`]: `None`, with nothing added, when it
/// takes more than one part.
pub(super) fn write_part(combined: &mut super::combined::Combined, tenant_id: Uuid, rollup: &Rollup) -> Option<()> {
    let rows = rows(tenant_id, rollup);
    if rows.is_empty() {
        return Some(());
    }
    let conflict =
        format!(" ON CONFLICT (tenant_id, week, actor_kind, actor_id, counter) DO UPDATE SET value = {}", merge());
    super::bulk::insert_part(combined, &rows, &conflict)
}

/// Adds the rollup to the stored counters: counts add up, `last_active_at`
/// keeps the later time. Both backends run the same upsert.
pub async fn write<C: ConnectionTrait>(conn: &C, tenant_id: Uuid, rollup: &Rollup) -> Result<(), DbErr> {
    for statement in write_statements(conn.get_database_backend(), tenant_id, rollup) {
        conn.execute_raw(statement).await?;
    }
    Ok(())
}

/// What [`write`] runs, in order: the upserts, then [`drop_zero_steps`]'s deletes.
pub(super) fn write_statements(backend: DbBackend, tenant_id: Uuid, rollup: &Rollup) -> Vec<Statement> {
    let rows = rows(tenant_id, rollup);
    let merge = Expr::cust(merge());
    let upserts = rows.chunks(CHUNK).map(|chunk| {
        adoption_rollup::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    adoption_rollup::Column::TenantId,
                    adoption_rollup::Column::Week,
                    adoption_rollup::Column::ActorKind,
                    adoption_rollup::Column::ActorId,
                    adoption_rollup::Column::Counter,
                ])
                .value(adoption_rollup::Column::Value, merge.clone())
                .to_owned(),
            )
            .build(backend)
    });
    upserts.chain(zero_step_deletes(backend, tenant_id, rollup)).collect()
}

/// Steps that cancel out across transactions leave no row behind, so the
/// stored counters are the same as a rebuild's. After the upsert, which it
/// must see: never a part of the same combined statement.
pub(super) async fn drop_zero_steps<C: ConnectionTrait>(
    conn: &C,
    tenant_id: Uuid,
    rollup: &Rollup,
) -> Result<(), DbErr> {
    for statement in zero_step_deletes(conn.get_database_backend(), tenant_id, rollup) {
        conn.execute_raw(statement).await?;
    }
    Ok(())
}

fn zero_step_deletes(backend: DbBackend, tenant_id: Uuid, rollup: &Rollup) -> Vec<Statement> {
    let stepped: Vec<NaiveDate> = rollup
        .counts
        .keys()
        .filter(|(_, _, _, counter)| counter == OVERDUE_STEP || counter == OVERDUE_STEPS_SUM)
        .map(|(week, ..)| *week)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    stepped
        .chunks(CHUNK)
        .map(|weeks| {
            adoption_rollup::Entity::delete_many()
                .filter(adoption_rollup::Column::TenantId.eq(tenant_id))
                .filter(adoption_rollup::Column::Week.is_in(weeks.iter().copied()))
                .filter(adoption_rollup::Column::Counter.is_in([OVERDUE_STEP, OVERDUE_STEPS_SUM]))
                .filter(adoption_rollup::Column::Value.eq(0))
                .build(backend)
        })
        .collect()
}

/// Recomputes a tenant's whole rollup from its traces: the answer to "the
/// counters drifted" (a bug, a restore from backup, a time-zone change).
/// Runs in the caller's transaction, reading traces a page at a time.
pub async fn rebuild<C: ConnectionTrait>(conn: &C, tenant_id: Uuid) -> Result<u64, DbErr> {
    const PAGE: u64 = 5_000;
    // The tenant's writers hold its trace head from their first trace to their
    // commit (where they add to the rollup): holding it too, the rebuild waits
    // for those in flight and makes later ones wait, so none is counted twice
    // or counted in a time zone this transaction is replacing. The version
    // tells servers that reports they kept no longer stand.
    // Imported here: module-wide, its `max` would shadow `Ord::max`.
    use sea_orm::sea_query::ExprTrait;
    trace_head::Entity::update_many()
        .col_expr(trace_head::Column::RollupVersion, Expr::col(trace_head::Column::RollupVersion).add(1))
        .filter(trace_head::Column::TenantId.eq(tenant_id))
        .exec(conn)
        .await?;
    adoption_rollup::Entity::delete_many().filter(adoption_rollup::Column::TenantId.eq(tenant_id)).exec(conn).await?;
    let tz = tenant_zone(conn, tenant_id).await?;
    let mut rollup = Rollup::default();
    let mut after = 0i64;
    let mut seen = 0u64;
    loop {
        let page = trace::Entity::find()
            .filter(trace::Column::TenantId.eq(tenant_id))
            .filter(trace::Column::Seq.gt(after))
            .order_by_asc(trace::Column::Seq)
            .limit(PAGE)
            .all(conn)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        seen += page.len() as u64;
        for trace in &page {
            rollup.add(trace, tz);
        }
    }
    // Overdue steps come from the activities as they are now.
    let activities = activity::Entity::find()
        .filter(activity::Column::TenantId.eq(tenant_id))
        .filter(activity::Column::DueAt.is_not_null());
    for span in overdue_spans(conn, activities).await? {
        rollup.add_overdue(&span, 1, tz);
    }
    write(conn, tenant_id, &rollup).await?;
    Ok(seen)
}

/// The overdue spans of the live activities `query` selects (reading only
/// the four columns a span needs).
pub async fn overdue_spans<C: ConnectionTrait>(
    conn: &C,
    query: Select<activity::Entity>,
) -> Result<Vec<OverdueSpan>, DbErr> {
    use activity::Column;
    type Stamp = DateTime<Utc>;
    let rows: Vec<(Uuid, Option<Stamp>, Stamp, Option<Stamp>)> = query
        .filter(Column::DeletedAt.is_null())
        .select_only()
        .columns([Column::OwnerId, Column::DueAt, Column::CreatedAt, Column::CompletedAt])
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(owner, due, created, completed)| OverdueSpan::of(owner, due, created, completed, None))
        .collect())
}
