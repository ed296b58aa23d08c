//! Lists of plain rows, resolved in one synchronous walk per row.
//!
//! async-graphql resolves each field of each object as its own boxed future,
//! and with an extension installed it also builds a `ResolveInfo` for every
//! field and list item and runs the extension chain on it. For report rows
//! that only hold values (no loader, nothing that can fail, no field a profile
//! can hide) that machinery was the larger part of a report's CPU: 26 weeks of
//! 50 users is 1,300 rows of about eight fields each.
//!
//! A `Rows<T>` is a `[T!]!` in the schema, like a `Vec<T>`. When every field
//! its selection reaches is plain, the rows are built by walking the selection
//! (fragments included) once per row; as soon as one field needs the executor
//! (a loader, say), the whole list goes through the executor as a `Vec` would.
//! The executor's hooks have nothing to do on such rows: visibility concerns
//! the record types of the catalog, which never take this path (`object`
//! refuses them, nested or not), and the fields cannot fail.

use std::borrow::Cow;
use std::sync::Arc;

use async_graphql::indexmap::IndexMap;
use async_graphql::indexmap::map::Entry;
use async_graphql::parser::types::{Field, Selection};
use async_graphql::resolver_utils::resolve_list;
use async_graphql::{
    ContextSelectionSet, Json, Name, OutputType, Positioned, ScalarType, ServerResult, Value, registry,
};
use serde::Serialize;

use crate::service::catalog;

/// An object type whose fields can be read straight off the value.
pub trait PlainObject: OutputType {
    /// The value of one selected field (never `__typename`), or `None` when
    /// the field needs the executor. `selection` is the selection set the
    /// field was selected in; sub-selections are reached from `field`.
    fn field_value(&self, field: &Positioned<Field>, selection: &ContextSelectionSet<'_>) -> Option<Value>;
}

/// A list resolved without the executor when its selection allows.
#[derive(Clone)]
pub struct Rows<T>(pub Vec<T>);

impl<T> FromIterator<T> for Rows<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<T: PlainObject> OutputType for Rows<T> {
    fn type_name() -> Cow<'static, str> {
        <Vec<T> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<T> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut registry::Registry) -> String {
        <Vec<T> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        if let Some(rows) = rows(&self.0, ctx) {
            return Ok(rows);
        }
        resolve_list(ctx, field, &self.0, Some(self.0.len())).await
    }
}

/// An object resolved without the executor when its selection allows.
pub struct Plain<T>(pub T);

impl<T: PlainObject> OutputType for Plain<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut registry::Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        if let Some(value) = object(&self.0, ctx) {
            return Ok(value);
        }
        self.0.resolve(ctx, field).await
    }
}

impl<T: PlainObject> PlainObject for Arc<T> {
    fn field_value(&self, field: &Positioned<Field>, selection: &ContextSelectionSet<'_>) -> Option<Value> {
        T::field_value(self, field, selection)
    }
}

/// A scalar field's value.
pub fn scalar<S: ScalarType>(value: &S) -> Option<Value> {
    Some(value.to_value())
}

/// A nullable scalar field's value.
pub fn nullable<S: ScalarType>(value: Option<&S>) -> Option<Value> {
    Some(value.map_or(Value::Null, ScalarType::to_value))
}

/// A JSON field's value, converted as the executor converts it.
pub fn json<T: Serialize>(value: Option<&Json<T>>) -> Option<Value> {
    Some(value.and_then(|json| async_graphql::to_value(&json.0).ok()).unwrap_or_default())
}

/// A nested object field's value, from the field's own selection.
pub fn nested<T: PlainObject>(
    value: &T,
    field: &Positioned<Field>,
    selection: &ContextSelectionSet<'_>,
) -> Option<Value> {
    object(value, &selection.with_selection_set(&field.node.selection_set))
}

/// A nested list field's value, from the field's own selection.
pub fn list<T: PlainObject>(
    values: &[T],
    field: &Positioned<Field>,
    selection: &ContextSelectionSet<'_>,
) -> Option<Value> {
    rows(values, &selection.with_selection_set(&field.node.selection_set))
}

fn rows<T: PlainObject>(values: &[T], selection: &ContextSelectionSet<'_>) -> Option<Value> {
    values.iter().map(|value| object(value, selection)).collect::<Option<Vec<_>>>().map(Value::List)
}

/// One object's response map, in selection order, or `None` when a field
/// needs the executor (or the object is a catalog record).
fn object<T: PlainObject>(value: &T, selection: &ContextSelectionSet<'_>) -> Option<Value> {
    let type_name = value.introspection_type_name();
    // Here rather than at the list, so that nested objects are checked too:
    // which fields of a record type a caller sees is the executor hook's call.
    if catalog::entity(&type_name).is_some() {
        return None;
    }
    let mut map = IndexMap::with_capacity(selection.item.node.items.len());
    each_field(selection, &type_name, &mut |field, within| {
        // Skip and include were applied before execution; any other
        // directive is the executor's business.
        if !field.node.directives.is_empty() {
            return None;
        }
        let value = if field.node.name.node == "__typename" {
            Value::String(type_name.to_string())
        } else {
            value.field_value(field, within)?
        };
        merge(&mut map, field.node.response_key().node.clone(), value);
        Some(())
    })?;
    Some(Value::Object(map))
}

/// Calls `visit` with each field a selection set selects on an object of
/// `type_name`, fragments expanded, in order; stops at the first `None`.
fn each_field<'a>(
    selection: &ContextSelectionSet<'a>,
    type_name: &str,
    visit: &mut dyn FnMut(&'a Positioned<Field>, &ContextSelectionSet<'a>) -> Option<()>,
) -> Option<()> {
    for item in &selection.item.node.items {
        let (condition, set) = match &item.node {
            Selection::Field(field) => {
                visit(field, selection)?;
                continue;
            }
            Selection::FragmentSpread(spread) => {
                let fragment = selection.query_env.fragments.get(&spread.node.fragment_name.node)?;
                (Some(&fragment.node.type_condition), &fragment.node.selection_set)
            }
            Selection::InlineFragment(fragment) => {
                (fragment.node.type_condition.as_ref(), &fragment.node.selection_set)
            }
        };
        let applies = condition.is_none_or(|condition| {
            let on = condition.node.on.node.as_str();
            on == type_name
                || selection.schema_env.registry.implements.get(type_name).is_some_and(|types| types.contains(on))
        });
        if applies {
            each_field(&selection.with_selection_set(set), type_name, visit)?;
        }
    }
    Some(())
}

/// Adds a field's value under its response key; a key selected twice has its
/// sub-selections merged, as the executor does.
fn merge(map: &mut IndexMap<Name, Value>, key: Name, value: Value) {
    match map.entry(key) {
        Entry::Vacant(entry) => {
            entry.insert(value);
        }
        Entry::Occupied(entry) => merge_into(entry.into_mut(), value),
    }
}

/// Merges a second selection's value of one key into the first: objects key
/// by key, lists item by item.
fn merge_into(before: &mut Value, more: Value) {
    match (before, more) {
        (Value::Object(before), Value::Object(more)) => {
            for (key, value) in more {
                merge(before, key, value);
            }
        }
        (Value::List(before), Value::List(more)) => {
            for (before, more) in before.iter_mut().zip(more) {
                merge_into(before, more);
            }
        }
        _ => {}
    }
}
