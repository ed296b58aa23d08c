//! The door to tenant data: every select is filtered by the actor's tenant,
//! every insert is stamped with it, every update and delete is limited to it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use chrono::{DateTime, SubsecRound, Utc};

use entity::{TenantOwned, field_definition, picklist_option};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, Select, TransactionTrait,
};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use super::credentials::Credentials;
use super::events::{self, Events, TraceBatch};
use super::held::ReadConn;
use super::rollup;
use super::trace::{self, Change};
use crate::auth::Actor;
use crate::service::adoption::counters::OverdueSpan;

/// What both read and write scopes offer.
pub trait Scope: Sync {
    type Conn: ConnectionTrait;

    fn conn(&self) -> &Self::Conn;

    fn actor(&self) -> &Actor;

    /// A query over `E` limited to the actor's tenant.
    fn select<E: TenantOwned>(&self) -> Select<E> {
        E::find().filter(E::tenant_column().eq(self.actor().tenant_id))
    }

    /// Lookups this scope may reuse (a transaction's; plain reads have none).
    fn memo(&self) -> Option<&Memo> {
        None
    }

    /// Called before configuration is read: a transaction reads the tenant's
    /// row first (see [`TenantTx::read_config`]); plain reads have nothing to do.
    fn config_ready(&self) -> impl std::future::Future<Output = Result<(), DbErr>> + Send {
        async { Ok(()) }
    }
}

/// Lookups one transaction reuses instead of repeating them for every record it
/// writes (a bulk upsert resolves the same picklists and owners thousands of
/// times). Only reference data that the transaction itself does not change.
#[derive(Default)]
pub struct Memo {
    /// The tenant's configuration at the `config_version` this transaction
    /// read holding the tenant's row, kept across transactions (see
    /// [`TenantTx::read_config`]); unset, `own` holds what it reads.
    shared: OnceLock<Arc<TenantConfig>>,
    own: TenantConfig,
    live_users: Mutex<HashSet<Uuid>>,
    /// Records (entity name, id) found live in this transaction: a bulk
    /// upsert's references then cost no lookup each.
    live_records: Mutex<HashSet<(&'static str, Uuid)>>,
}

/// The configuration record writes read, filled part by part as read.
#[derive(Default)]
pub struct TenantConfig {
    picklists: Mutex<HashMap<(String, String), Vec<picklist_option::Model>>>,
    definitions: Mutex<HashMap<String, Vec<field_definition::Model>>>,
    field_rules: Mutex<HashMap<String, Arc<crate::service::field_rules::EntityRules>>>,
    key_fields: Mutex<HashMap<String, Arc<crate::service::data_quality::KeyFields>>>,
}

impl Memo {
    pub fn is_live_user(&self, id: Uuid) -> bool {
        self.live_users.lock().is_ok_and(|users| users.contains(&id))
    }

    pub fn live_user(&self, id: Uuid) {
        if let Ok(mut users) = self.live_users.lock() {
            users.insert(id);
        }
    }

    pub fn is_live_record(&self, entity: &'static str, id: Uuid) -> bool {
        lock(&self.live_records).contains(&(entity, id))
    }

    pub fn live_records(&self, entity: &'static str, ids: impl IntoIterator<Item = Uuid>) {
        lock(&self.live_records).extend(ids.into_iter().map(|id| (entity, id)));
    }

    /// The record was deleted in this transaction.
    pub fn forget_record(&self, entity: &'static str, id: Uuid) {
        lock(&self.live_records).remove(&(entity, id));
    }

    /// Where configuration read in this transaction is kept: the shared copy
    /// when the transaction uses one (it then never changes configuration).
    fn config(&self) -> &TenantConfig {
        self.shared.get().map_or(&self.own, |shared| shared)
    }

    pub fn picklist(&self, entity: &str, field: &str) -> Option<Vec<picklist_option::Model>> {
        lock(&self.config().picklists).get(&(entity.to_owned(), field.to_owned())).cloned()
    }

