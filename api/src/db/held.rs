//! A request's reads on one pooled connection.
//!
//! sqlx pings every connection it takes back into its pool, a round trip to
//! the database (to PostgreSQL over the network, to SQLite's thread) that
//! holds the connection until the answer comes. Run one statement at a time
//! through the pool, a page of contacts with its accounts' names paid a ping
//! per statement; the first statement of an HTTP request's reads now takes a
//! connection and the request keeps it for its other reads, then leaves it
//! to the next request (see the shelf below).
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
//! - a request gives its connection up before it begins a transaction or
//!   signs in ([`Hold::release`]; to the shelf below), so that it holds
//!   none while it waits for another; a statement that failed or was
//!   dropped half-way gives its connection back to the pool, whose ping
//!   then checks it;
//! - WebSocket operations hold nothing: a subscription lives for hours.
//!
//! sqlx's ping as a connection goes back to its pool was still a round trip
//! per request (3% of a list read's perf samples on PostgreSQL), so a request
//! whose reads all ended cleanly leaves its connection, with its permit, on a
//! [`Shelf`] for the next request to take instead of the pool. A connection
//! left there longer than the pool lets one sit idle unchecked goes back to
//! the pool, whose checkout then checks it; one whose statement failed or was
//! dropped half-way goes back to the pool as before.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, Postgres, Sqlite};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Mutex, MutexGuard, OwnedSemaphorePermit, Semaphore};

use super::Counts;

/// The permits to hold a connection (half the pool's connections), and the
/// held connections that wait for their next request.
#[derive(Clone)]
pub struct Holds {
    permits: Arc<Semaphore>,
    shelf: Arc<Shelf>,
}

impl Holds {
    /// `fresh_for`: how long a connection may wait on the shelf, at most as
    /// long as the pool lets one sit idle without checking it.
    pub fn new(pool_size: u32, fresh_for: Duration) -> Self {
        let shelf = Shelf {
            kept: std::sync::Mutex::default(),
            fresh_for,
            reused: AtomicU64::new(0),
            returned: AtomicU64::new(0),
        };
        Self { permits: Arc::new(Semaphore::new((pool_size / 2).max(1) as usize)), shelf: Arc::new(shelf) }
    }

    /// How many requests may still start holding a connection (for tests):
    /// a free permit, or a connection on the shelf with its permit.
    pub fn available(&self) -> usize {
        self.permits.available_permits() + self.shelf.lock().len()
    }

    /// How many held connections a request took from the shelf (for tests).
    pub fn reused(&self) -> u64 {
        self.shelf.reused.load(Ordering::Relaxed)
    }

    /// How many held connections went back to the pool (for tests).
    pub fn returned(&self) -> u64 {
        self.shelf.returned.load(Ordering::Relaxed)
    }
}

/// Held connections whose requests ended cleanly, newest last.
pub struct Shelf {
    kept: std::sync::Mutex<VecDeque<Shelved>>,
    fresh_for: Duration,
    /// Connections taken from the shelf.
    reused: AtomicU64,
    /// Connections that left a hold for the pool (each pinged there).
    returned: AtomicU64,
}

struct Shelved {
    conn: Pooled,
    permit: OwnedSemaphorePermit,
    since: Instant,
}

impl Shelf {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Shelved>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put(&self, conn: Pooled, permit: OwnedSemaphorePermit) {
        self.lock().push_back(Shelved { conn, permit, since: Instant::now() });
    }

    /// The newest connection still fresh; older ones go back to the pool.
    fn take(&self) -> Option<(Pooled, OwnedSemaphorePermit)> {
        let now = Instant::now();
        let (fresh, stale) = {
            let mut kept = self.lock();
            let stale_up_to =
                kept.iter().position(|s| now.duration_since(s.since) < self.fresh_for).unwrap_or(kept.len());
            let stale: Vec<Shelved> = kept.drain(..stale_up_to).collect();
            (kept.pop_back(), stale)
        };
        // Dropped outside the lock: each goes back to the pool through a task.
        self.returned.fetch_add(stale.len() as u64, Ordering::Relaxed);
        drop(stale);
        let (conn, permit) = fresh.map(|s| (s.conn, s.permit))?;
        self.reused.fetch_add(1, Ordering::Relaxed);
        Some((conn, permit))
    }
}

impl Drop for Shelf {
    fn drop(&mut self) {
        // A pooled connection goes back through a task, which needs a
        // runtime; without one (the process is ending) it is closed with the
        // process instead of panicking in sqlx.
        if tokio::runtime::Handle::try_current().is_err() {
            for shelved in self.lock().drain(..) {
                std::mem::forget(shelved.conn);
            }
        }
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
    /// The permit goes with the connection, to the shelf or the pool.
    Held { conn: Pooled, permit: OwnedSemaphorePermit },
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

    /// Gives the connection up (before a transaction takes one), waiting for
    /// a statement of the request's that is using it; later reads of the
    /// request run on the pool.
    pub async fn release(&self) {
        let slot = std::mem::replace(&mut *self.slot.lock().await, Slot::Off);
        self.shelve(slot);
    }

    fn shelve(&self, slot: Slot) {
        if let Slot::Held { conn, permit } = slot {
            self.holds.shelf.put(conn, permit);
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        // Only a connection whose statements all succeeded is still held.
        let slot = std::mem::replace(self.slot.get_mut(), Slot::Off);
        self.shelve(slot);
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
    returned: &'a AtomicU64,
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
            self.returned.fetch_add(1, Ordering::Relaxed);
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
            Slot::Unasked if let Some((conn, permit)) = hold.holds.shelf.take() => {
                self.counts.checkouts.fetch_add(1, Ordering::Relaxed);
                *slot = Slot::Held { conn, permit };
            }
            Slot::Unasked => {
                let Ok(permit) = hold.holds.permits.clone().try_acquire_owned() else {
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
                        *slot = Slot::Held { conn, permit };
                    }
                    Err(err) => {
                        *slot = Slot::Off;
                        return Err(acquire_error(err));
                    }
                }
            }
        }
        Ok(Some(Lease { slot, done: false, returned: &hold.holds.shelf.returned }))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each request reads once and ends; the next takes its connection
    /// from the shelf while it is fresh, else from the pool.
    #[tokio::test]
    async fn a_connection_waits_on_the_shelf_while_it_is_fresh() {
        let pool = sea_orm::Database::connect("sqlite::memory:").await.expect("an in-memory database");
        for (fresh_for, reused, returned) in [(Duration::MAX, 2, 0), (Duration::ZERO, 0, 2)] {
            let holds = Holds::new(8, fresh_for);
            for _ in 0..3 {
                let conn = ReadConn::new(pool.clone(), Some(Hold::new(&holds)), Arc::default());
                conn.query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT 1")).await.expect("a read");
            }
            assert_eq!((holds.reused(), holds.returned()), (reused, returned), "fresh for {fresh_for:?}");
            assert_eq!(holds.available(), 4, "one connection on the shelf, with its permit");
        }
    }

    #[tokio::test]
    async fn a_failed_statement_gives_its_connection_to_the_pool() {
        let pool = sea_orm::Database::connect("sqlite::memory:").await.expect("an in-memory database");
        let holds = Holds::new(8, Duration::MAX);
        let conn = ReadConn::new(pool.clone(), Some(Hold::new(&holds)), Arc::default());
        let wrong = conn.query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT * FROM nowhere")).await;
        assert!(wrong.is_err());
        drop(conn);
        assert_eq!((holds.reused(), holds.returned(), holds.available()), (0, 1, 4), "not shelved");
    }
}
