//! Live subscriptions over graphql-transport-ws (`/graphql/ws`).
//!
//! Every subscription follows the committed traces of the subscriber's tenant
//! (see `db::events`) and derives its events from them, with the same
//! visibility rules as the queries. The credential of `connection_init` is
//! checked again whenever the tenant's users, tokens or profiles change, and a
//! session token ends its subscriptions when it expires.

use std::pin::Pin;
use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, SimpleObject, Subscription};
use chrono::NaiveDate;
use futures_util::{Stream, StreamExt, stream};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, Sleep};
use uuid::Uuid;

use super::adoption::{AdoptionTotals, UserAdoption};
use super::context::{parse_id, request};
use super::data_quality::DataQuality;
use super::plain::{Plain, Rows};
use super::points::PointsAwarded;
use super::session::SocketSession;
use super::traces::{ChangeType, Trace};
use crate::auth::Actor;
use crate::auth::jwt::JwtKeys;
use crate::db::events::{TraceBatch, changes_access};
use crate::db::rollup::Rollup;
use crate::db::trace::ChangeType as DbChangeType;
use crate::db::{Db, rollup};
use crate::error::{ErrorCode, GqlError, GqlResult};
use crate::service;
use crate::service::adoption::counters::ActorKind;

/// How often the credential is checked again in any case: the bound on how
/// long a revocation can go unnoticed should its event not arrive.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// One subscriber's view of the committed traces of its tenant.
struct Watch {
    db: Db,
    keys: Arc<JwtKeys>,
    /// The `connection_init` credential (absent only outside WebSockets).
    credential: Option<String>,
    actor: Arc<Actor>,
    receiver: Receiver<Arc<TraceBatch>>,
    /// The tenant's last trace when the subscription began: a batch up to it
    /// committed before, and reached the receiver only because the listener
    /// passed it on late (PostgreSQL's NOTIFY is heard after the commit, and
    /// SQLite's announcement follows it), so it is not new to this subscriber.
    since: i64,
    /// When the session token stops being valid.
    expires: Option<Pin<Box<Sleep>>>,
    /// When the credential is next checked, events or not. Both timers stay
    /// armed between events: re-arming them for every event cost each of
    /// thousands of subscribers two timer-wheel insertions and removals.
    recheck: Pin<Box<Sleep>>,
    /// Set by the error that ends the subscription.
    ended: bool,
}

impl Watch {
    async fn open(ctx: &Context<'_>) -> GqlResult<Self> {
        let req = request(ctx)?;
        let actor = req.actor()?.clone();
        let credential = ctx.data_opt::<SocketSession>().map(|s| s.credential.clone());
        let receiver = req.db.events().subscribe(actor.tenant_id).await?;
        // Read after subscribing: a trace committed after this read comes
        // through the receiver, one committed before is dropped by its number.
        let since = service::traces::head(&req.read()?).await?.last_seq;
        let mut watch = Self {
            db: req.db.clone(),
            keys: req.keys.clone(),
            credential,
            actor,
            receiver,
            since,
            expires: None,
            recheck: Box::pin(tokio::time::sleep(RECHECK)),
            ended: false,
        };
        watch.expires = watch.expiry().map(|at| Box::pin(tokio::time::sleep_until(at)));
        Ok(watch)
    }

    fn expiry(&self) -> Option<Instant> {
        let claims = self.keys.verify(self.credential.as_deref()?).ok()?;
        let left = claims.exp - chrono::Utc::now().timestamp();
        Some(Instant::now() + std::time::Duration::from_secs(u64::try_from(left.max(0)).unwrap_or(0)))
    }

    fn end(&mut self, code: ErrorCode, message: &str) -> Option<Result<Arc<TraceBatch>, GqlError>> {
        self.ended = true;
        Some(Err(GqlError::new(code, message)))
    }

    /// Checks the credential again; false when it no longer holds. `fresh`:
    /// from the database, not from what the server keeps (see
    /// `service::auth::check_again`).
    async fn reauthenticate(&mut self, fresh: bool) -> bool {
        self.recheck.as_mut().reset(Instant::now() + RECHECK);
        let Some(credential) = &self.credential else { return true };
        let checked = match fresh {
            true => service::auth::check_again(&self.db, &self.keys, credential).await,
            false => service::auth::authenticate(&self.db, &self.keys, credential).await,
        };
        match checked {
            Ok(actor) if actor.tenant_id == self.actor.tenant_id => {
                self.actor = Arc::new(actor);
                true
            }
            _ => false,
        }
    }

