//! Committed traces, fanned out to live subscribers.
//!
//! A write transaction that appended traces announces them as it commits.
//! With SQLite (one server process) the announcement is an in-process
//! broadcast after the commit. With PostgreSQL the transaction itself sends
//! `NOTIFY` with the tenant and the sequence range; PostgreSQL delivers it only
//! if and when the transaction commits, in commit order, to every listening
//! process. Each server process listens once, reads the announced traces back
//! once, and broadcasts them to its own subscribers: a subscriber hears the
//! writes of every process sharing the database.
//!
//! The broadcast buffer is bounded and writers never wait on it: a subscriber
//! that falls more than [`BUFFER`] batches behind is told and dropped.

use std::sync::Arc;
use std::time::Duration;

use entity::trace;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, Statement,
};
use tokio::sync::{OnceCell, broadcast};
use uuid::Uuid;

/// Batches a subscriber may fall behind before it is dropped.
pub const BUFFER: usize = 1024;
const CHANNEL: &str = "crm_traces";

/// The traces one transaction committed, all of one tenant, in sequence order.
#[derive(Debug)]
pub struct TraceBatch {
    pub tenant_id: Uuid,
    pub traces: Vec<trace::Model>,
}

/// The server's source of committed traces.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    sender: broadcast::Sender<Arc<TraceBatch>>,
    /// PostgreSQL: where to LISTEN, and whether this process already does.
    postgres_url: Option<String>,
    listening: OnceCell<()>,
    conn: DatabaseConnection,
}

impl Events {
    pub(super) fn new(conn: DatabaseConnection, url: &str) -> Self {
        let (sender, _) = broadcast::channel(BUFFER);
        let postgres_url = (conn.get_database_backend() == DbBackend::Postgres).then(|| url.to_owned());
        Self { inner: Arc::new(Inner { sender, postgres_url, listening: OnceCell::new(), conn }) }
    }

    /// A receiver of every tenant's committed traces from now on (callers
    /// filter by tenant and visibility). On PostgreSQL the first call starts
    /// this process's listener and returns once it listens.
    pub async fn subscribe(&self) -> Result<broadcast::Receiver<Arc<TraceBatch>>, DbErr> {
        if let Some(url) = &self.inner.postgres_url {
            self.inner
                .listening
                .get_or_try_init(|| listen(url.clone(), self.inner.conn.clone(), self.inner.sender.clone()))
                .await?;
        }
        Ok(self.inner.sender.subscribe())
    }

    /// Inside the committing transaction: PostgreSQL's NOTIFY, which travels
    /// with the commit (and vanishes with a rollback).
    pub(super) async fn announce<C: ConnectionTrait>(&self, conn: &C, batch: &TraceBatch) -> Result<(), DbErr> {
        let (Some(first), Some(last)) = (batch.traces.first(), batch.traces.last()) else { return Ok(()) };
        if self.inner.postgres_url.is_none() {
            return Ok(());
        }
        let payload = format!("{}:{}:{}", batch.tenant_id, first.seq, last.seq);
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        ))
        .await?;
        Ok(())
    }

    /// After the commit: SQLite's in-process delivery (PostgreSQL's comes
    /// back through the listener).
    pub(super) fn committed(&self, batch: TraceBatch) {
        if self.inner.postgres_url.is_none() && !batch.traces.is_empty() && self.inner.sender.receiver_count() > 0 {
            let _ = self.inner.sender.send(Arc::new(batch));
        }
    }
}

async fn listen(
    url: String,
    conn: DatabaseConnection,
    sender: broadcast::Sender<Arc<TraceBatch>>,
) -> Result<(), DbErr> {
    let mut listener = PgListener::connect(&url).await.map_err(|e| DbErr::Custom(format!("listen: {e}")))?;
    listener.listen(CHANNEL).await.map_err(|e| DbErr::Custom(format!("listen: {e}")))?;
    tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(notification) => {
                    let Some((tenant_id, first, last)) = parse(notification.payload()) else {
                        tracing::warn!("unreadable trace notification");
                        continue;
                    };
                    if sender.receiver_count() == 0 {
                        continue;
                    }
                    match load(&conn, tenant_id, first, last).await {
                        Ok(traces) => {
                            let _ = sender.send(Arc::new(TraceBatch { tenant_id, traces }));
                        }
                        Err(err) => tracing::error!(error = %err, "reading announced traces"),
                    }
                }
                // The listener reconnects by itself on the next call; what was
                // announced meanwhile does not reach live subscribers (the
                // change feed, resumable from a cursor, is the lossless channel).
                Err(err) => {
                    tracing::warn!(error = %err, "trace listener interrupted");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(())
}

fn parse(payload: &str) -> Option<(Uuid, i64, i64)> {
    let mut parts = payload.split(':');
    let tenant = parts.next()?.parse().ok()?;
    let first = parts.next()?.parse().ok()?;
    let last = parts.next()?.parse().ok()?;
    Some((tenant, first, last))
}

async fn load(conn: &DatabaseConnection, tenant_id: Uuid, first: i64, last: i64) -> Result<Vec<trace::Model>, DbErr> {
    trace::Entity::find()
        .filter(trace::Column::TenantId.eq(tenant_id))
        .filter(trace::Column::Seq.between(first, last))
        .order_by_asc(trace::Column::Seq)
        .all(conn)
        .await
}
