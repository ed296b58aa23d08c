//! `metadata` for frontends, and the admin's picklist edits.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use super::context::{parse_id, request};
use super::profiles::FieldAccessLevel;
use super::records::PicklistValue;
use crate::error::GqlResult;
use crate::service::catalog::FieldKind;
use crate::service::metadata::{EntityMeta, FieldMeta};
use crate::service::{self, picklists::NewOption};

/// What a field holds, and how a frontend should render it.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    LongText,
    Integer,
    Decimal,
    Boolean,
    Date,
    Datetime,
    Email,
    Phone,
    Url,
    Picklist,
    MultiPicklist,
    Reference,
}

impl From<FieldType> for FieldKind {
    fn from(t: FieldType) -> Self {
        match t {
            FieldType::Text => Self::Text,
            FieldType::LongText => Self::LongText,
            FieldType::Integer => Self::Integer,
            FieldType::Decimal => Self::Decimal,
            FieldType::Boolean => Self::Boolean,
            FieldType::Date => Self::Date,
            FieldType::Datetime => Self::DateTime,
            FieldType::Email => Self::Email,
            FieldType::Phone => Self::Phone,
            FieldType::Url => Self::Url,
            FieldType::Picklist => Self::Picklist,
            FieldType::MultiPicklist => Self::MultiPicklist,
            FieldType::Reference => Self::Reference,
        }
    }
}

impl From<FieldKind> for FieldType {
    fn from(k: FieldKind) -> Self {
        match k {
            FieldKind::Text => Self::Text,
            FieldKind::LongText => Self::LongText,
            FieldKind::Integer => Self::Integer,
            FieldKind::Decimal => Self::Decimal,
            FieldKind::Boolean => Self::Boolean,
            FieldKind::Date => Self::Date,
            FieldKind::DateTime => Self::Datetime,
            FieldKind::Email => Self::Email,
            FieldKind::Phone => Self::Phone,
            FieldKind::Url => Self::Url,
            FieldKind::Picklist => Self::Picklist,
            FieldKind::MultiPicklist => Self::MultiPicklist,
            FieldKind::Reference => Self::Reference,
        }
    }
}

/// A field the caller may see.
#[derive(SimpleObject)]
pub struct FieldMetadata {
    /// API name: the input field, filter key and trace key.
    pub name: String,
    pub label: String,
    #[graphql(name = "type")]
    pub field_type: FieldType,
    /// READ or EDIT for the caller.
    pub access: FieldAccessLevel,
    /// A new record must have it.
    pub required: bool,
    /// Set by the server (conversion, completion); never writable.
    pub server_set: bool,
    /// Defined by the tenant's admin (false for the built-in fields).
    pub custom: bool,
    /// One of the entity's key fields, which records' completeness is measured on (see `keyFields`).
    pub is_key: bool,
    /// For references: the entity types it may point at.
    pub reference_to: Vec<String>,
    /// For picklists: the options in order; inactive ones can no longer be chosen.
    pub options: Vec<PicklistValue>,
    /// For dependent picklists: the field whose value limits this one's options.
    pub controlling_field: Option<String>,
    /// For dependent picklists: the options each controlling option allows
    /// (controlling options not listed allow every option).
    pub dependencies: Vec<OptionDependency>,
}

/// The options of a dependent picklist that one controlling option allows.
#[derive(SimpleObject, InputObject)]
#[graphql(input_name = "OptionDependencyInput")]
pub struct OptionDependency {
    pub controlling_key: String,
    pub allowed_keys: Vec<String>,
}

impl From<FieldMeta> for FieldMetadata {
    fn from(f: FieldMeta) -> Self {
        Self {
            name: f.name,
            label: f.label,
            field_type: f.kind.into(),
            access: f.access.into(),
            required: f.required,
            server_set: f.server_set,
            custom: f.custom,
            is_key: f.is_key,
            reference_to: f.refers_to,
            options: f.options.into_iter().map(Into::into).collect(),
            controlling_field: f.dependency.as_ref().map(|d| d.controlling.clone()),
            dependencies: f
                .dependency
                .map(|d| {
                    let mut rules: Vec<OptionDependency> = d
                        .allowed
                        .into_iter()
                        .map(|(controlling_key, allowed_keys)| OptionDependency { controlling_key, allowed_keys })
                        .collect();
                    rules.sort_by(|a, b| a.controlling_key.cmp(&b.controlling_key));
                    rules
                })
                .unwrap_or_default(),
        }
    }
}

/// An entity the caller may read.
#[derive(SimpleObject)]
pub struct EntityMetadata {
    /// API name (as in traces, `changes` and access rules).
    pub name: String,
    pub label: String,
    pub custom: bool,
    pub can_create: bool,
    pub can_update: bool,
    pub can_delete: bool,
    /// The fields the caller may see, in form order.
    pub fields: Vec<FieldMetadata>,
}

