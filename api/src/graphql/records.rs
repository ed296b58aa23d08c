//! What the GraphQL side of every CRM record shares: input patches, ordering,
//! connections, and the four write resolvers' bodies.

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, ID, InputObject, InputType, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::picklist_option;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::accounts::AccountOrderField;
use super::activities::ActivityOrderField;
use super::contacts::ContactOrderField;
use super::context::{parse_id, request};
use super::custom_fields::{self, CustomFieldFilter, CustomFieldValue};
use super::custom_records::CustomRecordOrderField;
use super::leads::LeadOrderField;
use super::opportunities::OpportunityOrderField;
use super::pagination::{PageInfo, decode, encode, page_size};
use super::plain::{self, Link};
use super::traces::TraceConnection;
use super::types::User;
use crate::error::ServiceError;
use crate::error::{GqlError, GqlResult};
use crate::service::custom_records;
use crate::service::records::{self, Criteria, Criterion, MAX_PAGE, Record, RecordInput, Sort, Stamps};
use crate::service::validate::Patch;

/// An update input field: omitted keeps, `null` clears.
pub fn patch<T>(value: MaybeUndefined<T>) -> Patch<T> {
    match value {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(v) => Patch::Set(v),
    }
}

/// A create input field: omitted or `null` leaves it empty.
pub fn given<T>(value: Option<T>) -> Patch<T> {
    value.map_or(Patch::Keep, Patch::Set)
}

pub fn patch_id(field: &str, value: MaybeUndefined<ID>) -> GqlResult<Patch<Uuid>> {
    Ok(match value {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(id) => Patch::Set(parse_id(field, &id)?),
    })
}

pub fn given_id(field: &str, value: Option<&ID>) -> GqlResult<Patch<Uuid>> {
    Ok(given(value.map(|id| parse_id(field, id)).transpose()?))
}

pub fn optional_id(field: &str, value: Option<&ID>) -> GqlResult<Option<Uuid>> {
    value.map(|id| parse_id(field, id)).transpose()
}

/// The shared part of a create input.
pub fn create_input<F>(
    owner: Option<&ID>,
    external_id: Option<String>,
    fields: F,
    custom: Option<Json<Map<String, Value>>>,
) -> GqlResult<RecordInput<F>> {
    Ok(RecordInput {
        owner: given_id("ownerId", owner)?,
        external_id: given(external_id),
        fields,
        custom: custom.map(|c| c.0),
    })
}

/// The shared part of an update input.
pub fn update_input<F>(
    owner: MaybeUndefined<ID>,
    external_id: MaybeUndefined<String>,
    fields: F,
    custom: Option<Json<Map<String, Value>>>,
) -> GqlResult<RecordInput<F>> {
    Ok(RecordInput {
        owner: patch_id("ownerId", owner)?,
        external_id: patch(external_id),
        fields,
        custom: custom.map(|c| c.0),
    })
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

/// Sort order; ties are broken by id, so pages are stable.
#[derive(InputObject)]
#[graphql(
    concrete(name = "AccountOrderBy", params(AccountOrderField)),
    concrete(name = "ContactOrderBy", params(ContactOrderField)),
    concrete(name = "LeadOrderBy", params(LeadOrderField)),
    concrete(name = "OpportunityOrderBy", params(OpportunityOrderField)),
    concrete(name = "ActivityOrderBy", params(ActivityOrderField)),
    concrete(name = "CustomRecordOrderBy", params(CustomRecordOrderField))
)]
pub struct OrderBy<F: InputType> {
    /// A built-in field; give this or `customField`.
    pub field: Option<F>,
    /// A custom field's API name.
    pub custom_field: Option<String>,
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl<F: InputType + Copy> OrderBy<F> {
    /// The requested order, or `default` ascending.
    pub fn or<C>(order: Option<Self>, default: F, direction: OrderDirection) -> GqlResult<(Sort<C>, OrderDirection)>
    where
        F: Into<C>,
    {
        let Some(order) = order else { return Ok((Sort::Default(default.into()), direction)) };
        let sort = match (order.field, order.custom_field) {
            (Some(field), None) => Sort::Column(field.into()),
            (None, Some(name)) => Sort::Custom(name),
            _ => return Err(ServiceError::invalid("orderBy", "give exactly one of field and customField").into()),
        };
        Ok((sort, order.direction))
    }
}

/// The filters every record list shares (flattened into each list's filter).
#[derive(InputObject, Default)]
pub struct RecordFilterInput {
    pub owner: Option<ID>,
    /// Only the caller's records.
    pub mine: Option<bool>,
    pub external_id: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
    /// Conditions on custom fields.
    pub custom: Option<Vec<CustomFieldFilter>>,
}

impl RecordFilterInput {
    pub fn add<R: Record>(self, c: &mut Criteria<R::Column>) -> GqlResult<()> {
        let columns = R::COLUMNS;
        c.is(columns.owner, optional_id("filter.owner", self.owner.as_ref())?)
            .mine(self.mine)
            .equals(columns.external_id, self.external_id)
            .range(columns.created_at, self.created_from, self.created_to)
            .range(columns.updated_at, self.updated_from, self.updated_to);
        for filter in self.custom.unwrap_or_default() {
            c.0.push(filter.criterion()?);
        }
        Ok(())
    }

