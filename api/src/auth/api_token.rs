//! API token format: `crm_` + tenant id + token id + 32 random bytes, all hex.
//!
//! The tenant id is inside the token so that the lookup is a primary-key read
//! within that tenant, without any global index on token ids.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{ServiceError, ServiceResult};

pub const PREFIX: &str = "crm_";

/// The parts of a presented token.
pub struct Presented {
    pub tenant_id: Uuid,
    pub token_id: Uuid,
    pub secret: String,
}

/// Creates a new secret and the full token string given once to the admin.
pub fn generate(tenant_id: Uuid, token_id: Uuid) -> ServiceResult<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ServiceError::Internal(format!("rng: {e}")))?;
    let secret = to_hex(&bytes);
    let token = format!("{PREFIX}{}{}{}", tenant_id.simple(), token_id.simple(), secret);
    Ok((token, secret))
}

pub fn parse(token: &str) -> Option<Presented> {
    let body = token.strip_prefix(PREFIX)?;
    if body.len() != 32 + 32 + 64 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(Presented {
        tenant_id: Uuid::try_parse(&body[..32]).ok()?,
        token_id: Uuid::try_parse(&body[32..64]).ok()?,
        secret: body[64..].to_owned(),
    })
}

pub fn hash_secret(secret: &str) -> String {
    to_hex(&Sha256::digest(secret.as_bytes()))
}

pub fn to_hex(bytes: &[u8]) -> String {
    // By table, not `write!`: lists write a cursor per row in this form.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}
