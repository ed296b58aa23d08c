//! The trace, as queries.

use async_graphql::parser::types::Field;
use async_graphql::{
    ComplexObject, Context, ContextSelectionSet, Enum, ID, InputObject, Json, Object, Positioned, SimpleObject, Value,
};
use chrono::{DateTime, Utc};
use entity::trace;
use uuid::Uuid;

use super::context::{parse_id, request};
use super::pagination::{PageInfo, decode, encode, page_size};
use super::plain::{self, PlainObject, Rows};
use super::types::User;
use crate::auth::Source;
use crate::db::trace::ChangeType as DbChangeType;
use crate::error::GqlResult;
use crate::service;
use crate::service::traces::{MAX_PAGE, TraceFilter};

/// What a trace records.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    Create,
    Update,
    Delete,
    Restore,
    Convert,
    Complete,
    Login,
}

impl From<ChangeType> for DbChangeType {
    fn from(c: ChangeType) -> Self {
        match c {
            ChangeType::Create => Self::Create,
            ChangeType::Update => Self::Update,
            ChangeType::Delete => Self::Delete,
            ChangeType::Restore => Self::Restore,
            ChangeType::Convert => Self::Convert,
            ChangeType::Complete => Self::Complete,
            ChangeType::Login => Self::Login,
        }
    }
}

/// How a change entered the CRM.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum TraceSource {
    /// A person in a frontend.
    App,
    /// An integration with an API token.
    ApiToken,
    Import,
    /// The server or an operator command.
    Workflow,
}

impl From<TraceSource> for Source {
    fn from(s: TraceSource) -> Self {
        match s {
            TraceSource::App => Self::App,
            TraceSource::ApiToken => Self::ApiToken,
            TraceSource::Import => Self::Import,
            TraceSource::Workflow => Self::Workflow,
        }
    }
}

/// One immutable trace entry.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Trace {
    pub id: ID,
    /// Per-tenant sequence number, without gaps.
    pub seq: i64,
    /// SHA-256 over this entry and the previous entry's hash; null when the
    /// caller's profile hides part of the entry (the hash would test guesses).
    pub hash: Option<String>,
    pub at: DateTime<Utc>,
    /// The string value of the change type (CREATE, UPDATE, …).
    pub change_type: String,
    pub entity_type: String,
    pub entity_id: Option<ID>,
    /// The changed fields before the change; null on create.
    pub before: Option<Json<serde_json::Value>>,
    /// The changed fields after the change; null on delete.
    pub after: Option<Json<serde_json::Value>>,
    /// APP, API_TOKEN, IMPORT or WORKFLOW.
    pub source: String,
    /// The API token that made the change, if any.
    pub api_token_id: Option<ID>,
    pub request_id: Option<String>,
    #[graphql(skip)]
    pub user_id: Option<Uuid>,
}

impl PlainObject for Trace {
    /// `user` takes a loader: the executor's.
    fn field_value(&self, field: &Positioned<Field>, _: &ContextSelectionSet<'_>) -> Option<Value> {
        match field.node.name.node.as_str() {
            "id" => plain::scalar(&self.id),
            "seq" => plain::scalar(&self.seq),
            "hash" => plain::nullable(self.hash.as_ref()),
            "at" => plain::scalar(&self.at),
            "changeType" => plain::scalar(&self.change_type),
            "entityType" => plain::scalar(&self.entity_type),
            "entityId" => plain::nullable(self.entity_id.as_ref()),
            "before" => plain::json(self.before.as_ref()),
            "after" => plain::json(self.after.as_ref()),
            "source" => plain::scalar(&self.source),
            "apiTokenId" => plain::nullable(self.api_token_id.as_ref()),
            "requestId" => plain::nullable(self.request_id.as_ref()),
            _ => None,
        }
    }
}

#[ComplexObject]
impl Trace {
    /// The person who made the change (null for tokens and the system).
    async fn user(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        let Some(id) = self.user_id else { return Ok(None) };
        Ok(request(ctx)?.loaders()?.users.load_one(id).await?.map(Into::into))
    }
}

fn parse_json(text: Option<String>) -> Option<Json<serde_json::Value>> {
    text.and_then(|t| serde_json::from_str(&t).ok()).map(Json)
}

impl From<trace::Model> for Trace {
    fn from(t: trace::Model) -> Self {
        Self {
            id: t.id.into(),
            seq: t.seq,
            hash: (!t.hash.is_empty()).then_some(t.hash),
            at: t.at,
            change_type: t.change_type,
            entity_type: t.entity_type,
            entity_id: t.entity_id.map(Into::into),
            before: parse_json(t.before),
            after: parse_json(t.after),
            source: t.source,
            api_token_id: t.api_token_id.map(Into::into),
            request_id: t.request_id,
            user_id: t.user_id,
        }
    }
}

