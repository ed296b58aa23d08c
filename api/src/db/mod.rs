//! The only module that talks to sea-orm's CRUD API directly.
//!
//! Tenant data is reached through [`TenantRead`] and [`TenantTx`], both built
//! from an authenticated [`Actor`]; `clippy.toml` forbids the raw entity
//! methods everywhere else. [`system`] holds the few reads that happen before an
//! actor exists (login, credential lookup) and tenant bootstrap.

#![allow(clippy::disallowed_methods, reason = "db/ is the one place allowed to use raw entity methods")]

mod bulk;
mod combined;
pub mod credentials;
pub mod decode;
pub mod events;
pub mod held;
pub mod rollup;
mod scope;
pub mod system;
pub mod trace;
mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use tokio::sync::Mutex;
use uuid::Uuid;

pub use scope::{Memo, Scope, TenantRead, TenantTx, own_tenant};

use std::sync::{Arc, RwLock};

use entity::profile;

use crate::auth::access::Permissions;
use crate::auth::{Actor, admin_access};

/// How long a PostgreSQL connection may sit idle in the pool before its next
/// checkout pings it. Below typical proxy and firewall idle timeouts; after a
/// database restart, at most one statement per pooled connection meets a dead
/// connection within this window (sqlx then drops that connection).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// Connections in each pool.
const POSTGRES_POOL: u32 = 16;
const SQLITE_POOL: u32 = 8;

/// What the pools did since connecting: what the N+1 tests and the benchmark count.
#[derive(Default)]
pub(crate) struct Counts {
    /// Statements run, reads' and transactions' alike.
    pub statements: AtomicU64,
    /// Connections taken from the pool by reads: one per statement run on
    /// the pool, one per connection held (see [`held`]).
    pub checkouts: AtomicU64,
}

/// Rules by (tenant, profile), with the access version they were read at.
type AccessCache = HashMap<(Uuid, Uuid), (i64, Arc<Permissions>)>;

/// The database pool, plus what it takes to write safely on SQLite.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    /// Where transactions run: `conn` on PostgreSQL; on SQLite a pool of its
    /// own holding one connection (see [`Db::connect`]).
    writes: DatabaseConnection,
    /// SQLite has one writer at a time. Queueing our writers here, instead of in
    /// SQLite's busy handler, keeps them fair and off blocking threads, and
    /// keeps all but the next one out of the writing connection's pool, whose
    /// checkout gives up after the acquire timeout.
    sqlite_writer: Option<Arc<Mutex<()>>>,
    /// On SQLite, the thread transactions run on (see [`writer`]).
    writer: Option<Arc<writer::Writer>>,
    /// Permits for requests to hold a connection for their reads (see [`held`]).
    holds: held::Holds,
    counts: Arc<Counts>,
    /// Each profile's rules with the access version they were read at. A rule
    /// change bumps the version in the database, which the credential check
    /// reads with the profile; a kept credential carries its rules, and ends
    /// with the change's commit (see [`credentials`]).
    access: Arc<RwLock<AccessCache>>,
    /// Each tenant's configuration at the version it was read at (see
    /// `TenantTx::read_config`): a write checks the version with the tenant's
    /// row it reads anyway, instead of reading the configuration again.
    configs: scope::ConfigCache,
    /// Committed traces for live subscribers.
    events: events::Events,
}

