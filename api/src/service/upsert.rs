//! Bulk upsert by external id: how integrators load another system's records.
//!
//! The batch as a whole is one transaction. A record that matches nothing is
//! created, one that matches is updated with the given fields only, and one
//! whose fields already hold those values is left alone (no write, no trace):
//! sending the same batch twice changes nothing the second time.
//!
//! New records are checked one by one, then inserted a few hundred per
//! statement inside a savepoint, while the next records are being checked;
//! should such an insert not take every row (another batch created one of
//! the external ids meanwhile), the savepoint is rolled back and its records
//! go the careful way: each in its own savepoint, so a failing record never
//! leaves half of itself behind. A record that exists is
//! compared first and, only when it changed, written in its own savepoint.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use entity::{account, activity, contact, lead, opportunity};

use futures_util::future::Either;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::activities::Target;
use super::records::{self, Record, RecordInput};
use super::validate::{self, Patch};
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

/// Most records one call may carry.
pub const MAX_BATCH: usize = 5_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Write every valid record and report the failed ones.
    Partial,
    /// Write nothing when any record fails.
    AllOrNothing,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Created,
    Updated,
    Unchanged,
    Failed,
}

/// What became of one input record.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub index: usize,
    pub external_id: String,
    pub id: Option<Uuid>,
    pub status: Status,
    /// For FAILED: the input field at fault (when one is) and why, or the error code.
    pub field: Option<String>,
    pub message: Option<String>,
    pub code: Option<&'static str>,
    /// Other live records that look like the same one (same normalized account
    /// name; same email for contacts and leads): for a person to review.
    pub duplicates: Vec<Uuid>,
}

/// The whole batch.
pub struct Report {
    pub outcomes: Vec<Outcome>,
    /// False for a dry run, or when ALL_OR_NOTHING met a failure.
    pub written: bool,
}

/// One input record: its external id, owner and own fields, plus references to
/// other records by their external ids, resolved before the fields are applied.
pub struct Item<F> {
    pub external_id: String,
    pub owner: Patch<Uuid>,
    pub fields: F,
    pub refs: Vec<ExternalRef>,
    /// Custom field values by API name.
    pub custom: Option<serde_json::Map<String, serde_json::Value>>,
}

/// "Set this field to the record of that type whose external id is ...".
pub struct ExternalRef {
    /// The input field, for errors (e.g. `accountExternalId`).
    pub field: &'static str,
    pub external_id: String,
    pub target: RefTarget,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefTarget {
    Account,
    Contact,
    Lead,
    Opportunity,
}

/// How an entity's upsert applies resolved references to its fields, and what
/// makes two of its records probable duplicates.
pub trait Upsertable: Record {
    fn set_ref(fields: &mut Self::Fields, target: RefTarget, id: Uuid) -> ServiceResult<()>;

    /// The column compared case-insensitively to spot duplicates, if any.
    const DUPLICATE_ON: Option<Self::Column> = None;

    /// The normalized value of that column.
    fn duplicate_key(_model: &Self::Model) -> Option<String> {
        None
    }
}

impl Upsertable for account::Entity {
    const DUPLICATE_ON: Option<account::Column> = Some(account::Column::Name);

    fn set_ref(_: &mut Self::Fields, _: RefTarget, _: Uuid) -> ServiceResult<()> {
        Err(unsupported(Self::NAME))
    }

    fn duplicate_key(model: &account::Model) -> Option<String> {
        Some(model.name.to_lowercase())
    }
}

fn unsupported(entity: &str) -> ServiceError {
    ServiceError::Internal(format!("unsupported external reference for {entity}"))
}

impl Upsertable for contact::Entity {
    const DUPLICATE_ON: Option<contact::Column> = Some(contact::Column::Email);

    fn duplicate_key(model: &contact::Model) -> Option<String> {
        model.email.clone()
    }

    fn set_ref(fields: &mut Self::Fields, target: RefTarget, id: Uuid) -> ServiceResult<()> {
        match target {
            RefTarget::Account => fields.account_id = Patch::Set(id),
            _ => return Err(unsupported(Self::NAME)),
        }
        Ok(())
    }
}

impl Upsertable for lead::Entity {
    const DUPLICATE_ON: Option<lead::Column> = Some(lead::Column::Email);

    fn duplicate_key(model: &lead::Model) -> Option<String> {
        model.email.clone()
    }

