//! Answers to the adoption report, kept while the data under them stands.
//!
//! Dashboards ask the same report again and again, and each time it costs a
//! few thousand rollup rows read and some 200 KB of JSON written for 26 weeks
//! of 50 users. So the bytes of an answer are kept, per caller and question,
//! with the tenant's adoption [`Version`] it was computed at and the instant
//! it stops holding on its own (an open activity falling due, a new week).
//! The same question from the same caller is then answered with those bytes
//! while the version read for it is the same and the instant has not come:
//! the tenant's trace head, read with the credential, instead of the report.
//!
//! Only queries whose fields are all `adoption` (or `__typename`) are kept,
//! over HTTP, for an authenticated caller, and only when they ran without an
//! error. The caller is part of the question: what a report shows depends on
//! who asks (their team, their profile's rights).
//!
//! That an answer stands while the version does rests on every change of what
//! a report shows being traced (see `adoption::Version`): a field added to the
//! report, or to the users and profiles it links to, must be one that only
//! traced writes change, or the report must leave `KEPT_FIELDS`.

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection};
use axum::body::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Actor;
use crate::kept::Kept;
use crate::service::adoption::Version;

/// The most the kept answers weigh together, in bytes.
const MAX_KEPT_TOTAL: usize = 16 << 20;

/// Questions longer than this (text and variables) are answered, not kept:
/// dashboards ask short ones, and a key is hashed from the whole question.
const MAX_QUESTION: usize = 16 << 10;

/// The root fields whose answers may be kept (besides `__typename`).
const KEPT_FIELDS: [&str; 1] = ["adoption"];

struct Answer {
    version: Version,
    until: DateTime<Utc>,
    body: Bytes,
}

/// The kept answers of one server, by question.
pub struct Answers {
    kept: Kept<Arc<Answer>>,
}

impl Default for Answers {
    fn default() -> Self {
        Self { kept: Kept::new(MAX_KEPT_TOTAL) }
    }
}

/// What a request asks and who asks it, when its answer may be kept: a
/// digest of the caller, the operation's name, the variables it declares and
/// the document's text.
pub struct Question {
    key: String,
    /// The caller's tenant, whose share of the store the answer counts in.
    tenant: Uuid,
}

/// Until when the answer of the request being run holds, as its resolvers
/// tell (each `adoption` field its report's `fresh_until`).
#[derive(Default)]
pub struct Holds(Mutex<Option<DateTime<Utc>>>);

impl Holds {
    /// The answer holds until `instant` at the latest.
    pub fn until(&self, instant: DateTime<Utc>) {
        let mut until = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *until = Some(until.map_or(instant, |t| t.min(instant)));
    }

    fn get(&self) -> Option<DateTime<Utc>> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request whose answer may be kept, before who asks is known: its
/// operation is a query selecting only kept fields (directly, not through
/// fragments). Variables the operation does not declare cannot change its
/// answer and are left out.
pub struct Asked {
    text: String,
}

pub fn asked(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: Option<&serde_json::Value>,
    query: &str,
) -> Option<Asked> {
    let operation = super::order::operation(document, operation_name)?;
    if operation.ty != OperationType::Query {
        return None;
    }
    let mut kept = false;
    for selection in &operation.selection_set.node.items {
        let Selection::Field(field) = &selection.node else { return None };
        match field.node.name.node.as_str() {
            "__typename" => {}
            name if KEPT_FIELDS.contains(&name) => kept = true,
            _ => return None,
        }
    }
    if !kept {
        return None;
    }
    let declared: serde_json::Map<String, serde_json::Value> = operation
        .variable_definitions
        .iter()
        .filter_map(|definition| {
            let name = definition.node.name.node.as_str();
            Some((name.to_owned(), variables?.get(name)?.clone()))
        })
        .collect();
    let variables = serde_json::Value::Object(declared).to_string();
    if query.len() + variables.len() > MAX_QUESTION {
        return None;
    }
    // Lengths first: no two different questions make one text to hash.
    let name = operation_name.unwrap_or_default();
    Some(Asked { text: format!("{}:{name}\n{}:{variables}\n{query}", name.len(), variables.len()) })
}

impl Asked {
    /// The question, asked by `actor`.
    pub fn by(&self, actor: &Actor) -> Question {
        let caller = format!("{}/{:?}/{:?}/{}", actor.tenant_id, actor.user_id, actor.api_token_id, actor.profile_id);
        let digest = Sha256::new().chain_update(caller).chain_update("\n").chain_update(&self.text).finalize();
        Question { key: format!("{digest:x}"), tenant: actor.tenant_id }
    }
}

impl Answers {
    /// The kept answer to `question` if it still holds at `version`, which
    /// the caller read before any of the report's data: an answer computed
    /// after it reflects at least that version, so it is never kept under a
    /// later one.
    pub fn lookup(&self, question: &Question, version: &Version) -> Option<Bytes> {
        let answer = self.kept.get(&question.key)?;
        (answer.version == *version && Utc::now() < answer.until).then(|| answer.body.clone())
    }

    /// Keeps the answer of a request that ran without errors, when its
    /// resolvers said until when it holds.
    pub fn keep(&self, question: &Question, version: Version, holds: &Holds, body: Bytes) {
        let Some(until) = holds.get() else { return };
        if Utc::now() >= until {
            return;
        }
        let weight = question.key.len() + body.len();
        // An answer computed by an earlier request can land after a later one's:
        // the store then holds the earlier, and the next request computes again.
        self.kept.replace(&question.key, Arc::new(Answer { version, until, body }), weight, question.tenant);
    }
}