#[derive(SimpleObject)]
pub struct TraceEdge {
    pub cursor: String,
    pub node: Trace,
}

impl PlainObject for TraceEdge {
    fn field_value(&self, field: &Positioned<Field>, selection: &ContextSelectionSet<'_>) -> Option<Value> {
        match field.node.name.node.as_str() {
            "cursor" => plain::scalar(&self.cursor),
            "node" => plain::nested(&self.node, field, selection),
            _ => None,
        }
    }
}

/// A page of traces, newest first.
#[derive(SimpleObject)]
pub struct TraceConnection {
    pub nodes: Rows<Trace>,
    pub edges: Rows<TraceEdge>,
    pub page_info: PageInfo,
}

/// Which traces to list; all conditions must hold.
#[derive(InputObject, Default)]
pub struct TraceFilterInput {
    pub user: Option<ID>,
    pub entity_type: Option<String>,
    pub entity_id: Option<ID>,
    pub change_type: Option<ChangeType>,
    pub source: Option<TraceSource>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

const CURSOR: &str = "trace";

/// Lists traces (shared by `traces` and every record's `history`).
pub async fn page(
    ctx: &Context<'_>,
    filter: TraceFilter,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<TraceConnection> {
    let first = page_size(first, MAX_PAGE)?;
    let before_seq = decode(CURSOR, after.as_deref())?;
    let read = request(ctx)?.read()?;
    let (rows, more) = service::traces::list(&read, &filter, before_seq, first).await?;
    let edges: Vec<TraceEdge> =
        rows.into_iter().map(|t| TraceEdge { cursor: encode(CURSOR, t.seq), node: t.into() }).collect();
    Ok(TraceConnection {
        nodes: edges.iter().map(|e| e.node.clone()).collect(),
        page_info: PageInfo {
            has_next_page: more,
            has_previous_page: before_seq.is_some(),
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        },
        edges: Rows(edges),
    })
}

/// A record's own traces, newest first (its `history` field).
pub async fn history(
    ctx: &Context<'_>,
    entity: &str,
    id: uuid::Uuid,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<TraceConnection> {
    let filter = TraceFilter { entity_type: Some(entity.into()), entity_id: Some(id), ..Default::default() };
    page(ctx, filter, first, after).await
}

/// A page of the change feed.
#[derive(SimpleObject)]
pub struct ChangeFeed {
    /// Oldest first.
    pub changes: Vec<Trace>,
    /// Pass it as `after` next time: the position after the last change returned
    /// (or the one given, when nothing new happened).
    pub cursor: String,
    /// More changes are waiting: ask again at once.
    pub has_more: bool,
}

const FEED: &str = "change";

#[derive(Default)]
pub struct TraceQuery;

#[Object]
impl TraceQuery {
    /// The tenant's traces, newest first. Admins see all; others see the traces of CRM records.
    async fn traces(
        &self,
        ctx: &Context<'_>,
        filter: Option<TraceFilterInput>,
        #[graphql(desc = "Page size, 1 to 500 (default 50)")] first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<TraceConnection> {
        let f = filter.unwrap_or_default();
        let filter = TraceFilter {
            user_id: f.user.as_ref().map(|u| parse_id("filter.user", u)).transpose()?,
            entity_type: f.entity_type,
            entity_id: f.entity_id.as_ref().map(|e| parse_id("filter.entityId", e)).transpose()?,
            change_type: f.change_type.map(|c| DbChangeType::from(c).as_str()),
            source: f.source.map(|s| Source::from(s).as_str()),
            from: f.from,
            to: f.to,
        };
        page(ctx, filter, first, after).await
    }

    /// Every committed change after `after`, in the tenant's sequence order, for
    /// integrators to mirror the CRM: resume from the returned `cursor` and each
    /// change arrives exactly once. Each carries `before`, `after`, `source` and the
    /// API token that made it, so an integration can skip the echoes of its own writes.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        #[graphql(desc = "Only these entity types (e.g. [\"Account\", \"Contact\"])")] entities: Option<Vec<String>>,
        #[graphql(desc = "Page size, 1 to 1000 (default 100)")] first: Option<i32>,
    ) -> GqlResult<ChangeFeed> {
        let first = page_size(Some(first.unwrap_or(100)), service::traces::MAX_FEED_PAGE)?;
        let position = decode(FEED, after.as_deref())?.unwrap_or(0);
        let read = request(ctx)?.read()?;
        let (rows, has_more) = service::traces::changes(&read, position, entities.as_deref(), first).await?;
        let last = rows.last().map_or(position, |t| t.seq);
        Ok(ChangeFeed { changes: rows.into_iter().map(Into::into).collect(), cursor: encode(FEED, last), has_more })
    }
}
