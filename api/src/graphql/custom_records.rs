//! Custom entities: their records, and the admin's definitions.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use entity::{custom_record, entity_definition};
use serde_json::{Map, Value};

use super::context::{parse_id, request};
use super::pagination::{PageInfo, decode, encode, page_size};
use super::records::{OrderBy, OrderDirection, RecordFields, RecordFilterInput, given, given_id, patch, patch_id};
use crate::error::{GqlResult, ServiceError};
use crate::service::custom_records::{self as service, Criterion, Input, Sort};
use crate::service::entities;
use crate::service::records::{MAX_PAGE, Stamps};

/// A record of a custom entity: its fields are in `customFields` and `field(name)`.
#[derive(SimpleObject, Clone)]
pub struct CustomRecord {
    pub id: ID,
    /// The custom entity's API name.
    pub entity: String,
    #[graphql(flatten)]
    pub record: RecordFields,
}

impl From<custom_record::Model> for CustomRecord {
    fn from(r: custom_record::Model) -> Self {
        let stamps = Stamps {
            entity: r.entity.clone().into(),
            id: r.id,
            owner_id: r.owner_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            created_by: r.created_by,
            updated_by: r.updated_by,
            version: r.version,
            external_id: r.external_id,
            deleted: r.deleted_at.is_some(),
            custom: r.custom,
            completeness: r.completeness,
        };
        Self { id: r.id.into(), entity: r.entity, record: RecordFields(stamps) }
    }
}

/// The built-in orderings of custom records (or order by a custom field).
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum CustomRecordOrderField {
    CreatedAt,
    UpdatedAt,
    ExternalId,
}

#[derive(SimpleObject)]
pub struct CustomRecordEdge {
    pub cursor: String,
    pub node: CustomRecord,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct CustomRecordConnection {
    pub nodes: Vec<CustomRecord>,
    pub edges: Vec<CustomRecordEdge>,
    pub page_info: PageInfo,
    #[graphql(skip)]
    entity: String,
    #[graphql(skip)]
    criteria: Vec<Criterion>,
}

#[ComplexObject]
impl CustomRecordConnection {
    /// How many records match the filter (counted only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        let read = request(ctx)?.read()?;
        Ok(service::count(&read, &self.entity, &self.criteria).await?)
    }
}

/// A new record of a custom entity.
#[derive(InputObject)]
pub struct CreateRecordInput {
    /// Field values by API name (see `metadata`).
    pub values: Option<Json<Map<String, Value>>>,
    /// Defaults to the caller (required for API tokens).
    pub owner_id: Option<ID>,
    pub external_id: Option<String>,
}

/// Changes to a record of a custom entity: omitted values stay, `null` clears.
#[derive(InputObject, Default)]
pub struct UpdateRecordInput {
    pub values: Option<Json<Map<String, Value>>>,
    pub owner_id: MaybeUndefined<ID>,
    pub external_id: MaybeUndefined<String>,
}

const CURSOR: &str = "record";

#[derive(Default)]
pub struct CustomRecordQuery;

#[Object]
impl CustomRecordQuery {
    /// One record of a custom entity.
    async fn record(&self, ctx: &Context<'_>, entity: String, id: ID) -> GqlResult<CustomRecord> {
        let read = request(ctx)?.read()?;
        Ok(service::get(&read, &entity, parse_id("id", &id)?).await?.into())
    }

    /// Records of a custom entity, filtered, ordered and paged (default oldest first).
    async fn records(
        &self,
        ctx: &Context<'_>,
        entity: String,
        #[graphql(desc = "Page size, 1 to 500 (default 50)")] first: Option<i32>,
        after: Option<String>,
        filter: Option<RecordFilterInput>,
        order_by: Option<OrderBy<CustomRecordOrderField>>,
    ) -> GqlResult<CustomRecordConnection> {
        let criteria = filter.unwrap_or_default().custom_record_criteria()?;
        let (sort, direction) = match order_by {
            None => (Sort::CreatedAt, OrderDirection::Asc),
            Some(o) => {
                let sort = match (o.field, o.custom_field) {
                    (Some(CustomRecordOrderField::CreatedAt), None) => Sort::CreatedAt,
                    (Some(CustomRecordOrderField::UpdatedAt), None) => Sort::UpdatedAt,
                    (Some(CustomRecordOrderField::ExternalId), None) => Sort::ExternalId,
                    (None, Some(name)) => Sort::Field(name),
                    _ => {
                        return Err(
                            ServiceError::invalid("orderBy", "give exactly one of field and customField").into()
                        );
                    }
                };
                (sort, o.direction)
            }
        };
        let first = page_size(first, MAX_PAGE)?;
        let offset = decode(CURSOR, after.as_deref())?.map_or(0, |last| last + 1);
        let read = request(ctx)?.read()?;
        let start = u64::try_from(offset).unwrap_or(0);
        let descending = direction == OrderDirection::Desc;
        let (rows, more) = service::list(&read, &entity, &criteria, sort, descending, start, first).await?;
        let edges: Vec<CustomRecordEdge> = rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| CustomRecordEdge {
                cursor: encode(CURSOR, offset + i64::try_from(i).unwrap_or(0)),
                node: r.into(),
            })
            .collect();
        let entity = entities::custom_entity(&read, &entity).await?.name;
        Ok(CustomRecordConnection {
            nodes: edges.iter().map(|e| e.node.clone()).collect(),
            page_info: PageInfo {
                has_next_page: more,
                has_previous_page: offset > 0,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            entity,
            criteria,
        })
    }
}

