//! Credentials found valid, and users' rows, kept so that a request need
//! not read them again.
//!
//! A credential check reads the user's or API token's row and the profile
//! with it: one statement before every request's own (a session token's
//! expiry, and an API token's secret, are still checked on every request). This keeps its result
//! (the [`Actor`]) until the tenant's access changes. Every change that can
//! end or alter a credential (a user deleted or moved to another profile, a
//! token revoked, a profile's rules changed or the profile removed) is traced
//! in the transaction that makes it, and that transaction's commit says so:
//! in this process at once, after the commit; in every other process sharing
//! a PostgreSQL database through a `NOTIFY` that travels with the commit (see
//! `db::events`). Either way the tenant's entries stop counting.
//!
//! A credential read from the database before such a commit may only be kept
//! if no change was announced while it was read: each entry carries the
//! [`Ticket`] taken before its read, and counts only while the tenant's is the
//! same. On PostgreSQL entries count only while the listener hears (from
//! its greeting, a notification it sends itself, until its connection is
//! lost); losing it drops them all, since what was announced meanwhile is
//! unknown.
//! Entries also age out after [`MAX_AGE`], the bound on how long a change made
//! behind the server's back (by hand in SQL, or announced on a connection that
//! died silently) can go unnoticed: the same bound live subscriptions re-check
//! their credential on.
//!
//! Users' rows (what a record's `owner` or a trace's `user` shows) are kept on
//! the same terms: every change of a user is traced as one of the tenant's
//! access changes, so the announcement that ends the tenant's credentials ends
//! its kept users too. Reads only: a transaction reads its users afresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use entity::app_user;
use uuid::Uuid;

use crate::auth::Actor;
use crate::kept::Kept;

/// How long a kept credential counts at most.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// Credentials kept at most (all tenants together; see `kept` for the shares).
const MAX_ENTRIES: usize = 10_000;

/// Users' rows kept at most (all tenants together).
const MAX_USERS: usize = 50_000;

/// A credential, as the check found it.
pub struct Credential {
    pub actor: Actor,
    /// An API token's secret hash: the presented secret is compared with it
    /// on every request, kept or not.
    pub secret_hash: Option<String>,
    ticket: Ticket,
}

/// Where the announcements stood before a credential was read, and when.
#[derive(Clone, Copy)]
pub struct Ticket {
    tenant: u64,
    everyone: u64,
    /// The age of a kept credential counts from before its read.
    taken: Instant,
}

impl Ticket {
    fn holds(&self, current: &Ticket) -> bool {
        (self.tenant, self.everyone) == (current.tenant, current.everyone)
    }
}

/// What names a credential: a person (session tokens) or an API token.
#[derive(Clone, Copy)]
pub enum Holder {
    User { tenant: Uuid, user: Uuid },
    ApiToken { tenant: Uuid, token: Uuid },
}

impl Holder {
    fn tenant(self) -> Uuid {
        match self {
            Self::User { tenant, .. } | Self::ApiToken { tenant, .. } => tenant,
        }
    }

    fn key(self) -> String {
        match self {
            Self::User { tenant, user } => format!("u{tenant}{user}"),
            Self::ApiToken { tenant, token } => format!("t{tenant}{token}"),
        }
    }
}

#[derive(Clone)]
pub struct Credentials {
    inner: Arc<Inner>,
}

/// A user's row as a read found it, without its password hash (no reader
/// of kept rows needs it, and a hash is better not held longer than a check).
struct KeptUser {
    user: app_user::Model,
    ticket: Ticket,
}

fn user_key(tenant: Uuid, user: Uuid) -> String {
    format!("{tenant}{user}")
}

struct Inner {
    kept: Kept<Arc<Credential>>,
    users: Kept<Arc<KeptUser>>,
    state: Mutex<State>,
}

struct State {
    /// Access changes announced per tenant since the process started (an
    /// entry per tenant whose access ever changed: a few bytes each).
    changes: HashMap<Uuid, u64>,
    /// Times every entry was dropped at once: hearing began or stopped, or
    /// an announcement named no tenant.
    dropped: u64,
    /// Whether announcements are heard: always with SQLite (one process,
    /// told in process); with PostgreSQL from the listener's greeting (see
    /// `db::events`) until its connection is lost.
    hearing: bool,
    /// Markers this process sent to learn when the listener has caught up,
    /// and whether each came back.
    markers: HashMap<Uuid, bool>,
}

impl State {
    fn ticket(&self, tenant: Uuid) -> Ticket {
        let changes = self.changes.get(&tenant).copied().unwrap_or(0);
        Ticket { tenant: changes, everyone: self.dropped, taken: Instant::now() }
    }

