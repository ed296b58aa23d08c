//! Who is calling: tokens, passwords, and the resulting [`Actor`].

pub mod access;
pub mod api_token;
pub mod jwt;
pub mod password;

use std::sync::{Arc, LazyLock};

use uuid::Uuid;

use self::access::Permissions;

/// How a change entered the system; recorded on every trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A person through a frontend (JWT).
    App,
    /// An integration through an API token.
    ApiToken,
    /// A bulk import.
    Import,
    /// The server itself or an operator's CLI command.
    Workflow,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::App => "APP",
            Self::ApiToken => "API_TOKEN",
            Self::Import => "IMPORT",
            Self::Workflow => "WORKFLOW",
        }
    }
}

/// The authenticated caller. Built only from a verified credential, never from client input.
#[derive(Clone, Debug)]
pub struct Actor {
    pub tenant_id: Uuid,
    /// The person, when a person is calling (JWT) or created the token.
    pub user_id: Option<Uuid>,
    pub api_token_id: Option<Uuid>,
    pub profile_id: Uuid,
    pub is_admin: bool,
    pub source: Source,
    /// The profile's rules, as of this request.
    pub access: Arc<Permissions>,
}

impl Actor {
    /// A signed-in person acting through a frontend.
    pub fn person(tenant_id: Uuid, user_id: Uuid, profile_id: Uuid, access: Arc<Permissions>) -> Self {
        Self {
            tenant_id,
            user_id: Some(user_id),
            api_token_id: None,
            profile_id,
            is_admin: access.is_admin(),
            source: Source::App,
            access,
        }
    }

    /// The server acting inside a tenant (CLI commands, demo data).
    pub fn system(tenant_id: Uuid, admin_profile_id: Uuid) -> Self {
        Self {
            tenant_id,
            user_id: None,
            api_token_id: None,
            profile_id: admin_profile_id,
            is_admin: true,
            source: Source::Workflow,
            access: admin_access(),
        }
    }
}

/// The rules of every admin profile, shared.
pub fn admin_access() -> Arc<Permissions> {
    static ADMIN: LazyLock<Arc<Permissions>> = LazyLock::new(|| Arc::new(Permissions::admin()));
    ADMIN.clone()
}
