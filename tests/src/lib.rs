//! Black-box test harness: a real server on a random port over a fresh database.
//!
//! Every test runs on SQLite, and again on PostgreSQL when
//! `CRM_TEST_POSTGRES_URL` names a server (an admin connection, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`): each test then gets its own
//! database, dropped when the test ends.
#![allow(clippy::unwrap_used, clippy::print_stderr, reason = "test harness: failing loudly is the point")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crm_api::config::Config;
use crm_api::db::Db;
use crm_api::service::tenants::{self, NewTenant};
use crm_api::{AppState, app};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};

pub use serde_json;

/// The secret the test server signs with, so tests can forge tokens on purpose.
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const PASSWORD: &str = "correct horse battery";
pub const POSTGRES_ENV: &str = "CRM_TEST_POSTGRES_URL";

/// Runs each named `async fn(TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::TestApp::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::TestApp::postgres().await {
                    super::$name(app).await;
                }
            }
        }
    )*};
}

/// A running server and its database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: Db,
    pub http: reqwest::Client,
    url: String,
    _cleanup: Cleanup,
}

enum Cleanup {
    SqliteDir(PathBuf),
    PostgresDb { admin_url: String, name: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Self::SqliteDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Self::PostgresDb { admin_url, name } => {
                // Drop runs inside the test's runtime: use a thread with its own.
                let (url, name) = (admin_url.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async {
                        if let Ok(admin) = Database::connect(&url).await {
                            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                            let _ = admin.execute_unprepared(&sql).await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

pub fn test_config(url: &str) -> Config {
    let mut config = Config::new(url, JWT_SECRET.as_bytes().to_vec());
    config.limits.ws_init_timeout = Duration::from_millis(700);
    // Small, so that the oversized-body tests need to send little.
    config.limits.max_body_bytes = 256 * 1024;
    config
}

async fn serve(db: Db, url: &str) -> SocketAddr {
    let state = AppState::new(db, &test_config(url));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app(state)).await.unwrap();
    });
    addr
}

type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A token signed as `claims` say with `secret`: forged on purpose.
pub fn forge(claims: Value, secret: &str) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// A graphql-transport-ws client, as frontends use.
pub struct Socket {
    stream: WsStream,
}

impl Socket {
    pub async fn open(url: &str, token: &str) -> Self {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (stream, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut socket = Self { stream };
        let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
        socket.stream.send(tokio_tungstenite::tungstenite::Message::Text(init.to_string().into())).await.unwrap();
        let ack = socket.next().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        socket
    }

    /// Starts an operation; `next` then yields its messages.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        use futures_util::SinkExt;
        let message = json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } });
        self.stream.send(tokio_tungstenite::tungstenite::Message::Text(message.to_string().into())).await.unwrap();
    }

    /// The next text message (5 s at most), as JSON; pings are skipped.
    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(5)).await.expect("a message in time")
    }

    /// The next text message, or `None` when none comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??.ok()?;
            match message {
                Message::Text(text) => return Some(serde_json::from_str(text.as_str()).unwrap()),
                Message::Close(frame) => return Some(json!({ "type": "closed", "frame": format!("{frame:?}") })),
                _ => {}
            }
        }
    }
}

impl TestApp {
    pub async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("crm-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("crm.db").display());
        Self::start(&url, Cleanup::SqliteDir(dir)).await
    }

