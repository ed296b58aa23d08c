//! A request's reads on one pooled connection.
//!
//! sqlx pings every connection it takes back into its pool, a round trip to
//! the database (to PostgreSQL over the network, to SQLite's thread) that
//! holds the connection until the answer comes. Run one statement at a time
//! through the pool, a page of contacts with its accounts' names paid a ping
//! per statement; the first statement of an HTTP request's reads now takes a
//! connection and the request keeps it for its other reads, so the request
//! pays one ping, when it ends.
//!
//! Keeping idle connections must not starve anyone of one, so:
//! - at most half the pool is held at once (a [`Holds`] permit each); a
//!   request that finds none runs each statement on the pool, as before. The
//!   other half serves transactions (on PostgreSQL; SQLite's have a
//!   connection of their own) and statements run on the pool, none of which
//!   waits for a second connection while it has one, so they keep coming
//!   back;
//! - a statement that finds its request's connection busy (loaders and root
//!   fields run concurrently) runs on the pool when a connection is idle
//!   there (checked for a dead peer as any checkout is), else waits for its
//!   request's own;
//! - a request gives its connection back before it begins a transaction or
//!   signs in ([`Hold::release`]), and so does a statement that failed or
//!   was dropped half-way, whose connection the pool's ping then checks;
//! - WebSocket operations hold nothing: a subscription lives for hours.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, Postgres, Sqlite};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Mutex, MutexGuard, OwnedSemaphorePermit, Semaphore};

use super::Counts;

/// The permits to hold a connection: half the pool's connections.
#[derive(Clone)]
pub struct Holds(Arc<Semaphore>);

impl Holds {
    pub fn new(pool_size: u32) -> Self {
        Self(Arc::new(Semaphore::new((pool_size / 2).max(1) as usize)))
    }

    /// How many requests may still start holding a connection (for tests).
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }
}

/// One request's held connection, shared by all its reads.
pub struct Hold {
    slot: Mutex<Slot>,
    holds: Holds,
}

enum Slot {
    /// No statement has run yet.
    Unasked,
    /// The permit goes back with the connection.
    Held { conn: Pooled, _permit: OwnedSemaphorePermit },
    /// Not holding: no permit was free, or the connection was given back.
    Off,
}

enum Pooled {
    Postgres(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

impl Hold {
    pub fn new(holds: &Holds) -> Arc<Self> {
        Arc::new(Self { slot: Mutex::new(Slot::Unasked), holds: holds.clone() })
    }

    /// Gives the connection back to the pool (before a transaction takes
    /// one), waiting for a statement of the request's that is using it;
    /// later reads of the request run on the pool.
    pub async fn release(&self) {
        *self.slot.lock().await = Slot::Off;
    }
}

/// Reads on the pool, through the request's held connection when it has one.
#[derive(Clone)]
pub struct ReadConn {
    pool: DatabaseConnection,
    hold: Option<Arc<Hold>>,
    counts: Arc<Counts>,
}

/// The request's held connection, lent to one statement: back into its
/// slot when the statement succeeds.
struct Lease<'a> {
    slot: MutexGuard<'a, Slot>,
    done: bool,
}

impl Lease<'_> {
    fn conn(&mut self) -> &mut Pooled {
        match &mut *self.slot {
            Slot::Held { conn, .. } => conn,
            // A lease is only made over a held slot.
            Slot::Unasked | Slot::Off => unreachable!("a lease over an empty slot"),
        }
    }

    fn succeeded(&mut self) {
        self.done = true;
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // A statement that failed or was dropped half-way may have left the
        // connection mid-protocol: the pool's ping on return checks it.
        if !self.done {
            *self.slot = Slot::Off;
        }
    }
}

impl ReadConn {
    pub(super) fn new(pool: DatabaseConnection, hold: Option<Arc<Hold>>, counts: Arc<Counts>) -> Self {
        Self { pool, hold, counts }
    }

