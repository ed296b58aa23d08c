//! Accounts: types, inputs and thin resolvers.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{account, picklist_option};
use uuid::Uuid;

use super::context::{parse_id, request};
use super::pagination::{PageInfo, decode, encode, page_size};
use super::traces::{self, TraceConnection};
use super::types::User;
use crate::error::{GqlError, GqlResult};
use crate::service;
use crate::service::accounts::{AccountFilter, AccountInput, AccountOrder, MAX_PAGE};
use crate::service::traces::TraceFilter;
use crate::service::validate::Patch;

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

async fn option(ctx: &Context<'_>, id: Option<Uuid>) -> GqlResult<Option<PicklistValue>> {
    let Some(id) = id else { return Ok(None) };
    Ok(request(ctx)?.loaders()?.options.load_one(id).await?.map(Into::into))
}

/// A customer company.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Account {
    pub id: ID,
    pub name: String,
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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Incremented by every change; send it back as `expectedVersion` to detect conflicts.
    pub version: i32,
    /// The id of this account in an external system (ERP), unique per tenant.
    pub external_id: Option<String>,
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

    /// The user responsible for the account.
    async fn owner(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        Ok(request(ctx)?.loaders()?.users.load_one(self.model.owner_id).await?.map(Into::into))
    }

    async fn created_by(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        let Some(id) = self.model.created_by else { return Ok(None) };
        Ok(request(ctx)?.loaders()?.users.load_one(id).await?.map(Into::into))
    }

    async fn updated_by(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        let Some(id) = self.model.updated_by else { return Ok(None) };
        Ok(request(ctx)?.loaders()?.users.load_one(id).await?.map(Into::into))
    }

    /// This account's traces, newest first.
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<TraceConnection> {
        let filter = TraceFilter {
            entity_type: Some(service::accounts::ENTITY.into()),
            entity_id: Some(self.model.id),
            ..Default::default()
        };
        traces::page(ctx, filter, first, after).await
    }
}

impl From<account::Model> for Account {
    fn from(a: account::Model) -> Self {
        Self {
            id: a.id.into(),
            name: a.name.clone(),
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
            created_at: a.created_at,
            updated_at: a.updated_at,
            version: a.version,
            external_id: a.external_id.clone(),
            model: Arc::new(a),
        }
    }
}

#[derive(SimpleObject)]
pub struct AccountEdge {
    pub cursor: String,
    pub node: Account,
}

/// A page of accounts.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct AccountConnection {
    pub nodes: Vec<Account>,
    pub edges: Vec<AccountEdge>,
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub filter: Arc<AccountFilter>,
}

#[ComplexObject]
impl AccountConnection {
    /// How many accounts match the filter (counted only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        let read = request(ctx)?.read()?;
        Ok(service::accounts::count(&read, &self.filter).await?)
    }
}

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
}

/// Changes to an account: omitted fields stay, `null` clears.
#[derive(InputObject, Default)]
pub struct UpdateAccountInput {
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
    pub owner_id: MaybeUndefined<ID>,
    pub external_id: MaybeUndefined<String>,
}

fn patch<T>(value: MaybeUndefined<T>) -> Patch<T> {
    match value {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(v) => Patch::Set(v),
    }
}

fn given<T>(value: Option<T>) -> Patch<T> {
    value.map_or(Patch::Keep, Patch::Set)
}

impl TryFrom<CreateAccountInput> for AccountInput {
    type Error = GqlError;

    fn try_from(i: CreateAccountInput) -> GqlResult<Self> {
        Ok(Self {
            name: Patch::Set(i.name),
            account_type: given(i.account_type),
            sector: given(i.sector),
            origin: given(i.origin),
            purchase_potential: given(i.purchase_potential),
            region: given(i.region),
            phone: given(i.phone),
            email: given(i.email),
            website: given(i.website),
            street: given(i.street),
            city: given(i.city),
            state: given(i.state),
            postal_code: given(i.postal_code),
            country: given(i.country),
            owner_id: given(i.owner_id.as_ref().map(|o| parse_id("ownerId", o)).transpose()?),
            external_id: given(i.external_id),
        })
    }
}

impl TryFrom<UpdateAccountInput> for AccountInput {
    type Error = GqlError;

