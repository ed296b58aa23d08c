//! The floor: the same rows read or written straight through the database
//! driver, in this process, with prepared statements. What the server is
//! compared with.

use std::sync::{Mutex, PoisonError};

use chrono::Utc;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, Postgres, Sqlite};
use sea_orm::{DatabaseConnection, DbBackend};
use uuid::Uuid;

use crate::Error;

type ContactRow = (Uuid, Option<Uuid>, Uuid, Option<String>, String, Option<String>);

const CONTACTS: &str = "SELECT id, account_id, owner_id, first_name, last_name, email FROM contact WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY last_name, id LIMIT 51";

/// `$first, …` placeholders: only counts go into the SQL text, never values.
fn in_list(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Connections the floor's reads keep from one request to the next, as the
/// server's do (`db::held`): sqlx pings each connection it takes back into
/// its pool. A request whose statements failed drops its connection (back to
/// the pool, pinged), as the server's does.
#[derive(Default)]
pub struct Shelf {
    postgres: Mutex<Vec<PoolConnection<Postgres>>>,
    sqlite: Mutex<Vec<PoolConnection<Sqlite>>>,
}

/// Takes a kept connection, else one from the pool.
macro_rules! take {
    ($kept:expr, $pool:expr) => {{
        let kept = $kept.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match kept {
            Some(conn) => conn,
            None => $pool.acquire().await?,
        }
    }};
}

fn keep<T>(kept: &Mutex<Vec<T>>, conn: T) {
    kept.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
}

/// "50 contacts with their account and owner": three statements on one
/// connection (see [`Shelf`]), as the server's reads of one request share one.
pub async fn read(conn: &DatabaseConnection, shelf: &Shelf, tenant: Uuid) -> Result<usize, Error> {
    match conn.get_database_backend() {
        DbBackend::Postgres => {
            let mut held = take!(shelf.postgres, conn.get_postgres_connection_pool());
            let rows: Vec<ContactRow> =
                sqlx::query_as::<Postgres, _>(CONTACTS).bind(tenant).fetch_all(&mut *held).await?;
            let accounts: Vec<Uuid> = rows.iter().filter_map(|r| r.1).collect();
            let owners: Vec<Uuid> = rows.iter().map(|r| r.2).collect();
            let a: Vec<(Uuid, String)> =
                sqlx::query_as::<Postgres, _>("SELECT id, name FROM account WHERE tenant_id = $1 AND id = ANY($2)")
                    .bind(tenant)
                    .bind(&accounts)
                    .fetch_all(&mut *held)
                    .await?;
            let u: Vec<(Uuid, String)> =
                sqlx::query_as::<Postgres, _>("SELECT id, email FROM app_user WHERE tenant_id = $1 AND id = ANY($2)")
                    .bind(tenant)
                    .bind(&owners)
                    .fetch_all(&mut *held)
                    .await?;
            keep(&shelf.postgres, held);
            Ok(rows.len() + a.len() + u.len())
        }
        _ => {
            let mut held = take!(shelf.sqlite, conn.get_sqlite_connection_pool());
            let rows: Vec<ContactRow> =
                sqlx::query_as::<Sqlite, _>(CONTACTS).bind(tenant).fetch_all(&mut *held).await?;
            let mut accounts: Vec<Uuid> = rows.iter().filter_map(|r| r.1).collect();
            let mut owners: Vec<Uuid> = rows.iter().map(|r| r.2).collect();
            accounts.sort();
            accounts.dedup();
            owners.sort();
            owners.dedup();
            let sql =
                format!("SELECT id, name FROM account WHERE tenant_id = $1 AND id IN ({})", in_list(2, accounts.len()));
            let mut q = sqlx::query_as::<Sqlite, (Uuid, String)>(sqlx::AssertSqlSafe(sql)).bind(tenant);
            for id in &accounts {
                q = q.bind(*id);
            }
            let a = q.fetch_all(&mut *held).await?;
            let sql =
                format!("SELECT id, email FROM app_user WHERE tenant_id = $1 AND id IN ({})", in_list(2, owners.len()));
            let mut q = sqlx::query_as::<Sqlite, (Uuid, String)>(sqlx::AssertSqlSafe(sql)).bind(tenant);
            for id in &owners {
                q = q.bind(*id);
            }
            let u = q.fetch_all(&mut *held).await?;
            keep(&shelf.sqlite, held);
            Ok(rows.len() + a.len() + u.len())
        }
    }
}

const ACCOUNT: &str = "SELECT id, name FROM account WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL";
const DEALS: &str = "SELECT id, name, amount_e4 FROM opportunity WHERE tenant_id = $1 AND account_id = $2 AND deleted_at IS NULL ORDER BY close_date, id";

/// One account by id with its opportunities: two statements on one
/// connection (see [`Shelf`]).
pub async fn point(conn: &DatabaseConnection, shelf: &Shelf, tenant: Uuid, account: Uuid) -> Result<usize, Error> {
    macro_rules! run {
        ($db:ty, $kept:expr, $pool:expr) => {{
            let mut held = take!($kept, $pool);
            let a: Option<(Uuid, String)> =
                sqlx::query_as::<$db, _>(ACCOUNT).bind(tenant).bind(account).fetch_optional(&mut *held).await?;
            let o: Vec<(Uuid, String, Option<i64>)> =
                sqlx::query_as::<$db, _>(DEALS).bind(tenant).bind(account).fetch_all(&mut *held).await?;
            keep(&$kept, held);
            Ok(usize::from(a.is_some()) + o.len())
        }};
    }
    match conn.get_database_backend() {
        DbBackend::Postgres => run!(Postgres, shelf.postgres, conn.get_postgres_connection_pool()),
        _ => run!(Sqlite, shelf.sqlite, conn.get_sqlite_connection_pool()),
    }
}

/// What `createContact` must write, in one transaction: the row, the trace
/// sequence bump, the trace, the chain head, and the adoption rollup's counters.
pub async fn write(conn: &DatabaseConnection, tenant: Uuid, owner: Uuid, n: u64) -> Result<(), Error> {
    let now = Utc::now();
    let id = Uuid::now_v7();
    let name = format!("Floor {n}");
    let week = crm_api::service::adoption::counters::week_of(now, chrono_tz::Tz::UTC);
    macro_rules! run {
        ($db:ty, $pool:expr, $begin:expr) => {{
            let mut tx = $pool.begin_with($begin).await?;
            sqlx::query::<$db>("INSERT INTO contact (tenant_id, id, last_name, owner_id, created_at, updated_at, created_by, updated_by, version) VALUES ($1, $2, $3, $4, $5, $5, $4, $4, 1)")
                .bind(tenant).bind(id).bind(&name).bind(owner).bind(now).execute(&mut *tx).await?;
            let (seq,): (i64,) = sqlx::query_as::<$db, _>("UPDATE trace_head SET last_seq = last_seq + 1 WHERE tenant_id = $1 RETURNING last_seq")
                .bind(tenant).fetch_one(&mut *tx).await?;
            sqlx::query::<$db>("INSERT INTO trace (tenant_id, seq, id, at, user_id, change_type, entity_type, entity_id, after, source, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, 'CREATE', 'Contact', $6, $7, 'APP', '', '')")
                .bind(tenant).bind(seq).bind(Uuid::now_v7()).bind(now).bind(owner).bind(id).bind(format!("{{\"lastName\":\"{name}\"}}")).execute(&mut *tx).await?;
            sqlx::query::<$db>("UPDATE trace_head SET last_hash = $2 WHERE tenant_id = $1").bind(tenant).bind("0".repeat(64)).execute(&mut *tx).await?;
            sqlx::query::<$db>("INSERT INTO adoption_rollup (tenant_id, week, actor_kind, actor_id, counter, value) VALUES ($1, $2, 'USER', $3, 'contacts_created', 1), ($1, $2, 'USER', $3, 'last_active_at', $4) ON CONFLICT (tenant_id, week, actor_kind, actor_id, counter) DO UPDATE SET value = CASE WHEN adoption_rollup.counter = 'last_active_at' THEN excluded.value ELSE adoption_rollup.value + excluded.value END")
                .bind(tenant).bind(week).bind(owner).bind(now.timestamp_micros()).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }};
    }
    match conn.get_database_backend() {
        DbBackend::Postgres => run!(Postgres, conn.get_postgres_connection_pool(), "BEGIN"),
        _ => run!(Sqlite, conn.get_sqlite_connection_pool(), "BEGIN IMMEDIATE"),
    }
}
