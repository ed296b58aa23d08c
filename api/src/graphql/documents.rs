//! Documents, checked before execution and kept by their text.
//!
//! Every document, over HTTP or WebSocket, goes through [`Documents::prepare`]:
//! its size, its syntax and our limits (`guards`) are checked there, before
//! the executor sees it. async-graphql's own checks are a second line only
//! (its recursive-depth walk does not memoize fragments; see `guards`).
//!
//! Frontends and integrators send the same few documents again and again,
//! each time with new variables. Parsing one (async-graphql's pest grammar)
//! was about 4% of a list read's CPU and of a write's, so the documents that
//! pass are kept (`keep`) once their request authenticated: a request then
//! gets a clone of the kept one (the executor edits its own copy: skipped
//! fields are removed, the operation taken out), which costs a fraction of a
//! parse. Only small documents are kept, up to a total size (see `kept`). A
//! parsed document takes a few times its text's size, up to some forty times
//! for one made of literal list items: at most about 10 MB for the whole
//! store, and only from signed-in callers.

use std::sync::Arc;

use async_graphql::parser::parse_query;
use async_graphql::parser::types::ExecutableDocument;

use super::guards::{self, Refusal};
use crate::config::Limits;
use uuid::Uuid;

use crate::kept::Kept;

/// A document longer than this is checked each time it comes: long documents
/// are rarely sent twice (literal data rather than variables).
const MAX_KEPT_TEXT: usize = 8 * 1024;
/// The kept documents' texts together.
const MAX_KEPT_TOTAL: usize = 256 * 1024;

/// Why a document is not executed.
#[derive(Debug)]
pub enum Refused {
    TooLarge { max: usize },
    Syntax(String),
    Limits(Refusal),
}

impl Refused {
    pub fn message(&self) -> String {
        match self {
            Self::TooLarge { max } => format!("the query document exceeds {max} bytes"),
            Self::Syntax(error) => format!("syntax error: {error}"),
            Self::Limits(refusal) => refusal.message(),
        }
    }
}

pub struct Documents {
    limits: Limits,
    kept: Kept<Arc<ExecutableDocument>>,
}

impl Documents {
    pub fn new(limits: Limits) -> Self {
        Self { limits, kept: Kept::new(MAX_KEPT_TOTAL) }
    }

    /// The parsed document `text`, if it is one the server executes.
    pub fn prepare(&self, text: &str) -> Result<Arc<ExecutableDocument>, Refused> {
        if text.len() > self.limits.max_document_bytes {
            return Err(Refused::TooLarge { max: self.limits.max_document_bytes });
        }
        if text.len() <= MAX_KEPT_TEXT
            && let Some(document) = self.kept.get(text)
        {
            return Ok(document);
        }
        let document = parse_query(text).map_err(|e| Refused::Syntax(e.to_string()))?;
        if let Err(refusal) = guards::check(&document, &self.limits) {
            tracing::info!(reason = %refusal.message(), "document refused before execution");
            return Err(Refused::Limits(refusal));
        }
        Ok(Arc::new(document))
    }

    /// Keeps `document`, prepared from `text` for a request authenticated
    /// in `tenant`.
    pub fn keep(&self, text: &str, document: &Arc<ExecutableDocument>, tenant: Uuid) {
        if text.len() <= MAX_KEPT_TEXT {
            self.kept.keep(text, document.clone(), text.len(), tenant);
        }
    }
}

/// The document a request was prepared with, for the hooks (which keep it
/// to order the response by) without another copy.
pub struct Prepared(pub Arc<ExecutableDocument>);

#[cfg(test)]
mod tests {
    use super::*;

    /// Prepares and keeps `text`, as for an authenticated request.
    fn prepared(documents: &Documents, text: &str) -> Result<Arc<ExecutableDocument>, Refused> {
        let document = documents.prepare(text)?;
        documents.keep(text, &document, Uuid::nil());
        Ok(document)
    }

    #[test]
    fn a_document_is_kept_and_given_again() {
        let documents = Documents::new(Limits::default());
        let text = "{ contacts(first: 1) { totalCount } }";
        let unkept = documents.prepare(text).expect("passes");
        let first = prepared(&documents, text).expect("passes");
        assert!(!Arc::ptr_eq(&unkept, &first), "kept only when asked to");
        let again = documents.prepare(text).expect("passes");
        assert!(Arc::ptr_eq(&first, &again), "the next request gets the kept document");
        assert_eq!(documents.kept.size().0, 1);
    }

    #[test]
    fn refused_documents_are_not_kept() {
        let documents = Documents::new(Limits { max_aliases: 1, ..Limits::default() });
        assert!(matches!(prepared(&documents, "{ contacts(first: "), Err(Refused::Syntax(_))));
        let aliased = "{ a: __typename b: __typename }";
        for _ in 0..2 {
            assert!(matches!(prepared(&documents, aliased), Err(Refused::Limits(Refusal::TooManyAliases { .. }))));
        }
        assert_eq!(documents.kept.size(), (0, 0));
    }

    #[test]
    fn long_documents_are_checked_but_not_kept() {
        let documents = Documents::new(Limits::default());
        let long = format!("{{ __typename }} {}", "#".repeat(MAX_KEPT_TEXT));
        assert!(prepared(&documents, &long).is_ok());
        assert_eq!(documents.kept.size(), (0, 0));
        let too_long = "#".repeat(Limits::default().max_document_bytes + 1);
        assert!(matches!(documents.prepare(&too_long), Err(Refused::TooLarge { .. })));
    }

    #[test]
    fn the_store_gives_up_its_oldest_at_its_bound() {
        let documents = Documents::new(Limits::default());
        let text = |n: usize| format!("{{ n{n}: __typename }} {}", "#".repeat(4_000));
        let sent = MAX_KEPT_TOTAL / 4_000 + 10;
        for n in 0..sent {
            prepared(&documents, &text(n)).expect("passes");
            let (_, total) = documents.kept.size();
            assert!(total <= MAX_KEPT_TOTAL, "kept {total} bytes");
        }
        let (count, _) = documents.kept.size();
        assert!(count > 60, "kept {count} documents");
        assert!(documents.kept.get(&text(0)).is_none(), "the oldest went");
        assert!(documents.kept.get(&text(sent - 1)).is_some(), "the newest stays");
    }
}
