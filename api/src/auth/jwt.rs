//! Session tokens (HS256 JWT).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::Config;
use crate::error::{ServiceError, ServiceResult};
use crate::kept::Kept;

/// Tokens longer than this are refused before any parsing or signature work.
pub const MAX_TOKEN_BYTES: usize = 4096;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub tenant: Uuid,
    pub profile: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

/// What a valid token says.
#[derive(Clone, Copy, Debug)]
pub struct Verified {
    pub sub: Uuid,
    pub tenant: Uuid,
    pub profile: Uuid,
    pub exp: i64,
}

/// Tokens verified once are kept with what they say, up to this many (then
/// the tenant holding the most gives up its oldest): every request carries its token,
/// and decoding and checking it was 2% of a write's CPU. A token's text fixes
/// its claims, so a kept one only needs its expiry checked again; whether its
/// user may still act is checked regardless (`service::auth`).
const MAX_VERIFIED: usize = 4096;

/// Signs and verifies session tokens with one secret.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: i64,
    verified: Kept<Verified>,
}

impl JwtKeys {
    pub fn new(config: &Config) -> Self {
        // The algorithm is pinned, and exp/iss/aud must be present: set_issuer and
        // set_audience alone accept tokens that simply omit those claims.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[config.jwt_issuer.as_str()]);
        validation.set_audience(&[config.jwt_audience.as_str()]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(&config.jwt_secret),
            decoding: DecodingKey::from_secret(&config.jwt_secret),
            validation,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            ttl_secs: i64::try_from(config.token_ttl.as_secs()).unwrap_or(i64::MAX),
            verified: Kept::new(MAX_VERIFIED),
        }
    }

    pub fn issue(&self, user: Uuid, tenant: Uuid, profile: Uuid) -> ServiceResult<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            tenant,
            profile,
            iat: now,
            exp: now.saturating_add(self.ttl_secs),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ServiceError::Internal(format!("jwt encode: {e}")))
    }

    pub fn ttl(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.ttl_secs)
    }

    pub fn verify(&self, token: &str) -> ServiceResult<Verified> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ServiceError::Unauthenticated);
        }
        if let Some(verified) = self.verified.get(token) {
            // jsonwebtoken's own test of `exp`, with the same leeway.
            let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
            return if verified.exp >= now.saturating_sub(i64::try_from(self.validation.leeway).unwrap_or(0)) {
                Ok(verified)
            } else {
                Err(ServiceError::Unauthenticated)
            };
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ServiceError::Unauthenticated)?
            .claims;
        let verified = Verified { sub: claims.sub, tenant: claims.tenant, profile: claims.profile, exp: claims.exp };
        self.verified.keep(token, verified, 1, claims.tenant);
        Ok(verified)
    }
}
