//! DataLoaders, built per request and bound to the caller's tenant (never
//! registered on the schema, where one cache would serve every tenant).

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{app_user, picklist_option};
use uuid::Uuid;

use crate::db::TenantRead;
use crate::error::GqlError;
use crate::service;

pub struct Loaders {
    pub users: DataLoader<UserLoader>,
    pub options: DataLoader<OptionLoader>,
}

impl Loaders {
    pub fn new(users: TenantRead, options: TenantRead) -> Self {
        Self {
            users: DataLoader::new(UserLoader(users), tokio::spawn),
            options: DataLoader::new(OptionLoader(options), tokio::spawn),
        }
    }
}

pub struct UserLoader(TenantRead);

impl Loader<Uuid> for UserLoader {
    type Value = app_user::Model;
    type Error = GqlError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(service::users::by_ids(&self.0, keys).await?.into_iter().map(|u| (u.id, u)).collect())
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