impl From<EntityMeta> for EntityMetadata {
    fn from(e: EntityMeta) -> Self {
        Self {
            name: e.name,
            label: e.label,
            custom: e.custom,
            can_create: e.rights.create,
            can_update: e.rights.update,
            can_delete: e.rights.delete,
            fields: e.fields.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Default)]
pub struct MetadataQuery;

#[Object]
impl MetadataQuery {
    /// The entities and fields the caller may see, with their access, types and
    /// picklist options: what a frontend builds its forms and lists from.
    async fn metadata(&self, ctx: &Context<'_>) -> GqlResult<Vec<EntityMetadata>> {
        let read = request(ctx)?.read()?;
        Ok(service::metadata::metadata(&read).await?.into_iter().map(Into::into).collect())
    }
}

/// A new option of a picklist field.
#[derive(InputObject)]
pub struct AddPicklistOptionInput {
    /// The entity, e.g. "Account".
    pub entity: String,
    /// The picklist field's API name, e.g. "type".
    pub field: String,
    /// Stable key: 1 to 50 of a-z, 0-9 and _, starting with a letter.
    pub key: String,
    pub label: String,
    /// Opportunity stages only: win probability in percent.
    pub probability: Option<i32>,
    /// Opportunity stages only.
    pub is_closed: Option<bool>,
    /// Opportunity stages only (a won stage is closed).
    pub is_won: Option<bool>,
}

#[derive(Default)]
pub struct PicklistMutation;

#[Object]
impl PicklistMutation {
    /// Adds an option at the end of a picklist (admins only).
    async fn add_picklist_option(&self, ctx: &Context<'_>, input: AddPicklistOptionInput) -> GqlResult<PicklistValue> {
        let new = NewOption {
            key: input.key,
            label: input.label,
            probability: input.probability,
            is_closed: input.is_closed.unwrap_or(false),
            is_won: input.is_won.unwrap_or(false),
        };
        let option = request(ctx)?
            .write(move |tx| async move { service::picklists::add_option(&tx, &input.entity, &input.field, new).await })
            .await?;
        Ok(option.into())
    }

    /// Relabels, deactivates or reactivates an option (admins only). Records
    /// holding a deactivated option keep it; it cannot be chosen for new values.
    async fn update_picklist_option(
        &self,
        ctx: &Context<'_>,
        id: ID,
        label: Option<String>,
        active: Option<bool>,
    ) -> GqlResult<PicklistValue> {
        let id = parse_id("id", &id)?;
        let option = request(ctx)?
            .write(move |tx| async move { service::picklists::update_option(&tx, id, label, active).await })
            .await?;
        Ok(option.into())
    }

    /// Makes a field required or optional for new and changed records (admins
    /// only; custom or built-in, except those always required or server-set).
    async fn set_field_required(
        &self,
        ctx: &Context<'_>,
        entity: String,
        field: String,
        required: bool,
    ) -> GqlResult<bool> {
        let required = request(ctx)?
            .write(move |tx| async move { service::field_rules::set_required(&tx, &entity, &field, required).await })
            .await?;
        Ok(required)
    }

    /// Limits the options of picklist `field` by the value of `controllingField`
    /// (admins only), on every write; `controllingField: null` removes the limit.
    async fn set_picklist_dependency(
        &self,
        ctx: &Context<'_>,
        entity: String,
        field: String,
        controlling_field: Option<String>,
        rules: Option<Vec<OptionDependency>>,
    ) -> GqlResult<bool> {
        let allowed = rules.unwrap_or_default().into_iter().map(|r| (r.controlling_key, r.allowed_keys)).collect();
        request(ctx)?
            .write(move |tx| async move {
                service::field_rules::set_dependency(&tx, &entity, &field, controlling_field.as_deref(), allowed).await
            })
            .await?;
        Ok(true)
    }

    /// Deletes an option that no record holds (admins only); deactivate one in use.
    async fn delete_picklist_option(&self, ctx: &Context<'_>, id: ID) -> GqlResult<PicklistValue> {
        let id = parse_id("id", &id)?;
        let option =
            request(ctx)?.write(move |tx| async move { service::picklists::delete_option(&tx, id).await }).await?;
        Ok(option.into())
    }

    /// Orders a picklist's options as the given keys (each key once; admins only).
    async fn reorder_picklist_options(
        &self,
        ctx: &Context<'_>,
        entity: String,
        field: String,
        keys: Vec<String>,
    ) -> GqlResult<Vec<PicklistValue>> {
        let options = request(ctx)?
            .write(move |tx| async move { service::picklists::reorder(&tx, &entity, &field, &keys).await })
            .await?;
        Ok(options.into_iter().map(Into::into).collect())
    }
}