    /// The same conditions for a custom entity's records.
    pub fn custom_record_criteria(self) -> GqlResult<Vec<custom_records::Criterion>> {
        use custom_records::Criterion as C;
        let mut all = Vec::new();
        all.extend(optional_id("filter.owner", self.owner.as_ref())?.map(C::Owner));
        if self.mine == Some(true) {
            all.push(C::Mine);
        }
        all.extend(self.external_id.map(C::ExternalId));
        if self.created_from.is_some() || self.created_to.is_some() {
            all.push(C::Created(self.created_from, self.created_to));
        }
        if self.updated_from.is_some() || self.updated_to.is_some() {
            all.push(C::Updated(self.updated_from, self.updated_to));
        }
        for filter in self.custom.unwrap_or_default() {
            let (field, test) = filter.test()?;
            all.push(C::Custom(field, test));
        }
        Ok(all)
    }
}

/// One page of a record list, with cursors.
pub struct Page<M> {
    pub rows: Vec<(String, M)>,
    pub page_info: PageInfo,
}

/// Loads a page of `R` for the caller: `kind` names the list in its cursors.
#[allow(clippy::too_many_arguments, reason = "a list's arguments, as GraphQL gives them, and what its rows show")]
pub async fn page<R: Record>(
    ctx: &Context<'_>,
    kind: &str,
    first: Option<i32>,
    after: Option<String>,
    criteria: &[Criterion<R::Column>],
    order: Sort<R::Column>,
    direction: OrderDirection,
    columns: Option<&[R::Column]>,
) -> GqlResult<Page<R::Model>> {
    let first = page_size(first, MAX_PAGE)?;
    let offset = decode(kind, after.as_deref())?.map_or(0, |last| last + 1);
    let read = request(ctx)?.read()?;
    let start = u64::try_from(offset).unwrap_or(0);
    let (models, more) =
        records::list::<R>(&read, criteria, order, direction == OrderDirection::Desc, start, first, columns).await?;
    let rows: Vec<(String, R::Model)> = models
        .into_iter()
        .enumerate()
        .map(|(i, m)| (encode(kind, offset + i64::try_from(i).unwrap_or(0)), m))
        .collect();
    let page_info = PageInfo {
        has_next_page: more,
        has_previous_page: offset > 0,
        start_cursor: rows.first().map(|r| r.0.clone()),
        end_cursor: rows.last().map(|r| r.0.clone()),
    };
    Ok(Page { rows, page_info })
}

pub async fn get<R: Record, T: From<R::Model>>(ctx: &Context<'_>, id: &ID) -> GqlResult<T> {
    let read = request(ctx)?.read()?;
    Ok(records::get::<R>(&read, parse_id("id", id)?).await?.into())
}

pub async fn create<R: Record, T: From<R::Model>>(ctx: &Context<'_>, input: RecordInput<R::Fields>) -> GqlResult<T> {
    let created = request(ctx)?.write(move |tx| async move { records::create::<R>(&tx, input).await }).await?;
    Ok(created.into())
}

pub async fn update<R: Record, T: From<R::Model>>(
    ctx: &Context<'_>,
    id: &ID,
    input: RecordInput<R::Fields>,
    expected_version: Option<i32>,
) -> GqlResult<T> {
    let id = parse_id("id", id)?;
    let updated = request(ctx)?
        .write(move |tx| async move { records::update::<R>(&tx, id, input, expected_version).await })
        .await?;
    Ok(updated.into())
}

pub async fn delete<R: Record, T: From<R::Model>>(ctx: &Context<'_>, id: &ID) -> GqlResult<T> {
    let id = parse_id("id", id)?;
    let deleted = request(ctx)?.write(move |tx| async move { records::delete::<R>(&tx, id).await }).await?;
    Ok(deleted.into())
}

pub async fn restore<R: Record, T: From<R::Model>>(ctx: &Context<'_>, id: &ID) -> GqlResult<T> {
    let id = parse_id("id", id)?;
    let restored = request(ctx)?.write(move |tx| async move { records::restore::<R>(&tx, id).await }).await?;
    Ok(restored.into())
}

/// A value of a picklist field.
#[derive(SimpleObject, Clone)]
pub struct PicklistValue {
    pub id: ID,
    /// Stable key, for filters and integrations.
    pub key: String,
    pub label: String,
    /// False once an admin deactivates it; records keep it.
    pub active: bool,
}

impl From<picklist_option::Model> for PicklistValue {
    fn from(o: picklist_option::Model) -> Self {
        Self { id: o.id.into(), key: o.key, label: o.label, active: o.active }
    }
}

/// A picklist option by id through the request's loader.
pub async fn option(ctx: &Context<'_>, id: Option<Uuid>) -> GqlResult<Option<PicklistValue>> {
    let Some(id) = id else { return Ok(None) };
    Ok(request(ctx)?.loaders()?.options.load_one(id).await?.map(Into::into))
}

/// A related record by id through `loader`; a deleted one is null.
pub async fn one<L, T>(loader: &DataLoader<L>, id: Option<Uuid>) -> GqlResult<Option<T>>
where
    L: Loader<Uuid, Error = GqlError>,
    T: From<L::Value>,
{
    let Some(id) = id else { return Ok(None) };
    Ok(loader.load_one(id).await?.map(Into::into))
}

/// The first `first` related records of `parent` through `loader`.
pub async fn related<L, M, T>(loader: &DataLoader<L>, parent: Uuid, first: Option<i32>) -> GqlResult<Vec<T>>
where
    L: Loader<Uuid, Value = Vec<M>, Error = GqlError>,
    T: From<M>,
{
    let first = usize::try_from(page_size(first, MAX_PAGE)?).unwrap_or(usize::MAX);
    let rows = loader.load_one(parent).await?.unwrap_or_default();
    Ok(rows.into_iter().take(first).map(Into::into).collect())
}

/// The fields every record type shows (flattened into each).
#[derive(Clone)]
pub struct RecordFields(pub Stamps);

impl RecordFields {
    pub fn of<R: Record>(model: &R::Model) -> Self {
        Self(R::stamps(model))
    }
}

impl RecordFields {
    /// A shared field's value for a plain walk (see `plain`); `None` for the
    /// ones that need the executor.
    pub fn field_value(&self, field: &str) -> Option<async_graphql::Value> {
        match field {
            "createdAt" => plain::scalar(&self.0.created_at),
            "updatedAt" => plain::scalar(&self.0.updated_at),
            "completeness" => plain::scalar(&self.0.completeness),
            "version" => plain::scalar(&self.0.version),
            "externalId" => plain::nullable(self.0.external_id.as_ref()),
            _ => None,
        }
    }

