//! Opportunities: types, inputs and thin resolvers.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::opportunity::{self, Column};
use entity::picklist_option;
use rust_decimal::Decimal;

use serde_json::{Map, Value};

use super::accounts::Account;
use super::activities::Activity;
use super::context::request;
use super::plain::{Link, plain_record};
use super::records::{
    self, OrderBy, OrderDirection, RecordFields, RecordFilterInput, connection, create_input, given, given_id, one,
    optional_id, patch, patch_id, related, update_input,
};
use crate::error::GqlResult;
use crate::service::opportunities::{OpportunityFields, amount, amount_e4};
use crate::service::records::Criteria;
use crate::service::upsert::{ExternalRef, Item, RefTarget};
use crate::service::validate::Patch;
use uuid::Uuid;

/// A stage of the pipeline, with what it means for forecasts.
#[derive(SimpleObject, Clone)]
pub struct Stage {
    pub id: ID,
    pub key: String,
    pub label: String,
    pub active: bool,
    /// Win probability in percent.
    pub probability: Option<i32>,
    pub is_closed: bool,
    pub is_won: bool,
}

impl From<picklist_option::Model> for Stage {
    fn from(o: picklist_option::Model) -> Self {
        Self {
            id: o.id.into(),
            key: o.key,
            label: o.label,
            active: o.active,
            probability: o.probability,
            is_closed: o.is_closed,
            is_won: o.is_won,
        }
    }
}

/// A potential sale to an account.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Opportunity {
    pub id: ID,
    /// Null (with a FORBIDDEN error) when the caller's profile hides it.
    pub name: Option<String>,
    /// At least 0, at most four decimal places.
    pub amount: Option<Decimal>,
    /// ISO 4217 code.
    pub currency: Option<String>,
    pub close_date: Option<NaiveDate>,
    /// When the stage last changed (set by the server).
    pub stage_changed_at: Option<DateTime<Utc>>,
    #[graphql(flatten)]
    pub record: RecordFields,
    #[graphql(skip)]
    pub model: Arc<opportunity::Model>,
}

#[ComplexObject]
impl Opportunity {
    /// received, qualification, proposal, negotiation, won or lost (tenant-editable).
    async fn stage(&self, ctx: &Context<'_>) -> GqlResult<Option<Stage>> {
        Ok(request(ctx)?.loaders()?.options.load_one(self.model.stage_id).await?.map(Into::into))
    }

    /// The account (null only when it was deleted).
    async fn account(&self, ctx: &Context<'_>) -> GqlResult<Option<Account>> {
        one(&request(ctx)?.loaders()?.accounts, Some(self.model.account_id)).await
    }

    /// Activities concerning the opportunity, by due date.
    async fn activities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 500, default 50)")] first: Option<i32>,
    ) -> GqlResult<Vec<Activity>> {
        related(&request(ctx)?.loaders()?.activities_of_opportunity, self.model.id, first).await
    }
}

impl From<opportunity::Model> for Opportunity {
    fn from(o: opportunity::Model) -> Self {
        Self {
            id: o.id.into(),
            name: Some(o.name.clone()),
            amount: amount(o.amount_e4),
            currency: o.currency.clone(),
            close_date: o.close_date,
            stage_changed_at: Some(o.stage_changed_at),
            record: RecordFields::of::<opportunity::Entity>(&o),
            model: Arc::new(o),
        }
    }
}

plain_record!(Opportunity {
    "name" => name, "amount" => amount (amount_e4), "currency" => currency, "closeDate" => close_date,
    "stageChangedAt" => stage_changed_at,
} links |opportunity| { "account" (account_id) => Link::Account(Some(opportunity.model.account_id)) });

connection!(OpportunityConnection, OpportunityEdge, Opportunity, opportunity::Entity);

