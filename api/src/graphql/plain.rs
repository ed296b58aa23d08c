//! Lists of plain rows, resolved in one synchronous walk per row.
//!
//! async-graphql resolves each field of each object as its own boxed future,
//! and with an extension installed it also builds a `ResolveInfo` for every
//! field and list item and runs the extension chain on it. For rows that only
//! hold values that machinery is the larger part of a list's CPU: 26 weeks of
//! 50 users is 1,300 report rows of about eight fields each, and a page of 50
//! contacts with their account and owner is some 400 fields.
//!
//! A `Rows<T>` is a `[T!]!` in the schema, like a `Vec<T>`. When every field
//! its selection reaches is plain, the rows are built by walking the selection
//! (fragments included) once per row; as soon as one field needs the executor
//! (a custom field, a nested list, a directive), the whole list goes through
//! the executor as a `Vec` would.
//!
//! Two things the executor's hooks do are done here too, or the list is left
//! to them:
//! - a field that points at one other record or user (a record's `account`,
//!   `owner`, …; see [`Link`]) is loaded for the whole list at once, through
//!   the request's loaders as the executor would load it, before the walk;
//! - on a record type of the catalog, a field the caller's profile hides would
//!   be a null with a FORBIDDEN error: a selection that reaches one is left to
//!   the executor, which reports it (see `visibility`). Plain fields cannot
//!   fail, so there is no other error to report.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::indexmap::IndexMap;
use async_graphql::indexmap::map::Entry;
use async_graphql::parser::types::{Field, Selection};
use async_graphql::resolver_utils::resolve_list;
use async_graphql::{
    Context, ContextSelectionSet, ID, Json, Name, OutputType, Positioned, ScalarType, ServerResult, Value, registry,
};
use futures_util::future::join_all;
use sea_orm::ColumnTrait;
use serde::Serialize;
use uuid::Uuid;

use super::accounts::Account;
use super::context::RequestCtx;
use super::types::User;
use super::visibility;
use crate::error::{ErrorCode, GqlError};

/// An object type whose fields can be read straight off the value.
pub trait PlainObject: OutputType {
    /// The value of one selected field (never `__typename`), or `None` when
    /// the field needs the executor. `selection` is the selection set the
    /// field was selected in; sub-selections are reached from `field`.
    fn field_value(&self, field: &Positioned<Field>, selection: &ContextSelectionSet<'_>) -> Option<Value>;

    /// What a field that points at another record or user points at, when
    /// the field is one the walk may load for a whole list (its value comes
    /// from [`Related`], not from `field_value`).
    fn link(&self, _field: &str) -> Option<Link> {
        None
    }
}

/// Which columns of its row each field of a record type shows, so that a
/// list whose rows show only some fields reads only those columns (a page of
/// contacts showing names and owners need not decode addresses, stamps and
/// custom-field JSON).
pub trait RowColumns {
    /// The columns `field` shows; `None` for a field that may read others
    /// (the list then reads whole rows).
    fn columns(field: &str) -> Option<&'static [&'static str]>;
}

/// The columns a list's rows show, when every field selected on them (in
/// `nodes` and `edges { node }`, fragments included) names its columns;
/// `None` as soon as one does not.
pub fn row_columns<T: RowColumns, C: ColumnTrait>(ctx: &Context<'_>) -> Option<Vec<C>> {
    let look = ctx.look_ahead();
    let rows =
        look.field("nodes").selection_fields().into_iter().chain(look.field("edges").field("node").selection_fields());
    let mut names = vec!["tenant_id", "id"];
    for row in rows {
        for field in row.selection_set() {
            names.extend(T::columns(field.name())?);
        }
    }
    names.into_iter().map(|name| C::from_str(name).ok()).collect()
}

/// A field's target, loaded for a whole list at once: null when the id is.
#[derive(Clone, Copy)]
pub enum Link {
    /// Through the request's `users` loader, as `records::user` loads it.
    User(Option<Uuid>),
    /// Through the request's `accounts` loader, as `records::one` loads it
    /// (deleted accounts resolve to null); through `account_names` when
    /// only the account's id and name are selected (see [`AccountName`]).
    Account(Option<Uuid>),
}

impl Link {
    fn id(self) -> Option<Uuid> {
        match self {
            Self::User(id) | Self::Account(id) => id,
        }
    }

    /// The GraphQL type of its target.
    fn type_name(self) -> &'static str {
        match self {
            Self::User(_) => "User",
            Self::Account(_) => "Account",
        }
    }
}

/// The linked values of a list's rows, already walked with their field's
/// sub-selection: by field (its address in the parsed query) and id.
#[derive(Default)]
pub struct Related(HashMap<usize, HashMap<Uuid, Value>>);

