//! Accounts: CRUD, traces, soft delete and restore, lists, validation, isolation.

use std::time::{Duration, Instant};

use crm_tests::{TestApp, db_tests, serde_json::json};
use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};
use serde_json::Value;

db_tests!(
    account_lifecycle_is_traced,
    account_lists_filter_order_and_page,
    account_input_is_validated_and_cleaned,
    failed_trace_rolls_back_the_change,
    other_tenants_accounts_are_not_found,
    a_write_finishes_when_its_client_hangs_up,
);

const CREATE: &str = "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id name version type { key label } phone website email owner { email } } }";
const UPDATE: &str = "mutation($id: ID!, $i: UpdateAccountInput!, $v: Int) { updateAccount(id: $id, input: $i, expectedVersion: $v) { id name city version sector } }";
const HISTORY: &str = "query($id: ID!) { account(id: $id) { history { nodes { seq changeType entityType before after source user { email } hash } } } }";

async fn create(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql(Some(token), CREATE, json!({ "i": input })).await.data()["createAccount"].clone()
}

async fn account_lifecycle_is_traced(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let a = create(
        &app,
        t,
        json!({ "name": "  Initech   Corp ", "type": "Customer", "city": "Lyon", "sector": "Software" }),
    )
    .await;
    assert_eq!(a["name"], "Initech Corp");
    assert_eq!(a["type"]["key"], "customer");
    assert_eq!(a["version"], 1);
    assert_eq!(a["owner"]["email"], "admin@acme.test");
    let id = a["id"].clone();

    // Only given fields change; null clears.
    let u = app.gql(Some(t), UPDATE, json!({ "id": id, "i": { "city": "Paris", "sector": null }, "v": 1 })).await;
    assert_eq!(u.data()["updateAccount"]["city"], "Paris");
    assert_eq!(u.data()["updateAccount"]["name"], "Initech Corp");
    assert!(u.data()["updateAccount"]["sector"].is_null());
    assert_eq!(u.data()["updateAccount"]["version"], 2);

    // A no-op update writes nothing and keeps the version.
    let same = app.gql(Some(t), UPDATE, json!({ "id": id, "i": { "city": " Paris " } })).await;
    assert_eq!(same.data()["updateAccount"]["version"], 2);

    // A stale version is a conflict, and nothing is written.
    app.gql(Some(t), UPDATE, json!({ "id": id, "i": { "city": "Nice" }, "v": 1 })).await.assert_code("CONFLICT");

    let history = app.gql(Some(t), HISTORY, json!({ "id": id })).await;
    let nodes = history.data()["account"]["history"]["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert_eq!(nodes[0]["changeType"], "UPDATE");
    assert_eq!(nodes[0]["before"], json!({ "city": "Lyon", "sector": "Software" }));
    assert_eq!(nodes[0]["after"], json!({ "city": "Paris", "sector": null }));
    assert_eq!(nodes[0]["source"], "APP");
    assert_eq!(nodes[0]["user"]["email"], "admin@acme.test");
    assert_eq!(nodes[1]["changeType"], "CREATE");
    assert!(nodes[1]["before"].is_null());
    assert_eq!(nodes[1]["after"]["type"], "customer");
    assert!(nodes[0]["seq"].as_i64().unwrap() > nodes[1]["seq"].as_i64().unwrap());

    // Soft delete: gone from queries, back after an admin's restore.
    app.gql(Some(t), "mutation($id: ID!) { deleteAccount(id: $id) { id } }", json!({ "id": id })).await.data();
    app.gql(Some(t), "query($id: ID!) { account(id: $id) { id } }", json!({ "id": id })).await.assert_code("NOT_FOUND");
    // Nor may a new record point at it.
    let late = "mutation($a: ID!) { createContact(input: { lastName: \"Late\", accountId: $a }) { id } }";
    app.gql(Some(t), late, json!({ "a": id })).await.assert_invalid("accountId");
    let list = app.gql(Some(t), "{ accounts { totalCount } }", json!({})).await;
    assert_eq!(list.data()["accounts"]["totalCount"], 0);
    let sam = app.user(&acme, "Sam", "Sales").await;
    app.gql(Some(&sam.token), "mutation($id: ID!) { restoreAccount(id: $id) { id } }", json!({ "id": id }))
        .await
        .assert_code("FORBIDDEN");
    let restored =
        app.gql(Some(t), "mutation($id: ID!) { restoreAccount(id: $id) { name city } }", json!({ "id": id })).await;
    assert_eq!(restored.data()["restoreAccount"]["city"], "Paris");

    let traces = app
        .gql(
            Some(t),
            "query($id: ID!) { traces(filter: { entityId: $id }) { nodes { changeType } } }",
            json!({ "id": id }),
        )
        .await;
    let kinds: Vec<_> =
        traces.data()["traces"]["nodes"].as_array().unwrap().iter().map(|n| n["changeType"].clone()).collect();
    assert_eq!(kinds, vec![json!("RESTORE"), json!("DELETE"), json!("UPDATE"), json!("CREATE")]);
    // Non-admins see CRM traces but not administrative ones.
    let theirs = app.gql(Some(&sam.token), "{ traces(first: 500) { nodes { entityType } } }", json!({})).await;
    let types: Vec<_> =
        theirs.data()["traces"]["nodes"].as_array().unwrap().iter().map(|n| n["entityType"].clone()).collect();
    assert!(!types.is_empty() && types.iter().all(|t| t == "Account"), "{types:?}");
}

async fn account_lists_filter_order_and_page(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let sam = app.user(&acme, "Sam", "Sales").await;
    for (name, city, kind) in
        [("Alpha", "Lyon", "prospect"), ("beta 100%", "Paris", "customer"), ("Gamma", "Paris", "partner")]
    {
        create(
            &app,
            t,
            json!({ "name": name, "city": city, "type": kind, "email": format!("info@{}.test", name.len()) }),
        )
        .await;
    }
    for i in 0..4 {
        create(&app, &sam.token, json!({ "name": format!("Sam {i}"), "city": null })).await;
    }
    let q = "query($f: AccountFilterInput, $o: AccountOrderBy, $first: Int, $after: String) { accounts(filter: $f, orderBy: $o, first: $first, after: $after) { totalCount nodes { name city } pageInfo { hasNextPage endCursor } } }";
    let names = |r: &crm_tests::Gql| -> Vec<String> {
        r.data()["accounts"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect()
    };

    let paris = app.gql(Some(t), q, json!({ "f": { "city": "Paris" } })).await;
    assert_eq!(names(&paris), vec!["Gamma", "beta 100%"]);
    // Case-insensitive contains, with LIKE wildcards taken literally.
    let r = app.gql(Some(t), q, json!({ "f": { "nameContains": "BETA" } })).await;
    assert_eq!(names(&r), vec!["beta 100%"]);
    let r = app.gql(Some(t), q, json!({ "f": { "nameContains": "%" } })).await;
    assert_eq!(names(&r), vec!["beta 100%"]);
    let r = app.gql(Some(t), q, json!({ "f": { "type": "Partner" } })).await;
    assert_eq!(names(&r), vec!["Gamma"]);
    let r = app.gql(Some(&sam.token), q, json!({ "f": { "mine": true } })).await;
    assert_eq!(r.data()["accounts"]["totalCount"], 4);
    app.gql(Some(t), q, json!({ "f": { "type": "vip" } })).await.assert_code("BAD_USER_INPUT");

    // Ordering puts NULLs last on both databases, id breaks ties.
    let r = app.gql(Some(t), q, json!({ "o": { "field": "CITY", "direction": "DESC" }, "first": 3 })).await;
    assert_eq!(r.data()["accounts"]["nodes"][0]["city"], "Paris");
    assert_eq!(r.data()["accounts"]["nodes"][2]["city"], "Lyon");

    // Pages walk the whole list once.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app.gql(Some(t), q, json!({ "first": 2, "after": after })).await;
        seen.extend(names(&page));
        if !page.data()["accounts"]["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page.data()["accounts"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, vec!["Alpha", "Gamma", "Sam 0", "Sam 1", "Sam 2", "Sam 3", "beta 100%"]);

    app.gql(Some(t), q, json!({ "first": 501 })).await.assert_code("BAD_USER_INPUT");
    app.gql(Some(t), q, json!({ "after": "garbage" })).await.assert_code("BAD_USER_INPUT");
}

async fn account_input_is_validated_and_cleaned(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let a = create(&app, t, json!({ "name": "Clean", "phone": "+33 (0)1 23-45.67", "website": "Example.COM/path", "email": " Info@Example.com " })).await;
    assert_eq!(a["phone"], "+330123456 7".replace(' ', ""));
    assert_eq!(a["website"], "https://example.com/path");
    assert_eq!(a["email"], "info@example.com");
    for (input, field) in [
        (json!({ "name": "   " }), "name"),
        (json!({ "name": "X", "email": "nope" }), "email"),
        (json!({ "name": "X", "website": "ftp://x.test" }), "website"),
        (json!({ "name": "X", "phone": "call me" }), "phone"),
        (json!({ "name": "X", "type": "vip" }), "type"),
        (json!({ "name": "X", "ownerId": uuid::Uuid::now_v7().to_string() }), "ownerId"),
    ] {
        let r = app.gql(Some(t), CREATE, json!({ "i": input })).await;
        r.assert_code("BAD_USER_INPUT");
        assert_eq!(r.body["errors"][0]["extensions"]["field"], field, "{}", r.body);
    }
    let r = app.gql(Some(t), UPDATE, json!({ "id": a["id"], "i": { "name": null } })).await;
    assert_eq!(r.body["errors"][0]["extensions"]["field"], "name");
    // The unknown-value error lists the allowed keys.
    let r = app.gql(Some(t), CREATE, json!({ "i": { "name": "X", "type": "vip" } })).await;
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("prospect, customer, partner, other"));
    // Two accounts cannot share an external id.
    create(&app, t, json!({ "name": "ERP 1", "externalId": "E-1" })).await;
    app.gql(Some(t), CREATE, json!({ "i": { "name": "ERP 2", "externalId": "E-1" } })).await.assert_code("CONFLICT");
}

async fn failed_trace_rolls_back_the_change(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let kept = create(&app, t, json!({ "name": "Kept" })).await;
    // Break the trace writer for this tenant: its head row is gone.
    app.sql("DELETE FROM trace_head").await.unwrap();
    let r = app.gql(Some(t), CREATE, json!({ "i": { "name": "Lost" } })).await;
    r.assert_code("INTERNAL");
    assert_eq!(r.body["errors"][0]["message"], "internal error", "no internal detail leaks");
    let r = app.gql(Some(t), UPDATE, json!({ "id": kept["id"], "i": { "city": "Oslo" } })).await;
    r.assert_code("INTERNAL");
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM account WHERE name = 'Lost'").await, 0);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM account WHERE city = 'Oslo'").await, 0);
}