    pub fn definitions(&self, entity: &str) -> Option<Vec<field_definition::Model>> {
        lock(&self.config().definitions).get(entity).cloned()
    }

    pub fn remember_definitions(&self, entity: &str, defs: &[field_definition::Model]) {
        lock(&self.config().definitions).insert(entity.to_owned(), defs.to_vec());
    }

    pub fn forget_definitions(&self, entity: &str) {
        lock(&self.config().definitions).remove(entity);
    }

    pub fn field_rules(&self, entity: &str) -> Option<Arc<crate::service::field_rules::EntityRules>> {
        lock(&self.config().field_rules).get(entity).cloned()
    }

    pub fn remember_field_rules(&self, entity: &str, rules: Arc<crate::service::field_rules::EntityRules>) {
        lock(&self.config().field_rules).insert(entity.to_owned(), rules);
    }

    pub fn key_fields(&self, entity: &str) -> Option<Arc<crate::service::data_quality::KeyFields>> {
        lock(&self.config().key_fields).get(entity).cloned()
    }

    /// Remembers an entity's key fields; `None` forgets them (the transaction
    /// changed the list or a field it names).
    pub fn remember_key_fields(&self, entity: &str, fields: Option<Arc<crate::service::data_quality::KeyFields>>) {
        let mut known = lock(&self.config().key_fields);
        match fields {
            Some(fields) => known.insert(entity.to_owned(), fields),
            None => known.remove(entity),
        };
    }

    /// The options with these ids, when every one is among the picklists this
    /// transaction has read; `None` otherwise.
    pub fn options_by_ids(&self, ids: &[Uuid]) -> Option<HashMap<Uuid, picklist_option::Model>> {
        let lists = lock(&self.config().picklists);
        let mut found = HashMap::new();
        for id in ids {
            let option = lists.values().flatten().find(|o| o.id == *id)?;
            found.insert(*id, option.clone());
        }
        Some(found)
    }

    pub fn remember_picklist(&self, entity: &str, field: &str, options: &[picklist_option::Model]) {
        lock(&self.config().picklists).insert((entity.to_owned(), field.to_owned()), options.to_vec());
    }
}

/// Each tenant's configuration at the version it was read at, shared by the
/// transactions that read that version (see [`TenantTx::read_config`]).
pub type ConfigCache = Arc<RwLock<HashMap<Uuid, (i64, Arc<TenantConfig>)>>>;

/// How a transaction stands towards its tenant's configuration.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ConfigUse {
    /// Not read through [`TenantTx::read_config`] yet.
    Unread,
    /// Read holding the tenant's row: it cannot change before the commit.
    Read,
    /// This transaction changes it (and bumped the version first).
    Changing,
}

/// The actor's own tenant (its name and settings).
pub async fn own_tenant(scope: &impl Scope) -> Result<entity::tenant::Model, DbErr> {
    super::system::tenant_by_id(scope.conn(), scope.actor().tenant_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("tenant".into()))
}

/// Tenant-scoped reads on the pool.
pub struct TenantRead {
    conn: ReadConn,
    actor: Arc<Actor>,
    kept: Credentials,
}

impl TenantRead {
    pub(super) fn new(conn: ReadConn, actor: Arc<Actor>, kept: Credentials) -> Self {
        Self { conn, actor, kept }
    }

    /// What reads may take from earlier ones until the tenant's access
    /// changes (see `db::credentials`): its users' rows.
    pub fn kept(&self) -> &Credentials {
        &self.kept
    }
}

impl Scope for TenantRead {
    type Conn = ReadConn;

    fn conn(&self) -> &ReadConn {
        &self.conn
    }

    fn actor(&self) -> &Actor {
        &self.actor
    }
}

