//! HTTP routes: GraphQL over HTTP, GraphQL over WebSocket, health probes.
//!
//! The GraphQL handler is our own: the stock async-graphql-axum extractors
//! ignore `Accept`, always answer 200, run mutations over GET and accept
//! `text/plain` bodies (a CSRF hole: browsers send those cross-site without a
//! preflight). This one follows the GraphQL-over-HTTP specification.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::http::{
    ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource, WebSocket as GqlWebSocket, WebSocketProtocols, WsMessage,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Data, Request as GqlRequest, Variables};
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tower_http::limit::RequestBodyLimitLayer;
use tracing::Instrument;
use uuid::Uuid;

use crate::AppState;
use crate::error::ErrorCode;
use crate::graphql::answers::{self, Holds};
use crate::graphql::batch::Driven;
use crate::graphql::context::RequestCtx;
use crate::graphql::documents::{Prepared, Refused};
use crate::graphql::session::SocketSession;
use crate::service;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// All routes, with the body limit applied before any handler reads a byte.
pub fn router(state: AppState) -> Router {
    let max_body = state.limits().max_body_bytes;
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/reports/adoption.csv", get(crate::reports::adoption_csv))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(max_body))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.db().ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Which response format the client asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `application/graphql-response+json`: status codes follow the outcome.
    GraphqlResponse,
    /// `application/json`: 200 for every well-formed request.
    Json,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponse => GRAPHQL_RESPONSE_JSON,
            Self::Json => JSON,
        }
    }
}

/// Picks the first acceptable media type in the client's order; `None` means 406.
fn negotiate(headers: &HeaderMap) -> Option<Format> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Format::Json);
    };
    if accept.trim().is_empty() {
        return Some(Format::Json);
    }
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(
            |p| matches!(p.trim().split_once('='), Some(("q", q)) if q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)),
        );
        if refused {
            continue;
        }
        match media.as_str() {
            "application/graphql-response+json" => return Some(Format::GraphqlResponse),
            "application/json" | "application/*" | "*/*" => return Some(Format::Json),
            _ => {}
        }
    }
    None
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|m| m.trim().starts_with("text/html")))
}

/// A response carrying only errors (no `data` entry: the request never executed).
fn request_error(status: StatusCode, format: Format, code: ErrorCode, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    with_json(status, format, &body)
}

fn with_json(status: StatusCode, format: Format, body: &Value) -> Response {
    with_body(status, format, body.to_string().into_bytes())
}

fn with_body(status: StatusCode, format: Format, body: impl Into<Bytes>) -> Response {
    let body: Bytes = body.into();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    response
}

/// The parameters of one GraphQL request, from a JSON body or a query string.
struct Params {
    query: String,
    operation_name: Option<String>,
    variables: Option<Value>,
}

fn params_from_json(body: &[u8]) -> Result<Params, &'static str> {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(body) else {
        return Err("the body must be a JSON object");
    };
    let query = match map.remove("query") {
        Some(Value::String(q)) => q,
        Some(_) => return Err("`query` must be a string"),
        None => return Err("`query` is required"),
    };
    let operation_name = match map.remove("operationName") {
        Some(Value::String(name)) => Some(name),
        None | Some(Value::Null) => None,
        Some(_) => return Err("`operationName` must be a string"),
    };
    let variables = match map.remove("variables") {
        Some(v @ Value::Object(_)) => Some(v),
        None | Some(Value::Null) => None,
        Some(_) => return Err("`variables` must be an object"),
    };
    match map.remove("extensions") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err("`extensions` must be an object"),
    }
    Ok(Params { query, operation_name, variables })
}

fn params_from_query_string(raw: &str) -> Result<Option<Params>, &'static str> {
    let mut query = None;
    let mut operation_name = None;
    let mut variables = None;
    for (key, value) in form_pairs(raw) {
        match key.as_str() {
            "query" => query = Some(value),
            "operationName" if !value.is_empty() => operation_name = Some(value),
            "variables" if !value.is_empty() => match serde_json::from_str::<Value>(&value) {
                Ok(v @ Value::Object(_)) => variables = Some(v),
                Ok(Value::Null) => {}
                _ => return Err("`variables` must be a JSON object"),
            },
            "extensions" if !value.is_empty() => match serde_json::from_str::<Value>(&value) {
                Ok(Value::Object(_) | Value::Null) => {}
                _ => return Err("`extensions` must be a JSON object"),
            },
            _ => {}
        }
    }
    Ok(query.map(|query| Params { query, operation_name, variables }))
}

