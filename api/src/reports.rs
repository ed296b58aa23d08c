//! `GET /reports/adoption.csv`: the adoption rows as CSV (RFC 4180) for Excel
//! and BI tools, with the same authentication and visibility as `adoption`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use uuid::Uuid;

use crate::AppState;
use crate::error::ServiceError;
use crate::service;
use crate::service::adoption::report::{self, UserWeek};

const HEADER: [&str; 16] = [
    "week",
    "user_id",
    "user_name",
    "user_email",
    "activities_logged",
    "activities_completed",
    "activities_overdue",
    "accounts_created",
    "contacts_created",
    "leads_created",
    "opportunities_created",
    "custom_records_created",
    "updates",
    "logins",
    "writes",
    "last_active_at",
];

fn refuse(status: StatusCode, message: &str) -> Response {
    let mut response = (status, format!("{message}\n")).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The query string: `from` and `to` (YYYY-MM-DD), optional `users` (ids,
/// comma-separated and/or repeated).
fn params(pairs: &[(String, String)]) -> Result<(NaiveDate, NaiveDate, Option<Vec<Uuid>>), String> {
    let date = |name: &str| -> Result<NaiveDate, String> {
        let value = pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
        let value = value.ok_or_else(|| format!("`{name}` is required (YYYY-MM-DD)"))?;
        NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| format!("`{name}` must be a date as YYYY-MM-DD"))
    };
    let mut users = Vec::new();
    for (_, list) in pairs.iter().filter(|(k, _)| k == "users") {
        for id in list.split(',').map(str::trim).filter(|id| !id.is_empty()) {
            users.push(Uuid::try_parse(id).map_err(|_| "`users` must be user ids".to_owned())?);
        }
    }
    Ok((date("from")?, date("to")?, (!users.is_empty()).then_some(users)))
}

/// One CSV cell: quoted when needed, and never read as a formula by a
/// spreadsheet (names are user input).
fn cell(out: &mut String, value: &str) {
    let guarded =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    if guarded.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&guarded.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&guarded);
    }
}

fn line(out: &mut String, cells: &[String]) {
    for (i, value) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        cell(out, value);
    }
    out.push_str("\r\n");
}

pub async fn adoption_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let credential = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(service::auth::bearer);
    let Some(credential) = credential else {
        return refuse(StatusCode::UNAUTHORIZED, "send a Bearer token");
    };
    let Ok(actor) = service::auth::authenticate(state.db(), state.keys(), credential).await else {
        return refuse(StatusCode::UNAUTHORIZED, "invalid or expired credential");
    };
    let (from, to, users) = match params(&pairs) {
        Ok(params) => params,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, &message),
    };
    let read = state.db().read(std::sync::Arc::new(actor));
    let result = async {
        let report = report::report(&read, from, to, users.as_deref()).await?;
        let people = report::all_users(&read).await?;
        Ok::<_, ServiceError>((report, people))
    }
    .await;
    let (report, people) = match result {
        Ok(found) => found,
        Err(ServiceError::Invalid { field, message }) => {
            return refuse(StatusCode::BAD_REQUEST, &format!("{field}: {message}"));
        }
        Err(ServiceError::Forbidden(_) | ServiceError::ForbiddenField { .. }) => {
            return refuse(StatusCode::FORBIDDEN, "you may see the metrics of yourself and your team only");
        }
        Err(ServiceError::NotFound) => return refuse(StatusCode::NOT_FOUND, "no such user"),
        Err(err) => {
            tracing::error!(error = %err, "adoption export");
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let names: HashMap<Uuid, (&str, &str)> =
        people.iter().map(|u| (u.id, (u.display_name.as_str(), u.email.as_str()))).collect();
    let mut body = String::new();
    line(&mut body, &HEADER.map(str::to_owned));
    for row in &report.users {
        line(&mut body, &cells(row, names.get(&row.user_id).copied().unwrap_or_default()));
    }
    let mut response = (StatusCode::OK, body).into_response();
    let disposition = format!("attachment; filename=\"adoption-{from}-{to}.csv\"");
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn cells(row: &UserWeek, (name, email): (&str, &str)) -> Vec<String> {
    let c = &row.counts;
    let last = row.last_active_at.map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default();
    vec![
        row.week.to_string(),
        row.user_id.to_string(),
        name.to_owned(),
        email.to_owned(),
        c.activities_logged.to_string(),
        c.activities_completed.to_string(),
        c.activities_overdue.to_string(),
        c.accounts_created.to_string(),
        c.contacts_created.to_string(),
        c.leads_created.to_string(),
        c.opportunities_created.to_string(),
        c.records_created.values().sum::<i64>().to_string(),
        c.updates.to_string(),
        c.logins.to_string(),
        c.writes().to_string(),
        last,
    ]
}