    /// `None` (with a notice) when no PostgreSQL server is configured.
    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
            eprintln!("notice: {POSTGRES_ENV} is not set; skipping the PostgreSQL run of this test");
            return None;
        };
        let name = format!("crm_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url).await.unwrap();
        admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
        admin.close().await.unwrap();
        let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        Some(Self::start(&url, Cleanup::PostgresDb { admin_url, name }).await)
    }

    async fn start(url: &str, cleanup: Cleanup) -> Self {
        let db = Db::connect(url).await.unwrap();
        db.migrate().await.unwrap();
        let addr = serve(db.clone(), url).await;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Self { addr, db, http, url: url.to_owned(), _cleanup: cleanup }
    }

    /// Another server on the same database, with its own pool and event
    /// listener: what a second server process shares with the first.
    pub async fn second_server(&self) -> SocketAddr {
        self.second_server_with_db().await.0
    }

    /// [`second_server`](Self::second_server) with its pool, to look at what it keeps.
    pub async fn second_server_with_db(&self) -> (SocketAddr, Db) {
        let db = Db::connect(&self.url).await.unwrap();
        (serve(db.clone(), &self.url).await, db)
    }

    /// Waits until the server has heard every change committed so far (a
    /// PostgreSQL notification comes back to the server that sent it, and
    /// ends its kept credentials again): before counting statements.
    pub async fn caught_up(&self) {
        self.db.events().caught_up().await.unwrap();
    }

    /// A graphql-transport-ws connection, initialised with `token`.
    pub async fn socket(&self, token: &str) -> Socket {
        Socket::open(&format!("ws://{}/graphql/ws", self.addr), token).await
    }

    pub fn backend(&self) -> DbBackend {
        self.db.backend()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/graphql/ws", self.addr)
    }

    /// POSTs a GraphQL request as a frontend would.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Gql {
        self.gql_at(self.addr, token, query, variables).await
    }

    /// [`gql`](Self::gql) to another server (see [`second_server`](Self::second_server)).
    pub async fn gql_at(&self, server: SocketAddr, token: Option<&str>, query: &str, variables: Value) -> Gql {
        let mut request = self
            .http
            .post(format!("http://{server}/graphql"))
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Gql { status, body }
    }

    /// Creates a tenant with an admin `admin@<slug>.test`, signed in.
    pub async fn tenant(&self, slug: &str) -> TenantFixture {
        tenants::create(
            &self.db,
            NewTenant {
                slug: slug.into(),
                name: format!("{slug} Inc."),
                admin_email: format!("admin@{slug}.test"),
                admin_password: PASSWORD.into(),
                admin_name: None,
            },
        )
        .await
        .unwrap();
        let admin = self.login(slug, &format!("admin@{slug}.test"), PASSWORD).await;
        TenantFixture { slug: slug.into(), admin }
    }

    /// Signs in and returns the session.
    pub async fn login(&self, tenant: &str, email: &str, password: &str) -> Session {
        let r = self
            .gql(
                None,
                "mutation($t: String!, $e: String!, $p: String!) { login(tenant: $t, email: $e, password: $p) { token user { id } } }",
                json!({ "t": tenant, "e": email, "p": password }),
            )
            .await;
        let login = r.data()["login"].clone();
        Session {
            token: login["token"].as_str().unwrap().to_owned(),
            user_id: login["user"]["id"].as_str().unwrap().to_owned(),
        }
    }

    /// The id of the tenant's profile with this name, as the admin reads it.
    pub async fn profile_id(&self, tenant: &TenantFixture, name: &str) -> Value {
        let profiles = self.gql(Some(&tenant.admin.token), "{ profiles { id name } }", json!({})).await;
        profiles.data()["profiles"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["id"].clone()
    }

    /// Creates a user through the API (as the tenant's admin) and signs them in.
    pub async fn user(&self, tenant: &TenantFixture, name: &str, profile: &str) -> Session {
        let profile_id = self.profile_id(tenant, profile).await;
        let email = format!("{}@{}.test", name.to_lowercase(), tenant.slug);
        let created = self
            .gql(
                Some(&tenant.admin.token),
                "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                json!({ "i": { "email": email, "displayName": name, "password": PASSWORD, "profileId": profile_id } }),
            )
            .await;
        created.data();
        self.login(&tenant.slug, &email, PASSWORD).await
    }

    /// A new API token of the admin's tenant, with the admin's rights.
    pub async fn api_token(&self, admin_token: &str) -> String {
        let r = self.gql(Some(admin_token), "mutation { createApiToken(name: \"ERP\") { token } }", json!({})).await;
        r.data()["createApiToken"]["token"].as_str().unwrap().to_owned()
    }

    /// Statements the server has run so far.
    pub fn statements(&self) -> u64 {
        self.db.statements()
    }

    /// Runs one SQL statement directly (for tests that go behind the API's back).
    pub async fn sql(&self, sql: &str) -> Result<u64, sea_orm::DbErr> {
        self.db.connection().execute_unprepared(sql).await.map(|r| r.rows_affected())
    }

    /// A single integer from a query.
    pub async fn sql_count(&self, sql: &str) -> i64 {
        let row = self
            .db
            .connection()
            .query_one_raw(Statement::from_string(self.backend(), sql.to_owned()))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }
}

/// A tenant and its signed-in admin.
pub struct TenantFixture {
    pub slug: String,
    pub admin: Session,
}

/// A signed-in user.
#[derive(Clone)]
pub struct Session {
    pub token: String,
    pub user_id: String,
}

/// A GraphQL response: HTTP status and JSON body.
#[derive(Debug)]
pub struct Gql {
    pub status: u16,
    pub body: Value,
}

impl Gql {
    /// The `data`, asserting there were no errors.
    pub fn data(&self) -> &Value {
        assert!(self.body.get("errors").is_none(), "unexpected errors: {}", self.body);
        &self.body["data"]
    }

    /// The `extensions.code` of every error.
    pub fn codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// The `extensions.field` of the first error: which input was wrong.
    pub fn error_field(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["field"].as_str()
    }

    /// Asserts that the response failed with BAD_USER_INPUT naming `field`.
    pub fn assert_invalid(&self, field: &str) {
        self.assert_code("BAD_USER_INPUT");
        assert_eq!(self.error_field(), Some(field), "{}", self.body);
    }

    /// Asserts that the response failed with exactly this code.
    pub fn assert_code(&self, code: &str) {
        let codes = self.codes();
        assert!(!codes.is_empty() && codes.iter().all(|c| c == code), "expected {code}, got {}", self.body);
    }
}
