//! GraphQL over WebSocket: graphql-transport-ws with authentication in connection_init.

use std::time::Duration;

use crm_tests::{TestApp, db_tests, forge, serde_json::json};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

db_tests!(
    init_with_token_is_acknowledged,
    socket_without_init_is_closed,
    bad_credential_is_refused,
    subscription_ends_when_its_session_expires,
    queries_over_the_socket_answer_as_over_http,
    the_socket_refuses_what_http_refuses
);

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp) -> Socket {
    let mut request = app.ws_url().into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
    socket
}

async fn next_message(socket: &mut Socket) -> Message {
    tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a message in time").unwrap().unwrap()
}

async fn init_with_token_is_acknowledged(app: TestApp) {
    let acme = app.tenant("acme").await;
    let mut socket = connect(&app).await;
    let init =
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", acme.admin.token) } });
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    let ack: serde_json::Value = serde_json::from_str(next_message(&mut socket).await.to_text().unwrap()).unwrap();
    assert_eq!(ack["type"], "connection_ack");
    // Queries run over the socket too, as the authenticated user.
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ me { user { email } } }" } });
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    let next: serde_json::Value = serde_json::from_str(next_message(&mut socket).await.to_text().unwrap()).unwrap();
    assert_eq!(next["payload"]["data"]["me"]["user"]["email"], "admin@acme.test");
}

async fn socket_without_init_is_closed(app: TestApp) {
    let mut socket = connect(&app).await;
    match next_message(&mut socket).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4408),
        other => panic!("expected a 4408 close, got {other:?}"),
    }
}

async fn bad_credential_is_refused(app: TestApp) {
    let mut socket = connect(&app).await;
    let init = json!({ "type": "connection_init", "payload": { "authorization": "Bearer nonsense" } });
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    match next_message(&mut socket).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4403),
        other => panic!("expected a 4403 close, got {other:?}"),
    }
}

async fn subscription_ends_when_its_session_expires(app: TestApp) {
    let acme = app.tenant("acme").await;
    let me = app.gql(Some(&acme.admin.token), "{ me { user { id } tenant { id } profile { id } } }", json!({})).await;
    let me = &me.data()["me"];
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": me["user"]["id"], "tenant": me["tenant"]["id"], "profile": me["profile"]["id"],
        "iat": now, "exp": now + 5, "iss": "crm-api", "aud": "crm"
    });
    let mut socket = app.socket(&forge(claims, crm_tests::JWT_SECRET)).await;
    socket.subscribe("t", "subscription { traceAdded { entityType } }", json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Events before the expiry arrive (5 s leave room for a busy machine),
    // and the expiry still ends the subscription after them.
    let create = "mutation { createAccount(input: { name: \"Initech\" }) { id } }";
    app.gql(Some(&acme.admin.token), create, json!({})).await.data();
    let seen = socket.next().await;
    assert_eq!(seen["payload"]["data"]["traceAdded"]["entityType"], "Account", "{seen}");
    let ended = socket.next_within(Duration::from_secs(12)).await.expect("the subscription ends at the expiry");
    assert_eq!(ended["type"], "next", "{ended}");
    assert_eq!(ended["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{ended}");
    assert_eq!(socket.next().await["type"], "complete");
}

/// A query over the socket gets what it gets over HTTP: entries in selection
/// order, a defaulted `@skip` obeyed, a hidden field null with FORBIDDEN, and
/// a code on every error, async-graphql's own included.
async fn queries_over_the_socket_answer_as_over_http(app: TestApp) {
    let acme = app.tenant("acme").await;
    let sam = app.user(&acme, "Sam", "Sales").await;
    let t = Some(acme.admin.token.as_str());
    let create = "mutation { createAccount(input: { name: \"Initech\", website: \"https://initech.test\" }) { id } }";
    let account = app.gql(t, create, json!({})).await.data()["createAccount"]["id"].clone();
    let create = "mutation($a: ID!) { createContact(input: { accountId: $a, lastName: \"Gibbons\" }) { id } }";
    let contact = app.gql(t, create, json!({ "a": account })).await.data()["createContact"]["id"].clone();
    let sales = app.profile_id(&acme, "Sales").await;
    let hide = "mutation($p: ID!) { setFieldAccess(profileId: $p, entity: \"Account\", field: \"website\", access: HIDDEN) { access } }";
    app.gql(t, hide, json!({ "p": sales })).await.data();

    let mut socket = connect(&app).await;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", sam.token) } });
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    assert_eq!(json_of(next_message(&mut socket).await)["type"], "connection_ack");
    let query = "query($c: ID!, $s: Boolean = true) { contact(id: $c) { account { website name } lastName owner @skip(if: $s) { email } } }";
    let subscribe =
        json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": { "c": contact } } });
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    let next = json_of(next_message(&mut socket).await);
    let payload = &next["payload"];
    let keys = |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&payload["data"]["contact"]), ["account", "lastName"], "{payload}");
    assert_eq!(keys(&payload["data"]["contact"]["account"]), ["website", "name"], "{payload}");
    assert_eq!(payload["data"]["contact"]["account"]["website"], serde_json::Value::Null);
    assert_eq!(payload["errors"][0]["extensions"]["code"], "FORBIDDEN", "{payload}");
    assert_eq!(json_of(next_message(&mut socket).await)["type"], "complete");

    let subscribe = json!({ "id": "2", "type": "subscribe", "payload": { "query": "{ nope }" } });
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    let next = json_of(next_message(&mut socket).await);
    let errors = next["payload"].as_array().or_else(|| next["payload"]["errors"].as_array()).unwrap().clone();
    assert!(!errors.is_empty(), "{next}");
    for error in errors {
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{next}");
    }
}

