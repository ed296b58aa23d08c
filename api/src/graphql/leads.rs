//! Leads: types, inputs, thin resolvers and conversion.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::lead::{self, Column};
use rust_decimal::Decimal;

use serde_json::{Map, Value};

use super::accounts::Account;
use super::activities::Activity;
use super::contacts::Contact;
use super::context::{parse_id, request};
use super::opportunities::Opportunity;
use super::plain::{Link, plain_record};
use super::records::{
    self, OrderBy, OrderDirection, PicklistValue, RecordFields, RecordFilterInput, connection, create_input, given,
    given_id, one, option, optional_id, patch, related, update_input,
};
use crate::error::GqlResult;
use crate::service::leads::{self as service, Conversion, LeadFields};
use crate::service::records::Criteria;
use crate::service::upsert::Item;

/// A prospect not yet qualified.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Lead {
    pub id: ID,
    pub first_name: Option<String>,
    /// Null (with a FORBIDDEN error) when the caller's profile hides it.
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub website: Option<String>,
    /// When `convertLead` converted it.
    pub converted_at: Option<DateTime<Utc>>,
    #[graphql(flatten)]
    pub record: RecordFields,
    #[graphql(skip)]
    pub model: Arc<lead::Model>,
}

#[ComplexObject]
impl Lead {
    /// new, working, qualified, disqualified or converted (tenant-editable).
    async fn status(&self, ctx: &Context<'_>) -> GqlResult<Option<PicklistValue>> {
        option(ctx, Some(self.model.status_id)).await
    }

    /// web, referral, event, phone or other (tenant-editable).
    async fn source(&self, ctx: &Context<'_>) -> GqlResult<Option<PicklistValue>> {
        option(ctx, self.model.source_id).await
    }

    /// The account conversion created or used.
    async fn converted_account(&self, ctx: &Context<'_>) -> GqlResult<Option<Account>> {
        one(&request(ctx)?.loaders()?.accounts, self.model.converted_account_id).await
    }

    async fn converted_contact(&self, ctx: &Context<'_>) -> GqlResult<Option<Contact>> {
        one(&request(ctx)?.loaders()?.contacts, self.model.converted_contact_id).await
    }

    async fn converted_opportunity(&self, ctx: &Context<'_>) -> GqlResult<Option<Opportunity>> {
        one(&request(ctx)?.loaders()?.opportunities, self.model.converted_opportunity_id).await
    }

    /// Activities concerning the lead, by due date.
    async fn activities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 500, default 50)")] first: Option<i32>,
    ) -> GqlResult<Vec<Activity>> {
        related(&request(ctx)?.loaders()?.activities_of_lead, self.model.id, first).await
    }
}

impl From<lead::Model> for Lead {
    fn from(l: lead::Model) -> Self {
        Self {
            id: l.id.into(),
            first_name: l.first_name.clone(),
            last_name: Some(l.last_name.clone()),
            company: l.company.clone(),
            title: l.title.clone(),
            phone: l.phone.clone(),
            email: l.email.clone(),
            street: l.street.clone(),
            city: l.city.clone(),
            state: l.state.clone(),
            postal_code: l.postal_code.clone(),
            website: l.website.clone(),
            converted_at: l.converted_at,
            record: RecordFields::of::<lead::Entity>(&l),
            model: Arc::new(l),
        }
    }
}

plain_record!(Lead {
    "firstName" => first_name, "lastName" => last_name, "company" => company, "title" => title,
    "phone" => phone, "email" => email, "street" => street, "city" => city, "state" => state,
    "postalCode" => postal_code, "website" => website, "convertedAt" => converted_at,
} links |lead| { "convertedAccount" (converted_account_id) => Link::Account(lead.model.converted_account_id) });

connection!(LeadConnection, LeadEdge, Lead, lead::Entity);

