//! DataLoaders, built per request and bound to the caller's tenant (never
//! registered on the schema, where one cache would serve every tenant).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{account, activity, app_user, contact, field_definition, lead, opportunity, picklist_option};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::batch::Batcher;
use crate::db::TenantRead;
use crate::error::GqlError;
use crate::service;
use crate::service::records::{self, Record};

pub struct Loaders {
    pub users: DataLoader<UserLoader>,
    pub options: DataLoader<OptionLoader>,
    pub accounts: DataLoader<ById<account::Entity>>,
    pub account_names: DataLoader<AccountNames>,
    pub contacts: DataLoader<ById<contact::Entity>>,
    pub leads: DataLoader<ById<lead::Entity>>,
    pub opportunities: DataLoader<ById<opportunity::Entity>>,
    pub contacts_of_account: DataLoader<Children<contact::Entity>>,
    pub opportunities_of_account: DataLoader<Children<opportunity::Entity>>,
    pub activities_of_account: DataLoader<Children<activity::Entity>>,
    pub activities_of_contact: DataLoader<Children<activity::Entity>>,
    pub activities_of_lead: DataLoader<Children<activity::Entity>>,
    pub activities_of_opportunity: DataLoader<Children<activity::Entity>>,
    /// The tenant's custom field definitions, read once per request.
    definitions: OnceCell<HashMap<String, Vec<field_definition::Model>>>,
    read: TenantRead,
}

fn loader<L: Loader<Uuid>>(loader: L, batcher: &Arc<Batcher>) -> DataLoader<L> {
    let batcher = batcher.clone();
    // No delay: `Batcher` starts a batch once the request's pass is over. (async-graphql's
    // runtime-neutral timer is ready at once for a zero delay, so the batch takes its
    // keys on its first poll; tokio's timer would wait for its next tick.)
    DataLoader::new(loader, move |task| batcher.spawn(Box::pin(task))).delay(Duration::ZERO)
}

impl Loaders {
    /// `read` makes a tenant-scoped reader for each loader.
    pub fn new(read: impl Fn() -> TenantRead, batcher: &Arc<Batcher>) -> Self {
        let b = batcher;
        let activities = |column| loader(Children::<activity::Entity>::new(read(), column, activity::Column::DueAt), b);
        Self {
            users: loader(UserLoader(read()), b),
            options: loader(OptionLoader(read()), b),
            accounts: loader(ById(read(), PhantomData), b),
            account_names: loader(AccountNames(read()), b),
            contacts: loader(ById(read(), PhantomData), b),
            leads: loader(ById(read(), PhantomData), b),
            opportunities: loader(ById(read(), PhantomData), b),
            contacts_of_account: loader(
                Children::new(read(), contact::Column::AccountId, contact::Column::LastName),
                b,
            ),
            opportunities_of_account: loader(
                Children::new(read(), opportunity::Column::AccountId, opportunity::Column::CloseDate),
                b,
            ),
            activities_of_account: activities(activity::Column::AccountId),
            activities_of_contact: activities(activity::Column::ContactId),
            activities_of_lead: activities(activity::Column::LeadId),
            activities_of_opportunity: activities(activity::Column::OpportunityId),
            definitions: OnceCell::new(),
            read: read(),
        }
    }

    /// The custom fields of `entity`, from the request's one read of them.
    pub async fn definitions(&self, entity: &str) -> Result<&[field_definition::Model], GqlError> {
        let all = self
            .definitions
            .get_or_try_init(|| async { service::custom_fields::all(&self.read).await.map_err(GqlError::from) })
            .await?;
        Ok(all.get(entity).map_or(&[], Vec::as_slice))
    }
}

pub struct UserLoader(TenantRead);

impl Loader<Uuid> for UserLoader {
    type Value = app_user::Model;
    type Error = GqlError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(service::users::by_ids_for_read(&self.0, keys).await?.into_iter().map(|u| (u.id, u)).collect())
    }
}

/// Live accounts' names by id (see `service::accounts::names`).
pub struct AccountNames(TenantRead);

impl Loader<Uuid> for AccountNames {
    type Value = String;
    type Error = GqlError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(service::accounts::names(&self.0, keys).await?)
    }
}

pub struct OptionLoader(TenantRead);

impl Loader<Uuid> for OptionLoader {
    type Value = picklist_option::Model;
    type Error = GqlError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(service::picklists::by_ids(&self.0, keys).await?)
    }
}

/// Live records by id; deleted ones resolve to null.
pub struct ById<R>(TenantRead, PhantomData<R>);

impl<R: Record> Loader<Uuid> for ById<R>
where
    R::Model: Clone + Send + Sync + 'static,
{
    type Value = R::Model;
    type Error = GqlError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(records::by_ids::<R>(&self.0, keys).await?.into_iter().map(|m| (R::id(&m), m)).collect())
    }
}

/// The live records pointing at each key through `column`, in `order`.
pub struct Children<R: Record> {
    read: TenantRead,
    column: R::Column,
    order: R::Column,
}

impl<R: Record> Children<R> {
    fn new(read: TenantRead, column: R::Column, order: R::Column) -> Self {
        Self { read, column, order }
    }
}

impl<R: Record> Loader<Uuid> for Children<R>
where
    R::Model: Clone + Send + Sync + 'static,
    R::Column: Send + Sync,
{
    type Value = Vec<R::Model>;
    type Error = GqlError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = records::children::<R>(&self.read, self.column, keys, self.order).await?;
        let mut grouped: HashMap<Uuid, Vec<R::Model>> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for row in rows {
            if let sea_orm::Value::Uuid(Some(parent)) = sea_orm::ModelTrait::get(&row, self.column) {
                grouped.entry(parent).or_default().push(row);
            }
        }
        Ok(grouped)
    }
}
