//! Accounts: types, inputs and thin resolvers.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use entity::account::{self, Column};

use serde_json::{Map, Value};

use super::activities::Activity;
use super::contacts::Contact;
use super::context::request;
use super::opportunities::Opportunity;
use super::plain::plain_record;
use super::records::{
    self, OrderBy, OrderDirection, PicklistValue, RecordFields, RecordFilterInput, connection, create_input, given,
    given_id, option, patch, related, update_input,
};
use crate::error::GqlResult;
use crate::service::accounts::AccountFields;
use crate::service::records::Criteria;
use crate::service::upsert::Item;

/// A customer company.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Account {
    pub id: ID,
    /// Null (with a FORBIDDEN error) when the caller's profile hides it.
    pub name: Option<String>,
    pub sector: Option<String>,
    /// How the account came to us.
    pub origin: Option<String>,
    pub region: Option<String>,
    /// Canonical form: `+` and digits, or digits only.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    #[graphql(flatten)]
    pub record: RecordFields,
    #[graphql(skip)]
    pub model: Arc<account::Model>,
}

#[ComplexObject]
impl Account {
    /// prospect, customer, partner or other (tenant-editable).
    #[graphql(name = "type")]
    async fn account_type(&self, ctx: &Context<'_>) -> GqlResult<Option<PicklistValue>> {
        option(ctx, self.model.type_id).await
    }

    /// low, medium or high (tenant-editable).
    async fn purchase_potential(&self, ctx: &Context<'_>) -> GqlResult<Option<PicklistValue>> {
        option(ctx, self.model.purchase_potential_id).await
    }

    /// The account's contacts, by last name.
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 500, default 50)")] first: Option<i32>,
    ) -> GqlResult<Vec<Contact>> {
        related(&request(ctx)?.loaders()?.contacts_of_account, self.model.id, first).await
    }

    /// The account's opportunities, by close date.
    async fn opportunities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 500, default 50)")] first: Option<i32>,
    ) -> GqlResult<Vec<Opportunity>> {
        related(&request(ctx)?.loaders()?.opportunities_of_account, self.model.id, first).await
    }

    /// Activities concerning the account itself, by due date.
    async fn activities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 500, default 50)")] first: Option<i32>,
    ) -> GqlResult<Vec<Activity>> {
        related(&request(ctx)?.loaders()?.activities_of_account, self.model.id, first).await
    }
}

impl From<account::Model> for Account {
    fn from(a: account::Model) -> Self {
        Self {
            id: a.id.into(),
            name: Some(a.name.clone()),
            sector: a.sector.clone(),
            origin: a.origin.clone(),
            region: a.region.clone(),
            phone: a.phone.clone(),
            email: a.email.clone(),
            website: a.website.clone(),
            street: a.street.clone(),
            city: a.city.clone(),
            state: a.state.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
            record: RecordFields::of::<account::Entity>(&a),
            model: Arc::new(a),
        }
    }
}

plain_record!(Account {
    "name" => name, "sector" => sector, "origin" => origin, "region" => region, "phone" => phone,
    "email" => email, "website" => website, "street" => street, "city" => city, "state" => state,
    "postalCode" => postal_code, "country" => country,
} links |_account| {});

connection!(AccountConnection, AccountEdge, Account, account::Entity);

