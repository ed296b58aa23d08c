//! Response entries in selection order.
//!
//! async-graphql 7.2 resolves an object's fields concurrently and adds each to
//! the response as it completes, so a field that waits on a loader (`account`,
//! `owner`) lands after the fields that resolve at once. The spec orders an
//! object's entries as its selection set, fragments expanded (CollectFields),
//! and clients that print or snapshot responses see the difference. This pass
//! puts every object of the response back in that order once execution ends.

use std::cell::OnceCell;
use std::sync::Arc;

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::{MetaTypeName, Registry};
use async_graphql::{Name, Positioned, Request, Value, Variables};

/// What a request asked: kept from its preparation to its response.
pub struct Asked {
    document: Arc<ExecutableDocument>,
    operation: Option<String>,
    variables: Variables,
}

impl Asked {
    /// What to order the response to `request`, whose document is `document`,
    /// by; none for a subscription, whose events are built elsewhere (and
    /// which would keep its document for as long as it runs).
    pub fn new(document: Arc<ExecutableDocument>, request: &Request) -> Option<Self> {
        let name = request.operation_name.clone();
        let op = operation(&document, name.as_deref())?;
        if op.ty == OperationType::Subscription {
            return None;
        }
        // Only what `@skip`/`@include` read: a bulk upsert's records arrive as variables.
        let mut kept = Variables::default();
        let mut keep = |name: Name| {
            if let Some(value) = request.variables.get(&name) {
                kept.insert(name, value.clone());
            }
        };
        for (_, op) in document.operations.iter() {
            conditions(&op.node.selection_set.node, &mut keep);
        }
        for fragment in document.fragments.values() {
            conditions(&fragment.node.selection_set.node, &mut keep);
        }
        Some(Self { document, operation: name, variables: kept })
    }
}

/// Calls `found` with each variable an `if:` of `@skip`/`@include` reads in `set`.
fn conditions(set: &SelectionSet, found: &mut impl FnMut(Name)) {
    for selection in &set.items {
        for directive in selection.node.directives() {
            let name = directive.node.name.node.as_str();
            if name != "skip" && name != "include" {
                continue;
            }
            if let Some(argument) = directive.node.get_argument("if") {
                let _ = argument.node.clone().into_const_with(|variable| {
                    found(variable);
                    Ok::<_, ()>(Value::Null)
                });
            }
        }
        match &selection.node {
            Selection::Field(field) => conditions(&field.node.selection_set.node, found),
            Selection::InlineFragment(fragment) => conditions(&fragment.node.selection_set.node, found),
            Selection::FragmentSpread(_) => {}
        }
    }
}

/// Reorders every object in `data` as `asked` selected it.
pub fn restore(data: &mut Value, asked: &Asked, registry: &Registry) {
    let Some(operation) = operation(&asked.document, asked.operation.as_deref()) else { return };
    let root = match operation.ty {
        OperationType::Query => Some(registry.query_type.as_str()),
        OperationType::Mutation => registry.mutation_type.as_deref(),
        // Events are built one by one elsewhere; this pass sees query responses.
        OperationType::Subscription => None,
    };
    let Some(root) = root else { return };
    let walk = Walk { document: &asked.document, variables: &asked.variables, registry };
    walk.value(data, &[&operation.selection_set.node], root);
}

/// The operation `name` picks, as the executor picks it.
pub(super) fn operation<'d>(document: &'d ExecutableDocument, name: Option<&str>) -> Option<&'d OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        _ => None,
    }
}

/// One response key and the selection sets of the fields merged under it.
struct Entry<'d> {
    key: &'d str,
    field: &'d str,
    sets: Vec<&'d SelectionSet>,
}

/// The same keys, fields and sub-selections, in the same order.
fn same(a: &[Entry<'_>], b: &[Entry<'_>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.key == b.key
                && a.field == b.field
                && a.sets.len() == b.sets.len()
                && a.sets.iter().zip(&b.sets).all(|(x, y)| std::ptr::eq(*x, *y))
        })
}