    fn set_ref(_: &mut Self::Fields, _: RefTarget, _: Uuid) -> ServiceResult<()> {
        Err(unsupported(Self::NAME))
    }
}

impl Upsertable for opportunity::Entity {
    fn set_ref(fields: &mut Self::Fields, target: RefTarget, id: Uuid) -> ServiceResult<()> {
        match target {
            RefTarget::Account => fields.account_id = Patch::Set(id),
            _ => return Err(unsupported(Self::NAME)),
        }
        Ok(())
    }
}

impl Upsertable for activity::Entity {
    fn set_ref(fields: &mut Self::Fields, target: RefTarget, id: Uuid) -> ServiceResult<()> {
        fields.target = Some(match target {
            RefTarget::Account => Target::Account(id),
            RefTarget::Contact => Target::Contact(id),
            RefTarget::Lead => Target::Lead(id),
            RefTarget::Opportunity => Target::Opportunity(id),
        });
        Ok(())
    }
}

/// The live records the batch's references name, by target and external id:
/// one query per target and 500 ids instead of one per reference.
type Refs = HashMap<(RefTarget, String), Uuid>;

async fn prefetch_refs<F>(scope: &impl Scope, items: &[Item<F>]) -> ServiceResult<Refs> {
    let mut wanted: HashMap<RefTarget, BTreeSet<&str>> = HashMap::new();
    for r in items.iter().flat_map(|i| &i.refs) {
        wanted.entry(r.target).or_default().insert(r.external_id.as_str());
    }
    let mut found = Refs::new();
    for (target, ids) in wanted {
        let ids: Vec<&str> = ids.into_iter().collect();
        for chunk in ids.chunks(500) {
            let live = match target {
                RefTarget::Account => live_ids::<account::Entity>(scope, chunk).await?,
                RefTarget::Contact => live_ids::<contact::Entity>(scope, chunk).await?,
                RefTarget::Lead => live_ids::<lead::Entity>(scope, chunk).await?,
                RefTarget::Opportunity => live_ids::<opportunity::Entity>(scope, chunk).await?,
            };
            found.extend(live.into_iter().map(|(external_id, id)| ((target, external_id), id)));
        }
    }
    Ok(found)
}

/// The live records holding these external ids, as (external id, id).
async fn live_ids<R: Record>(scope: &impl Scope, external_ids: &[&str]) -> ServiceResult<Vec<(String, Uuid)>> {
    let rows: Vec<(Option<String>, Uuid)> = records::live::<R>(scope)
        .filter(R::COLUMNS.external_id.is_in(external_ids.iter().copied()))
        .select_only()
        .columns([R::COLUMNS.external_id, R::COLUMNS.id])
        .into_tuple()
        .all(scope.conn())
        .await?;
    if let Some(memo) = scope.memo() {
        memo.live_records(R::NAME, rows.iter().map(|(_, id)| *id));
    }
    Ok(rows.into_iter().filter_map(|(external_id, id)| Some((external_id?, id))).collect())
}

/// The record a reference names: from the prefetch, else (a record this
/// transaction made since) from the database.
async fn find_ref(scope: &impl Scope, refs: &Refs, r: &ExternalRef) -> ServiceResult<Uuid> {
    if let Some(id) = refs.get(&(r.target, r.external_id.clone())) {
        return Ok(*id);
    }
    let found = match r.target {
        RefTarget::Account => live_id::<account::Entity>(scope, &r.external_id).await?,
        RefTarget::Contact => live_id::<contact::Entity>(scope, &r.external_id).await?,
        RefTarget::Lead => live_id::<lead::Entity>(scope, &r.external_id).await?,
        RefTarget::Opportunity => live_id::<opportunity::Entity>(scope, &r.external_id).await?,
    };
    found.ok_or_else(|| ServiceError::invalid(r.field, format!("no record has external id {:?}", r.external_id)))
}

/// The live record holding this external id.
async fn live_id<R: Record>(scope: &impl Scope, external_id: &str) -> ServiceResult<Option<Uuid>> {
    let found = by_external_id::<R>(scope, external_id).await?;
    let id = found.filter(|m| !R::stamps(m).deleted).map(|m| R::id(&m));
    if let (Some(memo), Some(id)) = (scope.memo(), id) {
        memo.live_records(R::NAME, [id]);
    }
    Ok(id)
}

/// Any record (deleted ones too) holding this external id.
async fn by_external_id<R: Record>(scope: &impl Scope, external_id: &str) -> ServiceResult<Option<R::Model>> {
    Ok(scope.select::<R>().filter(R::COLUMNS.external_id.eq(external_id)).one(scope.conn()).await?)
}

/// Where a batch's records stand while it runs.
struct Progress<R: Upsertable> {
    outcomes: Vec<Option<Outcome>>,
    /// The records holding the batch's external ids, as they are now.
    known: HashMap<String, R::Model>,
    /// (index, id, key) of written records that have a duplicate key.
    keys: Vec<(usize, Uuid, String)>,
    refs: Refs,
    /// New records checked and waiting for their insert.
    pending: Chunk<R>,
    /// The external ids of `pending` and of the chunk being inserted.
    unsettled: HashSet<String>,
}

/// New records (index, input, checked record) inserted together.
type Chunk<R> = Vec<(usize, Item<<R as Record>::Fields>, records::NewRecord<R>)>;

/// A chunk's insert: whether its rows went in (else its savepoint was rolled back).
type Inserted<R> = (Chunk<R>, Result<bool, sea_orm::DbErr>);

/// A chunk's insert under way, polled while the next records are checked: the
/// database writes one chunk while the server prepares the next.
type Flight<'a, R> = Pin<Box<dyn Future<Output = Inserted<R>> + Send + 'a>>;

/// The insert in flight, if any, and the one that landed and awaits its traces.
struct Inserts<'a, R: Upsertable> {
    flight: Option<Flight<'a, R>>,
    landed: Option<Inserted<R>>,
}