/// A new account. Picklist fields take an option's key or label.
#[derive(InputObject)]
pub struct CreateAccountInput {
    pub name: String,
    #[graphql(name = "type")]
    pub account_type: Option<String>,
    pub sector: Option<String>,
    pub origin: Option<String>,
    pub purchase_potential: Option<String>,
    pub region: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    /// Defaults to the caller (required for API tokens).
    pub owner_id: Option<ID>,
    pub external_id: Option<String>,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

/// An account's own fields in a change: omitted fields stay, `null` clears.
#[derive(InputObject, Default)]
pub struct AccountChanges {
    pub name: MaybeUndefined<String>,
    #[graphql(name = "type")]
    pub account_type: MaybeUndefined<String>,
    pub sector: MaybeUndefined<String>,
    pub origin: MaybeUndefined<String>,
    pub purchase_potential: MaybeUndefined<String>,
    pub region: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    pub website: MaybeUndefined<String>,
    pub street: MaybeUndefined<String>,
    pub city: MaybeUndefined<String>,
    pub state: MaybeUndefined<String>,
    pub postal_code: MaybeUndefined<String>,
    pub country: MaybeUndefined<String>,
}

impl AccountChanges {
    fn fields(self) -> AccountFields {
        AccountFields {
            name: patch(self.name),
            account_type: patch(self.account_type),
            sector: patch(self.sector),
            origin: patch(self.origin),
            purchase_potential: patch(self.purchase_potential),
            region: patch(self.region),
            phone: patch(self.phone),
            email: patch(self.email),
            website: patch(self.website),
            street: patch(self.street),
            city: patch(self.city),
            state: patch(self.state),
            postal_code: patch(self.postal_code),
            country: patch(self.country),
        }
    }
}

/// Changes to an account: omitted fields stay, `null` clears.
#[derive(InputObject, Default)]
pub struct UpdateAccountInput {
    #[graphql(flatten)]
    pub changes: AccountChanges,
    pub owner_id: MaybeUndefined<ID>,
    pub external_id: MaybeUndefined<String>,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

/// One account of `upsertAccounts`, matched on `externalId`: omitted fields stay
/// (or start empty when the account is new), `null` clears.
#[derive(InputObject)]
pub struct AccountUpsertInput {
    pub external_id: String,
    /// Defaults to the caller when the account is new (required for API tokens).
    pub owner_id: Option<ID>,
    #[graphql(flatten)]
    pub changes: AccountChanges,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

impl AccountUpsertInput {
    pub fn item(self) -> GqlResult<Item<AccountFields>> {
        Ok(Item {
            external_id: self.external_id,
            owner: given_id("ownerId", self.owner_id.as_ref())?,
            fields: self.changes.fields(),
            refs: Vec::new(),
            custom: self.custom_fields.map(|c| c.0),
        })
    }
}

/// Which accounts to list; all conditions must hold.
#[derive(InputObject, Default)]
pub struct AccountFilterInput {
    pub name: Option<String>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Case-insensitive substring of the email.
    pub email_contains: Option<String>,
    /// Option key or label.
    #[graphql(name = "type")]
    pub account_type: Option<String>,
    pub purchase_potential: Option<String>,
    pub sector: Option<String>,
    pub origin: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    #[graphql(flatten)]
    pub record: RecordFilterInput,
}

impl AccountFilterInput {
    fn criteria(self) -> GqlResult<Criteria<Column>> {
        let mut c = Criteria::default();
        c.equals(Column::Name, self.name)
            .contains(Column::Name, self.name_contains)
            .contains(Column::Email, self.email_contains)
            .picklist(Column::TypeId, "type", self.account_type)
            .picklist(Column::PurchasePotentialId, "purchasePotential", self.purchase_potential)
            .equals(Column::Sector, self.sector)
            .equals(Column::Origin, self.origin)
            .equals(Column::Region, self.region)
            .equals(Column::City, self.city)
            .equals(Column::State, self.state)
            .equals(Column::Country, self.country);
        self.record.add::<account::Entity>(&mut c)?;
        Ok(c)
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum AccountOrderField {
    Name,
    CreatedAt,
    UpdatedAt,
    Sector,
    Origin,
    Region,
    City,
    State,
    PostalCode,
    Country,
    Email,
    Phone,
    Website,
    Street,
    ExternalId,
}

impl From<AccountOrderField> for Column {
    fn from(field: AccountOrderField) -> Self {
        match field {
            AccountOrderField::Name => Column::Name,
            AccountOrderField::CreatedAt => Column::CreatedAt,
            AccountOrderField::UpdatedAt => Column::UpdatedAt,
            AccountOrderField::Sector => Column::Sector,
            AccountOrderField::Origin => Column::Origin,
            AccountOrderField::Region => Column::Region,
            AccountOrderField::City => Column::City,
            AccountOrderField::State => Column::State,
            AccountOrderField::PostalCode => Column::PostalCode,
            AccountOrderField::Country => Column::Country,
            AccountOrderField::Email => Column::Email,
            AccountOrderField::Phone => Column::Phone,
            AccountOrderField::Website => Column::Website,
            AccountOrderField::Street => Column::Street,
            AccountOrderField::ExternalId => Column::ExternalId,
        }
    }
}

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// One account.
    async fn account(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Account> {
        records::get::<account::Entity, _>(ctx, &id).await
    }

    /// Accounts, filtered, ordered and paged (default by name).
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 500 (default 50)")] first: Option<i32>,
        after: Option<String>,
        filter: Option<AccountFilterInput>,
        order_by: Option<OrderBy<AccountOrderField>>,
    ) -> GqlResult<AccountConnection> {
        let criteria = filter.unwrap_or_default().criteria()?.0;
        let (field, direction) = OrderBy::or(order_by, AccountOrderField::Name, OrderDirection::Asc)?;
        AccountConnection::load(ctx, "account", first, after, criteria, field, direction).await
    }
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Creates an account owned by the caller (or `ownerId`).
    async fn create_account(&self, ctx: &Context<'_>, input: CreateAccountInput) -> GqlResult<Account> {
        let fields = AccountFields {
            name: given(Some(input.name)),
            account_type: given(input.account_type),
            sector: given(input.sector),
            origin: given(input.origin),
            purchase_potential: given(input.purchase_potential),
            region: given(input.region),
            phone: given(input.phone),
            email: given(input.email),
            website: given(input.website),
            street: given(input.street),
            city: given(input.city),
            state: given(input.state),
            postal_code: given(input.postal_code),
            country: given(input.country),
        };
        let input = create_input(input.owner_id.as_ref(), input.external_id, fields, input.custom_fields)?;
        records::create::<account::Entity, _>(ctx, input).await
    }

    /// Changes the given fields. With `expectedVersion`, a stale version is a CONFLICT.
    async fn update_account(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAccountInput,
        expected_version: Option<i32>,
    ) -> GqlResult<Account> {
        let input = update_input(input.owner_id, input.external_id, input.changes.fields(), input.custom_fields)?;
        records::update::<account::Entity, _>(ctx, &id, input, expected_version).await
    }

    /// Deletes an account (softly: an admin can restore it).
    async fn delete_account(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Account> {
        records::delete::<account::Entity, _>(ctx, &id).await
    }

    /// Restores a deleted account (admins only).
    async fn restore_account(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Account> {
        records::restore::<account::Entity, _>(ctx, &id).await
    }
}