/// `application/x-www-form-urlencoded` pairs of a query string.
fn form_pairs(raw: &str) -> Vec<(String, String)> {
    fn hex(digit: u8) -> Option<u8> {
        char::from(digit).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let escaped = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
                (b'%', Some(&hi), Some(&lo)) => hex(hi).zip(hex(lo)).map(|(h, l)| h * 16 + l),
                _ => None,
            };
            match (escaped, bytes[i]) {
                (Some(byte), _) => {
                    out.push(byte);
                    i += 3;
                }
                (None, b'+') => {
                    out.push(b' ');
                    i += 1;
                }
                (None, other) => {
                    out.push(other);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

async fn graphql_get(State(state): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let params = match params_from_query_string(raw.as_deref().unwrap_or_default()) {
        Ok(Some(params)) => params,
        Ok(None) if wants_html(&headers) => {
            return Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql/ws").finish())
                .into_response();
        }
        Ok(None) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                Format::Json,
                ErrorCode::BadUserInput,
                "`query` is required",
            );
        }
        Err(message) => return request_error(StatusCode::BAD_REQUEST, Format::Json, ErrorCode::BadUserInput, message),
    };
    let Some(format) = negotiate(&headers) else {
        return (StatusCode::NOT_ACCEPTABLE, "acceptable: application/graphql-response+json, application/json")
            .into_response();
    };
    execute(state, headers, params, format, Method::GET).await
}

async fn graphql_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let utf8 = parts.all(|p| match p.trim().split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
            v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    });
    if media != "application/json" || !utf8 {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the request as application/json").into_response();
    }
    let Some(format) = negotiate(&headers) else {
        return (StatusCode::NOT_ACCEPTABLE, "acceptable: application/graphql-response+json, application/json")
            .into_response();
    };
    let params = match params_from_json(&body) {
        Ok(params) => params,
        Err(message) => return request_error(StatusCode::BAD_REQUEST, format, ErrorCode::BadUserInput, message),
    };
    execute(state, headers, params, format, Method::POST).await
}

async fn execute(state: AppState, headers: HeaderMap, params: Params, format: Format, method: Method) -> Response {
    let request_id: Arc<str> = Uuid::now_v7().to_string().into();
    let span = tracing::info_span!("graphql", request.id = %request_id, method = %method);
    let mut response = run(state, headers, params, format, method, request_id.clone()).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

async fn run(
    state: AppState,
    headers: HeaderMap,
    params: Params,
    format: Format,
    method: Method,
    request_id: Arc<str>,
) -> Response {
    let document = match state.documents().prepare(&params.query) {
        Ok(document) => document,
        Err(refused) => {
            let status = match &refused {
                Refused::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                Refused::Syntax(_) if format == Format::Json => StatusCode::OK,
                Refused::Syntax(_) | Refused::Limits(_) => StatusCode::BAD_REQUEST,
            };
            return request_error(status, format, ErrorCode::BadUserInput, &refused.message());
        }
    };
    if method == Method::GET {
        let operation = match &params.operation_name {
            Some(name) => {
                document.operations.iter().find(|(n, _)| n.is_some_and(|n| n.as_str() == name)).map(|(_, op)| op)
            }
            None => document.operations.iter().next().map(|(_, op)| op),
        };
        if operation.is_some_and(|op| op.node.ty != OperationType::Query) {
            let mut response = request_error(
                StatusCode::METHOD_NOT_ALLOWED,
                format,
                ErrorCode::BadUserInput,
                "only queries can be sent with GET; use POST",
            );
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
    }

    let credential = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(service::auth::bearer);
    let asked = credential.and_then(|_| {
        answers::asked(&document, params.operation_name.as_deref(), params.variables.as_ref(), &params.query)
    });
    // A request whose answer may be kept also reads where the tenant's data
    // stands, with the credential and before any of the report's data.
    let (actor, version) = match (credential, &asked) {
        (Some(token), Some(_)) => match service::auth::authenticate_at_version(state.db(), state.keys(), token).await {
            Ok((actor, version)) => (Some(actor), version),
            Err(_) => (None, None),
        },
        (Some(token), None) => (service::auth::authenticate(state.db(), state.keys(), token).await.ok(), None),
        (None, _) => (None, None),
    };
    if let Some(actor) = &actor {
        state.documents().keep(&params.query, &document, actor.tenant_id);
    }
    let question = asked.zip(actor.as_ref()).map(|(asked, actor)| asked.by(actor));
    if let (Some(question), Some(version)) = (&question, &version)
        && let Some(body) = state.answers().lookup(question, version)
    {
        return with_body(StatusCode::OK, format, body);
    }
    let ctx = RequestCtx::new(state.db().clone(), state.keys_arc(), actor, request_id).holding(state.db().hold());
    let holds = Arc::new(Holds::default());
    let batcher = ctx.batcher.clone();
    let mut request = GqlRequest::new(params.query).data(ctx);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = params.variables {
        request = request.variables(Variables::from_json(variables));
    }
    request.set_parsed_query(ExecutableDocument::clone(&document));
    request.data.insert(Prepared(document));
    request.data.insert(holds.clone());

    let result = Driven::new(&batcher, state.schema().execute(request)).await;
    // Without data and without any error path, the request failed before
    // execution (validation): the GraphQL response then has no `data` entry.
    let executed = result.data != async_graphql::Value::Null || result.errors.iter().any(|e| !e.path.is_empty());
    let status = match (executed, format) {
        (true, _) | (false, Format::Json) => StatusCode::OK,
        (false, Format::GraphqlResponse) => StatusCode::BAD_REQUEST,
    };
    // Straight to text: going through a `serde_json::Value` first cost a
    // copy of every field of the response.
    let body = if executed {
        serde_json::to_vec(&result)
    } else {
        serde_json::to_vec(&Unexecuted { errors: &result.errors, extensions: &result.extensions })
    };
    match body {
        Ok(body) => {
            let body = Bytes::from(body);
            if let (Some(question), Some(version)) = (&question, version)
                && executed
                && result.errors.is_empty()
            {
                state.answers().keep(question, version, &holds, body.clone());
            }
            with_body(status, format, body)
        }
        Err(err) => {
            tracing::error!(error = %err, "serializing a response");
            request_error(StatusCode::INTERNAL_SERVER_ERROR, format, ErrorCode::Internal, "internal error")
        }
    }
}

/// The response to a request that never executed: no `data` entry.
#[derive(serde::Serialize)]
struct Unexecuted<'a> {
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
}

/// Bytes read from a WebSocket at a time.
const READ_BUFFER: usize = 4096;

/// GraphQL over WebSocket (graphql-transport-ws, and the legacy graphql-ws).
async fn graphql_ws(State(state): State<AppState>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|offered| offered.split(',').find_map(|p| p.trim().parse::<WebSocketProtocols>().ok()));
    let Some(protocol) = protocol else {
        return (StatusCode::BAD_REQUEST, "Sec-WebSocket-Protocol must offer graphql-transport-ws").into_response();
    };
    // Each read zeroes a buffer of this size first (tungstenite): at the
    // default 128 KiB, reading the small messages of thousands of subscribers
    // cost more than everything else a fan-out does. Larger messages simply
    // take several reads.
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| serve_socket(state, socket, protocol))
        .into_response()
}