    /// The next batch of the subscriber's tenant, or the error that ends the
    /// subscription (then `None`).
    async fn next(&mut self) -> Option<Result<Arc<TraceBatch>, GqlError>> {
        const REVOKED: &str = "the connection's credential is no longer valid";
        if self.ended {
            return None;
        }
        loop {
            let expires = &mut self.expires;
            let expired = async move {
                match expires {
                    Some(at) => at.await,
                    None => std::future::pending().await,
                }
            };
            let received = tokio::select! {
                received = self.receiver.recv() => received,
                () = expired => return self.end(ErrorCode::Unauthenticated, "the credential expired"),
                () = &mut self.recheck => {
                    if !self.reauthenticate(true).await {
                        return self.end(ErrorCode::Unauthenticated, REVOKED);
                    }
                    continue;
                }
            };
            match received {
                Ok(batch) if batch.tenant_id != self.actor.tenant_id => {}
                Ok(batch) if batch.traces.last().is_some_and(|last| last.seq <= self.since) => {}
                Ok(batch) if batch.lost => {
                    return self.end(
                        ErrorCode::Lagged,
                        "events were lost on the server's side; subscribe again and catch up with the queries",
                    );
                }
                Ok(batch) => {
                    if batch.traces.iter().any(changes_access) && !self.reauthenticate(false).await {
                        return self.end(ErrorCode::Unauthenticated, REVOKED);
                    }
                    return Some(Ok(batch));
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "dropping a subscriber that fell behind");
                    return self.end(
                        ErrorCode::Lagged,
                        "this subscription fell too far behind and was dropped; subscribe again and catch up with the queries",
                    );
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    fn read(&self) -> crate::db::TenantRead {
        self.db.read(self.actor.clone())
    }
}

/// Which new traces to deliver; every given condition must hold.
#[derive(InputObject, Default)]
pub struct TraceAddedFilter {
    /// Entity types, e.g. `["Account", "Contact"]`.
    pub entity_types: Option<Vec<String>>,
    pub change_types: Option<Vec<ChangeType>>,
    /// One record.
    pub entity_id: Option<ID>,
}

/// The changed adoption rows of one week.
#[derive(SimpleObject)]
pub struct AdoptionChange {
    pub week: NaiveDate,
    /// The rows that changed, of users the subscriber may see.
    pub users: Rows<UserAdoption>,
    /// The tenant's totals for the week, as they are now.
    pub totals: Option<AdoptionTotals>,
}

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Traces committed from now on that the caller may see (same rules as
    /// `traces`: readable entities only, hidden fields left out).
    async fn trace_added(
        &self,
        ctx: &Context<'_>,
        filter: Option<TraceAddedFilter>,
    ) -> Result<impl Stream<Item = GqlResult<Plain<Arc<Trace>>>>, GqlError> {
        let filter = filter.unwrap_or_default();
        let entity_id = filter.entity_id.as_ref().map(|id| parse_id("filter.entityId", id)).transpose()?;
        let change_types: Option<Vec<&'static str>> =
            filter.change_types.map(|types| types.into_iter().map(|t| DbChangeType::from(t).as_str()).collect());
        let entity_types = filter.entity_types;
        let watch = Watch::open(ctx).await?;
        let readable = service::traces::readable_types(&watch.read()).await?;
        let state = (watch, readable);
        let batches = stream::unfold(state, move |(mut watch, mut readable)| {
            let entity_types = entity_types.clone();
            let change_types = change_types.clone();
            async move {
                let batch = match watch.next().await? {
                    Ok(batch) => batch,
                    Err(err) => return Some((vec![Err(err)], (watch, readable))),
                };
                if batch.traces.iter().any(changes_access) {
                    match service::traces::readable_types(&watch.read()).await {
                        Ok(types) => readable = types,
                        Err(err) => {
                            watch.ended = true;
                            return Some((vec![Err(err.into())], (watch, readable)));
                        }
                    }
                }
                // Converted once per profile (the JSON values parsed once):
                // each subscriber only filters and shares them.
                let shown = service::traces::redacted(&watch.read(), &batch, |t| Arc::new(Trace::from(t.clone())));
                let items: Vec<GqlResult<Plain<Arc<Trace>>>> = shown
                    .iter()
                    .filter(|(t, _)| service::traces::may_read(readable.as_deref(), t))
                    .filter(|(t, _)| entity_types.as_ref().is_none_or(|types| types.contains(&t.entity_type)))
                    .filter(|(t, _)| change_types.as_ref().is_none_or(|types| types.contains(&t.change_type.as_str())))
                    .filter(|(t, _)| entity_id.is_none_or(|id| t.entity_id == Some(id)))
                    .map(|(_, shown)| Ok(Plain(shown.clone())))
                    .collect();
                Some((items, (watch, readable)))
            }
        });
        Ok(batches.flat_map(stream::iter))
    }

    /// The adoption rows a write changes, as they are after it: for the week
    /// given (or any week), the changed rows of users the caller may see and
    /// the tenant's totals of that week.
    async fn adoption_changed(
        &self,
        ctx: &Context<'_>,
        week: Option<NaiveDate>,
    ) -> Result<impl Stream<Item = GqlResult<AdoptionChange>>, GqlError> {
        let week = week
            .map(|w| service::adoption::report::plausible("week", w).map(service::adoption::counters::monday))
            .transpose()?;
        let watch = Watch::open(ctx).await?;
        let batches = stream::unfold(watch, move |mut watch| async move {
            let batch = match watch.next().await? {
                Ok(batch) => batch,
                Err(err) => return Some((vec![Err(err)], watch)),
            };
            let items = match adoption_changes(&watch, &batch, week).await {
                Ok(items) => items.into_iter().map(Ok).collect(),
                Err(err) => {
                    watch.ended = true;
                    vec![Err(err)]
                }
            };
            Some((items, watch))
        });
        Ok(batches.flat_map(stream::iter))
    }

    /// The entity's data-quality figures (as `dataQuality` gives them), each
    /// time a committed write changes them.
    async fn data_quality_changed(
        &self,
        ctx: &Context<'_>,
        entity: String,
    ) -> Result<impl Stream<Item = GqlResult<DataQuality>>, GqlError> {
        let watch = Watch::open(ctx).await?;
        // Validates the entity and the caller's right to read it, and gives
        // the figures later events are compared with.
        let last = service::quality_report::report(&watch.read(), &entity).await?;
        let batches = stream::unfold((watch, last), move |(mut watch, mut last)| {
            let entity = entity.clone();
            async move {
                loop {
                    let batch = match watch.next().await? {
                        Ok(batch) => batch,
                        Err(err) => return Some((Err(err), (watch, last))),
                    };
                    let touches = batch.traces.iter().any(|t| {
                        t.entity_type == entity
                            || matches!(
                                t.entity_type.as_str(),
                                "KeyFields" | "FieldDefinition" | "FieldRule" | "Profile"
                            )
                    });
                    if !touches {
                        continue;
                    }
                    match service::quality_report::report(&watch.read(), &entity).await {
                        Ok(now) if now == last => {}
                        Ok(now) => {
                            last = now.clone();
                            return Some((Ok(DataQuality::from(now)), (watch, last)));
                        }
                        Err(err) => {
                            watch.ended = true;
                            return Some((Err(err.into()), (watch, last)));
                        }
                    }
                }
            }
        });
        Ok(batches)
    }

    /// The caller's own points, as they are awarded: a congratulation.
    async fn points_awarded(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = GqlResult<PointsAwarded>>, GqlError> {
        let watch = Watch::open(ctx).await?;
        let Some(me) = watch.actor.user_id else {
            return Err(GqlError::new(ErrorCode::BadUserInput, "only a signed-in person earns points"));
        };
        let batches = stream::unfold(watch, move |mut watch| async move {
            let batch = match watch.next().await? {
                Ok(batch) => batch,
                Err(err) => return Some((vec![Err(err)], watch)),
            };
            let items = batch
                .traces
                .iter()
                .filter_map(PointsAwarded::from_trace)
                .filter(|(user, _)| *user == me)
                .map(|(_, award)| Ok(award))
                .collect();
            Some((items, watch))
        });
        Ok(batches.flat_map(stream::iter))
    }
}

/// The adoption changes one batch makes, as the subscriber may see them.
async fn adoption_changes(
    watch: &Watch,
    batch: &TraceBatch,
    only: Option<NaiveDate>,
) -> GqlResult<Vec<AdoptionChange>> {
    let read = watch.read();
    let tz = rollup::tenant_zone(watch.db.connection(), watch.actor.tenant_id).await?;
    let mut counted = Rollup::default();
    for trace in &batch.traces {
        counted.add(trace, tz);
    }
    let mut weeks: Vec<(NaiveDate, Vec<Uuid>)> = Vec::new();
    for (week, kind, actor) in counted.touched() {
        if kind != ActorKind::User || only.is_some_and(|w| w != week) {
            continue;
        }
        match weeks.iter_mut().find(|(w, _)| *w == week) {
            Some((_, users)) if !users.contains(&actor) => users.push(actor),
            Some(_) => {}
            None => weeks.push((week, vec![actor])),
        }
    }
    weeks.sort_by_key(|(week, _)| *week);
    let mut changes = Vec::new();
    for (week, users) in weeks {
        let report = service::adoption::report::report(&read, week, week, None).await?;
        changes.push(AdoptionChange {
            week,
            users: report.users.into_iter().filter(|row| users.contains(&row.user_id)).map(Into::into).collect(),
            totals: report.totals.into_iter().next().map(Into::into),
        });
    }
    Ok(changes)
}
