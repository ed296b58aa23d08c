//! Login and credential resolution.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::{app_user, profile};

use crate::auth::jwt::{JwtKeys, Verified};
use crate::auth::{Actor, Source, api_token, password};
use crate::db::credentials::{Holder, Ticket};
use crate::db::trace::Change;
use crate::db::{Db, system};
use crate::error::{ServiceError, ServiceResult};
use crate::service::adoption::{self, Version};

/// A successful login.
pub struct Session {
    pub actor: Actor,
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: app_user::Model,
}

/// Checks a password and issues a session token. Every failure is the same
/// UNAUTHENTICATED, and an unknown tenant or user still costs one argon2
/// verification, so neither the answer nor its timing tells which part was wrong.
pub async fn login(
    db: &Db,
    keys: &JwtKeys,
    tenant_slug: &str,
    email: &str,
    password: &str,
    request_id: Option<Arc<str>>,
) -> ServiceResult<Session> {
    let email = email.trim().to_lowercase();
    let tenant = system::tenant_by_slug(db.connection(), tenant_slug.trim()).await?;
    let user = match &tenant {
        Some(t) => system::user_by_email(db.connection(), t.id, &email).await?,
        None => None,
    };
    let stored = user.as_ref().map_or_else(|| password::dummy_hash().to_owned(), |u| u.password_hash.clone());
    let supplied = password.to_owned();
    // argon2 takes tens of milliseconds of CPU: keep it off the async workers.
    let matches = tokio::task::spawn_blocking(move || password::verify(&supplied, &stored))
        .await
        .map_err(|e| ServiceError::Internal(format!("password task: {e}")))?;
    let (Some(user), true) = (user, matches) else {
        return Err(ServiceError::Unauthenticated);
    };
    let Some((user, profile)) = system::active_user(db.connection(), user.tenant_id, user.id).await? else {
        return Err(ServiceError::Unauthenticated);
    };

    let actor = Arc::new(Actor::person(user.tenant_id, user.id, profile.id, db.permissions(&profile).await?));
    let user_id = user.id;
    db.write(actor.clone(), request_id, move |tx| async move {
        tx.trace(Change::login(user_id)).await?;
        tx.commit().await
    })
    .await?;

    let token = keys.issue(user.id, user.tenant_id, profile.id)?;
    let expires_at = Utc::now() + keys.ttl();
    Ok(Session { actor: Arc::unwrap_or_clone(actor), token, expires_at, user })
}

/// Resolves a bearer credential (session JWT or API token) to an actor.
///
/// A deleted user, a revoked token or a profile change takes effect from the
/// request after its commit: the check's result is kept only until an access
/// change of the tenant is committed (see `db::credentials`).
pub async fn authenticate(db: &Db, keys: &JwtKeys, bearer: &str) -> ServiceResult<Actor> {
    resolve(db, keys, bearer, true).await
}

/// [`authenticate`] from the database, whatever is kept: for the periodic
/// check of a long-lived connection, which bounds how long a change made
/// behind the server's back goes unnoticed.
pub async fn check_again(db: &Db, keys: &JwtKeys, bearer: &str) -> ServiceResult<Actor> {
    resolve(db, keys, bearer, false).await
}

async fn resolve(db: &Db, keys: &JwtKeys, bearer: &str, use_kept: bool) -> ServiceResult<Actor> {
    let kept = db.credentials();
    if bearer.starts_with(api_token::PREFIX) {
        let presented = api_token::parse(bearer).ok_or(ServiceError::Unauthenticated)?;
        let holder = Holder::ApiToken { tenant: presented.tenant_id, token: presented.token_id };
        let secret_hash = api_token::hash_secret(&presented.secret);
        if use_kept && let Some(found) = kept.get(holder) {
            // The secret is compared on every request: a kept entry vouches
            // for the token's row, not for whoever presents its id.
            return match found.secret_hash.as_deref() == Some(secret_hash.as_str()) {
                true => Ok(found.actor.clone()),
                false => Err(ServiceError::Unauthenticated),
            };
        }
        let ticket = kept.ticket(presented.tenant_id);
        let (token, profile) = system::live_api_token(db.connection(), presented.tenant_id, presented.token_id)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        if secret_hash != token.secret_hash {
            return Err(ServiceError::Unauthenticated);
        }
        let actor = Actor {
            tenant_id: token.tenant_id,
            user_id: None,
            api_token_id: Some(token.id),
            profile_id: profile.id,
            is_admin: profile.is_admin,
            source: Source::ApiToken,
            access: db.permissions(&profile).await?,
        };
        kept.keep(holder, ticket, actor.clone(), Some(token.secret_hash));
        return Ok(actor);
    }
    let claims = keys.verify(bearer)?;
    let holder = Holder::User { tenant: claims.tenant, user: claims.sub };
    if use_kept && let Some(found) = kept.get(holder) {
        return Ok(found.actor.clone());
    }
    let ticket = kept.ticket(claims.tenant);
    let profile = system::active_user_profile(db.connection(), claims.tenant, claims.sub)
        .await?
        .ok_or(ServiceError::Unauthenticated)?;
    keep_person(db, &claims, ticket, &profile).await
}

/// The signed-in person's actor, from the profile their credential check
/// read after taking `ticket`; kept for their next requests.
async fn keep_person(db: &Db, claims: &Verified, ticket: Ticket, profile: &profile::Model) -> ServiceResult<Actor> {
    let actor = Actor::person(profile.tenant_id, claims.sub, profile.id, db.permissions(profile).await?);
    let holder = Holder::User { tenant: claims.tenant, user: claims.sub };
    db.credentials().keep(holder, ticket, actor.clone(), None);
    Ok(actor)
}

/// [`authenticate`], with the caller's tenant's adoption [`Version`] as
/// committed when the credential was checked (for a session token, read in
/// the same statement). Without a version (the trace head could not be read)
/// the caller's request is answered, only not from or into kept answers.
pub async fn authenticate_at_version(db: &Db, keys: &JwtKeys, bearer: &str) -> ServiceResult<(Actor, Option<Version>)> {
    if !bearer.starts_with(api_token::PREFIX) {
        let claims = keys.verify(bearer)?;
        let ticket = db.credentials().ticket(claims.tenant);
        match system::active_user_profile_and_head(db.connection(), claims.tenant, claims.sub).await {
            Ok(found) => {
                let (profile, head) = found.ok_or(ServiceError::Unauthenticated)?;
                return Ok((keep_person(db, &claims, ticket, &profile).await?, head.map(Version::of)));
            }
            Err(err) => tracing::warn!(error = %err, "checking a credential with the trace head"),
        }
    }
    let actor = Arc::new(authenticate(db, keys, bearer).await?);
    let version = match adoption::version(&db.read(actor.clone())).await {
        Ok(version) => Some(version),
        Err(err) => {
            tracing::warn!(error = ?err, "reading the adoption version");
            None
        }
    };
    Ok((Arc::unwrap_or_clone(actor), version))
}

/// Extracts the credential from an `Authorization: Bearer …` value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}
