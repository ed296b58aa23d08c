//! Custom fields: their values on records, filters on them, and the admin's
//! definitions.

use std::collections::HashMap;

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::field_definition;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::context::{parse_id, request};
use super::metadata::FieldType;
use super::records::PicklistValue;
use crate::error::{GqlResult, ServiceError};
use crate::service::catalog::FieldKind;
use crate::service::custom_fields::{self as service, NewField, Test};
use crate::service::records::Criterion;
use crate::service::records::Stamps;

/// One custom field of a record, typed: the member matching `type` is set.
#[derive(SimpleObject)]
pub struct CustomFieldValue {
    pub name: String,
    pub label: String,
    #[graphql(name = "type")]
    pub field_type: FieldType,
    /// The value as in `customFields` (picklists by key, decimals as text).
    pub value: Option<Json<Value>>,
    /// TEXT, LONG_TEXT, EMAIL, PHONE and URL.
    pub text: Option<String>,
    pub integer: Option<i64>,
    pub decimal: Option<Decimal>,
    pub boolean: Option<bool>,
    pub date: Option<NaiveDate>,
    pub datetime: Option<DateTime<Utc>>,
    /// PICKLIST (one) and MULTI_PICKLIST (any number).
    pub options: Vec<PicklistValue>,
    /// REFERENCE: the id of the record referred to.
    pub reference_id: Option<ID>,
}

/// The options a record's custom values name, through the request's loader.
async fn options(
    ctx: &Context<'_>,
    stored: Option<&Value>,
) -> GqlResult<HashMap<Uuid, entity::picklist_option::Model>> {
    let ids = service::option_ids(stored);
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    request(ctx)?.loaders()?.options.load_many(ids).await
}

/// `customFields` of a record: the values the caller may see.
pub async fn values(ctx: &Context<'_>, record: &Stamps) -> GqlResult<Json<Map<String, Value>>> {
    let req = request(ctx)?;
    if record.custom.is_none() {
        return Ok(Json(Map::new()));
    }
    let defs = req.loaders()?.definitions(&record.entity).await?;
    let options = options(ctx, record.custom.as_ref()).await?;
    let access = &req.actor()?.access;
    Ok(Json(service::shown(access, &record.entity, defs, record.custom.as_ref(), &options)?))
}

/// `field(name)` of a record.
pub async fn value(ctx: &Context<'_>, record: &Stamps, name: &str) -> GqlResult<CustomFieldValue> {
    let req = request(ctx)?;
    let defs = req.loaders()?.definitions(&record.entity).await?;
    let def = service::one(&req.actor()?.access, &record.entity, defs, name)?;
    let stored = record.custom.as_ref().and_then(|c| c.get(name)).cloned();
    let options = options(ctx, record.custom.as_ref()).await?;
    let rendered = service::render(std::slice::from_ref(def), record.custom.as_ref(), &options)?;
    let shown = rendered.get(name).cloned();
    let kind = service::kind(def)?;
    let text = || shown.as_ref().and_then(Value::as_str).map(str::to_owned);
    let mut out = CustomFieldValue {
        name: def.name.clone(),
        label: def.label.clone(),
        field_type: kind.into(),
        value: shown.clone().map(Json),
        text: None,
        integer: None,
        decimal: None,
        boolean: None,
        date: None,
        datetime: None,
        options: Vec::new(),
        reference_id: None,
    };
    match kind {
        FieldKind::Text | FieldKind::LongText | FieldKind::Email | FieldKind::Phone | FieldKind::Url => {
            out.text = text()
        }
        FieldKind::Integer => out.integer = shown.as_ref().and_then(Value::as_i64),
        FieldKind::Decimal => out.decimal = text().and_then(|t| t.parse().ok()),
        FieldKind::Boolean => out.boolean = shown.as_ref().and_then(Value::as_bool),
        FieldKind::Date => out.date = text().and_then(|t| t.parse().ok()),
        FieldKind::DateTime => out.datetime = text().and_then(|t| t.parse().ok()),
        FieldKind::Reference => out.reference_id = text().map(ID),
        FieldKind::Picklist | FieldKind::MultiPicklist => {
            let ids: Vec<Uuid> = match &stored {
                Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str()?.parse().ok()).collect(),
                Some(Value::String(id)) => id.parse().ok().into_iter().collect(),
                _ => Vec::new(),
            };
            out.options = ids.iter().filter_map(|id| options.get(id).cloned()).map(Into::into).collect();
        }
    }
    Ok(out)
}