impl Db {
    /// Opens the pools. SQLite files are created when missing, in WAL mode, with foreign keys on.
    pub async fn connect(url: &str) -> Result<Self, DbErr> {
        let mut options = ConnectOptions::new(url);
        options.sqlx_logging(false).acquire_timeout(Duration::from_secs(10));
        let sqlite = url.starts_with("sqlite:");
        let pool_size = if sqlite { SQLITE_POOL } else { POSTGRES_POOL };
        if sqlite {
            // A file has no far end to lose; the default ping on every
            // checkout was a round trip to sqlx's SQLite thread per statement.
            options.test_before_acquire(false);
            options.max_connections(pool_size).min_connections(1).map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
                    // sqlx hands each row from its SQLite thread over a channel
                    // of this size; at the default 50, reading a report's
                    // thousands of rollup rows stalled the thread at every 50th
                    // row (a fifth of the adoption report's CPU).
                    .row_buffer_size(1024)
            });
        } else {
            // sqlx pings a connection on every checkout by default: one more
            // round trip for each statement run outside a transaction (a list
            // read of four statements paid eight). A connection in steady use is
            // known to be alive; only one left idle long enough for the server,
            // a proxy or a firewall to have dropped it is checked first.
            options.max_connections(pool_size).min_connections(1).test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
        }
        let mut conn = Database::connect(options.clone()).await?;
        // SQLite's writers take turns, and a connection whose file another
        // connection wrote since its last statement drops its page cache and
        // reads its pages again: writes that went round the pool's connections
        // each paid that (about a tenth of a write's CPU in the benchmark).
        // Their own connection keeps its cache. An in-memory database is one
        // per pool, so there the pool writes too.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut writes = if sqlite && !in_memory {
            options.max_connections(1).min_connections(1);
            Database::connect(options).await?
        } else {
            conn.clone()
        };
        let counts = Arc::new(Counts::default());
        for pool in [&mut conn, &mut writes] {
            let counter = counts.clone();
            pool.set_metric_callback(move |_| {
                counter.statements.fetch_add(1, Ordering::Relaxed);
            });
        }
        // SQLite has one server process, which hears its own commits; a
        // PostgreSQL process hears others' once its listener is connected.
        let events = events::Events::new(conn.clone(), url, credentials::Credentials::new(sqlite));
        Ok(Self {
            conn,
            writes,
            sqlite_writer: sqlite.then(|| Arc::new(Mutex::new(()))),
            writer: if sqlite { Some(Arc::new(writer::Writer::start()?)) } else { None },
            holds: held::Holds::new(pool_size, if sqlite { Duration::MAX } else { PING_IF_IDLE_FOR }),
            counts,
            access: Arc::default(),
            configs: Arc::default(),
            events,
        })
    }

    /// Applies pending migrations, then the rollup rebuilds they queued.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.conn, None).await?;
        self.rebuild_queued_rollups().await
    }

    /// Rebuilds the adoption rollup of each tenant a migration queued for it,
    /// each in its own transaction, which also takes the tenant off the queue.
    async fn rebuild_queued_rollups(&self) -> Result<(), DbErr> {
        use sea_orm::ConnectionTrait;
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
        let (queue, column) = (Alias::new("rollup_rebuild"), Alias::new("tenant_id"));
        let backend = self.backend();
        let queued = Query::select().column(column.clone()).from(queue.clone()).to_owned();
        for row in self.conn.query_all_raw(backend.build(&queued)).await? {
            let tenant: Uuid = row.try_get("", "tenant_id")?;
            let tx = self.begin(Arc::new(Actor::system(tenant, Uuid::nil())), None).await?;
            let counted = tx.rebuild_adoption().await?;
            let done =
                Query::delete().from_table(queue.clone()).and_where(Expr::col(column.clone()).eq(tenant)).to_owned();
            tx.raw().execute_raw(backend.build(&done)).await?;
            tx.commit().await?;
            tracing::info!(%tenant, counted, "adoption rollup rebuilt after a migration");
        }
        Ok(())
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.conn.ping().await
    }

    /// The raw pool, for [`system`] lookups and for tests that go behind the API's back.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Where transactions run: the pool on PostgreSQL; on SQLite, the one
    /// connection kept for writes (the benchmark's floor writes there, as
    /// the server does).
    pub fn write_connection(&self) -> &DatabaseConnection {
        &self.writes
    }

    /// Credentials found valid (see [`credentials`]), which the events end.
    pub fn credentials(&self) -> &credentials::Credentials {
        self.events.credentials()
    }

    /// Committed traces, for subscriptions.
    pub fn events(&self) -> &events::Events {
        &self.events
    }

    /// How many statements the pools have run, reads' and transactions'.
    pub fn statements(&self) -> u64 {
        self.counts.statements.load(Ordering::Relaxed)
    }

    /// How many connections reads have taken from the pool (see [`held`]).
    pub fn read_checkouts(&self) -> u64 {
        self.counts.checkouts.load(Ordering::Relaxed)
    }

    /// The rules of a profile as just read with a credential: from the cache
    /// when its access version is current, else from the database.
    pub async fn permissions(&self, profile: &profile::Model) -> Result<Arc<Permissions>, DbErr> {
        if profile.is_admin {
            return Ok(admin_access());
        }
        let key = (profile.tenant_id, profile.id);
        let cached = self.access.read().ok().and_then(|cache| cache.get(&key).cloned());
        if let Some((version, rules)) = cached
            && version == profile.access_version
        {
            return Ok(rules);
        }
        let rules = Arc::new(
            system::access_rules(&self.conn, profile.tenant_id, profile.id)
                .await?
                .with_view_all_metrics(profile.view_all_metrics),
        );
        if let Ok(mut cache) = self.access.write() {
            cache.insert(key, (profile.access_version, rules.clone()));
        }
        Ok(rules)
    }

    /// Reads scoped to the actor's tenant, outside any transaction, each
    /// statement on a connection of the pool's.
    pub fn read(&self, actor: Arc<Actor>) -> TenantRead {
        self.read_holding(actor, None)
    }

    /// Reads scoped to the actor's tenant, outside any transaction, on the
    /// connection `hold` keeps for one request when it has one (see [`held`]).
    pub fn read_holding(&self, actor: Arc<Actor>, hold: Option<&Arc<held::Hold>>) -> TenantRead {
        let conn = held::ReadConn::new(self.conn.clone(), hold.cloned(), self.counts.clone());
        TenantRead::new(conn, actor, self.credentials().clone())
    }

    /// A hold for one request's reads (see [`held`]).
    pub fn hold(&self) -> Arc<held::Hold> {
        held::Hold::new(&self.holds)
    }

    /// How many more requests may start holding a connection now.
    pub fn holds_available(&self) -> usize {
        self.holds.available()
    }

    /// How many requests took the connection an earlier one held (see [`held`]).
    pub fn holds_reused(&self) -> u64 {
        self.holds.reused()
    }

    /// Runs `work` in a write transaction scoped to the actor's tenant, where
    /// transactions run: on SQLite, the writing thread (see [`writer`]),
    /// elsewhere a task of its own. Either way the work runs to its end when
    /// its caller stops waiting (a client that hung up): a write is done or
    /// not, whoever hears of it. `work` commits what it keeps; a panic in it is
    /// an error for the caller.
    pub async fn write<T, E, F, Fut>(&self, actor: Arc<Actor>, request_id: Option<Arc<str>>, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbErr> + Send + 'static,
        F: FnOnce(TenantTx) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
    {
        let db = self.clone();
        // Boxed: a service's future is large, and every layer of a debug build
        // would otherwise keep a copy of it on the worker's stack.
        let job = Box::pin(async move { work(db.begin(actor, request_id).await?).await });
        self.on_writer(job).await?
    }

    async fn on_writer<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, DbErr> {
        match &self.writer {
            Some(writer) => {
                let (writer, events) = (writer.clone(), self.events.clone());
                // Back on the server's runtime, the commit's subscribers are
                // woken from the task that then wakes the caller, which runs
                // next on that worker: the write's answer goes out before the
                // deliveries, as it does where the commit ran on the runtime.
                let published = async move {
                    let done = writer.run(work).await;
                    events.publish();
                    done
                };
                tokio::spawn(published).await.map_err(writer::unfinished)?
            }
            None => tokio::spawn(work).await.map_err(writer::unfinished),
        }
    }

    /// A write transaction scoped to the actor's tenant.
    pub async fn begin(&self, actor: Arc<Actor>, request_id: Option<Arc<str>>) -> Result<TenantTx, DbErr> {
        self.begin_at(actor, request_id, Utc::now()).await
    }

    /// A write transaction whose clock reads `now`: for loading history (the demo's
    /// past weeks), never for requests, whose changes happen when they happen.
    pub async fn begin_at(
        &self,
        actor: Arc<Actor>,
        request_id: Option<Arc<str>>,
        now: DateTime<Utc>,
    ) -> Result<TenantTx, DbErr> {
        let guard = match &self.sqlite_writer {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        // IMMEDIATE takes SQLite's write lock at BEGIN: a deferred transaction
        // that reads then writes can fail with SQLITE_BUSY when another process wrote.
        let txn = self
            .writes
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        Ok(TenantTx::new(txn, actor, request_id, guard, now, self.events.clone(), self.configs.clone()))
    }
}