/// Where a field was selected: two selections of one field (under two
/// aliases, say) are two keys, each with its own sub-selection.
fn place(field: &Positioned<Field>) -> usize {
    std::ptr::from_ref(field).addr()
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
        if let Some(rows) = walk(&self.0, ctx).await {
            return Ok(Value::List(rows));
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
        if let Some(value) = walk(std::slice::from_ref(&self.0), ctx).await.and_then(|mut one| one.pop()) {
            return Ok(value);
        }
        self.0.resolve(ctx, field).await
    }
}

impl<T: PlainObject> PlainObject for Arc<T> {
    fn field_value(&self, field: &Positioned<Field>, selection: &ContextSelectionSet<'_>) -> Option<Value> {
        T::field_value(self, field, selection)
    }

    fn link(&self, field: &str) -> Option<Link> {
        T::link(self, field)
    }
}

/// A scalar field's value.
pub fn scalar<S: ScalarType>(value: &S) -> Option<Value> {
    Some(value.to_value())
}

/// A date's value as the executor writes it (`%Y-%m-%d` for the years a
/// report covers), without parsing that format for each value: reports write
/// a week's date on every row.
pub fn date(value: &chrono::NaiveDate) -> Option<Value> {
    Some(Value::String(value.to_string()))
}

/// A nullable scalar field's value.
pub fn nullable<S: ScalarType>(value: Option<&S>) -> Option<Value> {
    Some(value.map_or(Value::Null, ScalarType::to_value))
}

/// A JSON field's value, converted as the executor converts it.
pub fn json<T: Serialize>(value: Option<&Json<T>>) -> Option<Value> {
    Some(value.and_then(|json| async_graphql::to_value(&json.0).ok()).unwrap_or_default())
}

/// A nested object field's value, from the field's own selection (its own
/// links are not loaded: one there leaves the list to the executor).
pub fn nested<T: PlainObject>(
    value: &T,
    field: &Positioned<Field>,
    selection: &ContextSelectionSet<'_>,
) -> Option<Value> {
    object(value, &selection.with_selection_set(&field.node.selection_set))
}

/// A nested list field's value, from the field's own selection (its links
/// are not loaded either).
pub fn list<T: PlainObject>(
    values: &[T],
    field: &Positioned<Field>,
    selection: &ContextSelectionSet<'_>,
) -> Option<Value> {
    let selection = selection.with_selection_set(&field.node.selection_set);
    let Some(first) = values.first() else { return Some(Value::List(Vec::new())) };
    let type_name = first.introspection_type_name();
    let fields = selected(&selection, &type_name)?;
    fill_all(values, &type_name, &fields, &Related::default()).map(Value::List)
}

/// The rows of one list (all of one type) walked, their links loaded first;
/// `None` when a field needs the executor. The fields are looked up once.
async fn walk<T: PlainObject>(values: &[T], selection: &ContextSelectionSet<'_>) -> Option<Vec<Value>> {
    let Some(first) = values.first() else { return Some(Vec::new()) };
    let type_name = first.introspection_type_name();
    let fields = selected(selection, &type_name)?;
    let related = related(values, first, &fields, selection).await?;
    fill_all(values, &type_name, &fields, &related)
}

