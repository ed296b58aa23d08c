//! Credentials: every way to be refused, and what a successful login leaves behind.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crm_api::db::credentials::Holder;
use crm_api::db::{Db, system};
use crm_tests::{PASSWORD, Session, TestApp, db_tests, forge, serde_json::json};
use sea_orm::DbBackend;
use uuid::Uuid;

const ME: &str = "{ me { user { email } tenant { slug } profile { name } } }";

db_tests!(
    login_and_me,
    login_failures_are_indistinguishable,
    login_is_recorded,
    bad_tokens_are_unauthenticated,
    deleted_user_token_is_refused,
    api_token_lifecycle,
    same_email_in_two_tenants,
    a_checked_credential_is_kept,
    access_changes_end_kept_credentials_on_every_server,
    kept_users_end_with_their_tenants_access_changes,
);

async fn login_and_me(app: TestApp) {
    let acme = app.tenant("acme").await;
    let me = app.gql(Some(&acme.admin.token), ME, json!({})).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.data()["me"]["user"]["email"], "admin@acme.test");
    assert_eq!(me.data()["me"]["tenant"]["slug"], "acme");
    assert_eq!(me.data()["me"]["profile"]["name"], "Admin");

    // The login payload resolves nested fields as the new session.
    let r = app
        .gql(
            None,
            "mutation { login(tenant: \"acme\", email: \" ADMIN@acme.test \", password: \"correct horse battery\") { token user { email profile { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.data()["login"]["user"]["profile"]["name"], "Admin");
}

async fn login_failures_are_indistinguishable(app: TestApp) {
    app.tenant("acme").await;
    let attempts = [
        ("nope", "admin@acme.test", PASSWORD),
        ("acme", "nobody@acme.test", PASSWORD),
        ("acme", "admin@acme.test", "wrong password"),
    ];
    let mut messages = Vec::new();
    for (tenant, email, password) in attempts {
        let r = app
            .gql(
                None,
                "mutation($t: String!, $e: String!, $p: String!) { login(tenant: $t, email: $e, password: $p) { token } }",
                json!({ "t": tenant, "e": email, "p": password }),
            )
            .await;
        r.assert_code("UNAUTHENTICATED");
        messages.push(r.body["errors"][0]["message"].clone());
    }
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "messages differ: {messages:?}");
}

async fn login_is_recorded(app: TestApp) {
    let acme = app.tenant("acme").await;
    app.login("acme", "admin@acme.test", PASSWORD).await;
    let logins = app
        .sql_count("SELECT COUNT(*) FROM trace WHERE change_type = 'LOGIN' AND source = 'APP' AND entity_type = 'User'")
        .await;
    // One from the fixture, one here.
    assert_eq!(logins, 2, "tenant {}", acme.slug);
}

fn b64(value: &serde_json::Value) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = value.to_string().into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

async fn bad_tokens_are_unauthenticated(app: TestApp) {
    let acme = app.tenant("acme").await;
    let me = app.gql(Some(&acme.admin.token), "{ me { user { id } tenant { id } profile { id } } }", json!({})).await;
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64| {
        json!({
            "sub": me.data()["me"]["user"]["id"], "tenant": me.data()["me"]["tenant"]["id"],
            "profile": me.data()["me"]["profile"]["id"], "iat": now, "exp": exp, "iss": "crm-api", "aud": "crm"
        })
    };
    // The forging works: a well-formed token with the right secret is accepted.
    let good = forge(claims(now + 600), crm_tests::JWT_SECRET);
    assert_eq!(app.gql(Some(&good), ME, json!({})).await.status, 200);
    app.gql(Some(&good), ME, json!({})).await.data();

    let mut without_iss = claims(now + 600);
    without_iss.as_object_mut().unwrap().remove("iss");
    let mut without_aud = claims(now + 600);
    without_aud.as_object_mut().unwrap().remove("aud");
    let mut wrong_aud = claims(now + 600);
    wrong_aud["aud"] = json!("someone-else");
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims(now + 600)));
    let oversized = format!("{good}{}", "A".repeat(10_000));

    let cases = [
        ("garbage", "not-a-token".to_owned()),
        ("other secret", forge(claims(now + 600), "another-secret-another-secret-another-secret")),
        ("alg none", alg_none),
        ("expired", forge(claims(now - 3600), crm_tests::JWT_SECRET)),
        ("no iss", forge(without_iss, crm_tests::JWT_SECRET)),
        ("no aud", forge(without_aud, crm_tests::JWT_SECRET)),
        ("wrong aud", forge(wrong_aud, crm_tests::JWT_SECRET)),
        ("oversized", oversized),
        ("api token shape", format!("crm_{}", "0".repeat(128))),
    ];
    for (what, token) in cases {
        let r = app.gql(Some(&token), ME, json!({})).await;
        assert_eq!(r.codes(), vec!["UNAUTHENTICATED"], "{what}: {}", r.body);
    }
    app.gql(None, ME, json!({})).await.assert_code("UNAUTHENTICATED");

    // The server keeps the tokens it verified; a kept token still expires:
    // accepted within the 5 s leeway past its `exp`, refused after it.
    let exp = chrono::Utc::now().timestamp() - 3;
    let brief = forge(claims(exp), crm_tests::JWT_SECRET);
    app.gql(Some(&brief), ME, json!({})).await.data();
    let wait = u64::try_from(exp + 5 + 1 - chrono::Utc::now().timestamp()).unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 500)).await;
    app.gql(Some(&brief), ME, json!({})).await.assert_code("UNAUTHENTICATED");
}