    /// Whether what was read after taking `ticket` may be kept: nothing of
    /// the tenant's was announced since, and announcements are heard.
    fn may_keep(&self, ticket: &Ticket, tenant: Uuid) -> bool {
        self.hearing && ticket.holds(&self.ticket(tenant))
    }

    /// Whether an entry read after `ticket` still counts.
    fn counts(&self, ticket: &Ticket, tenant: Uuid) -> bool {
        self.may_keep(ticket, tenant) && ticket.taken.elapsed() < MAX_AGE
    }
}

impl Credentials {
    /// `hearing`: whether announcements reach this process from the start.
    pub(super) fn new(hearing: bool) -> Self {
        let state = State { changes: HashMap::new(), dropped: 0, hearing, markers: HashMap::new() };
        let inner = Inner { kept: Kept::new(MAX_ENTRIES), users: Kept::new(MAX_USERS), state: Mutex::new(state) };
        Self { inner: Arc::new(inner) }
    }

    /// The kept credential of `holder`, while it counts.
    pub fn get(&self, holder: Holder) -> Option<Arc<Credential>> {
        let found = self.inner.kept.get(&holder.key())?;
        self.state().counts(&found.ticket, holder.tenant()).then_some(found)
    }

    /// The tenant's users among `ids` whose rows are kept and count (their
    /// password hashes empty); the others are for the caller to read.
    pub fn users(&self, tenant: Uuid, ids: &[Uuid]) -> (Vec<app_user::Model>, Vec<Uuid>) {
        let (mut found, mut missing) = (Vec::with_capacity(ids.len()), Vec::new());
        // Held across the lookups, in the order `keep_users` takes the two locks.
        let state = self.state();
        for &id in ids {
            match self.inner.users.get(&user_key(tenant, id)) {
                Some(kept) if state.counts(&kept.ticket, tenant) => found.push(kept.user.clone()),
                _ => missing.push(id),
            }
        }
        (found, missing)
    }

    /// Keeps users' rows read after taking `ticket`, unless an access change
    /// of the tenant was announced since.
    pub fn keep_users(&self, tenant: Uuid, ticket: Ticket, users: &[app_user::Model]) {
        let state = self.state();
        if !state.may_keep(&ticket, tenant) {
            return;
        }
        for user in users.iter().filter(|user| user.tenant_id == tenant) {
            let kept = KeptUser { user: app_user::Model { password_hash: String::new(), ..user.clone() }, ticket };
            self.inner.users.replace(&user_key(tenant, user.id), Arc::new(kept), 1, tenant);
        }
    }

    /// To take before reading a credential that may be kept.
    pub fn ticket(&self, tenant: Uuid) -> Ticket {
        self.state().ticket(tenant)
    }

    /// Keeps what the check read after taking `ticket`, unless an access
    /// change of the tenant was announced since (the read may predate it).
    pub fn keep(&self, holder: Holder, ticket: Ticket, actor: Actor, secret_hash: Option<String>) {
        let tenant = holder.tenant();
        let credential = Arc::new(Credential { actor, secret_hash, ticket });
        // Held while storing (the store's own lock is taken inside, never the
        // other way round): an announcement cannot slip between the comparison
        // and the entry.
        let state = self.state();
        if state.may_keep(&ticket, tenant) {
            self.inner.kept.replace(&holder.key(), credential, 1, tenant);
        }
    }

    /// A committed change of the tenant's access: its kept credentials stop counting.
    pub fn access_changed(&self, tenant: Uuid) {
        *self.state().changes.entry(tenant).or_default() += 1;
    }

    /// Whether kept credentials count at all (see `State::hearing`).
    pub(super) fn is_hearing(&self) -> bool {
        self.state().hearing
    }

    /// Waits for `marker` (see `Events::caught_up`).
    pub(super) fn await_marker(&self, marker: Uuid) {
        self.state().markers.insert(marker, false);
    }

    /// The listener heard a marker: one this process awaits is noted,
    /// another process's ignored.
    pub(super) fn marker_heard(&self, marker: Uuid) {
        if let Some(heard) = self.state().markers.get_mut(&marker) {
            *heard = true;
        }
    }

    /// Whether the awaited `marker` came back; if so, no longer awaited.
    pub(super) fn take_marker(&self, marker: Uuid) -> bool {
        let mut state = self.state();
        let heard = state.markers.get(&marker) == Some(&true);
        if heard {
            state.markers.remove(&marker);
        }
        heard
    }