fn fill_all<T: PlainObject>(
    values: &[T],
    type_name: &str,
    fields: &[Selected<'_>],
    related: &Related,
) -> Option<Vec<Value>> {
    values.iter().map(|value| fill(value, type_name, fields, related)).collect()
}

/// Loads the links among `fields` (selected on `values`, whose first row is
/// `first`), each field's targets in one load, and walks each target with the
/// field's sub-selection. `None` when that fails or needs the executor: the
/// executor then loads them itself and reports any error where it belongs.
async fn related<T: PlainObject>(
    values: &[T],
    first: &T,
    fields: &[Selected<'_>],
    selection: &ContextSelectionSet<'_>,
) -> Option<Related> {
    let mut links: Vec<(&Positioned<Field>, Link, ContextSelectionSet<'_>)> = Vec::new();
    for (field, within) in fields {
        if let Some(link) = first.link(&field.node.name.node)
            && !links.iter().any(|(f, ..)| std::ptr::eq(*f, *field))
        {
            links.push((field, link, within.with_selection_set(&field.node.selection_set)));
        }
    }
    if links.is_empty() {
        return Some(Related::default());
    }
    // A field the walk cannot answer (checked on the first row) or may not
    // show leaves the list to the executor, which would load the links again.
    let answerable = |(field, within): &Selected<'_>| {
        let name = field.node.name.node.as_str();
        name == "__typename" || first.link(name).is_some() || first.field_value(field, within).is_some()
    };
    if !fields.iter().all(answerable) {
        return None;
    }
    // Accounts are read by name alone when no account link of the list wants
    // more: one that does loads the whole rows, which serve them all.
    let mut names_only = true;
    for (_, link, sub) in &links {
        let shown = selected(sub, link.type_name())?;
        if matches!(link, Link::Account(_)) {
            names_only &= shown.iter().all(|(f, _)| matches!(f.node.name.node.as_str(), "id" | "name" | "__typename"));
        }
    }
    let loaders = selection.data_opt::<RequestCtx>()?.loaders().ok()?;
    let loads = links.iter().map(|(field, link, sub)| async move {
        let name = field.node.name.node.as_str();
        let mut ids: Vec<Uuid> = values.iter().filter_map(|v| v.link(name)?.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        let walked = match link {
            Link::User(_) => targets(loaders.users.load_many(ids).await.ok()?, User::from, sub),
            Link::Account(_) if names_only => {
                let names = loaders.account_names.load_many(ids).await.ok()?;
                targets(names.into_iter().map(|(id, name)| (id, (id, name))).collect(), AccountName::from, sub)
            }
            Link::Account(_) => targets(loaders.accounts.load_many(ids).await.ok()?, Account::from, sub),
        };
        Some((place(field), walked?))
    });
    join_all(loads).await.into_iter().collect::<Option<HashMap<_, _>>>().map(Related)
}

/// An account as a link shows it when the link selects nothing but its `id`
/// and `name` (a contact page's `account { name }`): read as those two
/// columns instead of the whole row, whose 26 columns (the custom fields'
/// JSON among them) were half of a contact page's decoding.
struct AccountName {
    id: ID,
    name: String,
}

impl From<(Uuid, String)> for AccountName {
    fn from((id, name): (Uuid, String)) -> Self {
        Self { id: id.into(), name }
    }
}

impl OutputType for AccountName {
    fn type_name() -> Cow<'static, str> {
        Account::type_name()
    }

    fn create_type_info(registry: &mut registry::Registry) -> String {
        Account::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, _field: &Positioned<Field>) -> ServerResult<Value> {
        // Only the walk makes these, for selections it answers.
        object(self, ctx).ok_or_else(|| GqlError::new(ErrorCode::Internal, "internal error").into_server_error())
    }
}

impl PlainObject for AccountName {
    fn field_value(&self, field: &Positioned<Field>, _: &ContextSelectionSet<'_>) -> Option<Value> {
        match field.node.name.node.as_str() {
            "id" => scalar(&self.id),
            "name" => Some(Value::String(self.name.clone())),
            _ => None,
        }
    }
}

/// Loaded link targets, each walked with the link field's sub-selection.
fn targets<M, T: PlainObject>(
    loaded: HashMap<Uuid, M>,
    show: impl Fn(M) -> T,
    selection: &ContextSelectionSet<'_>,
) -> Option<HashMap<Uuid, Value>> {
    let (ids, shown): (Vec<Uuid>, Vec<T>) = loaded.into_iter().map(|(id, model)| (id, show(model))).unzip();
    let Some(first) = shown.first() else { return Some(HashMap::new()) };
    let type_name = first.introspection_type_name();
    let fields = selected(selection, &type_name)?;
    let walked = fill_all(&shown, &type_name, &fields, &Related::default())?;
    Some(ids.into_iter().zip(walked).collect())
}

/// One object's response map, in selection order, or `None` when a field
/// needs the executor.
fn object<T: PlainObject>(value: &T, selection: &ContextSelectionSet<'_>) -> Option<Value> {
    let type_name = value.introspection_type_name();
    fill(value, &type_name, &selected(selection, &type_name)?, &Related::default())
}

/// A field selected on an object and the selection set it was selected in.
type Selected<'a> = (&'a Positioned<Field>, ContextSelectionSet<'a>);

/// The fields `selection` selects on an object of `type_name`, fragments
/// expanded, in order; `None` when one needs the executor: a directive other
/// than skip and include (applied before execution), or a field of a record
/// type that the caller's profile hides.
fn selected<'a>(selection: &ContextSelectionSet<'a>, type_name: &str) -> Option<Vec<Selected<'a>>> {
    let actor = selection.data_opt::<RequestCtx>().and_then(|r| r.actor.get());
    let mut fields = Vec::with_capacity(selection.item.node.items.len());
    each_field(selection, type_name, &mut |field, within| {
        let name = field.node.name.node.as_str();
        if !field.node.directives.is_empty()
            || (name != "__typename" && visibility::hides(actor.map(AsRef::as_ref), type_name, name))
        {
            return None;
        }
        fields.push((field, within.clone()));
        Some(())
    })?;
    Some(fields)
}

