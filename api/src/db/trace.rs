//! The trace writer and the hash-chain verifier.
//!
//! Each tenant has one `trace_head` row. A writer's first trace takes it
//! (`UPDATE … RETURNING`; SQLite's writers, which hold the database's write
//! lock from `BEGIN`, read it with the tenant's row instead), which on
//! PostgreSQL holds the row lock until commit:
//! the tenant's traces therefore commit in sequence order and the sequence has
//! no gaps, which is what lets a change-feed consumer resume from a cursor
//! safely. Holding the head, the writer numbers and hashes its traces in
//! memory and stores them all at commit, a thousand rows a statement.

use std::borrow::Cow;

use chrono::{DateTime, SubsecRound, Utc};
use entity::{tenant, trace, trace_head};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, JoinType,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Statement,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Actor;
use crate::auth::api_token::to_hex;

/// The hash a tenant's first trace links to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What kind of change a trace records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeType {
    Create,
    Update,
    Delete,
    Restore,
    Convert,
    Complete,
    Login,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Restore => "RESTORE",
            Self::Convert => "CONVERT",
            Self::Complete => "COMPLETE",
            Self::Login => "LOGIN",
        }
    }
}

/// One change to record. `before`/`after` hold only the fields that changed.
#[derive(Clone, Debug)]
pub struct Change {
    pub change_type: ChangeType,
    pub entity_type: Cow<'static, str>,
    pub entity_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Change {
    pub fn create(entity_type: impl Into<Cow<'static, str>>, id: Uuid, after: Value) -> Self {
        Self {
            change_type: ChangeType::Create,
            entity_type: entity_type.into(),
            entity_id: Some(id),
            before: None,
            after: Some(after),
        }
    }

    pub fn delete(entity_type: impl Into<Cow<'static, str>>, id: Uuid, before: Value) -> Self {
        Self {
            change_type: ChangeType::Delete,
            entity_type: entity_type.into(),
            entity_id: Some(id),
            before: Some(before),
            after: None,
        }
    }

    /// The fields that differ between two snapshots; `None` when nothing changed,
    /// so that an update that changes nothing writes no trace.
    pub fn update(entity_type: impl Into<Cow<'static, str>>, id: Uuid, before: &Value, after: &Value) -> Option<Self> {
        let (old, new) = diff(before, after)?;
        Some(Self {
            change_type: ChangeType::Update,
            entity_type: entity_type.into(),
            entity_id: Some(id),
            before: Some(old),
            after: Some(new),
        })
    }

    pub fn login(user_id: Uuid) -> Self {
        Self {
            change_type: ChangeType::Login,
            entity_type: "User".into(),
            entity_id: Some(user_id),
            before: None,
            after: None,
        }
    }
}

fn diff(before: &Value, after: &Value) -> Option<(Value, Value)> {
    let (Value::Object(b), Value::Object(a)) = (before, after) else {
        return (before != after).then(|| (before.clone(), after.clone()));
    };
    let mut old = Map::new();
    let mut new = Map::new();
    for (key, value) in a {
        let previous = b.get(key).unwrap_or(&Value::Null);
        if previous != value {
            old.insert(key.clone(), previous.clone());
            new.insert(key.clone(), value.clone());
        }
    }
    for (key, value) in b {
        if !a.contains_key(key) {
            old.insert(key.clone(), value.clone());
            new.insert(key.clone(), Value::Null);
        }
    }
    (!new.is_empty()).then_some((Value::Object(old), Value::Object(new)))
}

/// Where a tenant's chain stands: its last sequence number and hash.
#[derive(Clone, Debug)]
pub(super) struct Head {
    pub seq: i64,
    pub hash: String,
}

impl Head {
    pub fn of(trace: &trace::Model) -> Self {
        Self { seq: trace.seq, hash: trace.hash.clone() }
    }
}

/// Takes the tenant's trace head for this transaction and reads it. The
/// no-op UPDATE is what locks the row on PostgreSQL (SQLite's writers already
/// run one at a time): from here to commit no other writer of the tenant can
/// take a sequence number, so the tenant's traces commit in sequence order.
pub(super) async fn take_head(txn: &DatabaseTransaction, tenant_id: Uuid) -> Result<Head, DbErr> {
    let head = trace_head::Entity::update_many()
        .col_expr(trace_head::Column::LastSeq, Expr::col(trace_head::Column::LastSeq))
        .filter(trace_head::Column::TenantId.eq(tenant_id))
        .exec_with_returning(txn)
        .await?
        .pop()
        .ok_or_else(|| DbErr::Custom(format!("no trace head for tenant {tenant_id}")))?;
    Ok(Head { seq: head.last_seq, hash: head.last_hash })
}

/// The tenant's row that `query` selects, if any, with its trace head, in
/// one statement and without taking the head: for transactions that already
/// hold every other writer off, as SQLite's IMMEDIATE ones do.
pub(super) async fn with_head(
    query: sea_orm::Select<tenant::Entity>,
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
) -> Result<Option<(tenant::Model, Head)>, DbErr> {
    let relation =
        tenant::Entity::belongs_to(trace_head::Entity).from(tenant::Column::Id).to(trace_head::Column::TenantId).into();
    match query.select_also(trace_head::Entity).join(JoinType::LeftJoin, relation).one(txn).await? {
        None => Ok(None),
        Some((tenant, Some(head))) => Ok(Some((tenant, Head { seq: head.last_seq, hash: head.last_hash }))),
        Some((_, None)) => Err(DbErr::Custom(format!("no trace head for tenant {tenant_id}"))),
    }
}

/// The trace that follows `head` for this change, hashed and linked; it is
/// stored by [`store`] when the transaction commits.
pub(super) fn next(
    head: &Head,
    actor: &Actor,
    request_id: Option<&str>,
    at: DateTime<Utc>,
    change: Change,
) -> trace::Model {
    let mut row = trace::Model {
        tenant_id: actor.tenant_id,
        seq: head.seq + 1,
        id: Uuid::now_v7(),
        // Stored precision on both backends; hashing more would break verification.
        at: at.trunc_subsecs(6),
        user_id: actor.user_id,
        api_token_id: actor.api_token_id,
        change_type: change.change_type.as_str().to_owned(),
        entity_type: change.entity_type.into_owned(),
        entity_id: change.entity_id,
        before: change.before.map(|v| v.to_string()),
        after: change.after.map(|v| v.to_string()),
        source: actor.source.as_str().to_owned(),
        request_id: request_id.map(str::to_owned),
        prev_hash: head.hash.clone(),
        hash: String::new(),
    };
    row.hash = content_hash(&row);
    row
}

/// Inserts traces made by [`next`] (consecutive, of one tenant) with
/// multi-row INSERTs, and moves the tenant's head to the last of them.
pub(super) async fn store(txn: &DatabaseTransaction, traces: &[trace::Model]) -> Result<(), DbErr> {
    let Some(last) = traces.last() else { return Ok(()) };
    super::bulk::insert(txn, rows(traces), super::bulk::Taken::Fail).await?;
    move_head(last).exec(txn).await?;
    Ok(())
}

/// What [`store`] writes, as statements for [`run_batched`](super::combined::run_batched) (SQLite).
pub(super) fn store_statements(backend: DbBackend, traces: &[trace::Model]) -> Vec<Statement> {
    let Some(last) = traces.last() else { return Vec::new() };
    let mut statements = super::bulk::values_inserts(backend, rows(traces), super::bulk::Taken::Fail);
    statements.push(move_head(last).build(backend));
    statements
}

/// Every column set, as an insert of the whole row needs.
fn rows(traces: &[trace::Model]) -> Vec<trace::ActiveModel> {
    traces.iter().map(|row| trace::ActiveModel::from(row.clone()).reset_all()).collect()
}

/// Moves the tenant's head to `last`.
fn move_head(last: &trace::Model) -> sea_orm::UpdateMany<trace_head::Entity> {
    trace_head::Entity::update_many()
        .col_expr(trace_head::Column::LastSeq, Expr::value(last.seq))
        .col_expr(trace_head::Column::LastHash, Expr::value(last.hash.clone()))
        .filter(trace_head::Column::TenantId.eq(last.tenant_id))
}

/// What [`store`] writes, as parts of a combined statement (PostgreSQL):
/// `None`, with nothing added, when the traces take more than one part.
pub(super) fn store_part(combined: &mut super::combined::Combined, traces: &[trace::Model]) -> Option<()> {
    let Some(last) = traces.last() else { return Some(()) };
    super::bulk::insert_part(combined, &rows(traces), "")?;
    let (seq, hash, tenant) =
        (combined.bind(last.seq), combined.bind(last.hash.clone()), combined.bind(last.tenant_id));
    combined.part(format!("UPDATE trace_head SET last_seq = {seq}, last_hash = {hash} WHERE tenant_id = {tenant}"));
    Some(())
}

/// SHA-256 over the trace's content and its predecessor's hash. Each part is
/// length-prefixed so that no two different traces hash the same input.
pub fn content_hash(row: &trace::Model) -> String {
    fn opt_uuid(id: Option<Uuid>) -> String {
        id.map(|i| i.to_string()).unwrap_or_default()
    }
    let parts: [String; 14] = [
        row.prev_hash.clone(),
        row.tenant_id.to_string(),
        row.seq.to_string(),
        row.id.to_string(),
        timestamp(row.at),
        opt_uuid(row.user_id),
        opt_uuid(row.api_token_id),
        row.change_type.clone(),
        row.entity_type.clone(),
        opt_uuid(row.entity_id),
        row.before.clone().unwrap_or_else(|| "\u{0}".into()),
        row.after.clone().unwrap_or_else(|| "\u{0}".into()),
        row.source.clone(),
        row.request_id.clone().unwrap_or_default(),
    ];
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    to_hex(&hasher.finalize())
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The outcome of walking one tenant's chain.
#[derive(Debug, PartialEq, Eq)]
pub enum ChainStatus {
    /// Every link holds; the number of traces checked.
    Intact { traces: u64 },
    /// The first trace whose stored content, hash or link does not match.
    Broken { seq: i64, reason: String },
}

/// Walks a tenant's traces in sequence order and reports the first broken link.
pub async fn verify_chain<C: ConnectionTrait>(conn: &C, tenant_id: Uuid) -> Result<ChainStatus, DbErr> {
    const PAGE: u64 = 1_000;
    let mut expected_prev = GENESIS_HASH.to_owned();
    let mut expected_seq = 1i64;
    loop {
        let page = trace::Entity::find()
            .filter(trace::Column::TenantId.eq(tenant_id))
            .filter(trace::Column::Seq.gte(expected_seq))
            .order_by_asc(trace::Column::Seq)
            .limit(PAGE)
            .all(conn)
            .await?;
        if page.is_empty() {
            break;
        }
        for row in &page {
            let broken = |reason: &str| Ok(ChainStatus::Broken { seq: row.seq, reason: reason.to_owned() });
            if row.seq != expected_seq {
                return broken(&format!("sequence gap: expected {expected_seq}"));
            }
            if row.prev_hash != expected_prev {
                return broken("link to the previous trace does not match its hash");
            }
            if content_hash(row) != row.hash {
                return broken("content does not match its hash");
            }
            expected_prev = row.hash.clone();
            expected_seq += 1;
        }
    }
    let head = trace_head::Entity::find_by_id(tenant_id).one(conn).await?;
    if let Some(head) = head
        && (head.last_seq != expected_seq - 1 || (head.last_seq > 0 && head.last_hash != expected_prev))
    {
        return Ok(ChainStatus::Broken {
            seq: expected_seq,
            reason: format!("head records {} traces, found {}", head.last_seq, expected_seq - 1),
        });
    }
    Ok(ChainStatus::Intact { traces: u64::try_from(expected_seq - 1).unwrap_or(0) })
}