/// A condition on one custom field; give exactly one test (`min` and `max` together count as one).
#[derive(InputObject)]
pub struct CustomFieldFilter {
    /// The custom field's API name.
    pub field: String,
    /// Equal to this value (picklists: a key or label; multi-picklists: holds that option).
    pub equals: Option<Json<Value>>,
    /// Case-insensitive substring (text fields).
    pub contains: Option<String>,
    /// At least this (numbers, dates, times).
    pub min: Option<Json<Value>>,
    /// At most this (numbers, dates, times).
    pub max: Option<Json<Value>>,
    /// Holds a value (true) or not (false).
    pub present: Option<bool>,
}

impl CustomFieldFilter {
    pub fn criterion<C>(self) -> GqlResult<Criterion<C>> {
        let (field, test) = self.test()?;
        Ok(Criterion::Custom(field, test))
    }

    /// The field and its test.
    pub fn test(self) -> GqlResult<(String, Test)> {
        let range = self.min.is_some() || self.max.is_some();
        let tests = [self.equals.is_some(), self.contains.is_some(), range, self.present.is_some()];
        if tests.iter().filter(|t| **t).count() != 1 {
            return Err(ServiceError::invalid(
                "filter.custom",
                "give exactly one of equals, contains, min/max and present",
            )
            .into());
        }
        let test = if let Some(value) = self.equals {
            Test::Equals(value.0)
        } else if let Some(needle) = self.contains {
            Test::Contains(needle)
        } else if let Some(present) = self.present {
            Test::Present(present)
        } else {
            Test::Range(self.min.map(|v| v.0), self.max.map(|v| v.0))
        };
        Ok((self.field, test))
    }
}

/// A custom field's definition.
#[derive(SimpleObject)]
pub struct CustomField {
    pub id: ID,
    pub entity: String,
    /// API name: the key in `customFields`, inputs, filters and traces.
    pub name: String,
    pub label: String,
    #[graphql(name = "type")]
    pub field_type: FieldType,
    pub required: bool,
    pub reference_to: Option<String>,
}

impl TryFrom<field_definition::Model> for CustomField {
    type Error = crate::error::GqlError;

    fn try_from(d: field_definition::Model) -> GqlResult<Self> {
        Ok(Self {
            id: d.id.into(),
            field_type: service::kind(&d)?.into(),
            entity: d.entity,
            name: d.name,
            label: d.label,
            required: d.required,
            reference_to: d.reference_to,
        })
    }
}

/// An option of a new picklist field.
#[derive(InputObject)]
pub struct NewOptionInput {
    pub key: String,
    pub label: String,
}

/// A new custom field.
#[derive(InputObject)]
pub struct CreateCustomFieldInput {
    /// The entity it extends, e.g. "Account".
    pub entity: String,
    /// API name: 2 to 50 letters and digits, starting with a lowercase letter; not a built-in field.
    pub name: String,
    pub label: String,
    #[graphql(name = "type")]
    pub field_type: FieldType,
    #[graphql(default)]
    pub required: bool,
    /// PICKLIST and MULTI_PICKLIST: the options, in order.
    pub options: Option<Vec<NewOptionInput>>,
    /// REFERENCE: the entity referred to.
    pub reference_to: Option<String>,
}

#[derive(Default)]
pub struct CustomFieldMutation;

#[Object]
impl CustomFieldMutation {
    /// Adds a custom field to an entity (admins only). Its options are then edited
    /// like any picklist's (`addPicklistOption`, …).
    async fn create_custom_field(&self, ctx: &Context<'_>, input: CreateCustomFieldInput) -> GqlResult<CustomField> {
        let new = NewField {
            entity: input.entity,
            name: input.name,
            label: input.label,
            kind: input.field_type.into(),
            required: input.required,
            options: input.options.unwrap_or_default().into_iter().map(|o| (o.key, o.label)).collect(),
            reference_to: input.reference_to,
        };
        let created = request(ctx)?.write(move |tx| async move { service::create(&tx, new).await }).await?;
        created.try_into()
    }

    /// Relabels a custom field or changes whether it is required (admins only); its values stay.
    async fn update_custom_field(
        &self,
        ctx: &Context<'_>,
        id: ID,
        label: Option<String>,
        required: Option<bool>,
    ) -> GqlResult<CustomField> {
        let id = parse_id("id", &id)?;
        let updated =
            request(ctx)?.write(move |tx| async move { service::update(&tx, id, label, required).await }).await?;
        updated.try_into()
    }

    /// Deletes a custom field (admins only). When records hold values for it,
    /// `force: true` is needed; the removed values are kept in the trace.
    async fn delete_custom_field(&self, ctx: &Context<'_>, id: ID, force: Option<bool>) -> GqlResult<CustomField> {
        let id = parse_id("id", &id)?;
        let deleted = request(ctx)?
            .write(move |tx| async move { service::delete(&tx, id, force.unwrap_or(false)).await })
            .await?;
        deleted.try_into()
    }
}