/// A new opportunity. It starts at the first stage unless `stage` is given.
#[derive(InputObject)]
pub struct CreateOpportunityInput {
    pub account_id: ID,
    pub name: String,
    /// Option key or label.
    pub stage: Option<String>,
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub close_date: Option<NaiveDate>,
    /// Defaults to the caller (required for API tokens).
    pub owner_id: Option<ID>,
    pub external_id: Option<String>,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

/// An opportunity's own fields in a change: omitted fields stay, `null` clears.
#[derive(InputObject, Default)]
pub struct OpportunityChanges {
    pub name: MaybeUndefined<String>,
    /// Option key or label; a change sets `stageChangedAt`.
    pub stage: MaybeUndefined<String>,
    pub amount: MaybeUndefined<Decimal>,
    pub currency: MaybeUndefined<String>,
    pub close_date: MaybeUndefined<NaiveDate>,
}

impl OpportunityChanges {
    fn fields(self, account_id: Patch<Uuid>) -> OpportunityFields {
        OpportunityFields {
            account_id,
            name: patch(self.name),
            stage: patch(self.stage),
            amount: patch(self.amount),
            currency: patch(self.currency),
            close_date: patch(self.close_date),
        }
    }
}

/// Changes to an opportunity: omitted fields stay, `null` clears.
#[derive(InputObject, Default)]
pub struct UpdateOpportunityInput {
    pub account_id: MaybeUndefined<ID>,
    #[graphql(flatten)]
    pub changes: OpportunityChanges,
    pub owner_id: MaybeUndefined<ID>,
    pub external_id: MaybeUndefined<String>,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

/// One opportunity of `upsertOpportunities`, matched on `externalId`: omitted fields
/// stay (or start empty when the opportunity is new), `null` clears.
#[derive(InputObject)]
pub struct OpportunityUpsertInput {
    pub external_id: String,
    /// The account by its external id; takes precedence over `accountId`.
    pub account_external_id: Option<String>,
    pub account_id: MaybeUndefined<ID>,
    /// Defaults to the caller when the opportunity is new (required for API tokens).
    pub owner_id: Option<ID>,
    #[graphql(flatten)]
    pub changes: OpportunityChanges,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

impl OpportunityUpsertInput {
    pub fn item(self) -> GqlResult<Item<OpportunityFields>> {
        let refs = self
            .account_external_id
            .map(|external_id| ExternalRef { field: "accountExternalId", external_id, target: RefTarget::Account })
            .into_iter()
            .collect();
        Ok(Item {
            external_id: self.external_id,
            owner: given_id("ownerId", self.owner_id.as_ref())?,
            fields: self.changes.fields(patch_id("accountId", self.account_id)?),
            refs,
            custom: self.custom_fields.map(|c| c.0),
        })
    }
}

/// Which opportunities to list; all conditions must hold.
#[derive(InputObject, Default)]
pub struct OpportunityFilterInput {
    pub account: Option<ID>,
    pub name: Option<String>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Option key or label.
    pub stage: Option<String>,
    pub currency: Option<String>,
    pub amount_min: Option<Decimal>,
    pub amount_max: Option<Decimal>,
    pub close_date_from: Option<NaiveDate>,
    pub close_date_to: Option<NaiveDate>,
    /// Only opportunities with (true) or without (false) a close date.
    pub has_close_date: Option<bool>,
    pub stage_changed_from: Option<DateTime<Utc>>,
    pub stage_changed_to: Option<DateTime<Utc>>,
    #[graphql(flatten)]
    pub record: RecordFilterInput,
}

impl OpportunityFilterInput {
    fn criteria(self) -> GqlResult<Criteria<Column>> {
        let amount_min = self.amount_min.map(|a| amount_e4("filter.amountMin", a)).transpose()?;
        let amount_max = self.amount_max.map(|a| amount_e4("filter.amountMax", a)).transpose()?;
        let mut c = Criteria::default();
        c.is(Column::AccountId, optional_id("filter.account", self.account.as_ref())?)
            .equals(Column::Name, self.name)
            .contains(Column::Name, self.name_contains)
            .picklist(Column::StageId, "stage", self.stage)
            .equals(Column::Currency, self.currency.map(|c| c.to_ascii_uppercase()))
            .range(Column::AmountE4, amount_min, amount_max)
            .range(Column::CloseDate, self.close_date_from, self.close_date_to)
            .present(Column::CloseDate, self.has_close_date)
            .range(Column::StageChangedAt, self.stage_changed_from, self.stage_changed_to);
        self.record.add::<opportunity::Entity>(&mut c)?;
        Ok(c)
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum OpportunityOrderField {
    Name,
    Amount,
    Currency,
    CloseDate,
    StageChangedAt,
    CreatedAt,
    UpdatedAt,
    ExternalId,
}

impl From<OpportunityOrderField> for Column {
    fn from(field: OpportunityOrderField) -> Self {
        match field {
            OpportunityOrderField::Name => Column::Name,
            OpportunityOrderField::Amount => Column::AmountE4,
            OpportunityOrderField::Currency => Column::Currency,
            OpportunityOrderField::CloseDate => Column::CloseDate,
            OpportunityOrderField::StageChangedAt => Column::StageChangedAt,
            OpportunityOrderField::CreatedAt => Column::CreatedAt,
            OpportunityOrderField::UpdatedAt => Column::UpdatedAt,
            OpportunityOrderField::ExternalId => Column::ExternalId,
        }
    }
}

#[derive(Default)]
pub struct OpportunityQuery;

#[Object]
impl OpportunityQuery {
    async fn opportunity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Opportunity> {
        records::get::<opportunity::Entity, _>(ctx, &id).await
    }

    /// Opportunities, filtered, ordered and paged (default by close date).
    async fn opportunities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 500 (default 50)")] first: Option<i32>,
        after: Option<String>,
        filter: Option<OpportunityFilterInput>,
        order_by: Option<OrderBy<OpportunityOrderField>>,
    ) -> GqlResult<OpportunityConnection> {
        let criteria = filter.unwrap_or_default().criteria()?.0;
        let (field, direction) = OrderBy::or(order_by, OpportunityOrderField::CloseDate, OrderDirection::Asc)?;
        OpportunityConnection::load(ctx, "opportunity", first, after, criteria, field, direction).await
    }

    /// The stage pipeline, in order (for profiles that may see opportunities' stages).
    async fn stages(&self, ctx: &Context<'_>) -> GqlResult<Vec<Stage>> {
        let read = request(ctx)?.read()?;
        Ok(crate::service::opportunities::stages(&read).await?.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct OpportunityMutation;

#[Object]
impl OpportunityMutation {
    /// Creates an opportunity owned by the caller (or `ownerId`).
    async fn create_opportunity(&self, ctx: &Context<'_>, input: CreateOpportunityInput) -> GqlResult<Opportunity> {
        let fields = OpportunityFields {
            account_id: given_id("accountId", Some(&input.account_id))?,
            name: given(Some(input.name)),
            stage: given(input.stage),
            amount: given(input.amount),
            currency: given(input.currency),
            close_date: given(input.close_date),
        };
        let input = create_input(input.owner_id.as_ref(), input.external_id, fields, input.custom_fields)?;
        records::create::<opportunity::Entity, _>(ctx, input).await
    }

    /// Changes the given fields; a stage change sets `stageChangedAt`.
    /// With `expectedVersion`, a stale version is a CONFLICT.
    async fn update_opportunity(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateOpportunityInput,
        expected_version: Option<i32>,
    ) -> GqlResult<Opportunity> {
        let fields = input.changes.fields(patch_id("accountId", input.account_id)?);
        let input = update_input(input.owner_id, input.external_id, fields, input.custom_fields)?;
        records::update::<opportunity::Entity, _>(ctx, &id, input, expected_version).await
    }

    /// Deletes an opportunity (softly: an admin can restore it).
    async fn delete_opportunity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Opportunity> {
        records::delete::<opportunity::Entity, _>(ctx, &id).await
    }

    /// Restores a deleted opportunity (admins only).
    async fn restore_opportunity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Opportunity> {
        records::restore::<opportunity::Entity, _>(ctx, &id).await
    }
}