impl<'a, R: Upsertable> Inserts<'a, R>
where
    R::Fields: Clone,
{
    /// Runs `work` (which must not write) while the insert in flight goes on.
    async fn alongside<T>(&mut self, work: impl Future<Output = T>) -> T {
        let Some(flight) = self.flight.take() else { return work.await };
        let work = std::pin::pin!(work);
        // The insert is polled first, so that it reaches the database before
        // the work, which often finishes without waiting, takes the thread.
        match futures_util::future::select(flight, work).await {
            Either::Left((landed, work)) => {
                self.landed = Some(landed);
                work.await
            }
            Either::Right((out, flight)) => {
                self.flight = Some(flight);
                out
            }
        }
    }

    /// Waits for the insert in flight and records what became of its records.
    async fn settle(&mut self, tx: &TenantTx, progress: &mut Progress<R>) -> ServiceResult<()> {
        if let Some(flight) = self.flight.take() {
            self.landed = Some(flight.await);
        }
        if let Some((chunk, inserted)) = self.landed.take() {
            for (_, item, _) in &chunk {
                progress.unsettled.remove(item.external_id.trim());
            }
            Box::pin(after_insert(tx, progress, chunk, inserted?)).await?;
        }
        Ok(())
    }

    /// Sends the pending records on their way, once the previous chunk landed.
    async fn launch(&mut self, tx: &'a TenantTx, progress: &mut Progress<R>) -> ServiceResult<()> {
        self.settle(tx, progress).await?;
        let chunk = std::mem::take(&mut progress.pending);
        if !chunk.is_empty() {
            let rows = chunk.iter().map(|(_, _, new)| new.row.clone()).collect();
            self.flight = Some(Box::pin(async move {
                let inserted = insert_rows::<R>(tx, rows).await;
                (chunk, inserted)
            }));
        }
        Ok(())
    }
}

impl<R: Upsertable> Progress<R> {
    fn done(&mut self, index: usize, external_id: String, model: R::Model, status: Status) {
        let id = R::id(&model);
        if let Some(key) = R::duplicate_key(&model) {
            self.keys.push((index, id, key));
        }
        self.known.insert(external_id.trim().to_owned(), model);
        self.outcomes[index] = Some(Outcome {
            index,
            external_id,
            id: Some(id),
            status,
            field: None,
            message: None,
            code: None,
            duplicates: Vec::new(),
        });
    }

    fn is_pending(&self, external_id: &str) -> bool {
        self.unsettled.contains(external_id)
    }
}