/// A tenant-scoped write transaction; the only place a trace can be written.
pub struct TenantTx {
    txn: DatabaseTransaction,
    actor: Arc<Actor>,
    request_id: Option<Arc<str>>,
    /// The transaction's one clock reading: every stamp it writes agrees.
    now: DateTime<Utc>,
    memo: Arc<Memo>,
    /// What this transaction appended: counted into the adoption rollup (and
    /// the traces announced to subscribers) when it commits.
    appended: Arc<Mutex<Appended>>,
    /// A savepoint hands what it appended to its parent on commit; the
    /// outermost transaction (`None`) stores, counts and announces it.
    parent: Option<Arc<Mutex<Appended>>>,
    /// The chain's head before this transaction's first trace: a savepoint's
    /// is its parent's at the time; the outermost reads (and locks) it at
    /// its first trace, or on SQLite with the tenant's row (`read_config`).
    base: Mutex<Option<trace::Head>>,
    /// The tenant's time zone, when the outermost transaction read it holding
    /// the tenant's row (see `read_config`): it cannot change before the
    /// commit, which then counts the rollup without reading it again.
    zone: Mutex<Option<String>>,
    /// Shared with its savepoints: they read and change one configuration.
    config: Arc<Mutex<ConfigUse>>,
    configs: ConfigCache,
    /// How many of `appended` are already in the database (stored early for a rollup rebuild).
    stored: std::sync::atomic::AtomicUsize,
    /// How many of `appended` a rollup rebuild in this transaction already counted.
    counted: std::sync::atomic::AtomicUsize,
    events: Events,
    // Held until commit or drop: the SQLite writer slot.
    _writer: Option<OwnedMutexGuard<()>>,
}

/// What a transaction's writes add to the derived data kept at its commit.
#[derive(Default)]
struct Appended {
    traces: Vec<entity::trace::Model>,
    /// Activities' overdue spans before and after each write.
    overdue: Vec<rollup::OverdueMove>,
    /// Rows of the tenant's inserted or deleted: a commit that added or
    /// removed rows and traced nothing is refused (see [`TenantTx::commit`]).
    rows_added_or_removed: u64,
    /// A profile's rules changed (traced changes of access are found in
    /// `traces`): announced at the commit, see `db::credentials`.
    rules_changed: bool,
}

type ModelOf<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;

impl TenantTx {
    pub(super) fn new(
        txn: DatabaseTransaction,
        actor: Arc<Actor>,
        request_id: Option<Arc<str>>,
        writer: Option<OwnedMutexGuard<()>>,
        now: DateTime<Utc>,
        events: Events,
        configs: ConfigCache,
    ) -> Self {
        // Stored precision on both backends; a finer stamp would not survive a round trip.
        let memo = Memo::default();
        // The actor's own user was found live when the request was authenticated.
        if let Some(user) = actor.user_id {
            memo.live_user(user);
        }
        Self {
            txn,
            actor,
            request_id,
            now: now.trunc_subsecs(6),
            memo: Arc::new(memo),
            appended: Arc::default(),
            parent: None,
            base: Mutex::new(None),
            zone: Mutex::new(None),
            config: Arc::new(Mutex::new(ConfigUse::Unread)),
            configs,
            stored: Default::default(),
            counted: Default::default(),
            events,
            _writer: writer,
        }
    }