struct Walk<'d> {
    document: &'d ExecutableDocument,
    variables: &'d Variables,
    registry: &'d Registry,
}

/// How the objects answering one selection on one object type are ordered:
/// collected once and shared by every object it orders (a list's items, the
/// same field of every item), instead of once per object.
struct Plan<'d> {
    entries: Vec<Entry<'d>>,
    /// By entry: what its field answers with, when it has a sub-selection.
    children: Vec<Option<Child<'d>>>,
}

enum Child<'d> {
    /// One object type: one plan for all its answers, made at the first.
    Concrete(&'d str, OnceCell<Plan<'d>>),
    /// A union or interface, whose plan depends on each answer's own type.
    Abstract(&'d str),
}

impl<'d> Walk<'d> {
    /// Orders `value`, the answer to `sets` on a field of type `ty` (named).
    fn value(&self, value: &mut Value, sets: &[&'d SelectionSet], ty: &str) {
        if self.is_concrete(ty) {
            self.ordered(value, &self.plan(sets, ty));
            return;
        }
        match value {
            Value::List(items) => {
                for item in items {
                    self.value(item, sets, ty);
                }
            }
            Value::Object(map) => {
                let Some(runtime) = self.runtime_type(map, sets, ty) else { return };
                self.object(map, &self.plan(sets, runtime));
            }
            _ => {}
        }
    }

    /// Orders `value`, answers of one object type, by their `plan`.
    fn ordered(&self, value: &mut Value, plan: &Plan<'d>) {
        match value {
            Value::Object(map) => self.object(map, plan),
            Value::List(items) => {
                for item in items {
                    self.ordered(item, plan);
                }
            }
            _ => {}
        }
    }

    fn plan(&self, sets: &[&'d SelectionSet], ty: &str) -> Plan<'d> {
        let entries = self.entries(sets, ty);
        let meta = self.registry.types.get(ty);
        let children = entries
            .iter()
            .map(|entry| {
                if entry.sets.iter().all(|set| set.items.is_empty()) {
                    return None;
                }
                let field = meta?.field_by_name(entry.field)?;
                let child = MetaTypeName::concrete_typename(&field.ty);
                Some(if self.is_concrete(child) {
                    Child::Concrete(child, OnceCell::new())
                } else {
                    Child::Abstract(child)
                })
            })
            .collect();
        Plan { entries, children }
    }

    fn object(&self, map: &mut async_graphql::indexmap::IndexMap<Name, Value>, plan: &Plan<'d>) {
        let entries = &plan.entries;
        // One pass over both when already in order, the common case.
        let mut next = 0;
        let in_order = map.keys().all(|key| match entries[next..].iter().position(|e| e.key == key.as_str()) {
            Some(at) => {
                next += at + 1;
                true
            }
            None => false,
        });
        if !in_order {
            let position = |key: &Name| entries.iter().position(|e| e.key == key.as_str()).unwrap_or(usize::MAX);
            // Stable: keys the selection does not name (none expected) keep their order, last.
            map.sort_by(|a, _, b, _| position(a).cmp(&position(b)));
        }
        // The keys are now in the entries' order: found by walking both, not hashing.
        let mut next = 0;
        for (key, child) in map.iter_mut() {
            let Some(at) = entries[next..].iter().position(|e| e.key == key.as_str()) else { continue };
            let entry = next + at;
            next = entry + 1;
            match &plan.children[entry] {
                None => {}
                Some(Child::Concrete(ty, sub)) => {
                    self.ordered(child, sub.get_or_init(|| self.plan(&entries[entry].sets, ty)));
                }
                Some(Child::Abstract(ty)) => self.value(child, &entries[entry].sets, ty),
            }
        }
    }

    fn is_concrete(&self, ty: &str) -> bool {
        self.registry.types.get(ty).is_some_and(|meta| !meta.is_abstract())
    }

    /// The object type of an answer to a field of type `ty`. For a union or
    /// interface: the one its `__typename` names, when selected; else the
    /// member whose collected selection has exactly the object's keys, when
    /// every member that does collects the same selection. Otherwise none: the
    /// object is left as the executor built it rather than guessed.
    fn runtime_type<'t>(
        &self,
        map: &async_graphql::indexmap::IndexMap<Name, Value>,
        sets: &[&'d SelectionSet],
        ty: &'t str,
    ) -> Option<&'t str>
    where
        'd: 't,
    {
        let meta = self.registry.types.get(ty)?;
        let Some(members) = meta.possible_types() else { return Some(ty) };
        let mut found: Option<(&'d str, Vec<Entry<'d>>)> = None;
        for member in members {
            let entries = self.entries(sets, member);
            let named = entries.iter().filter(|e| e.field == "__typename").find_map(|e| match map.get(e.key) {
                Some(Value::String(name)) => Some(name.as_str()),
                _ => None,
            });
            if let Some(name) = named {
                return self.registry.types.get(name).map(|meta| meta.name());
            }
            let exact = entries.len() == map.len() && map.keys().all(|k| entries.iter().any(|e| e.key == k.as_str()));
            if !exact {
                continue;
            }
            match &found {
                None => found = Some((self.registry.types.get(member.as_str())?.name(), entries)),
                Some((_, first)) if same(first, &entries) => {}
                Some(_) => return None,
            }
        }
        found.map(|(member, _)| member)
    }

    /// The response keys `sets` select on an object of type `ty`, in order.
    fn entries(&self, sets: &[&'d SelectionSet], ty: &str) -> Vec<Entry<'d>> {
        let mut entries = Vec::new();
        for set in sets {
            self.collect(set, ty, &mut entries);
        }
        entries
    }

    fn collect(&self, set: &'d SelectionSet, ty: &str, entries: &mut Vec<Entry<'d>>) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    if !self.included(&field.node.directives) {
                        continue;
                    }
                    let key = field.node.response_key().node.as_str();
                    let sub = &field.node.selection_set.node;
                    match entries.iter_mut().find(|e| e.key == key) {
                        Some(entry) => entry.sets.push(sub),
                        None => entries.push(Entry { key, field: field.node.name.node.as_str(), sets: vec![sub] }),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if !self.included(&spread.node.directives) {
                        continue;
                    }
                    let Some(fragment) = self.document.fragments.get(&spread.node.fragment_name.node) else {
                        continue;
                    };
                    if self.applies(fragment.node.type_condition.node.on.node.as_str(), ty) {
                        self.collect(&fragment.node.selection_set.node, ty, entries);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    if !self.included(&fragment.node.directives) {
                        continue;
                    }
                    let applies =
                        fragment.node.type_condition.as_ref().is_none_or(|c| self.applies(c.node.on.node.as_str(), ty));
                    if applies {
                        self.collect(&fragment.node.selection_set.node, ty, entries);
                    }
                }
            }
        }
    }

    fn applies(&self, condition: &str, ty: &str) -> bool {
        condition == ty || self.registry.types.get(condition).is_some_and(|meta| meta.is_possible_type(ty))
    }

    /// `@skip` and `@include`, as the executor evaluates them.
    fn included(&self, directives: &[Positioned<Directive>]) -> bool {
        directives.iter().all(|directive| match directive.node.name.node.as_str() {
            "skip" => !self.condition(&directive.node),
            "include" => self.condition(&directive.node),
            _ => true,
        })
    }

    /// Defaults are in `variables` already (see `variables::fill_defaults`).
    fn condition(&self, directive: &Directive) -> bool {
        let Some(argument) = directive.get_argument("if") else { return false };
        let value = argument.node.clone().into_const_with(|name| self.variables.get(&name).cloned().ok_or(()));
        matches!(value, Ok(Value::Boolean(true)))
    }
}