async fn other_tenants_accounts_are_not_found(app: TestApp) {
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let a = create(&app, &acme.admin.token, json!({ "name": "Acme's secret", "externalId": "SHARED" })).await;
    let g = Some(globex.admin.token.as_str());
    let id = a["id"].clone();
    app.gql(g, "query($id: ID!) { account(id: $id) { id } }", json!({ "id": id })).await.assert_code("NOT_FOUND");
    app.gql(g, UPDATE, json!({ "id": id, "i": { "name": "pwned" } })).await.assert_code("NOT_FOUND");
    app.gql(g, "mutation($id: ID!) { deleteAccount(id: $id) { id } }", json!({ "id": id }))
        .await
        .assert_code("NOT_FOUND");
    app.gql(g, "mutation($id: ID!) { restoreAccount(id: $id) { id } }", json!({ "id": id }))
        .await
        .assert_code("NOT_FOUND");
    let list = app
        .gql(g, "{ accounts { totalCount } traces(filter: { entityType: \"Account\" }) { nodes { id } } }", json!({}))
        .await;
    assert_eq!(list.data()["accounts"]["totalCount"], 0);
    assert!(list.data()["traces"]["nodes"].as_array().unwrap().is_empty());
    // The same external id in another tenant is no conflict.
    create(&app, &globex.admin.token, json!({ "name": "Globex's own", "externalId": "SHARED" })).await;
    // Owners must belong to the caller's tenant.
    let r = app.gql(g, CREATE, json!({ "i": { "name": "X", "ownerId": acme.admin.user_id } })).await;
    r.assert_code("BAD_USER_INPUT");
    let acme_view =
        app.gql(Some(&acme.admin.token), "query($id: ID!) { account(id: $id) { name } }", json!({ "id": id })).await;
    assert_eq!(acme_view.data()["account"]["name"], "Acme's secret");
}