    /// When this transaction happens (its records' and traces' timestamps).
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The bare transaction, for the db layer's own statements.
    pub(super) fn raw(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub fn actor_arc(&self) -> Arc<Actor> {
        self.actor.clone()
    }

    /// Before any write to rows of `E`: a configuration table's changes the version.
    async fn writing<E: TenantOwned>(&self) -> Result<(), DbErr> {
        if E::CONFIG { self.changing_config().await } else { Ok(()) }
    }

    /// After a write that inserted or deleted `rows`, for the commit's check
    /// that the transaction traced its changes. Updates are not counted: one
    /// that finds nothing changed writes the row as it was and no trace.
    fn added_or_removed(&self, rows: u64) -> u64 {
        lock(&self.appended).rows_added_or_removed += rows;
        rows
    }

    /// Inserts a row of the actor's tenant, whatever `tenant_id` the model held.
    pub async fn insert<A>(&self, mut model: A) -> Result<ModelOf<A>, DbErr>
    where
        A: ActiveModelTrait + Send,
        A::Entity: TenantOwned,
        ModelOf<A>: IntoActiveModel<A>,
    {
        self.writing::<A::Entity>().await?;
        model.set(<A::Entity as TenantOwned>::tenant_column(), self.actor.tenant_id.into());
        let inserted = <A::Entity as EntityTrait>::insert(model).exec_with_returning(&self.txn).await?;
        self.added_or_removed(1);
        Ok(inserted)
    }

    /// Inserts rows of the actor's tenant with multi-row INSERTs (see
    /// `bulk`); every row sets the same columns. A row whose key is taken is
    /// skipped, not an error (which on PostgreSQL would abort the
    /// transaction): the count of rows inserted tells.
    pub async fn insert_new<A>(&self, models: Vec<A>) -> Result<u64, DbErr>
    where
        A: ActiveModelTrait + Send,
        A::Entity: TenantOwned,
        ModelOf<A>: IntoActiveModel<A>,
    {
        self.writing::<A::Entity>().await?;
        let column = <A::Entity as TenantOwned>::tenant_column();
        let models = models
            .into_iter()
            .map(|mut model| {
                model.set(column, self.actor.tenant_id.into());
                model
            })
            .collect();
        let inserted = super::bulk::insert(&self.txn, models, super::bulk::Taken::Skip).await?;
        Ok(self.added_or_removed(inserted))
    }

    /// Inserts a row of the actor's tenant unless one with the same key exists
    /// (ON CONFLICT DO NOTHING: no error, so a PostgreSQL transaction stays
    /// usable); whether it was inserted.
    pub async fn insert_if_absent<A>(&self, mut model: A) -> Result<bool, DbErr>
    where
        A: ActiveModelTrait + Send,
        A::Entity: TenantOwned,
        ModelOf<A>: IntoActiveModel<A>,
    {
        self.writing::<A::Entity>().await?;
        model.set(<A::Entity as TenantOwned>::tenant_column(), self.actor.tenant_id.into());
        let inserted = <A::Entity as EntityTrait>::insert(model)
            .on_conflict(sea_orm::sea_query::OnConflict::new().do_nothing().to_owned())
            .exec_without_returning(&self.txn)
            .await?;
        Ok(self.added_or_removed(inserted) > 0)
    }

    /// Updates one row by primary key within the tenant; a row of another tenant is not found.
    pub async fn update<A>(&self, model: A) -> Result<ModelOf<A>, DbErr>
    where
        A: ActiveModelTrait + Send,
        A::Entity: TenantOwned,
        ModelOf<A>: IntoActiveModel<A>,
    {
        self.update_where(model, sea_orm::Condition::all()).await
    }

    /// Like [`update`](Self::update), with an extra condition (an expected version);
    /// when it does not hold, nothing is written and the row counts as not found.
    pub async fn update_where<A>(
        &self,
        model: A,
        condition: impl sea_orm::sea_query::IntoCondition,
    ) -> Result<ModelOf<A>, DbErr>
    where
        A: ActiveModelTrait + Send,
        A::Entity: TenantOwned,
        ModelOf<A>: IntoActiveModel<A>,
    {
        self.writing::<A::Entity>().await?;
        let column = <A::Entity as TenantOwned>::tenant_column();
        <A::Entity as EntityTrait>::update(model)
            .validate()?
            .filter(column.eq(self.actor.tenant_id))
            .filter(condition)
            .exec(&self.txn)
            .await
    }

    /// Appends the trace of a change, in this transaction, as this actor. It
    /// is numbered and linked now and stored when the transaction commits.
    pub async fn trace(&self, change: Change) -> Result<entity::trace::Model, DbErr> {
        let head = self.head().await?;
        let row = trace::next(&head, &self.actor, self.request_id.as_deref(), self.now, change);
        lock(&self.appended).traces.push(row.clone());
        Ok(row)
    }

    /// Notes an activity's overdue span before and after a write, for the
    /// adoption rollup's steps (counted at commit, with the traces).
    pub fn overdue_moved(&self, before: Option<OverdueSpan>, after: Option<OverdueSpan>) {
        if before != after {
            lock(&self.appended).overdue.push((before, after));
        }
    }

    /// Where the chain stands for this transaction: after its own last trace,
    /// else where it started.
    async fn head(&self) -> Result<trace::Head, DbErr> {
        if let Some(last) = lock(&self.appended).traces.last() {
            return Ok(trace::Head::of(last));
        }
        if let Some(base) = lock(&self.base).clone() {
            return Ok(base);
        }
        // Only the outermost transaction gets here: a savepoint's base is set
        // when it is made, so the head's lock is never taken inside a
        // savepoint (rolling one back would release it on PostgreSQL).
        // The tenant's row is always taken before the head: admins changing
        // configuration take them in the same order, so neither waits on the
        // other holding what it needs (and the commit counts in the zone read).
        self.read_config().await?;
        // On SQLite the configuration's read took the head too.
        if let Some(base) = lock(&self.base).clone() {
            return Ok(base);
        }
        let head = trace::take_head(&self.txn, self.actor.tenant_id).await?;
        *lock(&self.base) = Some(head.clone());
        Ok(head)
    }

    /// Stores the traces appended so far (the outermost transaction only).
    async fn store_traces(&self) -> Result<(), DbErr> {
        use std::sync::atomic::Ordering;
        let pending: Vec<entity::trace::Model> =
            lock(&self.appended).traces.get(self.stored.load(Ordering::SeqCst)..).unwrap_or_default().to_vec();
        trace::store(&self.txn, &pending).await?;
        self.stored.fetch_add(pending.len(), Ordering::SeqCst);
        Ok(())
    }

    /// Runs `write` in a [savepoint](Self::savepoint): kept when it succeeds,
    /// rolled back alone when it fails. The write's own result comes back
    /// inside; the outer error is the savepoint's.
    pub async fn in_savepoint<T, E>(
        &self,
        write: impl for<'p> FnOnce(&'p TenantTx) -> futures_util::future::BoxFuture<'p, Result<T, E>>,
    ) -> Result<Result<T, E>, DbErr> {
        let point = self.savepoint().await?;
        let written = write(&point).await;
        if written.is_ok() {
            point.commit().await?;
        }
        Ok(written)
    }

