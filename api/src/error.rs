//! Errors: rich inside ([`ServiceError`]), closed and safe at the GraphQL edge ([`GqlError`]).
//!
//! `GqlError` is deliberately not `Display`: async-graphql turns any `Display`
//! type into a client-visible message, so a stray `?` on a database error in a
//! resolver fails to compile instead of leaking SQL text to the client.

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, SqlErr};
use serde::Serialize;

/// The closed set of codes clients see in `extensions.code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    Internal,
    /// A subscriber fell too far behind the events it subscribed to and was dropped.
    Lagged,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Conflict => "CONFLICT",
            Self::Internal => "INTERNAL",
            Self::Lagged => "LAGGED",
        }
    }
}

/// What a service can fail with. Never shown to clients as is.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("unauthenticated")]
    Unauthenticated,
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A field the caller's profile may not write (or see).
    #[error("forbidden field {field}: {message}")]
    ForbiddenField { field: String, message: String },
    #[error("not found")]
    NotFound,
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database: {0}")]
    Db(DbErr),
    #[error("internal: {0}")]
    Internal(String),
}

impl ServiceError {
    /// A validation failure on one input field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), message: message.into() }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::Forbidden(_) | Self::ForbiddenField { .. } => ErrorCode::Forbidden,
            Self::NotFound => ErrorCode::NotFound,
            Self::Invalid { .. } => ErrorCode::BadUserInput,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Db(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<DbErr> for ServiceError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            // The message names no constraint: index names are internal.
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                Self::Conflict("a record with the same unique value already exists".into())
            }
            _ => match err {
                DbErr::RecordNotFound(_) | DbErr::RecordNotUpdated => Self::NotFound,
                other => Self::Db(other),
            },
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// The error resolvers return: a code, a client-safe message, and the offending field.
#[derive(Clone, Debug)]
pub struct GqlError {
    code: ErrorCode,
    message: String,
    field: Option<String>,
}

pub type GqlResult<T> = Result<T, GqlError>;

impl GqlError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: None }
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<ServiceError> for GqlError {
    fn from(err: ServiceError) -> Self {
        let code = err.code();
        match err {
            ServiceError::Unauthenticated => Self::new(code, "authentication required"),
            ServiceError::NotFound => Self::new(code, "not found"),
            ServiceError::Forbidden(message) | ServiceError::Conflict(message) => Self::new(code, message),
            ServiceError::Invalid { field, message } | ServiceError::ForbiddenField { field, message } => {
                Self { code, message: format!("{field}: {message}"), field: Some(field) }
            }
            ServiceError::Db(_) | ServiceError::Internal(_) => {
                // Logged once, inside the request span that carries the request id.
                tracing::error!(error = %err, "internal error");
                Self::new(code, "internal error")
            }
        }
    }
}

impl From<DbErr> for GqlError {
    fn from(err: DbErr) -> Self {
        ServiceError::from(err).into()
    }
}

impl GqlError {
    /// As an error of the response itself (no field, no location): one that
    /// ends a request or an operation before its fields resolve.
    pub fn into_server_error(self) -> async_graphql::ServerError {
        let mut error = async_graphql::ServerError::new(self.message, None);
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", self.code.as_str());
        if let Some(field) = &self.field {
            extensions.set("field", field.as_str());
        }
        error.extensions = Some(extensions);
        error
    }
}

impl From<GqlError> for async_graphql::Error {
    fn from(err: GqlError) -> Self {
        async_graphql::Error::new(err.message).extend_with(|_, ext| {
            ext.set("code", err.code.as_str());
            if let Some(field) = &err.field {
                ext.set("field", field.as_str());
            }
        })
    }
}