    /// The columns a shared field shows (see `plain::RowColumns`).
    pub fn columns(field: &str) -> Option<&'static [&'static str]> {
        Some(match field {
            "createdAt" => &["created_at"],
            "updatedAt" => &["updated_at"],
            "completeness" => &["completeness"],
            "version" => &["version"],
            "externalId" => &["external_id"],
            "owner" => &["owner_id"],
            "createdBy" => &["created_by"],
            "updatedBy" => &["updated_by"],
            _ => return None,
        })
    }

    /// The shared fields that point at a user, for a plain walk.
    pub fn link(&self, field: &str) -> Option<Link> {
        match field {
            "owner" => Some(Link::User(Some(self.0.owner_id))),
            "createdBy" => Some(Link::User(self.0.created_by)),
            "updatedBy" => Some(Link::User(self.0.updated_by)),
            _ => None,
        }
    }
}

#[Object]
impl RecordFields {
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The custom field values the caller may see, by API name (picklists by key,
    /// decimals as text).
    async fn custom_fields(&self, ctx: &Context<'_>) -> GqlResult<Json<Map<String, Value>>> {
        custom_fields::values(ctx, &self.0).await
    }

    /// One custom field, typed (null with FORBIDDEN when the caller's profile hides it).
    async fn field(&self, ctx: &Context<'_>, name: String) -> GqlResult<Option<CustomFieldValue>> {
        custom_fields::value(ctx, &self.0, &name).await.map(Some)
    }

    /// Share of the entity's key fields this record fills, 0.0 to 1.0 (see
    /// `keyFields`). Kept up to date on every write and when the key fields change.
    async fn completeness(&self) -> f64 {
        self.0.completeness
    }

    /// Incremented by every change; send it back as `expectedVersion` to detect conflicts.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// The record's id in an external system (ERP), unique per tenant and record type.
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }

