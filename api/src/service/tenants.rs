//! Tenant bootstrap: the tenant, its default profiles and its first admin.

use chrono::Utc;
use entity::{profile, tenant};
use sea_orm::Set;
use serde_json::json;
use uuid::Uuid;

use super::users::{self, NewUser};
use super::{picklists, validate};
use crate::db::trace::Change;
use crate::db::{Db, system};
use crate::error::{ServiceError, ServiceResult};

/// The profiles every new tenant starts with; the first is the admin profile.
pub const DEFAULT_PROFILES: [&str; 4] = ["Admin", "Sales", "Marketing", "Customer Service"];

pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub admin_email: String,
    pub admin_password: String,
    pub admin_name: Option<String>,
}

/// Creates a tenant with its default profiles and an admin user, in one transaction.
pub async fn create(db: &Db, input: NewTenant) -> ServiceResult<tenant::Model> {
    let slug = validate::slug("slug", &input.slug)?;
    let name = validate::required_text("name", &input.name, 200)?;
    if system::tenant_by_slug(db.connection(), &slug).await?.is_some() {
        return Err(ServiceError::Conflict(format!("tenant {slug} already exists")));
    }
    let admin_profile_id = Uuid::now_v7();
    let (tx, tenant) = system::begin_new_tenant(db, &slug, &name, admin_profile_id).await?;
    for (index, profile_name) in DEFAULT_PROFILES.iter().enumerate() {
        let is_admin = index == 0;
        let created = tx
            .insert(profile::ActiveModel {
                id: Set(if is_admin { admin_profile_id } else { Uuid::now_v7() }),
                name: Set((*profile_name).to_owned()),
                is_admin: Set(is_admin),
                created_at: Set(Utc::now()),
                access_version: Set(0),
                ..Default::default()
            })
            .await?;
        tx.trace(Change::create("Profile", created.id, json!({ "name": created.name, "isAdmin": is_admin }))).await?;
    }
    picklists::seed_defaults(&tx).await?;
    let admin_name = input.admin_name.unwrap_or_else(|| "Administrator".to_owned());
    users::create(
        &tx,
        NewUser {
            email: input.admin_email,
            display_name: admin_name,
            password: input.admin_password,
            profile_id: Some(admin_profile_id),
            profile_name: None,
            manager_id: None,
        },
    )
    .await
    .map_err(|e| match e {
        ServiceError::Invalid { field, message } => ServiceError::Invalid { field: format!("admin.{field}"), message },
        other => other,
    })?;
    tx.commit().await?;
    Ok(tenant)
}