    /// A savepoint: its writes (and traces) join this transaction when it commits,
    /// and vanish alone when it is dropped, leaving the rest of the transaction intact.
    /// Making one reads the tenant's row and takes its trace head (see
    /// [`head`](Self::head)) if this transaction does not hold them yet: locks
    /// taken inside a savepoint end if it is rolled back.
    pub async fn savepoint(&self) -> Result<TenantTx, DbErr> {
        let base = self.head().await?;
        let txn = self.txn.begin().await?;
        Ok(TenantTx {
            txn,
            actor: self.actor.clone(),
            request_id: self.request_id.clone(),
            now: self.now,
            memo: self.memo.clone(),
            appended: Arc::default(),
            parent: Some(self.appended.clone()),
            base: Mutex::new(Some(base)),
            zone: Mutex::new(None),
            config: self.config.clone(),
            configs: self.configs.clone(),
            stored: Default::default(),
            counted: Default::default(),
            events: self.events.clone(),
            _writer: None,
        })
    }

    /// Deletes the tenant's rows of `E` matching `condition`; returns how many.
    /// Only for rows that are configuration, never records (those are soft-deleted).
    pub async fn delete_where<E: TenantOwned>(
        &self,
        condition: impl sea_orm::sea_query::IntoCondition,
    ) -> Result<u64, DbErr> {
        self.writing::<E>().await?;
        let result = E::delete_many()
            .filter(E::tenant_column().eq(self.actor.tenant_id))
            .filter(condition)
            .exec(&self.txn)
            .await?;
        Ok(self.added_or_removed(result.rows_affected))
    }