    /// The user responsible for the record.
    async fn owner(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        user(ctx, Some(self.0.owner_id)).await
    }

    async fn created_by(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        user(ctx, self.0.created_by).await
    }

    async fn updated_by(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        user(ctx, self.0.updated_by).await
    }

    /// The record's traces, newest first.
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<TraceConnection> {
        super::traces::history(ctx, &self.0.entity, self.0.id, first, after).await
    }
}

/// A user by id through the request's loader (owner, createdBy, updatedBy).
pub async fn user(ctx: &Context<'_>, id: Option<Uuid>) -> GqlResult<Option<User>> {
    let Some(id) = id else { return Ok(None) };
    Ok(request(ctx)?.loaders()?.users.load_one(id).await?.map(Into::into))
}

/// Declares `$conn` (nodes, edges, pageInfo, totalCount) and `$edge` for records
/// of `$entity` shown as `$node`.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ident, $entity:ty) => {
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        #[derive(async_graphql::SimpleObject)]
        #[graphql(complex)]
        pub struct $conn {
            pub nodes: $crate::graphql::plain::Rows<$node>,
            pub edges: Vec<$edge>,
            pub page_info: $crate::graphql::pagination::PageInfo,
            #[graphql(skip)]
            pub criteria: Vec<$crate::service::records::Criterion<<$entity as sea_orm::EntityTrait>::Column>>,
        }

        #[async_graphql::ComplexObject]
        impl $conn {
            /// How many records match the filter (counted only when asked for).
            async fn total_count(&self, ctx: &async_graphql::Context<'_>) -> $crate::error::GqlResult<u64> {
                let read = $crate::graphql::context::request(ctx)?.read()?;
                Ok($crate::service::records::count::<$entity>(&read, &self.criteria).await?)
            }
        }

        impl $conn {
            #[allow(clippy::too_many_arguments, reason = "the list arguments, as GraphQL gives them")]
            pub async fn load(
                ctx: &async_graphql::Context<'_>,
                kind: &str,
                first: Option<i32>,
                after: Option<String>,
                criteria: Vec<$crate::service::records::Criterion<<$entity as sea_orm::EntityTrait>::Column>>,
                order: $crate::service::records::Sort<<$entity as sea_orm::EntityTrait>::Column>,
                direction: $crate::graphql::records::OrderDirection,
            ) -> $crate::error::GqlResult<Self> {
                let columns =
                    $crate::graphql::plain::row_columns::<$node, <$entity as sea_orm::EntityTrait>::Column>(ctx);
                let page = $crate::graphql::records::page::<$entity>(
                    ctx,
                    kind,
                    first,
                    after,
                    &criteria,
                    order,
                    direction,
                    columns.as_deref(),
                )
                .await?;
                // Only the shapes the selection asks for are built: a page
                // shown as `nodes` alone is not copied into edges too.
                let look = ctx.look_ahead();
                let (as_nodes, as_edges) = (look.field("nodes").exists(), look.field("edges").exists());
                let mut nodes = Vec::with_capacity(if as_nodes { page.rows.len() } else { 0 });
                let mut edges = Vec::with_capacity(if as_edges { page.rows.len() } else { 0 });
                for (cursor, model) in page.rows {
                    let node: $node = model.into();
                    if as_edges {
                        if as_nodes {
                            nodes.push(node.clone());
                        }
                        edges.push($edge { cursor, node });
                    } else if as_nodes {
                        nodes.push(node);
                    }
                }
                Ok(Self { nodes: $crate::graphql::plain::Rows(nodes), edges, page_info: page.page_info, criteria })
            }
        }
    };
}

pub(crate) use connection;
