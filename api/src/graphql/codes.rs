//! Every error a client sees carries an `extensions.code`.
//!
//! Our resolvers' errors get theirs from `GqlError`. The errors async-graphql
//! raises itself (an argument that does not coerce, a oneOf input with two
//! fields, an unknown field) are all about the client's request, so they are
//! BAD_USER_INPUT: a client can always branch on the code, never on the text.

use async_graphql::{ErrorExtensionValues, Response};

use crate::error::ErrorCode;

/// Gives every error of the response that has no code BAD_USER_INPUT.
pub fn fill_in(response: &mut Response) {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
        if extensions.get("code").is_none() {
            extensions.set("code", ErrorCode::BadUserInput.as_str());
        }
    }
}