    /// Updates the actor's own tenant row (its settings), whatever id the model held.
    pub async fn update_own_tenant(
        &self,
        mut model: entity::tenant::ActiveModel,
    ) -> Result<entity::tenant::Model, DbErr> {
        model.id = sea_orm::Set(self.actor.tenant_id);
        let tenant = <entity::tenant::Entity as EntityTrait>::update(model).exec(&self.txn).await?;
        // The rollup counts this transaction's traces in the zone it leaves.
        lock(&self.zone).take();
        Ok(tenant)
    }

    /// Recomputes the tenant's adoption rollup from its traces, in this
    /// transaction (its own traces so far included, so the commit does not
    /// count them again); returns how many traces were counted.
    pub async fn rebuild_adoption(&self) -> Result<u64, DbErr> {
        if self.parent.is_some() {
            return Err(DbErr::Custom("the adoption rollup is rebuilt in an outermost transaction".into()));
        }
        // The rebuild reads the traces table: this transaction's traces go in first.
        self.store_traces().await?;
        let seen = rollup::rebuild(&self.txn, self.actor.tenant_id).await?;
        let mut appended = lock(&self.appended);
        self.counted.store(appended.traces.len(), std::sync::atomic::Ordering::SeqCst);
        // The rebuild read the activities as this transaction left them.
        appended.overdue.clear();
        Ok(seen)
    }

    /// Sets `column` to `value` on the tenant's rows of `E` matching `condition`;
    /// returns how many. Only for derived data (a record's completeness), which
    /// is no change of the record: no version, no trace.
    pub async fn set_column_where<E: TenantOwned>(
        &self,
        column: E::Column,
        value: impl Into<sea_orm::Value>,
        condition: impl sea_orm::sea_query::IntoCondition,
    ) -> Result<u64, DbErr> {
        use sea_orm::sea_query::Expr;
        self.writing::<E>().await?;
        let result = E::update_many()
            .col_expr(column, Expr::value(value.into()))
            .filter(E::tenant_column().eq(self.actor.tenant_id))
            .filter(condition)
            .exec(&self.txn)
            .await?;
        Ok(result.rows_affected)
    }

    /// Reads the tenant's row, once per transaction, before it reads any
    /// configuration (custom fields, rules, key fields, picklists). On
    /// PostgreSQL the row is held shared until the commit; a change of the
    /// configuration bumps the row's `config_version` (see
    /// [`changing_config`](Self::changing_config)), so it either commits first
    /// and is read here, or waits for this transaction: no write commits a
    /// value checked, or a completeness computed, against configuration a
    /// concurrent change replaced. SQLite's writers already run one at a time.
    ///
    /// The version read picks the tenant's configuration as every
    /// transaction at that version reads it, kept across transactions and
    /// filled by the first to read each part; the zone read is what the
    /// commit counts the rollup in.
    pub async fn read_config(&self) -> Result<(), DbErr> {
        use sea_orm::{ConnectionTrait, QuerySelect};
        if *lock(&self.config) != ConfigUse::Unread {
            return Ok(());
        }
        if self.parent.is_some() {
            // `savepoint` reads it in the outer transaction first.
            return Err(DbErr::Custom("the tenant's configuration is first read in a savepoint".into()));
        }
        let tenant_id = self.actor.tenant_id;
        let query = entity::tenant::Entity::find_by_id(tenant_id);
        let tenant = match self.txn.get_database_backend() {
            sea_orm::DbBackend::Postgres => query.lock_shared().one(&self.txn).await?,
            // The transaction holds SQLite's write lock from its BEGIN
            // (IMMEDIATE): the trace head read now stays the head until the
            // commit, so it comes with the tenant's row instead of in a
            // statement of its own at the first trace.
            _ => trace::with_head(query, &self.txn, tenant_id).await?.map(|(tenant, head)| {
                *lock(&self.base) = Some(head);
                tenant
            }),
        };
        let tenant = tenant.ok_or_else(|| DbErr::RecordNotFound("tenant".into()))?;
        *lock(&self.zone) = Some(tenant.time_zone);
        // Set once, before any configuration is read into this memo.
        let _ = self.memo.shared.set(self.shared_config(tenant.config_version));
        *lock(&self.config) = ConfigUse::Read;
        Ok(())
    }

