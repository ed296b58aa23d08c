//! Contacts: types, inputs and thin resolvers.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use entity::contact::{self, Column};

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
use crate::service::contacts::ContactFields;
use crate::service::records::Criteria;
use crate::service::upsert::{ExternalRef, Item, RefTarget};
use crate::service::validate::Patch;
use uuid::Uuid;

/// A person we deal with, usually at an account.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Contact {
    pub id: ID,
    pub first_name: Option<String>,
    /// Null (with a FORBIDDEN error) when the caller's profile hides it.
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub email: Option<String>,
    /// Canonical form: `+` and digits, or digits only.
    pub phone: Option<String>,
    pub mobile: Option<String>,
    #[graphql(flatten)]
    pub record: RecordFields,
    #[graphql(skip)]
    pub model: Arc<contact::Model>,
}

#[ComplexObject]
impl Contact {
    /// The contact's account (null when none, or when it was deleted).
    async fn account(&self, ctx: &Context<'_>) -> GqlResult<Option<Account>> {
        one(&request(ctx)?.loaders()?.accounts, self.model.account_id).await
    }

    /// Activities concerning the contact, by due date.
    async fn activities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 500, default 50)")] first: Option<i32>,
    ) -> GqlResult<Vec<Activity>> {
        related(&request(ctx)?.loaders()?.activities_of_contact, self.model.id, first).await
    }
}

impl From<contact::Model> for Contact {
    fn from(c: contact::Model) -> Self {
        Self {
            id: c.id.into(),
            first_name: c.first_name.clone(),
            last_name: Some(c.last_name.clone()),
            title: c.title.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            mobile: c.mobile.clone(),
            record: RecordFields::of::<contact::Entity>(&c),
            model: Arc::new(c),
        }
    }
}

plain_record!(Contact {
    "firstName" => first_name, "lastName" => last_name, "title" => title, "email" => email,
    "phone" => phone, "mobile" => mobile,
} links |contact| { "account" (account_id) => Link::Account(contact.model.account_id) });

connection!(ContactConnection, ContactEdge, Contact, contact::Entity);