/// Upserts `items` in order. `validate_only` runs everything and writes nothing.
pub async fn upsert<R: Upsertable>(
    tx: TenantTx,
    items: Vec<Item<R::Fields>>,
    mode: Mode,
    validate_only: bool,
) -> ServiceResult<Report>
where
    R::Fields: Clone,
{
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ServiceError::invalid("records", format!("must hold between 1 and {MAX_BATCH} records")));
    }
    let mut progress = Progress::<R> {
        outcomes: vec![None; items.len()],
        known: prefetch::<R>(&tx, &items).await?,
        keys: Vec::new(),
        refs: prefetch_refs(&tx, &items).await?,
        pending: Vec::new(),
        unsettled: HashSet::new(),
    };
    // Rows per insert: a few hundred, under SQLite's 32,766 binds.
    let rows = (30_000 / <R::Column as sea_orm::Iterable>::iter().count().max(1)).clamp(1, 500);
    let mut inserts = Inserts::<R> { flight: None, landed: None };
    for (index, item) in items.into_iter().enumerate() {
        let external_id = item.external_id.trim().to_owned();
        // A second record with the same external id updates the first: it must be stored by then.
        if progress.is_pending(&external_id) {
            inserts.launch(&tx, &mut progress).await?;
            inserts.settle(&tx, &mut progress).await?;
        }
        match progress.known.get(&external_id).cloned() {
            // Boxed, as below: these futures nest the whole write path and would
            // otherwise all sit on the worker's stack.
            None => match inserts.alongside(Box::pin(prepare::<R>(&tx, &item, &progress.refs))).await {
                Ok(new) => {
                    progress.unsettled.insert(external_id);
                    progress.pending.push((index, item, new));
                    if progress.pending.len() >= rows {
                        inserts.launch(&tx, &mut progress).await?;
                    }
                }
                Err(error) => progress.outcomes[index] = Some(failed(index, item.external_id, error)?),
            },
            // An update writes in a savepoint of its own: not while an insert is in flight.
            Some(existing) => {
                inserts.settle(&tx, &mut progress).await?;
                Box::pin(update_existing(&tx, &mut progress, index, item, existing)).await?;
            }
        }
    }
    inserts.launch(&tx, &mut progress).await?;
    inserts.settle(&tx, &mut progress).await?;
    drop(inserts);
    let Progress { outcomes, keys, .. } = progress;
    let mut outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .collect::<Option<_>>()
        .ok_or_else(|| ServiceError::Internal("an upsert record was left without an outcome".into()))?;
    for (index, dups) in duplicates::<R>(&tx, &keys).await? {
        outcomes[index].duplicates = dups;
    }
    let any_failed = outcomes.iter().any(|o| o.status == Status::Failed);
    let refused = mode == Mode::AllOrNothing && any_failed;
    let written = !validate_only && !refused;
    if written {
        tx.commit().await?;
    }
    Ok(Report { outcomes, written })
}

/// A new record checked and built, not yet stored.
async fn prepare<R: Upsertable>(
    tx: &TenantTx,
    item: &Item<R::Fields>,
    refs: &Refs,
) -> ServiceResult<records::NewRecord<R>>
where
    R::Fields: Clone,
{
    let external_id = validate::required_text("externalId", &item.external_id, 200)?;
    let input = input_of::<R>(tx, item, refs).await?;
    records::prepare::<R>(tx, RecordInput { external_id: Patch::Set(external_id), ..input }).await
}

/// Inserts new records' rows together, in a savepoint: whether they went in. When
/// they did not (another batch took one of their external ids meanwhile), the
/// savepoint is rolled back and nothing of them stays.
async fn insert_rows<R: Upsertable>(tx: &TenantTx, rows: Vec<R::ActiveModel>) -> Result<bool, sea_orm::DbErr> {
    let point = tx.savepoint().await?;
    let count = rows.len() as u64;
    // A taken key skips its row instead of failing the statement: on
    // PostgreSQL a failed statement would fail every other statement (the
    // checks of the next records, running alongside) until the rollback.
    let outcome = point.insert_new(rows).await;
    if matches!(outcome, Ok(inserted) if inserted == count) {
        point.commit().await?;
        return Ok(true);
    }
    // Dropping the savepoint rolls it back.
    tracing::debug!(?outcome, "a bulk insert did not take every row; upserting its records one by one");
    Ok(false)
}