    /// The tenant's configuration kept for `version`: the one kept when it is
    /// that version, else a new empty one, kept unless a newer version is.
    fn shared_config(&self, version: i64) -> Arc<TenantConfig> {
        let tenant = self.actor.tenant_id;
        let kept = self.configs.read().ok().and_then(|configs| configs.get(&tenant).cloned());
        if let Some((at, memo)) = kept
            && at == version
        {
            return memo;
        }
        let fresh = Arc::new(TenantConfig::default());
        let mut configs = self.configs.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match configs.get(&tenant) {
            Some((at, memo)) if *at == version => memo.clone(),
            // A transaction that read an older version, still running: the newer stays.
            Some((at, _)) if *at > version => fresh,
            _ => {
                configs.insert(tenant, (version, fresh.clone()));
                fresh
            }
        }
    }

    /// Bumps the tenant's `config_version`, once, before this transaction
    /// changes its configuration: every write to a configuration table goes
    /// through here (see `TenantOwned::CONFIG`), and services that change
    /// configuration call it first. First, because the update waits for the
    /// writes holding the tenant's row; after reading the row shared (which
    /// every transaction does before its first trace, see [`head`](Self::head))
    /// two admins could both wait to upgrade their lock. That order is refused
    /// here rather than left to chance.
    pub async fn changing_config(&self) -> Result<(), DbErr> {
        use entity::tenant::{Column, Entity};
        use sea_orm::sea_query::{Expr, ExprTrait};
        let state = *lock(&self.config);
        match state {
            ConfigUse::Changing => return Ok(()),
            ConfigUse::Read => {
                return Err(DbErr::Custom(
                    "configuration changed after the transaction read it: change it before reading".into(),
                ));
            }
            ConfigUse::Unread => {}
        }
        Entity::update_many()
            .col_expr(Column::ConfigVersion, Expr::col(Column::ConfigVersion).add(1))
            .filter(Column::Id.eq(self.actor.tenant_id))
            .exec(&self.txn)
            .await?;
        *lock(&self.config) = ConfigUse::Changing;
        Ok(())
    }

    /// Marks a profile's access rules as changed, atomically (two admins changing
    /// rules at once still give two distinct versions), so that every process
    /// reloads them; the commit ends the tenant's kept credentials.
    pub async fn bump_access_version(&self, profile_id: Uuid) -> Result<(), DbErr> {
        use entity::profile::{Column, Entity};
        use sea_orm::sea_query::{Expr, ExprTrait};
        Entity::update_many()
            .col_expr(Column::AccessVersion, Expr::col(Column::AccessVersion).add(1))
            .filter(Column::TenantId.eq(self.actor.tenant_id))
            .filter(Column::Id.eq(profile_id))
            .exec(&self.txn)
            .await?;
        lock(&self.appended).rules_changed = true;
        Ok(())
    }

    /// Stores the traces, moves the head, adds the counters and announces the
    /// batch in one call (see `db::combined`): on PostgreSQL as one statement,
    /// on SQLite as one batch of statements (announced in process after the
    /// commit; a bulk commit's statements go one by one). False, with nothing
    /// written, where that does not fit (a bulk commit's many rows on
    /// PostgreSQL).
    async fn finish_combined(
        &self,
        batch: &TraceBatch,
        unstored: &[entity::trace::Model],
        counted: &rollup::Rollup,
        access: bool,
    ) -> Result<bool, DbErr> {
        use sea_orm::{ConnectionTrait, DbBackend};
        let backend = self.txn.get_database_backend();
        if backend == DbBackend::Sqlite {
            let mut statements = trace::store_statements(backend, unstored);
            statements.extend(rollup::write_statements(backend, batch.tenant_id, counted));
            super::combined::run_batched(&self.txn, statements).await?;
            return Ok(true);
        }
        if backend != DbBackend::Postgres {
            return Ok(false);
        }
        let mut combined = super::combined::Combined::default();
        if trace::store_part(&mut combined, unstored).is_none()
            || rollup::write_part(&mut combined, batch.tenant_id, counted).is_none()
        {
            return Ok(false);
        }
        let announce = self.events.announce_select(&mut combined, batch, access);
        combined.run(&self.txn, announce).await?;
        rollup::drop_zero_steps(&self.txn, batch.tenant_id, counted).await?;
        Ok(true)
    }