async fn deleted_user_token_is_refused(app: TestApp) {
    let acme = app.tenant("acme").await;
    let sam = app.user(&acme, "Sam", "Sales").await;
    app.gql(Some(&sam.token), ME, json!({})).await.data();
    app.gql(Some(&acme.admin.token), "mutation($id: ID!) { deleteUser(id: $id) { id } }", json!({ "id": sam.user_id }))
        .await
        .data();
    app.gql(Some(&sam.token), ME, json!({})).await.assert_code("UNAUTHENTICATED");
    // And the deleted user cannot sign in again.
    let r = app
        .gql(None, "mutation { login(tenant: \"acme\", email: \"sam@acme.test\", password: \"correct horse battery\") { token } }", json!({}))
        .await;
    r.assert_code("UNAUTHENTICATED");
}

async fn api_token_lifecycle(app: TestApp) {
    let acme = app.tenant("acme").await;
    let created = app
        .gql(
            Some(&acme.admin.token),
            "mutation { createApiToken(name: \"ERP sync\") { token apiToken { id name profile { name } } } }",
            json!({}),
        )
        .await;
    let token = created.data()["createApiToken"]["token"].as_str().unwrap().to_owned();
    let id = created.data()["createApiToken"]["apiToken"]["id"].clone();
    assert_eq!(created.data()["createApiToken"]["apiToken"]["profile"]["name"], "Admin");

    let me = app.gql(Some(&token), "{ me { user { id } apiToken { name } tenant { slug } } }", json!({})).await;
    assert_eq!(me.data()["me"]["apiToken"]["name"], "ERP sync");
    assert!(me.data()["me"]["user"].is_null());

    // Only a hash is stored: the secret appears nowhere in the database.
    let secret_part = &token[token.len() - 64..];
    let stored = app.sql_count(&format!("SELECT COUNT(*) FROM api_token WHERE secret_hash = '{secret_part}'")).await;
    assert_eq!(stored, 0);

    // A tampered secret is refused.
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('0') { '1' } else { '0' });
    app.gql(Some(&tampered), ME, json!({})).await.assert_code("UNAUTHENTICATED");

    // Tokens cannot mint tokens.
    app.gql(Some(&token), "mutation { createApiToken(name: \"child\") { token } }", json!({}))
        .await
        .assert_code("FORBIDDEN");

    let revoked = app
        .gql(
            Some(&acme.admin.token),
            "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert!(revoked.data()["revokeApiToken"]["revokedAt"].is_string());
    app.gql(Some(&token), ME, json!({})).await.assert_code("UNAUTHENTICATED");

    // A non-admin can neither create nor list tokens.
    let sam = app.user(&acme, "Sam", "Sales").await;
    app.gql(Some(&sam.token), "mutation { createApiToken(name: \"x\") { token } }", json!({}))
        .await
        .assert_code("FORBIDDEN");
    app.gql(Some(&sam.token), "{ apiTokens { id } }", json!({})).await.assert_code("FORBIDDEN");
}