/// One object's response map from its selected fields, or `None` when a
/// field needs the executor (one `field_value` leaves to it, a link not in
/// `related`).
fn fill<T: PlainObject>(value: &T, type_name: &str, fields: &[Selected<'_>], related: &Related) -> Option<Value> {
    let mut map = IndexMap::with_capacity(fields.len());
    for (field, within) in fields {
        let name = field.node.name.node.as_str();
        let value = if name == "__typename" {
            Value::String(type_name.to_owned())
        } else if let Some(link) = value.link(name) {
            let walked = related.0.get(&place(field))?;
            link.id().and_then(|id| walked.get(&id)).cloned().unwrap_or_default()
        } else {
            value.field_value(field, within)?
        };
        merge(&mut map, field.node.response_key().node.clone(), value);
    }
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

/// Implements [`PlainObject`] for a record type of the catalog: `id`, its own
/// nullable scalar fields by GraphQL name, its links, then the fields and
/// links every record shows (`RecordFields`, flattened into it as `record`).
macro_rules! plain_record {
    (@column $field:ident) => { stringify!($field) };
    (@column $field:ident ($column:ident)) => { stringify!($column) };
    ($ty:ty { $($name:literal => $field:ident $(($own:ident))?),* $(,)? } links |$r:ident| { $($link:literal ($column:ident) => $to:expr),* $(,)? }) => {
        /// A plain field's column has the field's name unless given; a link's is given.
        impl $crate::graphql::plain::RowColumns for $ty {
            fn columns(field: &str) -> Option<&'static [&'static str]> {
                match field {
                    "__typename" => Some(&[]),
                    "id" => Some(&["id"]),
                    $($name => Some(&[$crate::graphql::plain::plain_record!(@column $field $(($own))?)]),)*
                    $($link => Some(&[stringify!($column)]),)*
                    name => $crate::graphql::records::RecordFields::columns(name),
                }
            }
        }

        impl $crate::graphql::plain::PlainObject for $ty {
            fn field_value(
                &self,
                field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
                _: &async_graphql::ContextSelectionSet<'_>,
            ) -> Option<async_graphql::Value> {
                match field.node.name.node.as_str() {
                    "id" => $crate::graphql::plain::scalar(&self.id),
                    $($name => $crate::graphql::plain::nullable(self.$field.as_ref()),)*
                    name => self.record.field_value(name),
                }
            }

            fn link(&self, field: &str) -> Option<$crate::graphql::plain::Link> {
                let $r = self;
                match field {
                    $($link => Some($to),)*
                    name => $r.record.link(name),
                }
            }
        }
    };
}

pub(crate) use plain_record;

#[cfg(test)]
mod tests {
    use async_graphql::OutputType;
    use async_graphql::registry::{MetaType, Registry};
    use entity::{account, activity, contact, lead, opportunity};
    use sea_orm::ColumnTrait;

    use super::RowColumns;
    use crate::graphql::{
        accounts::Account, activities::Activity, contacts::Contact, leads::Lead, opportunities::Opportunity,
    };

    /// The fields of `T` that name their columns, each checked to be a column
    /// of its entity (a misspelt one would leave its field at its default).
    fn mapped<T: RowColumns + OutputType, C: ColumnTrait>() -> Vec<String> {
        let mut registry = Registry::default();
        T::create_type_info(&mut registry);
        let Some(MetaType::Object { fields, .. }) = registry.types.get(&*T::type_name()) else {
            panic!("{} is not an object", T::type_name())
        };
        let mut mapped = Vec::new();
        for name in fields.keys() {
            if let Some(columns) = T::columns(name) {
                for column in columns {
                    assert!(C::from_str(column).is_ok(), "{}.{name}: no column {column}", T::type_name());
                }
                mapped.push(name.clone());
            }
        }
        mapped
    }

    #[test]
    fn every_column_a_field_names_is_its_entitys() {
        let contact = mapped::<Contact, contact::Column>();
        for field in ["id", "lastName", "email", "account", "owner", "createdAt", "externalId"] {
            assert!(contact.contains(&field.to_owned()), "Contact.{field} names its columns: {contact:?}");
        }
        assert!(mapped::<Account, account::Column>().contains(&"postalCode".to_owned()));
        assert!(mapped::<Lead, lead::Column>().contains(&"convertedAccount".to_owned()));
        assert!(mapped::<Opportunity, opportunity::Column>().contains(&"closeDate".to_owned()));
        assert!(mapped::<Activity, activity::Column>().contains(&"dueAt".to_owned()));
    }
}
