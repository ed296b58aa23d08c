//! Session tokens (HS256 JWT).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::Config;
use crate::error::{ServiceError, ServiceResult};

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

/// Signs and verifies session tokens with one secret.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: i64,
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

    pub fn verify(&self, token: &str) -> ServiceResult<Claims> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ServiceError::Unauthenticated);
        }
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| ServiceError::Unauthenticated)
    }
}