/// What follows a chunk's insert: the records' traces and outcomes, or when
/// the insert failed, each record the careful way.
async fn after_insert<R: Upsertable>(
    tx: &TenantTx,
    progress: &mut Progress<R>,
    chunk: Chunk<R>,
    inserted: bool,
) -> ServiceResult<()>
where
    R::Fields: Clone,
{
    if inserted {
        if let Some(memo) = tx.memo() {
            memo.live_records(R::NAME, chunk.iter().map(|(_, _, new)| R::id(&new.model)));
        }
        for (index, item, new) in chunk {
            let model = records::created::<R>(tx, new).await?;
            progress.done(index, item.external_id, model, Status::Created);
        }
        return Ok(());
    }
    for (index, item, _) in chunk {
        let existing = by_external_id::<R>(tx, item.external_id.trim()).await?;
        Box::pin(one_by_one(tx, progress, index, item, existing)).await?;
    }
    Ok(())
}

/// A record whose external id is taken: compared without a savepoint (a
/// resent batch is mostly unchanged records); only a real change is written,
/// in its own savepoint.
async fn update_existing<R: Upsertable>(
    tx: &TenantTx,
    progress: &mut Progress<R>,
    index: usize,
    item: Item<R::Fields>,
    existing: R::Model,
) -> ServiceResult<()>
where
    R::Fields: Clone,
{
    let planned = async {
        if R::stamps(&existing).deleted {
            return Err(deleted_holder());
        }
        let input = input_of::<R>(tx, &item, &progress.refs).await?;
        records::plan_update::<R>(tx, existing, input).await
    }
    .await;
    // The record's own failures become its outcome; the savepoint's abort the batch.
    let written = match planned {
        Ok(records::Planned::Unchanged(model)) => Ok((model, Status::Unchanged)),
        Ok(records::Planned::Write(write)) => tx
            .in_savepoint(|point| Box::pin(records::write_planned::<R>(point, write)))
            .await?
            .map(|model| (model, Status::Updated)),
        Err(error) => Err(error),
    };
    match written {
        Ok((model, status)) => progress.done(index, item.external_id, model, status),
        Err(error) => progress.outcomes[index] = Some(failed(index, item.external_id, error)?),
    }
    Ok(())
}

/// Upserts one record in its own savepoint and records its outcome.
async fn one_by_one<R: Upsertable>(
    tx: &TenantTx,
    progress: &mut Progress<R>,
    index: usize,
    item: Item<R::Fields>,
    mut existing: Option<R::Model>,
) -> ServiceResult<()>
where
    R::Fields: Clone,
{
    let external_id = item.external_id.clone();
    let mut item = Some(item);
    // Twice at most: a concurrent batch may create the same external id between
    // our lookup and our insert; the second attempt then updates its record.
    for _ in 0..2 {
        let Some(current) = item.take() else { break };
        let point = tx.savepoint().await?;
        match one::<R>(&point, current, existing.take(), &progress.refs).await {
            Ok(Attempt::Done(model, status)) => {
                point.commit().await?;
                progress.done(index, external_id, model, status);
                return Ok(());
            }
            Ok(Attempt::Raced(again)) => {
                // Roll the failed insert back before looking again (PostgreSQL
                // refuses statements inside an aborted savepoint).
                drop(point);
                existing = by_external_id::<R>(tx, again.external_id.trim()).await?;
                item = Some(again);
            }
            Err(error) => {
                progress.outcomes[index] = Some(failed(index, external_id, error)?);
                return Ok(());
            }
        }
    }
    let error = ServiceError::Conflict("written concurrently; send it again".into());
    progress.outcomes[index] = Some(failed(index, external_id, error)?);
    Ok(())
}

/// For each upserted record with a duplicate key, the other live records sharing it:
/// one query per 500 keys, after the batch, so it sees the batch's own records too.
async fn duplicates<R: Upsertable>(
    tx: &TenantTx,
    keys: &[(usize, Uuid, String)],
) -> ServiceResult<Vec<(usize, Vec<Uuid>)>> {
    let Some(column) = R::DUPLICATE_ON else { return Ok(Vec::new()) };
    // Who shares a value tells something about the value: not for hidden fields.
    if !records::column_visible::<R>(tx, &column)? {
        return Ok(Vec::new());
    }
    let mut holders: HashMap<String, Vec<Uuid>> = HashMap::new();
    let distinct: BTreeSet<&str> = keys.iter().map(|(_, _, k)| k.as_str()).collect();
    let distinct: Vec<&str> = distinct.into_iter().collect();
    for chunk in distinct.chunks(500) {
        let lowered = Func::lower(Expr::col((R::default(), column)));
        let rows =
            records::live::<R>(tx).filter(Expr::expr(lowered).is_in(chunk.iter().copied())).all(tx.conn()).await?;
        for row in rows {
            if let Some(key) = R::duplicate_key(&row) {
                holders.entry(key.to_lowercase()).or_default().push(R::id(&row));
            }
        }
    }
    Ok(keys
        .iter()
        .filter_map(|(index, id, key)| {
            let others: Vec<Uuid> =
                holders.get(key.to_lowercase().as_str())?.iter().filter(|other| *other != id).copied().collect();
            (!others.is_empty()).then_some((*index, others))
        })
        .collect())
}

