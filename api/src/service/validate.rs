//! Input cleaning shared by every service: each failure names its field.

use crate::error::{ServiceError, ServiceResult};

/// Trims and collapses inner whitespace; empty becomes `None`.
pub fn clean_text(value: &str) -> Option<String> {
    let cleaned = value.split_whitespace().collect::<Vec<_>>().join(" ");
    (!cleaned.is_empty()).then_some(cleaned)
}

/// A required text field, cleaned, at most `max` characters.
pub fn required_text(field: &str, value: &str, max: usize) -> ServiceResult<String> {
    let cleaned = clean_text(value).ok_or_else(|| ServiceError::invalid(field, "is required"))?;
    if cleaned.chars().count() > max {
        return Err(ServiceError::invalid(field, format!("must be at most {max} characters")));
    }
    Ok(cleaned)
}

/// Lowercased, trimmed, and shaped like `local@domain.tld`.
pub fn email(field: &str, value: &str) -> ServiceResult<String> {
    let email = value.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        });
    if valid { Ok(email) } else { Err(ServiceError::invalid(field, "is not a valid email address")) }
}

/// Passwords: long enough to matter, short enough not to be a hashing DoS.
pub fn password(field: &str, value: &str) -> ServiceResult<()> {
    let len = value.chars().count();
    if len < 8 {
        return Err(ServiceError::invalid(field, "must be at least 8 characters"));
    }
    if value.len() > 256 {
        return Err(ServiceError::invalid(field, "must be at most 256 bytes"));
    }
    Ok(())
}

/// Tenant slugs: lowercase letters, digits and dashes, 2 to 64 characters.
pub fn slug(field: &str, value: &str) -> ServiceResult<String> {
    let slug = value.trim().to_owned();
    let valid = (2..=64).contains(&slug.len())
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if valid { Ok(slug) } else { Err(ServiceError::invalid(field, "must be 2-64 lowercase letters, digits or dashes")) }
}