    /// A connection for one statement, or `None` to run it on the pool.
    async fn lease(&self) -> Result<Option<Lease<'_>>, DbErr> {
        let lease = self.lease_or_pool().await;
        if matches!(lease, Ok(None)) {
            self.counts.checkouts.fetch_add(1, Ordering::Relaxed);
        }
        lease
    }

    async fn lease_or_pool(&self) -> Result<Option<Lease<'_>>, DbErr> {
        let Some(hold) = &self.hold else { return Ok(None) };
        let mut slot = match hold.slot.try_lock() {
            Ok(slot) => slot,
            // Busy with another statement of the request's: the pool serves
            // this one if it has a connection idle (checked as any checkout
            // is), else it waits for the request's own.
            Err(_) if self.idle() => return Ok(None),
            Err(_) => hold.slot.lock().await,
        };
        match &*slot {
            Slot::Held { .. } => {}
            Slot::Off => return Ok(None),
            Slot::Unasked => {
                let Ok(permit) = hold.holds.0.clone().try_acquire_owned() else {
                    *slot = Slot::Off;
                    return Ok(None);
                };
                let conn = match self.pool.get_database_backend() {
                    DbBackend::Postgres => {
                        self.pool.get_postgres_connection_pool().acquire().await.map(Pooled::Postgres)
                    }
                    _ => self.pool.get_sqlite_connection_pool().acquire().await.map(Pooled::Sqlite),
                };
                match conn {
                    Ok(conn) => {
                        self.counts.checkouts.fetch_add(1, Ordering::Relaxed);
                        *slot = Slot::Held { conn, _permit: permit };
                    }
                    Err(err) => {
                        *slot = Slot::Off;
                        return Err(acquire_error(err));
                    }
                }
            }
        }
        Ok(Some(Lease { slot, done: false }))
    }

    /// Whether the pool has a connection idle now.
    fn idle(&self) -> bool {
        match self.pool.get_database_backend() {
            DbBackend::Postgres => self.pool.get_postgres_connection_pool().num_idle() > 0,
            _ => self.pool.get_sqlite_connection_pool().num_idle() > 0,
        }
    }

    /// A statement on a leased connection (the pool's own count theirs).
    fn counted(&self) {
        self.counts.statements.fetch_add(1, Ordering::Relaxed);
    }
}

/// As sea-orm reports the pool's errors.
fn acquire_error(err: sqlx::Error) -> DbErr {
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(other))),
    }
}

fn query_error(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
}

fn exec_error(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err)))
}

/// Runs `$run` (a method of sqlx's `Query`) on the lease's connection,
/// whichever the database.
macro_rules! on_lease {
    ($lease:expr, $stmt:expr, |$result:ident| $run:ident => $map:expr) => {{
        let Statement { sql, values, .. } = $stmt;
        let (sql, values) =
            (sqlx::AssertSqlSafe(sql.as_str()), SqlxValues(values.unwrap_or_else(|| sea_orm::Values(Vec::new()))));
        let outcome = match $lease.conn() {
            Pooled::Postgres(conn) => {
                sqlx::query_with::<Postgres, _>(sql, values).$run(&mut **conn).await.map(|$result| $map)
            }
            Pooled::Sqlite(conn) => {
                sqlx::query_with::<Sqlite, _>(sql, values).$run(&mut **conn).await.map(|$result| $map)
            }
        };
        if outcome.is_ok() {
            $lease.succeeded();
        }
        outcome
    }};
}

#[async_trait::async_trait]
impl ConnectionTrait for ReadConn {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let Some(mut lease) = self.lease().await? else { return self.pool.execute_raw(stmt).await };
        self.counted();
        on_lease!(lease, stmt, |done| execute => ExecResult::from(done)).map_err(exec_error)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        // Not a read's: kept off the held connection.
        self.pool.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let Some(mut lease) = self.lease().await? else { return self.pool.query_one_raw(stmt).await };
        self.counted();
        on_lease!(lease, stmt, |row| fetch_optional => row.map(QueryResult::from)).map_err(query_error)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let Some(mut lease) = self.lease().await? else { return self.pool.query_all_raw(stmt).await };
        self.counted();
        on_lease!(lease, stmt, |rows| fetch_all => rows.into_iter().map(QueryResult::from).collect())
            .map_err(query_error)
    }

    fn support_returning(&self) -> bool {
        self.pool.support_returning()
    }
}
