//! `crm demo`: a tenant a newcomer can log into and explore. Idempotent.

use std::sync::Arc;

use crate::auth::Actor;
use crate::db::{Db, system};
use crate::error::ServiceResult;
use crate::service::tenants::{self, NewTenant};
use crate::service::users::{self, NewUser};

pub const SLUG: &str = "demo";
pub const ADMIN_EMAIL: &str = "admin@demo.test";
pub const PASSWORD: &str = "demo-password";

/// The demo team: name, email, profile.
const TEAM: [(&str, &str, &str); 4] = [
    ("Sofia Sales", "sofia@demo.test", "Sales"),
    ("Samuel Sales", "samuel@demo.test", "Sales"),
    ("Maria Marketing", "maria@demo.test", "Marketing"),
    ("Carlos Care", "carlos@demo.test", "Customer Service"),
];

/// Creates the demo tenant and its users unless they exist. Returns whether anything was created.
pub async fn ensure(db: &Db) -> ServiceResult<bool> {
    let tenant = match system::tenant_by_slug(db.connection(), SLUG).await? {
        Some(t) => t,
        None => {
            tenants::create(
                db,
                NewTenant {
                    slug: SLUG.into(),
                    name: "Demo Company".into(),
                    admin_email: ADMIN_EMAIL.into(),
                    admin_password: PASSWORD.into(),
                    admin_name: Some("Ada Admin".into()),
                },
            )
            .await?
        }
    };
    let admin_profile = users::profiles(&db.read(Arc::new(Actor::system(tenant.id, uuid::Uuid::nil()))))
        .await?
        .into_iter()
        .find(|p| p.is_admin)
        .map(|p| p.id)
        .unwrap_or_default();
    let actor = Arc::new(Actor::system(tenant.id, admin_profile));
    let existing: Vec<String> = users::list(&db.read(actor.clone())).await?.into_iter().map(|u| u.email).collect();
    let missing: Vec<_> = TEAM.iter().filter(|(_, email, _)| !existing.iter().any(|e| e == email)).collect();
    if missing.is_empty() {
        return Ok(false);
    }
    let tx = db.begin(actor, None).await?;
    for (name, email, profile) in missing {
        users::create(
            &tx,
            NewUser {
                email: (*email).into(),
                display_name: (*name).into(),
                password: PASSWORD.into(),
                profile_id: None,
                profile_name: Some((*profile).into()),
                manager_id: None,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}
