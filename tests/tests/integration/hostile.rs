//! Hostile requests: refused with a 4xx before execution, and the server stays healthy.

use std::time::Duration;

use crm_tests::{TestApp, db_tests, serde_json::json};

db_tests!(
    malformed_requests_are_refused,
    oversized_requests_are_refused,
    expensive_documents_are_refused,
    fragment_fan_out_is_refused_quickly,
    transport_rules,
);

async fn post_raw(app: &TestApp, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    app.http
        .post(app.url("/graphql"))
        .header("content-type", content_type)
        .header("accept", "application/graphql-response+json")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn assert_healthy(app: &TestApp) {
    let health = app.http.get(app.url("/healthz")).timeout(Duration::from_secs(2)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.http.get(app.url("/readyz")).timeout(Duration::from_secs(2)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

async fn malformed_requests_are_refused(app: TestApp) {
    let cases: [(&str, &str, u16); 6] = [
        ("application/json", "{\"query\": ", 400),
        ("application/json", "[1, 2]", 400),
        ("application/json", "{\"query\": 42}", 400),
        ("application/json", "{\"query\": \"{ __typename }\", \"variables\": [1]}", 400),
        ("text/plain", "{\"query\": \"{ __typename }\"}", 415),
        ("application/x-www-form-urlencoded", "query=%7B__typename%7D", 415),
    ];
    for (content_type, body, status) in cases {
        let r = post_raw(&app, content_type, body).await;
        assert_eq!(r.status().as_u16(), status, "{content_type} {body}");
    }
    // Syntax errors: 400 with a parse error for graphql-response+json clients.
    let r = post_raw(&app, "application/json", "{\"query\": \"{ me { \"}").await;
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body.get("data").is_none());
    assert_healthy(&app).await;
}

/// Sends a raw HTTP/1.1 request and returns the status code the server answers.
/// Write errors are ignored: the server may answer 413 and close before reading
/// the whole body, which is the behaviour under test (an HTTP client library
/// would report its own failed write instead of the response).
async fn raw_status(app: &TestApp, head: &str, chunks: &[Vec<u8>]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut writes_ok = stream.write_all(head.as_bytes()).await.is_ok();
    for chunk in chunks {
        if writes_ok {
            writes_ok = stream.write_all(chunk).await.is_ok();
        }
    }
    let mut response = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&response[..n]).into_owned();
    text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("no status line in {text:?}"))
}

async fn oversized_requests_are_refused(app: TestApp) {
    // Declared too large: refused from the headers alone.
    let head = "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3000000\r\n\r\n";
    assert_eq!(raw_status(&app, head, &[b"{\"query\": \"".to_vec()]).await, 413);

    // Without Content-Length (chunked), the limit still applies as the body streams in.
    let head =
        "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let chunk = [format!("{:x}\r\n", 100 * 1024).into_bytes(), vec![b' '; 100 * 1024], b"\r\n".to_vec()].concat();
    assert_eq!(
        raw_status(&app, head, &[chunk.clone(), chunk.clone(), chunk.clone(), b"0\r\n\r\n".to_vec()]).await,
        413
    );

    let long_document = format!("{{ {} }}", "__typename ".repeat(10_000));
    let r = app.gql(None, &long_document, json!({})).await;
    assert_eq!(r.status, 413);
    r.assert_code("BAD_USER_INPUT");
    assert_healthy(&app).await;
}

async fn expensive_documents_are_refused(app: TestApp) {
    let deep = format!("{}{}", "{ a ".repeat(30), "}".repeat(30));
    let r = app.gql(None, &deep, json!({})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("depth"));
    r.assert_code("BAD_USER_INPUT");
    // Deeper still, the parser's own recursion limit refuses it.
    let deeper = format!("{}{}", "{ a ".repeat(5_000), "}".repeat(5_000));
    let r = app.gql(None, &deeper, json!({})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    r.assert_code("BAD_USER_INPUT");

    let aliases: String = (0..500).map(|i| format!("a{i}: __typename ")).collect();
    let r = app.gql(None, &format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(r.status, 400);
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("aliases"));

    let cycle = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
    assert_eq!(app.gql(None, cycle, json!({})).await.status, 400);

    // Under the limits, the same shapes run.
    let ok = app.gql(None, "{ a: __typename b: __typename }", json!({})).await;
    assert_eq!(ok.data()["a"], "Query");
    assert_healthy(&app).await;
}

async fn fragment_fan_out_is_refused_quickly(app: TestApp) {
    // Each fragment spreads the next twice: 2^40 fields once expanded, in about 1 KB.
    let mut doc = String::from("query { ...F0 }\n");
    for i in 0..40 {
        doc.push_str(&format!("fragment F{i} on Query {{ ...F{} ...F{} }}\n", i + 1, i + 1));
    }
    doc.push_str("fragment F40 on Query { __typename }\n");
    assert!(doc.len() < 2_000);
    // A generous bound: without memoization this takes far longer than the whole suite.
    let r = tokio::time::timeout(Duration::from_secs(10), app.gql(None, &doc, json!({})))
        .await
        .expect("the server must answer a fragment bomb promptly");
    assert_eq!(r.status, 400);
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("expanding fragments"));
    assert_healthy(&app).await;
}

async fn transport_rules(app: TestApp) {
    // Mutations are never run over GET.
    let r = app.http.get(app.url("/graphql?query=mutation%20%7B%20__typename%20%7D")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    // Queries are.
    let r = app
        .http
        .get(app.url("/graphql?query=%7B__typename%7D"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["data"]["__typename"], "Query");
    // Browsers get GraphiQL.
    let r = app.http.get(app.url("/graphql")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().to_lowercase().contains("graphiql"));
    // Unacceptable media types.
    let r = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("accept", "text/xml")
        .body("{\"query\": \"{ __typename }\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    // application/json clients get 200 even for validation errors, and a request id.
    let r = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body("{\"query\": \"{ nope }\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    // The introspection query GraphiQL sends passes the guards.
    let r = app.gql(None, INTROSPECTION, json!({})).await;
    assert!(r.data()["__schema"]["types"].as_array().unwrap().len() > 10);
}

const INTROSPECTION: &str = r"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}";