async fn same_email_in_two_tenants(app: TestApp) {
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    for t in [&acme, &globex] {
        let profiles = app.gql(Some(&t.admin.token), "{ profiles { id name } }", json!({})).await;
        let sales =
            profiles.data()["profiles"].as_array().unwrap().iter().find(|p| p["name"] == "Sales").unwrap()["id"]
                .clone();
        app.gql(
            Some(&t.admin.token),
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            json!({ "i": { "email": "pat@example.com", "displayName": "Pat", "password": PASSWORD, "profileId": sales } }),
        )
        .await
        .data();
    }
    let a = app.login("acme", "pat@example.com", PASSWORD).await;
    let g = app.login("globex", "pat@example.com", PASSWORD).await;
    assert_ne!(a.user_id, g.user_id);
    let me = app.gql(Some(&g.token), ME, json!({})).await;
    assert_eq!(me.data()["me"]["tenant"]["slug"], "globex");
}

/// A credential checked once is not read again by the next request. The
/// first request checks it: creating the API token was an access change,
/// which ended the admin's kept credential too.
async fn a_checked_credential_is_kept(app: TestApp) {
    let acme = app.tenant("acme").await;
    let erp = app.api_token(&acme.admin.token).await;
    app.caught_up().await;
    for token in [acme.admin.token.as_str(), erp.as_str()] {
        let mut ran = Vec::new();
        for _ in 0..3 {
            let before = app.statements();
            app.gql(Some(token), ME, json!({})).await.data();
            ran.push(app.statements() - before);
        }
        assert_eq!([ran[0] - 1, ran[1]], [ran[2]; 2], "checked by the first request only: {ran:?}");
    }
    // What the first check found vouches for the token's id, not its secret.
    let mut tampered = erp.clone();
    tampered.pop();
    tampered.push(if erp.ends_with('0') { '1' } else { '0' });
    app.gql(Some(&tampered), ME, json!({})).await.assert_code("UNAUTHENTICATED");
    app.gql(Some(&erp), ME, json!({})).await.data();
}

/// Kept credentials end with a committed change of their tenant's access: on
/// the server that made it, from the next request; on another server sharing
/// the PostgreSQL database, once it hears the commit's notification. SQLite
/// serves one process per database file, so there both are the one server.
/// Before each change, the credential it should end is shown kept there.
async fn access_changes_end_kept_credentials_on_every_server(app: TestApp) {
    const LIST: &str = "{ contacts(first: 1) { totalCount } }";
    let acme = app.tenant("acme").await;
    let admin = Some(acme.admin.token.as_str());
    let (other, kept, tenant) = other_server(&app, "acme").await;
    let person = |session: &Session| Holder::User { tenant, user: session.user_id.parse().unwrap() };
    let sam = app.user(&acme, "Sam", "Sales").await;
    let kim = app.user(&acme, "Kim", "Sales").await;
    let erp = app.api_token(&acme.admin.token).await;
    let tokens = app.gql(admin, "{ apiTokens { id } }", json!({})).await;
    let erp_id = tokens.data()["apiTokens"][0]["id"].as_str().unwrap().to_owned();
    let integration = Holder::ApiToken { tenant, token: erp_id.parse().unwrap() };
    let keep = |token: &str, holder: Holder| kept_by(&app, &kept, other, token.to_owned(), holder);

    keep(&sam.token, person(&sam)).await;
    let sales = app.profile_id(&acme, "Sales").await;
    let closed = "mutation($p: ID!) { setEntityAccess(profileId: $p, entity: \"Contact\", access: { canRead: false, \
        canCreate: false, canUpdate: false, canDelete: false }) { entity } }";
    app.gql(admin, closed, json!({ "p": sales })).await.data();
    answered_soon(&app, other, &sam.token, LIST, Some("NOT_FOUND")).await;

    keep(&kim.token, person(&kim)).await;
    let admins = app.profile_id(&acme, "Admin").await;
    let assign = "mutation($u: ID!, $p: ID!) { assignProfile(userId: $u, profileId: $p) { id } }";
    app.gql(admin, assign, json!({ "u": kim.user_id, "p": admins })).await.data();
    answered_soon(&app, other, &kim.token, LIST, None).await;

    keep(&erp, integration).await;
    // Kept on the server that makes the change too: there it ends at once.
    kept_by(&app, &app.db, app.addr, erp.clone(), integration).await;
    app.gql(admin, "mutation($id: ID!) { revokeApiToken(id: $id) { id } }", json!({ "id": erp_id })).await.data();
    answered_soon(&app, app.addr, &erp, LIST, Some("UNAUTHENTICATED")).await;
    answered_soon(&app, other, &erp, LIST, Some("UNAUTHENTICATED")).await;

    keep(&sam.token, person(&sam)).await;
    app.gql(admin, "mutation($id: ID!) { deleteUser(id: $id) { id } }", json!({ "id": sam.user_id })).await.data();
    answered_soon(&app, other, &sam.token, LIST, Some("UNAUTHENTICATED")).await;
}