/// The limits on a document (size, syntax, depth, aliases, fields after
/// expanding fragments) hold on a socket as over HTTP, before execution: a
/// fragment bomb is refused at once, not expanded.
async fn the_socket_refuses_what_http_refuses(app: TestApp) {
    let acme = app.tenant("acme").await;
    let mut socket = app.socket(&acme.admin.token).await;
    let mut bomb = String::from("query { ...F0 }\n");
    for i in 0..40 {
        bomb.push_str(&format!("fragment F{i} on Query {{ ...F{} ...F{} }}\n", i + 1, i + 1));
    }
    bomb.push_str("fragment F40 on Query { __typename }\n");
    let aliases: String = (0..500).map(|i| format!("a{i}: __typename ")).collect();
    let deep = format!("{{ me {{ user {{ {} id {} }} }} }}", "manager { ".repeat(17), "} ".repeat(17));
    let huge = format!("{{ __typename }} #{}", "x".repeat(70 * 1024));
    let cases = [
        (bomb, "expanding fragments"),
        (format!("{{ {aliases} }}"), "aliases"),
        (deep, "depth"),
        ("{ me { ".to_owned(), "syntax error"),
        (huge, "exceeds"),
    ];
    for (n, (query, says)) in cases.iter().enumerate() {
        for attempt in 0..2 {
            let id = format!("{n}-{attempt}");
            socket.subscribe(&id, query, json!({})).await;
            let answer = socket.next().await;
            assert_eq!(answer["id"], id.as_str(), "{answer}");
            let errors = answer["payload"].as_array().or_else(|| answer["payload"]["errors"].as_array()).cloned();
            let errors = errors.unwrap_or_else(|| panic!("refused: {answer}"));
            assert_eq!(errors.len(), 1, "{answer}");
            assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
            assert!(errors[0]["message"].as_str().unwrap().contains(says), "{says}: {answer}");
            if answer["type"] == "next" {
                assert_eq!(socket.next().await, json!({ "type": "complete", "id": id }));
            }
        }
    }
    // The socket still serves.
    socket.subscribe("ok", "{ me { user { id } } }", json!({})).await;
    let answer = socket.next().await;
    assert_eq!(answer["payload"]["data"]["me"]["user"]["id"], acme.admin.user_id.as_str(), "{answer}");
}

fn json_of(message: Message) -> serde_json::Value {
    serde_json::from_str(message.to_text().unwrap()).unwrap()
}
