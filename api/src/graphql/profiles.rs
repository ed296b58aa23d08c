//! Profiles and access rules: the admin's side.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};

use super::context::{parse_id, request};
use super::types::{Profile, User};
use crate::auth::access::{EntityRights, FieldAccess, Permissions};
use crate::error::GqlResult;
use crate::service::{self, catalog};

/// How far a profile may go with a field.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum FieldAccessLevel {
    /// Not shown anywhere: selecting it gives null and a FORBIDDEN error.
    Hidden,
    /// Shown, not writable.
    Read,
    /// Shown and writable.
    Edit,
}

impl From<FieldAccess> for FieldAccessLevel {
    fn from(a: FieldAccess) -> Self {
        match a {
            FieldAccess::Hidden => Self::Hidden,
            FieldAccess::Read => Self::Read,
            FieldAccess::Edit => Self::Edit,
        }
    }
}

impl From<FieldAccessLevel> for FieldAccess {
    fn from(a: FieldAccessLevel) -> Self {
        match a {
            FieldAccessLevel::Hidden => Self::Hidden,
            FieldAccessLevel::Read => Self::Read,
            FieldAccessLevel::Edit => Self::Edit,
        }
    }
}

/// A profile's access to one field.
#[derive(SimpleObject)]
pub struct FieldRule {
    pub field: String,
    pub access: FieldAccessLevel,
}

/// What a profile may do with one entity's records, and with each of its fields.
#[derive(SimpleObject)]
pub struct EntityAccess {
    pub entity: String,
    pub can_read: bool,
    pub can_create: bool,
    pub can_update: bool,
    pub can_delete: bool,
    pub fields: Vec<FieldRule>,
}

impl EntityAccess {
    fn of(permissions: &Permissions, entity: &str, builtin: &'static [catalog::FieldDef], custom: &[String]) -> Self {
        let rights = permissions.entity(entity);
        Self {
            entity: entity.to_owned(),
            can_read: rights.read,
            can_create: rights.create,
            can_update: rights.update,
            can_delete: rights.delete,
            fields: builtin
                .iter()
                .map(|f| FieldRule { field: f.name.to_owned(), access: catalog::access(permissions, entity, f).into() })
                .chain(
                    custom
                        .iter()
                        .map(|name| FieldRule { field: name.clone(), access: permissions.field(entity, name).into() }),
                )
                .collect(),
        }
    }
}

#[ComplexObject]
impl Profile {
    /// The profile's rules for every entity and field (admins, or the profile's own users).
    async fn access(&self, ctx: &Context<'_>) -> GqlResult<Vec<EntityAccess>> {
        let req = request(ctx)?;
        let permissions = service::metadata::profile_rules(&req.read()?, parse_id("id", &self.id)?).await?;
        let read = req.read()?;
        let custom_entities = service::entities::custom(&read).await?;
        let all_entities = catalog::CORE
            .iter()
            .map(|def| (def.name.to_owned(), def.fields))
            .chain(custom_entities.into_iter().map(|d| (d.name, &[][..])));
        let mut all = Vec::new();
        for (name, builtin) in all_entities {
            let custom: Vec<String> = req.loaders()?.definitions(&name).await?.iter().map(|d| d.name.clone()).collect();
            all.push(EntityAccess::of(&permissions, &name, builtin, &custom));
        }
        Ok(all)
    }
}

/// What a profile may do with an entity's records. Create, update and delete
/// need read too.
#[derive(InputObject)]
pub struct EntityAccessInput {
    pub can_read: bool,
    pub can_create: bool,
    pub can_update: bool,
    pub can_delete: bool,
}

#[derive(Default)]
pub struct ProfileMutation;

#[Object]
impl ProfileMutation {
    /// Creates a profile with full access (admins only); narrow it with
    /// `setEntityAccess` and `setFieldAccess`.
    async fn create_profile(&self, ctx: &Context<'_>, name: String) -> GqlResult<Profile> {
        let profile = request(ctx)?.write(move |tx| async move { service::profiles::create(&tx, &name).await }).await?;
        Ok(profile.into())
    }

    /// Renames a profile (admins only).
    async fn rename_profile(&self, ctx: &Context<'_>, id: ID, name: String) -> GqlResult<Profile> {
        let id = parse_id("id", &id)?;
        let profile =
            request(ctx)?.write(move |tx| async move { service::profiles::rename(&tx, id, &name).await }).await?;
        Ok(profile.into())
    }

    /// Lets the profile's users see every user's adoption metrics (`true`) or
    /// only their own and their team's (`false`). Admins only; admin profiles
    /// always see everything.
    async fn set_profile_metrics_access(
        &self,
        ctx: &Context<'_>,
        id: ID,
        view_all_metrics: bool,
    ) -> GqlResult<Profile> {
        let id = parse_id("id", &id)?;
        let profile = request(ctx)?
            .write(move |tx| async move { service::profiles::set_view_all_metrics(&tx, id, view_all_metrics).await })
            .await?;
        Ok(profile.into())
    }

    /// Deletes a profile that no user or API token holds (admins only; never an admin profile).
    async fn delete_profile(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Profile> {
        let id = parse_id("id", &id)?;
        let profile = request(ctx)?.write(move |tx| async move { service::profiles::delete(&tx, id).await }).await?;
        Ok(profile.into())
    }

    /// Gives a user another profile (admins only); it applies from their next request.
    async fn assign_profile(&self, ctx: &Context<'_>, user_id: ID, profile_id: ID) -> GqlResult<User> {
        let user_id = parse_id("userId", &user_id)?;
        let profile_id = parse_id("profileId", &profile_id)?;
        let user = request(ctx)?
            .write(move |tx| async move { service::profiles::assign(&tx, user_id, profile_id).await })
            .await?;
        Ok(user.into())
    }

    /// Sets what a profile may do with an entity's records (admins only).
    async fn set_entity_access(
        &self,
        ctx: &Context<'_>,
        profile_id: ID,
        entity: String,
        access: EntityAccessInput,
    ) -> GqlResult<EntityAccess> {
        let profile_id = parse_id("profileId", &profile_id)?;
        let rights = EntityRights {
            read: access.can_read,
            create: access.can_create,
            update: access.can_update,
            delete: access.can_delete,
        };
        let named = entity.clone();
        let permissions = request(ctx)?
            .write(move |tx| async move {
                service::profiles::set_entity_access(&tx, profile_id, &named, rights).await?;
                service::metadata::profile_rules(&*tx, profile_id).await
            })
            .await?;
        let read = request(ctx)?.read()?;
        let target = service::entities::resolve(&read, "entity", &entity).await?;
        let custom: Vec<String> =
            request(ctx)?.loaders()?.definitions(target.name()).await?.iter().map(|d| d.name.clone()).collect();
        Ok(EntityAccess::of(&permissions, target.name(), target.fields(), &custom))
    }

    /// Sets whether a profile's users see a field, and whether they may edit it (admins only).
    async fn set_field_access(
        &self,
        ctx: &Context<'_>,
        profile_id: ID,
        entity: String,
        field: String,
        access: FieldAccessLevel,
    ) -> GqlResult<FieldRule> {
        let profile_id = parse_id("profileId", &profile_id)?;
        let named = field.clone();
        let set = request(ctx)?
            .write(move |tx| async move {
                service::profiles::set_field_access(&tx, profile_id, &entity, &named, access.into()).await
            })
            .await?;
        Ok(FieldRule { field, access: set.into() })
    }
}
