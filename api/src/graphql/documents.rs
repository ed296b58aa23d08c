//! Documents, checked before execution and kept by their text.
//!
//! Every document, over HTTP or WebSocket, goes through [`Documents::prepare`]:
//! its size, its syntax and our limits (`guards`) are checked there, before
//! the executor sees it. async-graphql's own checks are a second line only:
//! its recursive-depth walk spins for seconds on a fragment bomb.
//!
//! Frontends and integrators send the same few documents again and again,
//! each time with new variables. Parsing one (async-graphql's pest grammar)
//! was about 4% of a list read's CPU and of a write's, so the documents that
//! pass are kept: a request then gets a clone of the kept one (the executor
//! edits its own copy: skipped fields are removed, the operation taken out),
//! which costs a fraction of a parse. Only small documents are kept, up to a
//! total size: a client sending ever new ones makes the store start over,
//! never grow past its bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_graphql::parser::parse_query;
use async_graphql::parser::types::ExecutableDocument;

use super::guards::{self, Refusal};
use crate::config::Limits;

/// A document longer than this is checked each time it comes: long documents
/// are rarely sent twice (literal data rather than variables).
const MAX_KEPT_TEXT: usize = 16 * 1024;
/// The kept documents' texts together; their parsed forms take a small
/// multiple of it.
const MAX_KEPT_TOTAL: usize = 1024 * 1024;

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
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    by_text: HashMap<String, Arc<ExecutableDocument>>,
    /// The sum of the keys' lengths.
    total: usize,
}

impl Documents {
    pub fn new(limits: Limits) -> Self {
        Self { limits, kept: Mutex::default() }
    }

    /// The parsed document `text`, if it is one the server executes.
    pub fn prepare(&self, text: &str) -> Result<Arc<ExecutableDocument>, Refused> {
        if text.len() > self.limits.max_document_bytes {
            return Err(Refused::TooLarge { max: self.limits.max_document_bytes });
        }
        if let Some(document) = self.lock().by_text.get(text) {
            return Ok(document.clone());
        }
        let document = parse_query(text).map_err(|e| Refused::Syntax(e.to_string()))?;
        guards::check(&document, &self.limits).map_err(Refused::Limits)?;
        let document = Arc::new(document);
        if text.len() <= MAX_KEPT_TEXT {
            let mut kept = self.lock();
            if kept.total + text.len() > MAX_KEPT_TOTAL {
                *kept = Kept::default();
            }
            if kept.by_text.insert(text.to_owned(), document.clone()).is_none() {
                kept.total += text.len();
            }
        }
        Ok(document)
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        // Every statement leaves the map consistent: a panic elsewhere leaves it usable.
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The document a request was prepared with, for the hooks (which keep it
/// to order the response by) without another copy.
pub struct Prepared(pub Arc<ExecutableDocument>);

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(documents: &Documents) -> (usize, usize) {
        let kept = documents.lock();
        (kept.by_text.len(), kept.total)
    }

    #[test]
    fn a_document_is_kept_and_given_again() {
        let documents = Documents::new(Limits::default());
        let first = documents.prepare("{ contacts(first: 1) { totalCount } }").expect("passes");
        let again = documents.prepare("{ contacts(first: 1) { totalCount } }").expect("passes");
        assert!(Arc::ptr_eq(&first, &again), "the second request gets the kept document");
        assert_eq!(kept(&documents).0, 1);
    }

    #[test]
    fn refused_documents_are_not_kept() {
        let documents = Documents::new(Limits { max_aliases: 1, ..Limits::default() });
        assert!(matches!(documents.prepare("{ contacts(first: "), Err(Refused::Syntax(_))));
        let aliased = "{ a: __typename b: __typename }";
        for _ in 0..2 {
            assert!(matches!(documents.prepare(aliased), Err(Refused::Limits(Refusal::TooManyAliases { .. }))));
        }
        assert_eq!(kept(&documents), (0, 0));
    }

    #[test]
    fn long_documents_are_checked_but_not_kept() {
        let documents = Documents::new(Limits::default());
        let long = format!("{{ __typename }} {}", "#".repeat(MAX_KEPT_TEXT));
        assert!(documents.prepare(&long).is_ok());
        assert_eq!(kept(&documents), (0, 0));
        let too_long = "#".repeat(Limits::default().max_document_bytes + 1);
        assert!(matches!(documents.prepare(&too_long), Err(Refused::TooLarge { .. })));
    }

    #[test]
    fn the_store_starts_over_at_its_bound() {
        let documents = Documents::new(Limits::default());
        let mut most = 0;
        for n in 0..(MAX_KEPT_TOTAL / 10_000 + 10) {
            let text = format!("{{ n{n}: __typename }} {}", "#".repeat(10_000));
            documents.prepare(&text).expect("passes");
            let (count, total) = kept(&documents);
            assert!(total <= MAX_KEPT_TOTAL, "kept {total} bytes");
            most = most.max(count);
        }
        assert!(most > 90, "kept up to {most} documents");
        assert!(kept(&documents).0 < most, "started over");
    }
}