/// A client that hangs up while its write waits does not cut the write
/// short: the account is created, with its trace, once the write's turn comes.
async fn a_write_finishes_when_its_client_hangs_up(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    // Hold writes back: on SQLite a transaction holds the writers' turn, on
    // PostgreSQL a lock on the accounts table holds their inserts.
    let (held_turn, held_table) = if app.backend() == DbBackend::Sqlite {
        let actor = crate::configuration::system_actor(&app, t).await;
        (Some(app.db.begin(actor, None).await.unwrap()), None)
    } else {
        let txn = app.db.connection().begin().await.unwrap();
        txn.execute_unprepared("LOCK TABLE account IN SHARE MODE").await.unwrap();
        (None, Some(txn))
    };

    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let body = json!({ "query": CREATE, "variables": { "i": { "name": "Orphan" } } });
    let sent = impatient.post(app.url("/graphql")).bearer_auth(t).json(&body).send().await;
    assert!(sent.is_err_and(|e| e.is_timeout()), "the write waits while writes are held");
    drop(impatient);
    // Time for the server to see the connection closed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(held_turn);
    if let Some(txn) = held_table {
        txn.rollback().await.unwrap();
    }

    let query = "{ accounts(first: 5) { nodes { name history { nodes { changeType } } } } }";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.gql(Some(t), query, json!({})).await;
        let nodes = r.data()["accounts"]["nodes"].clone();
        if nodes.as_array().is_some_and(|n| !n.is_empty()) {
            assert_eq!(nodes, json!([{ "name": "Orphan", "history": { "nodes": [{ "changeType": "CREATE" }] } }]));
            break;
        }
        assert!(Instant::now() < deadline, "the write was dropped with its client");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