/// A new lead; it starts at the first status unless `status` is given.
#[derive(InputObject)]
pub struct CreateLeadInput {
    pub first_name: Option<String>,
    pub last_name: String,
    pub company: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub website: Option<String>,
    /// Option key or label (not `converted`: use `convertLead`).
    pub status: Option<String>,
    pub source: Option<String>,
    /// Defaults to the caller (required for API tokens).
    pub owner_id: Option<ID>,
    pub external_id: Option<String>,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

/// A lead's own fields in a change: omitted fields stay, `null` clears.
#[derive(InputObject, Default)]
pub struct LeadChanges {
    pub first_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub company: MaybeUndefined<String>,
    pub title: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    pub street: MaybeUndefined<String>,
    pub city: MaybeUndefined<String>,
    pub state: MaybeUndefined<String>,
    pub postal_code: MaybeUndefined<String>,
    pub website: MaybeUndefined<String>,
    pub status: MaybeUndefined<String>,
    pub source: MaybeUndefined<String>,
}

impl LeadChanges {
    fn fields(self) -> LeadFields {
        LeadFields {
            first_name: patch(self.first_name),
            last_name: patch(self.last_name),
            company: patch(self.company),
            title: patch(self.title),
            phone: patch(self.phone),
            email: patch(self.email),
            street: patch(self.street),
            city: patch(self.city),
            state: patch(self.state),
            postal_code: patch(self.postal_code),
            website: patch(self.website),
            status: patch(self.status),
            source: patch(self.source),
        }
    }
}

/// Changes to a lead: omitted fields stay, `null` clears. Converted leads cannot change.
#[derive(InputObject, Default)]
pub struct UpdateLeadInput {
    #[graphql(flatten)]
    pub changes: LeadChanges,
    pub owner_id: MaybeUndefined<ID>,
    pub external_id: MaybeUndefined<String>,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

/// One lead of `upsertLeads`, matched on `externalId`: omitted fields stay (or start
/// empty when the lead is new), `null` clears.
#[derive(InputObject)]
pub struct LeadUpsertInput {
    pub external_id: String,
    /// Defaults to the caller when the lead is new (required for API tokens).
    pub owner_id: Option<ID>,
    #[graphql(flatten)]
    pub changes: LeadChanges,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

impl LeadUpsertInput {
    pub fn item(self) -> GqlResult<Item<LeadFields>> {
        Ok(Item {
            external_id: self.external_id,
            owner: given_id("ownerId", self.owner_id.as_ref())?,
            fields: self.changes.fields(),
            refs: Vec::new(),
            custom: self.custom_fields.map(|c| c.0),
        })
    }
}

/// Which leads to list; all conditions must hold.
#[derive(InputObject, Default)]
pub struct LeadFilterInput {
    pub last_name: Option<String>,
    /// Case-insensitive substring of the last name.
    pub name_contains: Option<String>,
    pub company: Option<String>,
    /// Case-insensitive substring of the company.
    pub company_contains: Option<String>,
    /// Case-insensitive substring of the email.
    pub email_contains: Option<String>,
    /// Option key or label.
    pub status: Option<String>,
    pub source: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// Only converted (true) or unconverted (false) leads.
    pub converted: Option<bool>,
    #[graphql(flatten)]
    pub record: RecordFilterInput,
}

impl LeadFilterInput {
    fn criteria(self) -> GqlResult<Criteria<Column>> {
        let mut c = Criteria::default();
        c.equals(Column::LastName, self.last_name)
            .contains(Column::LastName, self.name_contains)
            .equals(Column::Company, self.company)
            .contains(Column::Company, self.company_contains)
            .contains(Column::Email, self.email_contains)
            .picklist(Column::StatusId, "status", self.status)
            .picklist(Column::SourceId, "source", self.source)
            .equals(Column::City, self.city)
            .equals(Column::State, self.state)
            .equals(Column::PostalCode, self.postal_code)
            .present(Column::ConvertedAt, self.converted);
        self.record.add::<lead::Entity>(&mut c)?;
        Ok(c)
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum LeadOrderField {
    LastName,
    FirstName,
    Company,
    Title,
    Email,
    City,
    State,
    PostalCode,
    ConvertedAt,
    CreatedAt,
    UpdatedAt,
    Phone,
    Website,
    Street,
    ExternalId,
}

impl From<LeadOrderField> for Column {
    fn from(field: LeadOrderField) -> Self {
        match field {
            LeadOrderField::LastName => Column::LastName,
            LeadOrderField::FirstName => Column::FirstName,
            LeadOrderField::Company => Column::Company,
            LeadOrderField::Title => Column::Title,
            LeadOrderField::Email => Column::Email,
            LeadOrderField::City => Column::City,
            LeadOrderField::State => Column::State,
            LeadOrderField::PostalCode => Column::PostalCode,
            LeadOrderField::ConvertedAt => Column::ConvertedAt,
            LeadOrderField::CreatedAt => Column::CreatedAt,
            LeadOrderField::UpdatedAt => Column::UpdatedAt,
            LeadOrderField::Phone => Column::Phone,
            LeadOrderField::Website => Column::Website,
            LeadOrderField::Street => Column::Street,
            LeadOrderField::ExternalId => Column::ExternalId,
        }
    }
}

/// How to convert a lead.
#[derive(InputObject, Default)]
pub struct ConvertLeadInput {
    /// Attach to this existing account instead of creating one from the lead's company.
    pub account_id: Option<ID>,
    /// Also create an opportunity with this name.
    pub opportunity_name: Option<String>,
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub close_date: Option<NaiveDate>,
    /// Owner of the new records (default: the lead's owner).
    pub owner_id: Option<ID>,
}

/// What `convertLead` created.
#[derive(SimpleObject)]
pub struct ConvertLeadPayload {
    pub lead: Lead,
    pub account: Account,
    pub contact: Contact,
    pub opportunity: Option<Opportunity>,
}

#[derive(Default)]
pub struct LeadQuery;

#[Object]
impl LeadQuery {
    async fn lead(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Lead> {
        records::get::<lead::Entity, _>(ctx, &id).await
    }

    /// Leads, filtered, ordered and paged (default newest first).
    async fn leads(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 500 (default 50)")] first: Option<i32>,
        after: Option<String>,
        filter: Option<LeadFilterInput>,
        order_by: Option<OrderBy<LeadOrderField>>,
    ) -> GqlResult<LeadConnection> {
        let criteria = filter.unwrap_or_default().criteria()?.0;
        let (field, direction) = OrderBy::or(order_by, LeadOrderField::CreatedAt, OrderDirection::Desc)?;
        LeadConnection::load(ctx, "lead", first, after, criteria, field, direction).await
    }
}

#[derive(Default)]
pub struct LeadMutation;

#[Object]
impl LeadMutation {
    /// Creates a lead owned by the caller (or `ownerId`).
    async fn create_lead(&self, ctx: &Context<'_>, input: CreateLeadInput) -> GqlResult<Lead> {
        let fields = LeadFields {
            first_name: given(input.first_name),
            last_name: given(Some(input.last_name)),
            company: given(input.company),
            title: given(input.title),
            phone: given(input.phone),
            email: given(input.email),
            street: given(input.street),
            city: given(input.city),
            state: given(input.state),
            postal_code: given(input.postal_code),
            website: given(input.website),
            status: given(input.status),
            source: given(input.source),
        };
        let input = create_input(input.owner_id.as_ref(), input.external_id, fields, input.custom_fields)?;
        records::create::<lead::Entity, _>(ctx, input).await
    }

    /// Changes the given fields. With `expectedVersion`, a stale version is a CONFLICT.
    async fn update_lead(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateLeadInput,
        expected_version: Option<i32>,
    ) -> GqlResult<Lead> {
        let input = update_input(input.owner_id, input.external_id, input.changes.fields(), input.custom_fields)?;
        records::update::<lead::Entity, _>(ctx, &id, input, expected_version).await
    }

    /// Deletes a lead (softly: an admin can restore it).
    async fn delete_lead(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Lead> {
        records::delete::<lead::Entity, _>(ctx, &id).await
    }

    /// Restores a deleted lead (admins only).
    async fn restore_lead(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Lead> {
        records::restore::<lead::Entity, _>(ctx, &id).await
    }

    /// Converts a lead into an account (new, or `accountId`), a contact and optionally
    /// an opportunity, and marks it converted: all in one transaction, or nothing.
    async fn convert_lead(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: Option<ConvertLeadInput>,
    ) -> GqlResult<ConvertLeadPayload> {
        let id = parse_id("id", &id)?;
        let input = input.unwrap_or_default();
        let conversion = Conversion {
            account_id: optional_id("accountId", input.account_id.as_ref())?,
            opportunity_name: input.opportunity_name,
            amount: input.amount,
            currency: input.currency,
            close_date: input.close_date,
            owner_id: optional_id("ownerId", input.owner_id.as_ref())?,
        };
        let done = request(ctx)?.write(move |tx| async move { service::convert(&tx, id, conversion).await }).await?;
        Ok(ConvertLeadPayload {
            lead: done.lead.into(),
            account: done.account.into(),
            contact: done.contact.into(),
            opportunity: done.opportunity.map(Into::into),
        })
    }
}