#[derive(InputObject)]
pub struct CreateContactInput {
    pub account_id: Option<ID>,
    pub first_name: Option<String>,
    pub last_name: String,
    pub title: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    /// Defaults to the caller (required for API tokens).
    pub owner_id: Option<ID>,
    pub external_id: Option<String>,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

/// A contact's own fields in a change: omitted fields stay, `null` clears.
#[derive(InputObject, Default)]
pub struct ContactChanges {
    pub first_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub title: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub mobile: MaybeUndefined<String>,
}

impl ContactChanges {
    fn fields(self, account_id: Patch<Uuid>) -> ContactFields {
        ContactFields {
            account_id,
            first_name: patch(self.first_name),
            last_name: patch(self.last_name),
            title: patch(self.title),
            email: patch(self.email),
            phone: patch(self.phone),
            mobile: patch(self.mobile),
        }
    }
}

/// Changes to a contact: omitted fields stay, `null` clears.
#[derive(InputObject, Default)]
pub struct UpdateContactInput {
    pub account_id: MaybeUndefined<ID>,
    #[graphql(flatten)]
    pub changes: ContactChanges,
    pub owner_id: MaybeUndefined<ID>,
    pub external_id: MaybeUndefined<String>,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

/// One contact of `upsertContacts`, matched on `externalId`: omitted fields stay
/// (or start empty when the contact is new), `null` clears.
#[derive(InputObject)]
pub struct ContactUpsertInput {
    pub external_id: String,
    /// The account by its external id (in the CRM already, or earlier in this batch's
    /// request through `upsertAccounts`). Takes precedence over `accountId`.
    pub account_external_id: Option<String>,
    pub account_id: MaybeUndefined<ID>,
    /// Defaults to the caller when the contact is new (required for API tokens).
    pub owner_id: Option<ID>,
    #[graphql(flatten)]
    pub changes: ContactChanges,
    /// Custom field values by API name (see `metadata`); `null` clears one.
    pub custom_fields: Option<Json<Map<String, Value>>>,
}

impl ContactUpsertInput {
    pub fn item(self) -> GqlResult<Item<ContactFields>> {
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

/// Which contacts to list; all conditions must hold.
#[derive(InputObject, Default)]
pub struct ContactFilterInput {
    pub account: Option<ID>,
    /// Only contacts with (true) or without (false) an account.
    pub has_account: Option<bool>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Case-insensitive substring of the last name.
    pub name_contains: Option<String>,
    pub email: Option<String>,
    /// Case-insensitive substring of the email.
    pub email_contains: Option<String>,
    pub title: Option<String>,
    #[graphql(flatten)]
    pub record: RecordFilterInput,
}

impl ContactFilterInput {
    fn criteria(self) -> GqlResult<Criteria<Column>> {
        let mut c = Criteria::default();
        c.is(Column::AccountId, optional_id("filter.account", self.account.as_ref())?)
            .present(Column::AccountId, self.has_account)
            .equals(Column::FirstName, self.first_name)
            .equals(Column::LastName, self.last_name)
            .contains(Column::LastName, self.name_contains)
            .equals(Column::Email, self.email.map(|e| e.to_lowercase()))
            .contains(Column::Email, self.email_contains)
            .equals(Column::Title, self.title);
        self.record.add::<contact::Entity>(&mut c)?;
        Ok(c)
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ContactOrderField {
    LastName,
    FirstName,
    Title,
    Email,
    CreatedAt,
    UpdatedAt,
    Phone,
    Mobile,
    ExternalId,
}

impl From<ContactOrderField> for Column {
    fn from(field: ContactOrderField) -> Self {
        match field {
            ContactOrderField::LastName => Column::LastName,
            ContactOrderField::FirstName => Column::FirstName,
            ContactOrderField::Title => Column::Title,
            ContactOrderField::Email => Column::Email,
            ContactOrderField::CreatedAt => Column::CreatedAt,
            ContactOrderField::UpdatedAt => Column::UpdatedAt,
            ContactOrderField::Phone => Column::Phone,
            ContactOrderField::Mobile => Column::Mobile,
            ContactOrderField::ExternalId => Column::ExternalId,
        }
    }
}

#[derive(Default)]
pub struct ContactQuery;

#[Object]
impl ContactQuery {
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Contact> {
        records::get::<contact::Entity, _>(ctx, &id).await
    }

    /// Contacts, filtered, ordered and paged (default by last name).
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 500 (default 50)")] first: Option<i32>,
        after: Option<String>,
        filter: Option<ContactFilterInput>,
        order_by: Option<OrderBy<ContactOrderField>>,
    ) -> GqlResult<ContactConnection> {
        let criteria = filter.unwrap_or_default().criteria()?.0;
        let (field, direction) = OrderBy::or(order_by, ContactOrderField::LastName, OrderDirection::Asc)?;
        ContactConnection::load(ctx, "contact", first, after, criteria, field, direction).await
    }
}

#[derive(Default)]
pub struct ContactMutation;

#[Object]
impl ContactMutation {
    /// Creates a contact owned by the caller (or `ownerId`).
    async fn create_contact(&self, ctx: &Context<'_>, input: CreateContactInput) -> GqlResult<Contact> {
        let fields = ContactFields {
            account_id: given_id("accountId", input.account_id.as_ref())?,
            first_name: given(input.first_name),
            last_name: given(Some(input.last_name)),
            title: given(input.title),
            email: given(input.email),
            phone: given(input.phone),
            mobile: given(input.mobile),
        };
        let input = create_input(input.owner_id.as_ref(), input.external_id, fields, input.custom_fields)?;
        records::create::<contact::Entity, _>(ctx, input).await
    }

    /// Changes the given fields. With `expectedVersion`, a stale version is a CONFLICT.
    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateContactInput,
        expected_version: Option<i32>,
    ) -> GqlResult<Contact> {
        let fields = input.changes.fields(patch_id("accountId", input.account_id)?);
        let input = update_input(input.owner_id, input.external_id, fields, input.custom_fields)?;
        records::update::<contact::Entity, _>(ctx, &id, input, expected_version).await
    }

    /// Deletes a contact (softly: an admin can restore it).
    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Contact> {
        records::delete::<contact::Entity, _>(ctx, &id).await
    }

    /// Restores a deleted contact (admins only).
    async fn restore_contact(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Contact> {
        records::restore::<contact::Entity, _>(ctx, &id).await
    }
}
