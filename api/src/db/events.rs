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
//! Each tenant has its own bounded broadcast buffer, and writers never wait on
//! it: a subscriber that falls more than [`BUFFER`] of its tenant's batches
//! behind is told and dropped. When the listener's connection drops, what was
//! announced meanwhile is lost; every subscriber then gets a `lost` batch and
//! is dropped the same way, rather than silently missing events.
//!
//! A commit that changed the tenant's access (see [`changes_access`]) also
//! announces that, on a channel of its own, so that every process stops using
//! the tenant's kept credentials (`db::credentials`). The listener starts with
//! the server ([`Events::hear`]), not with the first subscriber.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use entity::trace;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, Statement,
};
use tokio::sync::{OnceCell, broadcast, mpsc};
use uuid::Uuid;

use super::credentials::Credentials;
use crate::auth::access::Permissions;

/// Batches a subscriber may fall behind before it is dropped.
pub const BUFFER: usize = 1024;
const CHANNEL: &str = "crm_traces";
/// A tenant's access changed: payload, the tenant.
const ACCESS_CHANNEL: &str = "crm_access";
/// How long the listener waits before connecting again after a failure,
/// doubling up to [`MAX_RETRY`].
const RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// The entities whose changes can end or alter a credential or the rules it
/// carries: users (deleted, moved to another profile), API tokens (revoked),
/// profiles (their rules, their admin flag) and entities (a new one's
/// rules), and the tenant.
const ACCESS_TYPES: [&str; 5] = ["User", "ApiToken", "Profile", "EntityDefinition", "Tenant"];

/// Whether a committed trace records a change of its tenant's access (a
/// sign-in changes none).
pub fn changes_access(trace: &trace::Model) -> bool {
    ACCESS_TYPES.contains(&trace.entity_type.as_str()) && trace.change_type != "LOGIN"
}

/// The traces one transaction committed, all of one tenant, in sequence order.
#[derive(Debug)]
pub struct TraceBatch {
    pub tenant_id: Uuid,
    pub traces: Vec<trace::Model>,
    /// Set instead of traces when some committed traces could not be delivered.
    pub lost: bool,
    /// The traces as one profile's rules show them, worked out by its first
    /// subscriber for all the others. Holding the rules keeps their address
    /// from being reused while the entry stands.
    shown: Mutex<Vec<Shown>>,
}

/// One profile's rules and the traces as they show them, in the form the
/// caller of [`TraceBatch::shown_as`] keeps them (ready to send, say).
type Shown = (Arc<Permissions>, Arc<dyn std::any::Any + Send + Sync>);

impl TraceBatch {
    pub fn new(tenant_id: Uuid, traces: Vec<trace::Model>) -> Self {
        Self { tenant_id, traces, lost: false, shown: Mutex::default() }
    }

    fn lost(tenant_id: Uuid) -> Self {
        Self { lost: true, ..Self::new(tenant_id, Vec::new()) }
    }

    /// The traces as `rules` show them: `show` runs once per set of rules
    /// (profile version) and type of view, however many subscribers share them.
    pub fn shown_as<T: Send + Sync + 'static>(
        &self,
        rules: &Arc<Permissions>,
        show: impl FnOnce(&[trace::Model]) -> T,
    ) -> Arc<T> {
        let mut known = self.shown.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept =
            known.iter().filter(|(r, _)| Arc::ptr_eq(r, rules)).find_map(|(_, view)| view.clone().downcast().ok());
        if let Some(shown) = kept {
            return shown;
        }
        let shown = Arc::new(show(&self.traces));
        known.push((rules.clone(), shown.clone()));
        shown
    }
}

type Channels = Mutex<HashMap<Uuid, broadcast::Sender<Arc<TraceBatch>>>>;

/// The server's source of committed traces.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    /// One channel per tenant with subscribers on this process.
    channels: Channels,
    /// PostgreSQL: where to LISTEN, and whether this process already does.
    postgres_url: Option<String>,
    listening: OnceCell<()>,
    conn: DatabaseConnection,
    /// Told of every committed access change, local or announced.
    credentials: Credentials,
    /// SQLite: committed batches not published yet, in commit order (see
    /// [`Events::committed`]).
    unpublished: Option<Mutex<VecDeque<TraceBatch>>>,
}

