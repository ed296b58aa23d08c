//! Bulk upsert by external id: how integrators load another system's records.
//!
//! Each record runs in its own savepoint, so a failing record never leaves half
//! of itself behind; the batch as a whole is one transaction. A record that
//! matches nothing is created, one that matches is updated with the given fields
//! only, and one whose fields already hold those values is left alone (no write,
//! no trace): sending the same batch twice changes nothing the second time.

use std::collections::{BTreeSet, HashMap};

use entity::{account, activity, contact, lead, opportunity};

use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, QueryFilter};
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

#[derive(Clone, Copy)]
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

async fn find_ref(scope: &impl Scope, r: &ExternalRef) -> ServiceResult<Uuid> {
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
    Ok(found.filter(|m| !R::stamps(m).deleted).map(|m| R::id(&m)))
}

/// Any record (deleted ones too) holding this external id.
async fn by_external_id<R: Record>(scope: &impl Scope, external_id: &str) -> ServiceResult<Option<R::Model>> {
    Ok(scope.select::<R>().filter(R::COLUMNS.external_id.eq(external_id)).one(scope.conn()).await?)
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
    let mut outcomes = Vec::with_capacity(items.len());
    let mut keys: Vec<(usize, Uuid, String)> = Vec::new();
    let mut known = prefetch::<R>(&tx, &items).await?;
    for (index, item) in items.into_iter().enumerate() {
        let external_id = item.external_id.clone();
        let mut item = Some(item);
        let mut outcome = None;
        let mut existing = known.get(external_id.trim()).cloned();
        // Twice at most: a concurrent batch may create the same external id between
        // our lookup and our insert; the second attempt then updates its record.
        for _ in 0..2 {
            let Some(current) = item.take() else { break };
            let point = tx.savepoint().await?;
            match one::<R>(&point, current, existing.take()).await {
                Ok(Attempt::Done(model, status)) => {
                    point.commit().await?;
                    let id = R::id(&model);
                    if let Some(key) = R::duplicate_key(&model) {
                        keys.push((index, id, key));
                    }
                    known.insert(external_id.trim().to_owned(), model);
                    outcome = Some(Outcome {
                        index,
                        external_id: external_id.clone(),
                        id: Some(id),
                        status,
                        field: None,
                        message: None,
                        code: None,
                        duplicates: Vec::new(),
                    });
                }
                Ok(Attempt::Raced(again)) => {
                    // Roll the failed insert back before looking again (PostgreSQL
                    // refuses statements inside an aborted savepoint).
                    drop(point);
                    existing = by_external_id::<R>(&tx, again.external_id.trim()).await?;
                    item = Some(again);
                }
                Err(error) => outcome = Some(failed(index, external_id.clone(), error)?),
            }
        }
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => failed(index, external_id, ServiceError::Conflict("written concurrently; send it again".into()))?,
        };
        outcomes.push(outcome);
    }
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

/// Upserts one record; `existing` is the record holding its external id, if any.
async fn one<R: Upsertable>(
    tx: &TenantTx,
    item: Item<R::Fields>,
    existing: Option<R::Model>,
) -> ServiceResult<Attempt<R::Fields, R::Model>>
where
    R::Fields: Clone,
{
    let external_id = validate::required_text("externalId", &item.external_id, 200)?;
    let mut fields = item.fields.clone();
    for r in &item.refs {
        R::set_ref(&mut fields, r.target, find_ref(tx, r).await?)?;
    }
    let input =
        RecordInput { owner: item.owner.clone(), external_id: Patch::Keep, fields, custom: item.custom.clone() };
    match existing {
        Some(existing) if R::stamps(&existing).deleted => {
            Err(ServiceError::Conflict("a deleted record holds this external id; an admin can restore it".into()))
        }
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