/// The users a read shows (a contact's `owner`) are kept like credentials and
/// end with the same changes: a read of kept owners runs no statement for
/// them, and a user moved to another profile shows so on the server that
/// moved them from the next request, on another server once it hears.
async fn kept_users_end_with_their_tenants_access_changes(app: TestApp) {
    const OWNERS: &str = "{ contacts(first: 5) { nodes { owner { displayName profile { name } } } } }";
    let acme = app.tenant("acme").await;
    let admin = Some(acme.admin.token.as_str());
    let (other, kept, tenant) = other_server(&app, "acme").await;
    let sam = app.user(&acme, "Sam", "Sales").await;
    let sam_id = sam.user_id.parse().unwrap();
    let create = "mutation($o: ID!) { createContact(input: { lastName: \"Lee\", ownerId: $o }) { id } }";
    app.gql(admin, create, json!({ "o": sam.user_id })).await.data();
    let profile_shown = |r: &crm_tests::Gql| r.data()["contacts"]["nodes"][0]["owner"]["profile"]["name"].clone();

    for (server, db) in [(app.addr, &app.db), (other, &kept)] {
        db.events().caught_up().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = app.gql_at(server, admin, OWNERS, json!({})).await;
            assert_eq!(profile_shown(&r), "Sales");
            if db.credentials().users(tenant, &[sam_id]).1.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "the owner's row was not kept within 5 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Kept: the page is the read's one statement (the admin's credential is kept too).
    let before = app.statements();
    let r = app.gql(admin, "{ contacts(first: 5) { nodes { owner { displayName } } } }", json!({})).await;
    assert_eq!(r.data()["contacts"]["nodes"][0]["owner"]["displayName"], "Sam");
    assert_eq!(app.statements() - before, 1, "kept owners are not read again");

    let admins = app.profile_id(&acme, "Admin").await;
    let assign = "mutation($u: ID!, $p: ID!) { assignProfile(userId: $u, profileId: $p) { id } }";
    app.gql(admin, assign, json!({ "u": sam.user_id, "p": admins })).await.data();
    assert_eq!(profile_shown(&app.gql(admin, OWNERS, json!({})).await), "Admin", "at once where it changed");
    let deadline = Instant::now() + Duration::from_secs(5);
    while profile_shown(&app.gql_at(other, admin, OWNERS, json!({})).await) != "Admin" {
        assert!(Instant::now() < deadline, "the other server still shows the old profile after 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Another server on the test's database, with what it keeps, and the
/// tenant's id: on PostgreSQL a second server; on SQLite, which serves one
/// process per database file, the one server.
async fn other_server(app: &TestApp, slug: &str) -> (SocketAddr, Db, Uuid) {
    let (other, kept) = match app.backend() {
        DbBackend::Postgres => app.second_server_with_db().await,
        _ => (app.addr, app.db.clone()),
    };
    let tenant = system::tenant_by_slug(app.db.connection(), slug).await.unwrap().unwrap().id;
    (other, kept, tenant)
}

/// Sends `token` to `server` until the server keeps its credential, once it
/// has heard every change so far (else a late one could end what it keeps,
/// and the next change's own notification would go untested).
async fn kept_by(app: &TestApp, db: &Db, server: SocketAddr, token: String, holder: Holder) {
    db.events().caught_up().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        app.gql_at(server, Some(&token), ME, json!({})).await.data();
        if db.credentials().get(holder).is_some() {
            return;
        }
        assert!(Instant::now() < deadline, "the credential was not kept within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for `server` to answer `query` with the error `code` (or without
/// errors): at once on the server that made the change; on another, within
/// five seconds (it hears a commit within milliseconds; unheard, a kept
/// credential would last a minute).
async fn answered_soon(app: &TestApp, server: SocketAddr, token: &str, query: &str, code: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = app.gql_at(server, Some(token), query, json!({})).await;
        if r.codes() == code.into_iter().collect::<Vec<_>>() {
            return;
        }
        assert!(server != app.addr, "expected {code:?} from the next request, got {}", r.body);
        assert!(Instant::now() < deadline, "expected {code:?} within 5 s, still got {}", r.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