/// An upsert onto a soft-deleted record: refused, never a silent revival.
pub fn deleted_holder() -> ServiceError {
    ServiceError::Conflict("a deleted record holds this external id; an admin can restore it".into())
}

/// A record's failure as its outcome; database and internal errors abort the batch.
pub fn failed(index: usize, external_id: String, error: ServiceError) -> ServiceResult<Outcome> {
    let code = error.code().as_str();
    let (field, message) = match error {
        ServiceError::Invalid { field, message } | ServiceError::ForbiddenField { field, message } => {
            (Some(field), message)
        }
        ServiceError::Conflict(message) => (None, message),
        ServiceError::Forbidden(message) => (None, message),
        ServiceError::NotFound => (None, "not found".to_owned()),
        other => return Err(other),
    };
    Ok(Outcome {
        index,
        external_id,
        id: None,
        status: Status::Failed,
        field,
        message: Some(message),
        code: Some(code),
        duplicates: Vec::new(),
    })
}

/// The records already holding the batch's external ids: one query per 500.
async fn prefetch<R: Record>(tx: &TenantTx, items: &[Item<R::Fields>]) -> ServiceResult<HashMap<String, R::Model>> {
    let wanted: BTreeSet<&str> = items.iter().map(|i| i.external_id.trim()).filter(|e| !e.is_empty()).collect();
    let wanted: Vec<&str> = wanted.into_iter().collect();
    let mut known = HashMap::new();
    for chunk in wanted.chunks(500) {
        let rows = tx.select::<R>().filter(R::COLUMNS.external_id.is_in(chunk.iter().copied())).all(tx.conn()).await?;
        for row in rows {
            if let Some(external_id) = R::external_id(&row) {
                known.insert(external_id.to_owned(), row);
            }
        }
    }
    Ok(known)
}

enum Attempt<F, M> {
    /// The record as written (or found unchanged), and what happened.
    Done(M, Status),
    /// Another transaction created the external id first: try again with this.
    Raced(Item<F>),
}

/// The record input an item stands for, its references resolved; the
/// external id is left to the caller (set on create, kept on update).
async fn input_of<R: Upsertable>(
    tx: &TenantTx,
    item: &Item<R::Fields>,
    refs: &Refs,
) -> ServiceResult<RecordInput<R::Fields>>
where
    R::Fields: Clone,
{
    let mut fields = item.fields.clone();
    for r in &item.refs {
        R::set_ref(&mut fields, r.target, find_ref(tx, refs, r).await?)?;
    }
    Ok(RecordInput { owner: item.owner.clone(), external_id: Patch::Keep, fields, custom: item.custom.clone() })
}

/// Upserts one record; `existing` is the record holding its external id, if any.
async fn one<R: Upsertable>(
    tx: &TenantTx,
    item: Item<R::Fields>,
    existing: Option<R::Model>,
    refs: &Refs,
) -> ServiceResult<Attempt<R::Fields, R::Model>>
where
    R::Fields: Clone,
{
    let external_id = validate::required_text("externalId", &item.external_id, 200)?;
    let input = input_of::<R>(tx, &item, refs).await?;
    match existing {
        Some(existing) if R::stamps(&existing).deleted => Err(deleted_holder()),
        Some(existing) => {
            let version = R::version(&existing);
            let updated = records::update_loaded::<R>(tx, existing, input).await?;
            let changed = R::version(&updated) != version;
            let status = if changed { Status::Updated } else { Status::Unchanged };
            Ok(Attempt::Done(updated, status))
        }
        None => {
            let input = RecordInput { external_id: Patch::Set(external_id), ..input };
            match records::create::<R>(tx, input).await {
                Ok(created) => Ok(Attempt::Done(created, Status::Created)),
                Err(ServiceError::Conflict(_)) => Ok(Attempt::Raced(item)),
                Err(other) => Err(other),
            }
        }
    }
}
