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

/// A change to one optional field: leave it, clear it, or set it.
#[derive(Clone, Debug, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
    }
}

/// An optional text field, cleaned; blank means empty.
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> ServiceResult<Option<String>> {
    let Some(cleaned) = value.and_then(clean_text) else { return Ok(None) };
    if cleaned.chars().count() > max {
        return Err(ServiceError::invalid(field, format!("must be at most {max} characters")));
    }
    Ok(Some(cleaned))
}

/// An optional email, lowercased and validated.
pub fn optional_email(field: &str, value: Option<&str>) -> ServiceResult<Option<String>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => email(field, v).map(Some),
        None => Ok(None),
    }
}

/// Phone numbers in one canonical form: `+` and digits (international) or digits only.
/// Spaces, dots, dashes, slashes and parentheses are dropped; `00` becomes `+`.
pub fn optional_phone(field: &str, value: Option<&str>) -> ServiceResult<Option<String>> {
    let Some(raw) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    let international = raw.starts_with('+') || raw.starts_with("00");
    let body = raw.strip_prefix('+').unwrap_or(raw);
    if !body.chars().all(|c| c.is_ascii_digit() || " .-/()".contains(c)) {
        return Err(ServiceError::invalid(field, "is not a valid phone number"));
    }
    let mut digits: String = body.chars().filter(char::is_ascii_digit).collect();
    if raw.starts_with("00") {
        digits.drain(..2);
    }
    if !(6..=15).contains(&digits.len()) {
        return Err(ServiceError::invalid(field, "is not a valid phone number (6 to 15 digits)"));
    }
    Ok(Some(if international { format!("+{digits}") } else { digits }))
}

/// An optional web address: `https://` is assumed when no scheme is given.
pub fn optional_url(field: &str, value: Option<&str>) -> ServiceResult<Option<String>> {
    let Some(raw) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    let lower = raw.to_ascii_lowercase();
    let (scheme, rest) = match lower.split_once("://") {
        Some((scheme, _)) => (scheme.to_owned(), &raw[scheme.len() + 3..]),
        None => ("https".to_owned(), raw),
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase();
    let host_ok = host.contains('.')
        && !host.starts_with('.')
        && !host.ends_with('.')
        && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c));
    if !matches!(scheme.as_str(), "http" | "https")
        || !host_ok
        || raw.chars().any(char::is_whitespace)
        || raw.len() > 300
    {
        return Err(ServiceError::invalid(field, "is not a valid http(s) URL"));
    }
    let path = &rest[host.len()..];
    Ok(Some(format!("{scheme}://{host}{path}")))
}

/// Dates and times a CRM can mean: years 1900 to 2999 (typos like 20255 are refused).
pub fn year_in_range(field: &str, year: i32) -> ServiceResult<()> {
    if (1900..=2999).contains(&year) {
        Ok(())
    } else {
        Err(ServiceError::invalid(field, "must be between the years 1900 and 2999"))
    }
}

pub fn date(field: &str, date: chrono::NaiveDate) -> ServiceResult<()> {
    year_in_range(field, chrono::Datelike::year(&date))
}

pub fn datetime(field: &str, at: chrono::DateTime<chrono::Utc>) -> ServiceResult<()> {
    year_in_range(field, chrono::Datelike::year(&at))
}