    pub(super) fn forget_marker(&self, marker: Uuid) {
        self.state().markers.remove(&marker);
    }

    /// Whether announcements are heard; when they stop (or start again after
    /// a gap), every kept credential stops counting.
    pub(super) fn hearing(&self, hearing: bool) {
        let mut state = self.state();
        state.hearing = hearing;
        state.dropped += 1;
    }

    /// Every kept credential stops counting (an announcement that names no
    /// readable tenant).
    pub(super) fn forget_all(&self) {
        self.state().dropped += 1;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use entity::app_user;
    use uuid::Uuid;

    use super::{Credentials, Holder};
    use crate::auth::Actor;

    const T: Uuid = Uuid::from_u128(1);
    const U: Holder = Holder::User { tenant: T, user: Uuid::from_u128(2) };
    const OTHER: Holder = Holder::User { tenant: Uuid::from_u128(3), user: Uuid::from_u128(4) };

    fn actor(tenant: Uuid) -> Actor {
        Actor::system(tenant, Uuid::nil())
    }

    #[test]
    fn a_credential_read_across_an_access_change_is_not_kept() {
        let kept = Credentials::new(true);
        let ticket = kept.ticket(T);
        kept.access_changed(T);
        kept.keep(U, ticket, actor(T), None);
        assert!(kept.get(U).is_none(), "read before the change was announced");
        kept.keep(U, kept.ticket(T), actor(T), None);
        assert!(kept.get(U).is_some());
    }

    #[test]
    fn an_access_change_ends_its_tenants_credentials_only() {
        let kept = Credentials::new(true);
        kept.keep(U, kept.ticket(T), actor(T), None);
        kept.keep(OTHER, kept.ticket(Uuid::from_u128(3)), actor(Uuid::from_u128(3)), None);
        kept.access_changed(T);
        assert!(kept.get(U).is_none());
        assert!(kept.get(OTHER).is_some());
    }

    #[test]
    fn users_are_kept_on_the_same_terms_without_their_password_hashes() {
        let kept = Credentials::new(true);
        let at = chrono::Utc::now();
        let sam = app_user::Model {
            tenant_id: T,
            id: Uuid::from_u128(5),
            email: "sam@acme.test".into(),
            display_name: "Sam".into(),
            password_hash: "$argon2id$...".into(),
            profile_id: Uuid::from_u128(6),
            manager_id: None,
            created_at: at,
            updated_at: at,
            deleted_at: None,
        };
        // Before any change, so that only the key tells the tenants apart.
        kept.keep_users(T, kept.ticket(T), std::slice::from_ref(&sam));
        assert_eq!(kept.users(Uuid::from_u128(3), &[sam.id]).0, vec![], "kept for its own tenant only");
        kept.keep_users(Uuid::from_u128(3), kept.ticket(Uuid::from_u128(3)), std::slice::from_ref(&sam));
        assert_eq!(kept.users(Uuid::from_u128(3), &[sam.id]).0, vec![], "another tenant's row is not kept");

        let ticket = kept.ticket(T);
        kept.access_changed(T);
        kept.keep_users(T, ticket, std::slice::from_ref(&sam));
        assert_eq!(kept.users(T, &[sam.id]), (vec![], vec![sam.id]), "read before the change was announced");

        kept.keep_users(T, kept.ticket(T), std::slice::from_ref(&sam));
        let (found, missing) = kept.users(T, &[sam.id, Uuid::from_u128(7)]);
        assert_eq!(found, vec![app_user::Model { password_hash: String::new(), ..sam.clone() }]);
        assert_eq!(missing, vec![Uuid::from_u128(7)]);

        kept.access_changed(T);
        assert_eq!(kept.users(T, &[sam.id]).1, vec![sam.id]);
    }

    #[test]
    fn nothing_counts_while_announcements_go_unheard() {
        let kept = Credentials::new(false);
        kept.keep(U, kept.ticket(T), actor(T), None);
        assert!(kept.get(U).is_none(), "not kept before the listener hears");
        kept.hearing(true);
        kept.keep(U, kept.ticket(T), actor(T), None);
        assert!(kept.get(U).is_some());
        let ticket = kept.ticket(T);
        kept.hearing(false);
        assert!(kept.get(U).is_none(), "dropped with the listener");
        kept.hearing(true);
        assert!(kept.get(U).is_none(), "and not back when it reconnects");
        kept.keep(U, ticket, actor(T), None);
        assert!(kept.get(U).is_none(), "a read from before the gap is not kept");
    }
}
