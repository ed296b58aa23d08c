//! Relay-style connections: opaque cursors and page info.

use async_graphql::SimpleObject;

use crate::error::{GqlResult, ServiceError};

/// Where a page sits in the whole list.
#[derive(SimpleObject, Clone)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// Default page size when `first` is not given.
pub const DEFAULT_PAGE: i32 = 50;

/// Validates `first` (1 to `max`).
pub fn page_size(first: Option<i32>, max: u64) -> GqlResult<u64> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    u64::try_from(first)
        .ok()
        .filter(|f| (1..=max).contains(f))
        .ok_or_else(|| ServiceError::invalid("first", format!("must be between 1 and {max}")).into())
}

pub fn encode(kind: &str, position: i64) -> String {
    crate::auth::api_token::to_hex(format!("{kind}:{position}").as_bytes())
}

/// Decodes a cursor of the given kind; anything else is a BAD_USER_INPUT on `after`.
pub fn decode(kind: &str, cursor: Option<&str>) -> GqlResult<Option<i64>> {
    let Some(cursor) = cursor else { return Ok(None) };
    let invalid = || ServiceError::invalid("after", "is not a cursor of this list").into();
    if cursor.len() % 2 != 0 || cursor.len() > 64 {
        return Err(invalid());
    }
    let bytes: Option<Vec<u8>> =
        (0..cursor.len()).step_by(2).map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok()).collect();
    let text = bytes.and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
    let (found, position) = text.split_once(':').ok_or_else(invalid)?;
    match (found == kind, position.parse::<i64>()) {
        (true, Ok(position)) if position >= 0 => Ok(Some(position)),
        _ => Err(invalid()),
    }
}