async fn serve_socket(state: AppState, socket: WebSocket, protocol: WebSocketProtocols) {
    let (mut sink, stream) = socket.split();
    let incoming = stream.filter_map(|message| async move {
        match message {
            Ok(Message::Text(text)) => Some(text.as_str().as_bytes().to_vec()),
            Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
            _ => None,
        }
    });
    let initialised = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicBool::new(false));
    let on_init = {
        let state = state.clone();
        let initialised = initialised.clone();
        let refused = refused.clone();
        move |payload: Value| async move {
            initialised.store(true, Ordering::SeqCst);
            // Set now, cleared on success: any early return below is a refusal.
            refused.store(true, Ordering::SeqCst);
            let credential = ["authorization", "Authorization"]
                .iter()
                .find_map(|k| payload.get(*k).and_then(Value::as_str))
                .and_then(service::auth::bearer)
                .map(str::to_owned);
            let Some(credential) = credential else {
                return Err(async_graphql::Error::new("connection_init must carry an authorization"));
            };
            service::auth::authenticate(state.db(), state.keys(), &credential)
                .await
                .map_err(|_| async_graphql::Error::new("invalid or expired credential"))?;
            refused.store(false, Ordering::SeqCst);
            // The credential, not the actor: each operation authenticates again
            // (see `graphql::session`).
            let mut data = Data::default();
            data.insert(SocketSession {
                credential,
                db: state.db().clone(),
                keys: state.keys_arc(),
                documents: state.documents().clone(),
            });
            Ok(data)
        }
    };
    let outgoing = GqlWebSocket::new(state.schema().clone(), incoming, protocol).on_connection_init(on_init);
    futures_util::pin_mut!(outgoing);

    // async-graphql has no connection_init timeout of its own: a socket that
    // never initialises would hold its resources forever.
    let deadline = tokio::time::sleep(state.limits().ws_init_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            message = outgoing.next() => match message {
                Some(WsMessage::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    // async-graphql closes a refused connection_init with 1002;
                    // graphql-transport-ws asks for 4403 Forbidden.
                    let code = if refused.load(Ordering::SeqCst) { 4403 } else { code };
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
                None => break,
            },
            () = &mut deadline, if !initialised.load(Ordering::SeqCst) => {
                let frame = CloseFrame { code: 4408, reason: "Connection initialisation timeout".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
        }
    }
}
