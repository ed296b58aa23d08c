//! Pre-execution limits on a parsed document.
//!
//! Counts are taken as if every fragment were expanded where it is spread, but
//! each fragment is measured once and memoized: a 1 KB document whose
//! fragments spread each other twice per level expands to billions of fields,
//! and a walker without memoization (async-graphql 7.2's own recursive-depth
//! check is one) spins for seconds on it. Here it costs one pass per fragment.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Positioned};

use crate::config::Limits;

/// Why a document was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    TooDeep { depth: u64, max: usize },
    TooManyAliases { aliases: u64, max: usize },
    TooManySelections { selections: u64, max: usize },
    FragmentCycle(String),
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Self::TooDeep { depth, max } => format!("query depth {depth} exceeds the limit of {max}"),
            Self::TooManyAliases { aliases, max } => format!("query uses {aliases} aliases; the limit is {max}"),
            Self::TooManySelections { selections, max } => {
                format!("query selects {selections} fields after expanding fragments; the limit is {max}")
            }
            Self::FragmentCycle(name) => format!("fragment {name} spreads itself"),
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Cost {
    depth: u64,
    selections: u64,
    aliases: u64,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.depth = self.depth.max(other.depth);
        self.selections = self.selections.saturating_add(other.selections);
        self.aliases = self.aliases.saturating_add(other.aliases);
    }
}

enum Memo {
    InProgress,
    Done(Cost),
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    memo: HashMap<&'a Name, Memo>,
}

impl<'a> Walker<'a> {
    fn selection_set(&mut self, set: &'a Positioned<SelectionSet>) -> Result<Cost, Refusal> {
        let mut cost = Cost::default();
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    let child = self.selection_set(&field.node.selection_set)?;
                    cost.add(Cost {
                        depth: child.depth.saturating_add(1),
                        selections: child.selections.saturating_add(1),
                        aliases: child.aliases.saturating_add(u64::from(field.node.alias.is_some())),
                    });
                }
                Selection::InlineFragment(inline) => {
                    let child = self.selection_set(&inline.node.selection_set)?;
                    cost.add(child);
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    let mut child = self.fragment(name)?;
                    // The spread itself is work for the executor too.
                    child.selections = child.selections.saturating_add(1);
                    cost.add(child);
                }
            }
        }
        Ok(cost)
    }

    fn fragment(&mut self, name: &'a Name) -> Result<Cost, Refusal> {
        match self.memo.get(name) {
            Some(Memo::Done(cost)) => return Ok(*cost),
            Some(Memo::InProgress) => return Err(Refusal::FragmentCycle(name.to_string())),
            None => {}
        }
        // Unknown fragments are reported by validation; they cost nothing here.
        let Some(fragment) = self.doc.fragments.get(name) else { return Ok(Cost::default()) };
        self.memo.insert(name, Memo::InProgress);
        let cost = self.selection_set(&fragment.node.selection_set)?;
        self.memo.insert(name, Memo::Done(cost));
        Ok(cost)
    }
}

/// Checks every operation of the document against the limits.
pub fn check(doc: &ExecutableDocument, limits: &Limits) -> Result<(), Refusal> {
    let mut walker = Walker { doc, memo: HashMap::new() };
    let mut total = Cost::default();
    for (_, operation) in doc.operations.iter() {
        total.add(walker.selection_set(&operation.node.selection_set)?);
    }
    // Fragments no operation spreads still go through validation: measure them too.
    for name in doc.fragments.keys() {
        walker.fragment(name)?;
    }
    if total.depth > limits.max_depth as u64 {
        return Err(Refusal::TooDeep { depth: total.depth, max: limits.max_depth });
    }
    if total.aliases > limits.max_aliases as u64 {
        return Err(Refusal::TooManyAliases { aliases: total.aliases, max: limits.max_aliases });
    }
    if total.selections > limits.max_selections as u64 {
        return Err(Refusal::TooManySelections { selections: total.selections, max: limits.max_selections });
    }
    Ok(())
}