    /// Commits. The outermost transaction first adds its traces to the
    /// adoption rollup and announces them, both inside the transaction, so a
    /// commit either carries its counters and notification or nothing does.
    /// A transaction that inserted or deleted tenant rows and traced no
    /// change is refused and rolled back.
    pub async fn commit(self) -> Result<(), DbErr> {
        if let Some(parent) = &self.parent {
            let appended = std::mem::take(&mut *lock(&self.appended));
            self.txn.commit().await?;
            let mut parent = lock(parent);
            parent.traces.extend(appended.traces);
            parent.overdue.extend(appended.overdue);
            parent.rows_added_or_removed += appended.rows_added_or_removed;
            parent.rules_changed |= appended.rules_changed;
            return Ok(());
        }
        use std::sync::atomic::Ordering;
        let Appended { traces, overdue, rows_added_or_removed, rules_changed } =
            std::mem::take(&mut *lock(&self.appended));
        // What readers keep (kept adoption answers, change feeds) stands while
        // the trace head does: rows added or removed with no trace would go
        // unseen. Dropping `self.txn` rolls them back.
        if rows_added_or_removed > 0 && traces.is_empty() {
            return Err(DbErr::Custom("a transaction added or removed tenant rows and traced no change".into()));
        }
        let access = rules_changed || traces.iter().any(events::changes_access);
        let batch = TraceBatch::new(self.actor.tenant_id, traces);
        let fresh = batch.traces.get(self.counted.load(Ordering::SeqCst)..).unwrap_or_default();
        let zone = lock(&self.zone).take();
        let counted = rollup::count(&self.txn, batch.tenant_id, zone.as_deref(), fresh, &overdue).await?;
        let unstored = batch.traces.get(self.stored.load(Ordering::SeqCst)..).unwrap_or_default();
        if !self.finish_combined(&batch, unstored, &counted, access).await? {
            trace::store(&self.txn, unstored).await?;
            if !counted.is_empty() {
                rollup::write(&self.txn, batch.tenant_id, &counted).await?;
            }
            self.events.announce(&self.txn, &batch, access).await?;
        }
        // In a task of its own: once COMMIT is sent the database may commit
        // whether or not this request is still awaited (its client gone), and
        // what follows a commit must happen either way.
        let (txn, events, writer) = (self.txn, self.events, self._writer);
        let finish = tokio::spawn(async move {
            let committed = txn.commit().await;
            // Whatever the outcome (a failed commit costs one credential read),
            // and before SQLite's subscribers hear the traces and check their
            // credentials again. Other processes hear the commit's notification.
            if access {
                events.credentials().access_changed(batch.tenant_id);
            }
            if committed.is_ok() {
                events.committed(batch);
            }
            drop(writer);
            committed
        });
        finish.await.map_err(|err| DbErr::Custom(format!("commit task: {err}")))?
    }
}

/// A mutex's contents even if a panicking holder poisoned it: the data here
/// (lists of traces, a head) stays consistent between statements.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Scope for TenantTx {
    type Conn = DatabaseTransaction;

    fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    fn actor(&self) -> &Actor {
        &self.actor
    }

    fn memo(&self) -> Option<&Memo> {
        Some(&self.memo)
    }

    async fn config_ready(&self) -> Result<(), DbErr> {
        self.read_config().await
    }
}