/// A custom entity's definition.
#[derive(SimpleObject)]
pub struct CustomEntity {
    pub id: ID,
    /// API name, e.g. `Course`.
    pub name: String,
    pub label: String,
}

impl From<entity_definition::Model> for CustomEntity {
    fn from(d: entity_definition::Model) -> Self {
        Self { id: d.id.into(), name: d.name, label: d.label }
    }
}

#[derive(Default)]
pub struct CustomRecordMutation;

#[Object]
impl CustomRecordMutation {
    /// Creates a record of a custom entity, owned by the caller (or `ownerId`).
    async fn create_record(
        &self,
        ctx: &Context<'_>,
        entity: String,
        input: CreateRecordInput,
    ) -> GqlResult<CustomRecord> {
        let input = Input {
            owner: given_id("ownerId", input.owner_id.as_ref())?,
            external_id: given(input.external_id),
            values: Some(input.values.map(|v| v.0).unwrap_or_default()),
        };
        let created = request(ctx)?.write(move |tx| async move { service::create(&tx, &entity, input).await }).await?;
        Ok(created.into())
    }

    /// Changes the given values. With `expectedVersion`, a stale version is a CONFLICT.
    async fn update_record(
        &self,
        ctx: &Context<'_>,
        entity: String,
        id: ID,
        input: UpdateRecordInput,
        expected_version: Option<i32>,
    ) -> GqlResult<CustomRecord> {
        let id = parse_id("id", &id)?;
        let input = Input {
            owner: patch_id("ownerId", input.owner_id)?,
            external_id: patch(input.external_id),
            values: input.values.map(|v| v.0),
        };
        let updated = request(ctx)?
            .write(move |tx| async move { service::update(&tx, &entity, id, input, expected_version).await })
            .await?;
        Ok(updated.into())
    }

    /// Deletes a record (softly: an admin can restore it).
    async fn delete_record(&self, ctx: &Context<'_>, entity: String, id: ID) -> GqlResult<CustomRecord> {
        let id = parse_id("id", &id)?;
        let deleted = request(ctx)?.write(move |tx| async move { service::delete(&tx, &entity, id).await }).await?;
        Ok(deleted.into())
    }

    /// Restores a deleted record (admins only).
    async fn restore_record(&self, ctx: &Context<'_>, entity: String, id: ID) -> GqlResult<CustomRecord> {
        let id = parse_id("id", &id)?;
        let restored = request(ctx)?.write(move |tx| async move { service::restore(&tx, &entity, id).await }).await?;
        Ok(restored.into())
    }

    /// Defines a custom entity (admins only); add its fields with `createCustomField`.
    async fn create_entity(&self, ctx: &Context<'_>, name: String, label: String) -> GqlResult<CustomEntity> {
        let created = request(ctx)?.write(move |tx| async move { entities::create(&tx, &name, &label).await }).await?;
        Ok(created.into())
    }

    /// Relabels a custom entity (admins only); its API name stays.
    async fn update_entity(&self, ctx: &Context<'_>, id: ID, label: String) -> GqlResult<CustomEntity> {
        let id = parse_id("id", &id)?;
        let updated = request(ctx)?.write(move |tx| async move { entities::update(&tx, id, &label).await }).await?;
        Ok(updated.into())
    }

    /// Deletes a custom entity without records, with its fields and rules (admins only).
    async fn delete_entity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<CustomEntity> {
        let id = parse_id("id", &id)?;
        let deleted = request(ctx)?.write(move |tx| async move { entities::delete(&tx, id).await }).await?;
        Ok(deleted.into())
    }
}