impl Events {
    pub(super) fn new(conn: DatabaseConnection, url: &str, credentials: Credentials) -> Self {
        let postgres_url = (conn.get_database_backend() == DbBackend::Postgres).then(|| url.to_owned());
        let listening = OnceCell::new();
        let unpublished = postgres_url.is_none().then(Mutex::default);
        Self {
            inner: Arc::new(Inner {
                channels: Mutex::default(),
                postgres_url,
                listening,
                conn,
                credentials,
                unpublished,
            }),
        }
    }

    /// Starts hearing other processes' announcements (PostgreSQL; SQLite has
    /// none): in the background, trying again until the listener connects.
    /// Until it hears, credentials are checked on every request.
    pub fn hear(&self) {
        if self.inner.postgres_url.is_none() {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut wait = RETRY;
            while let Some(inner) = weak.upgrade() {
                match (Events { inner }).listening().await {
                    Ok(()) => return,
                    Err(err) => tracing::warn!(error = %err, "starting the event listener"),
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_RETRY);
            }
        });
    }

    /// Waits until this process hears, and has handled every access change
    /// committed before the call (PostgreSQL), or fails after ten seconds:
    /// for tests and tools that count the statements a request runs. Traces
    /// announced before may still be on their way to subscribers.
    pub async fn caught_up(&self) -> Result<(), DbErr> {
        if self.inner.postgres_url.is_none() {
            return Ok(());
        }
        self.listening().await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let credentials = &self.inner.credentials;
        while tokio::time::Instant::now() < deadline {
            if credentials.is_hearing() {
                // Announcements reach the listener in commit order. A marker
                // lost with a connection is sent again.
                let marker = Uuid::new_v4();
                credentials.await_marker(marker);
                notify_access(&self.inner.conn, &marker_payload(marker)).await?;
                let resend = tokio::time::Instant::now() + Duration::from_secs(1);
                while tokio::time::Instant::now() < resend.min(deadline) {
                    if credentials.take_marker(marker) {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                credentials.forget_marker(marker);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err(DbErr::Custom("the event listener did not catch up within 10 s".into()))
    }

    /// The credentials this process keeps, which the announcements end.
    pub(super) fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    async fn listening(&self) -> Result<(), DbErr> {
        let Some(url) = &self.inner.postgres_url else { return Ok(()) };
        let weak = Arc::downgrade(&self.inner);
        self.inner.listening.get_or_try_init(|| listen(url.clone(), weak)).await.map(|_| ())
    }

    /// A receiver of the tenant's committed traces from now on (callers filter
    /// by visibility). On PostgreSQL the first call starts this process's
    /// listener and returns once it listens.
    pub async fn subscribe(&self, tenant_id: Uuid) -> Result<broadcast::Receiver<Arc<TraceBatch>>, DbErr> {
        self.listening().await?;
        let mut channels = self.inner.channels.lock().map_err(|_| DbErr::Custom("event channels poisoned".into()))?;
        channels.retain(|_, sender| sender.receiver_count() > 0);
        Ok(channels.entry(tenant_id).or_insert_with(|| broadcast::channel(BUFFER).0).subscribe())
    }

    /// Inside the committing transaction: PostgreSQL's NOTIFY, which travels
    /// with the commit (and vanishes with a rollback). `access`: the
    /// transaction changed the tenant's access.
    pub(super) async fn announce<C: ConnectionTrait>(
        &self,
        conn: &C,
        batch: &TraceBatch,
        access: bool,
    ) -> Result<(), DbErr> {
        let mut alone = super::combined::Combined::default();
        match self.announce_select(&mut alone, batch, access) {
            Some(select) => alone.run(conn, Some(select)).await,
            None => Ok(()),
        }
    }

    /// [`announce`](Self::announce) as the query of a combined statement
    /// (PostgreSQL); `None` when there is nothing to announce.
    pub(super) fn announce_select(
        &self,
        combined: &mut super::combined::Combined,
        batch: &TraceBatch,
        access: bool,
    ) -> Option<String> {
        self.inner.postgres_url.as_ref()?;
        let mut notifies = Vec::with_capacity(2);
        // First: a transaction's notifications arrive in the order sent, and
        // a subscriber checks its credential again on the traces that follow.
        if access {
            let channel = combined.bind(ACCESS_CHANNEL);
            let payload = combined.bind(batch.tenant_id.to_string());
            notifies.push(format!("pg_notify({channel}, {payload})"));
        }
        if let (Some(first), Some(last)) = (batch.traces.first(), batch.traces.last()) {
            let channel = combined.bind(CHANNEL);
            let payload = combined.bind(format!("{}:{}:{}", batch.tenant_id, first.seq, last.seq));
            notifies.push(format!("pg_notify({channel}, {payload})"));
        }
        (!notifies.is_empty()).then(|| format!("SELECT {}", notifies.join(", ")))
    }

    /// After the commit: SQLite's in-process delivery (PostgreSQL's comes
    /// back through the listener). A commit on the writing thread
    /// (`db::writer`) leaves its batch for [`publish`](Self::publish) on the
    /// server's runtime: waking thousands of subscribers' tasks from that
    /// thread held the writers' turn that long, and queued the write's own
    /// answer behind every delivery.
    pub(super) fn committed(&self, batch: TraceBatch) {
        let Some(unpublished) = &self.inner.unpublished else { return };
        if batch.traces.is_empty() {
            return;
        }
        if let Ok(mut queue) = unpublished.lock() {
            queue.push_back(batch);
        }
        if !super::writer::on_writing_thread() {
            self.publish();
        }
    }

    /// Broadcasts SQLite's committed batches not published yet. Commits
    /// queue them in commit order (the writers take turns), and they leave
    /// the queue under its lock, so subscribers hear them in that order
    /// whoever publishes.
    pub(super) fn publish(&self) {
        let Some(unpublished) = &self.inner.unpublished else { return };
        let Ok(mut queue) = unpublished.lock() else { return };
        while let Some(batch) = queue.pop_front() {
            self.inner.publish(batch);
        }
    }
}

impl Inner {
    fn publish(&self, batch: TraceBatch) {
        let Ok(channels) = self.channels.lock() else { return };
        if let Some(sender) = channels.get(&batch.tenant_id) {
            let _ = sender.send(Arc::new(batch));
        }
    }

    /// Tells every subscriber that events were lost.
    fn lost(&self) {
        let Ok(channels) = self.channels.lock() else { return };
        for (tenant_id, sender) in channels.iter() {
            let _ = sender.send(Arc::new(TraceBatch::lost(*tenant_id)));
        }
    }

    fn has_subscribers(&self, tenant_id: Uuid) -> bool {
        self.channels.lock().is_ok_and(|c| c.get(&tenant_id).is_some_and(|s| s.receiver_count() > 0))
    }
}

async fn connect(url: &str) -> Result<PgListener, DbErr> {
    let mut listener = PgListener::connect(url).await.map_err(|e| DbErr::Custom(format!("listen: {e}")))?;
    listener.listen_all([CHANNEL, ACCESS_CHANNEL]).await.map_err(|e| DbErr::Custom(format!("listen: {e}")))?;
    Ok(listener)
}

/// What the listener hands its delivery worker, in the order heard: reading
/// traces back waits on the pool, and access changes must not wait behind it.
enum Heard {
    Traces { tenant_id: Uuid, first: i64, last: i64 },
    Lost,
}

async fn listen(url: String, weak: Weak<Inner>) -> Result<(), DbErr> {
    let listener = connect(&url).await?;
    let (worker, heard) = mpsc::unbounded_channel();
    tokio::spawn(deliver(weak.clone(), heard));
    tokio::spawn(hear_on(listener, url, weak, worker));
    Ok(())
}

/// When the listener's task ends, even by a panic: kept credentials stop
/// counting, and subscribers are told that events may be lost.
struct Deaf(Weak<Inner>);

impl Drop for Deaf {
    fn drop(&mut self) {
        if let Some(events) = self.0.upgrade() {
            events.credentials.hearing(false);
            events.lost();
        }
    }
}

/// An access notification's payload that names no tenant but a marker: a
/// process's own greeting or catching up (see [`greet`]); other processes'
/// markers are ignored.
const MARKER: &str = "marker:";

fn marker_payload(marker: Uuid) -> String {
    format!("{MARKER}{marker}")
}

async fn hear_on(mut listener: PgListener, url: String, weak: Weak<Inner>, worker: mpsc::UnboundedSender<Heard>) {
    let _deaf = Deaf(weak.clone());
    let mut greeting = Some(greet(&weak));
    loop {
        let received = listener.try_recv().await;
        // The server (the `Db`) is gone: stop listening.
        let Some(events) = weak.upgrade() else { return };
        let lost = match received {
            Ok(Some(notification)) if notification.channel() == ACCESS_CHANNEL => {
                let payload = notification.payload();
                match payload.strip_prefix(MARKER).map(str::parse::<Uuid>) {
                    Some(Ok(marker)) if greeting == Some(marker) => {
                        greeting = None;
                        events.credentials.hearing(true);
                    }
                    Some(Ok(marker)) => events.credentials.marker_heard(marker),
                    Some(Err(_)) => tracing::warn!("unreadable marker notification"),
                    None => match payload.parse() {
                        Ok(tenant_id) => events.credentials.access_changed(tenant_id),
                        // Not knowing whose access changed, nobody's kept credential counts.
                        Err(_) => events.credentials.forget_all(),
                    },
                }
                continue;
            }
            Ok(Some(notification)) => {
                match parse(notification.payload()) {
                    Some((tenant_id, first, last)) => {
                        let _ = worker.send(Heard::Traces { tenant_id, first, last });
                    }
                    None => tracing::warn!("unreadable trace notification"),
                }
                continue;
            }
            Ok(None) => "closed".to_owned(),
            Err(err) => err.to_string(),
        };
        // The connection dropped. What was announced meanwhile is gone:
        // subscribers are told (the change feed, resumable from a cursor, is
        // the lossless channel), and kept credentials stop counting until a
        // new connection hears.
        tracing::warn!(error = %lost, "event listener lost; reconnecting");
        events.credentials.hearing(false);
        let _ = worker.send(Heard::Lost);
        drop(events);
        let mut wait = RETRY;
        listener = loop {
            match connect(&url).await {
                Ok(listener) => break listener,
                Err(err) => tracing::warn!(error = %err, "event listener reconnecting"),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_RETRY);
            if weak.strong_count() == 0 {
                return;
            }
        };
        // Subscribers who joined while nothing listened missed what was
        // announced meanwhile too.
        let _ = worker.send(Heard::Lost);
        greeting = Some(greet(&weak));
    }
}

/// Sends the listener a notification of its own, through the pool, trying
/// again while the pool fails: kept credentials count once it arrives, which
/// shows that notifications reach this connection (a pooler in transaction
/// mode accepts `LISTEN` and delivers nothing).
fn greet(weak: &Weak<Inner>) -> Uuid {
    let marker = Uuid::new_v4();
    let weak = weak.clone();
    tokio::spawn(async move {
        let mut wait = RETRY;
        while let Some(events) = weak.upgrade() {
            match notify_access(&events.conn, &marker_payload(marker)).await {
                Ok(()) => return,
                Err(err) => tracing::warn!(error = %err, "greeting the event listener"),
            }
            drop(events);
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_RETRY);
        }
    });
    marker
}

async fn notify_access(conn: &DatabaseConnection, payload: &str) -> Result<(), DbErr> {
    let notify = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [ACCESS_CHANNEL.into(), payload.into()],
    );
    conn.execute_raw(notify).await.map(|_| ())
}

/// Loads announced traces back and broadcasts them, in the order announced.
async fn deliver(weak: Weak<Inner>, mut heard: mpsc::UnboundedReceiver<Heard>) {
    while let Some(next) = heard.recv().await {
        let Some(events) = weak.upgrade() else { return };
        match next {
            Heard::Lost => events.lost(),
            Heard::Traces { tenant_id, .. } if !events.has_subscribers(tenant_id) => {}
            Heard::Traces { tenant_id, first, last } => match load(&events.conn, tenant_id, first, last).await {
                Ok(traces) => events.publish(TraceBatch::new(tenant_id, traces)),
                Err(err) => {
                    tracing::error!(error = %err, "reading announced traces");
                    events.lost();
                }
            },
        }
    }
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