    fn try_from(i: UpdateAccountInput) -> GqlResult<Self> {
        let owner_id = match i.owner_id {
            MaybeUndefined::Value(id) => MaybeUndefined::Value(parse_id("ownerId", &id)?),
            MaybeUndefined::Null => MaybeUndefined::Null,
            MaybeUndefined::Undefined => MaybeUndefined::Undefined,
        };
        Ok(Self {
            name: patch(i.name),
            account_type: patch(i.account_type),
            sector: patch(i.sector),
            origin: patch(i.origin),
            purchase_potential: patch(i.purchase_potential),
            region: patch(i.region),
            phone: patch(i.phone),
            email: patch(i.email),
            website: patch(i.website),
            street: patch(i.street),
            city: patch(i.city),
            state: patch(i.state),
            postal_code: patch(i.postal_code),
            country: patch(i.country),
            owner_id: patch(owner_id),
            external_id: patch(i.external_id),
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
    pub region: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub owner: Option<ID>,
    /// Only the caller's accounts.
    pub mine: Option<bool>,
    pub external_id: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum AccountOrderField {
    Name,
    CreatedAt,
    UpdatedAt,
    Sector,
    Region,
    City,
    Country,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

/// Sort order; ties are broken by id, so pages are stable.
#[derive(InputObject)]
pub struct AccountOrderBy {
    pub field: AccountOrderField,
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl AccountFilterInput {
    fn into_filter(self) -> GqlResult<AccountFilter> {
        Ok(AccountFilter {
            name: self.name,
            name_contains: self.name_contains,
            email_contains: self.email_contains,
            account_type: self.account_type,
            purchase_potential: self.purchase_potential,
            sector: self.sector,
            region: self.region,
            city: self.city,
            country: self.country,
            owner_id: self.owner.as_ref().map(|o| parse_id("filter.owner", o)).transpose()?,
            mine: self.mine.unwrap_or(false),
            external_id: self.external_id,
            created_from: self.created_from,
            created_to: self.created_to,
            updated_from: self.updated_from,
            updated_to: self.updated_to,
        })
    }
}

const CURSOR: &str = "account";

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// One account.
    async fn account(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Account> {
        let read = request(ctx)?.read()?;
        Ok(service::accounts::get(&read, parse_id("id", &id)?).await?.into())
    }

    /// Accounts, filtered, ordered and paged (default by name).
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 500 (default 50)")] first: Option<i32>,
        after: Option<String>,
        filter: Option<AccountFilterInput>,
        order_by: Option<AccountOrderBy>,
    ) -> GqlResult<AccountConnection> {
        let first = page_size(first, MAX_PAGE)?;
        let offset = decode(CURSOR, after.as_deref())?.map_or(0, |last| last + 1);
        let filter = Arc::new(filter.unwrap_or_default().into_filter()?);
        let (field, descending) = order_by.map_or((AccountOrder::Name, false), |o| {
            let field = match o.field {
                AccountOrderField::Name => AccountOrder::Name,
                AccountOrderField::CreatedAt => AccountOrder::CreatedAt,
                AccountOrderField::UpdatedAt => AccountOrder::UpdatedAt,
                AccountOrderField::Sector => AccountOrder::Sector,
                AccountOrderField::Region => AccountOrder::Region,
                AccountOrderField::City => AccountOrder::City,
                AccountOrderField::Country => AccountOrder::Country,
            };
            (field, o.direction == OrderDirection::Desc)
        });
        let read = request(ctx)?.read()?;
        let start = u64::try_from(offset).unwrap_or(0);
        let (rows, more) = service::accounts::list(&read, &filter, field, descending, start, first).await?;
        let edges: Vec<AccountEdge> = rows
            .into_iter()
            .enumerate()
            .map(|(i, a)| AccountEdge {
                cursor: encode(CURSOR, offset + i64::try_from(i).unwrap_or(0)),
                node: a.into(),
            })
            .collect();
        Ok(AccountConnection {
            nodes: edges.iter().map(|e| e.node.clone()).collect(),
            page_info: PageInfo {
                has_next_page: more,
                has_previous_page: offset > 0,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            filter,
        })
    }
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Creates an account owned by the caller (or `ownerId`).
    async fn create_account(&self, ctx: &Context<'_>, input: CreateAccountInput) -> GqlResult<Account> {
        let input = input.try_into()?;
        let tx = request(ctx)?.begin().await?;
        let account = service::accounts::create(&tx, input).await?;
        tx.commit().await?;
        Ok(account.into())
    }

    /// Changes the given fields. With `expectedVersion`, a stale version is a CONFLICT.
    async fn update_account(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAccountInput,
        expected_version: Option<i32>,
    ) -> GqlResult<Account> {
        let id = parse_id("id", &id)?;
        let input = input.try_into()?;
        let tx = request(ctx)?.begin().await?;
        let account = service::accounts::update(&tx, id, input, expected_version).await?;
        tx.commit().await?;
        Ok(account.into())
    }

    /// Deletes an account (softly: an admin can restore it).
    async fn delete_account(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Account> {
        let id = parse_id("id", &id)?;
        let tx = request(ctx)?.begin().await?;
        let account = service::accounts::delete(&tx, id).await?;
        tx.commit().await?;
        Ok(account.into())
    }

    /// Restores a deleted account (admins only).
    async fn restore_account(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Account> {
        let id = parse_id("id", &id)?;
        let tx = request(ctx)?.begin().await?;
        let account = service::accounts::restore(&tx, id).await?;
        tx.commit().await?;
        Ok(account.into())
    }
}
