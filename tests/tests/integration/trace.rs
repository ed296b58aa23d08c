//! The trace is append-only in the database itself, and its hash chain catches tampering.

use std::time::Duration;

use crm_api::db::system;
use crm_api::db::trace::{ChainStatus, verify_chain};
use crm_tests::serde_json::{Value, json};
use crm_tests::{TestApp, db_tests};
use sea_orm::DbBackend;

db_tests!(
    trace_refuses_update_and_delete,
    hash_chain_detects_tampering,
    a_commit_stores_and_counts_its_traces_whatever_their_number,
    trace_rows_answer_any_selection_as_the_executor_does,
);

async fn trace_refuses_update_and_delete(app: TestApp) {
    app.tenant("acme").await;
    assert!(app.sql_count("SELECT COUNT(*) FROM trace").await > 0);
    assert!(app.sql("UPDATE trace SET entity_type = 'X'").await.is_err(), "UPDATE must be refused");
    assert!(app.sql("DELETE FROM trace").await.is_err(), "DELETE must be refused");
    match app.backend() {
        DbBackend::Sqlite => {
            // INSERT OR REPLACE would delete the old row without firing a DELETE trigger.
            let replace = "INSERT OR REPLACE INTO trace SELECT * FROM trace WHERE seq = 1";
            assert!(app.sql(replace).await.is_err(), "INSERT OR REPLACE must be refused");
        }
        _ => {
            assert!(app.sql("TRUNCATE trace").await.is_err(), "TRUNCATE must be refused");
            assert!(app.sql("TRUNCATE trace CASCADE").await.is_err(), "TRUNCATE CASCADE must be refused");
        }
    }
    let count = app.sql_count("SELECT COUNT(*) FROM trace").await;
    assert!(count >= 6, "traces survived: {count}");
}

async fn hash_chain_detects_tampering(app: TestApp) {
    app.tenant("acme").await;
    app.tenant("globex").await;
    let acme = system::tenant_by_slug(app.db.connection(), "acme").await.unwrap().unwrap();
    let globex = system::tenant_by_slug(app.db.connection(), "globex").await.unwrap().unwrap();
    let intact = verify_chain(app.db.connection(), acme.id).await.unwrap();
    assert!(matches!(intact, ChainStatus::Intact { traces } if traces >= 6), "{intact:?}");

    // Go behind the trigger's back, as someone with database access could.
    let tamper = match app.backend() {
        DbBackend::Sqlite => vec![
            "DROP TRIGGER trace_no_update".to_owned(),
            "UPDATE trace SET entity_type = 'Forged' WHERE seq = 3 AND tenant_id = (SELECT id FROM tenant WHERE slug = 'acme')".to_owned(),
        ],
        _ => vec![
            "ALTER TABLE trace DISABLE TRIGGER trace_no_update_delete".to_owned(),
            "UPDATE trace SET entity_type = 'Forged' WHERE seq = 3 AND tenant_id = (SELECT id FROM tenant WHERE slug = 'acme')".to_owned(),
        ],
    };
    for sql in tamper {
        app.sql(&sql).await.unwrap();
    }
    assert_eq!(
        verify_chain(app.db.connection(), acme.id).await.unwrap(),
        ChainStatus::Broken { seq: 3, reason: "content does not match its hash".into() }
    );
    // The other tenant's chain is independent and intact.
    assert!(matches!(verify_chain(app.db.connection(), globex.id).await.unwrap(), ChainStatus::Intact { .. }));
}

/// A commit stores its traces, moves the chain's head and counts them into
/// the rollup (on PostgreSQL in one statement with its notification, while
/// they fit one; past that in several): either way the chain verifies, the
/// head is the last trace and every trace is counted once.
async fn a_commit_stores_and_counts_its_traces_whatever_their_number(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = Some(acme.admin.token.as_str());
    let one = app.gql(t, "mutation { createAccount(input: { name: \"Single\" }) { id } }", json!({})).await;
    assert!(one.data()["createAccount"]["id"].is_string());
    let many: Vec<Value> =
        (0..2_100).map(|i| json!({ "externalId": format!("C-{i}"), "name": format!("Many {i}") })).collect();
    let upsert = "mutation($r: [AccountUpsertInput!]!) { upsertAccounts(records: $r) { created } }";
    assert_eq!(app.gql(t, upsert, json!({ "r": many })).await.data()["upsertAccounts"]["created"], 2_100);

    let tenant = system::tenant_by_slug(app.db.connection(), "acme").await.unwrap().unwrap();
    let chain = verify_chain(app.db.connection(), tenant.id).await.unwrap();
    let ChainStatus::Intact { traces } = chain else { panic!("{chain:?}") };
    let head = app
        .sql_count("SELECT last_seq FROM trace_head WHERE tenant_id = (SELECT id FROM tenant WHERE slug = 'acme')")
        .await;
    assert_eq!(u64::try_from(head).unwrap(), traces, "the head is the last trace");
    let created = "SELECT COUNT(*) FROM trace WHERE entity_type = 'Account' AND change_type = 'CREATE'";
    assert_eq!(app.sql_count(created).await, 2_101);
    let counted = "SELECT CAST(SUM(value) AS BIGINT) FROM adoption_rollup WHERE counter = 'accounts_created'";
    assert_eq!(app.sql_count(counted).await, 2_101, "each creation counted once");
}

/// Traces are read straight off the values when the selection allows
/// (`graphql::plain`), in the `traces` query and in `traceAdded`; with `user`,
/// which takes a loader, they go through the executor. Both answer alike.
async fn trace_rows_answer_any_selection_as_the_executor_does(app: TestApp) {
    let acme = app.tenant("acme").await;
    let admin = acme.admin.token.as_str();
    let selection = |user: &str| {
        format!(
            "__typename {user} ...T ... on Trace {{ seq }} hash at changeType entityType entityId before after
            source apiTokenId requestId"
        )
    };
    let fragment = "fragment T on Trace { id kind: changeType after }";
    let subscription = |user: &str| format!("subscription {{ traceAdded {{ {} }} }} {fragment}", selection(user));
    let mut plain = app.socket(admin).await;
    plain.subscribe("p", &subscription(""), json!({})).await;
    let mut executed = app.socket(admin).await;
    executed.subscribe("e", &subscription("user { id }"), json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let token = app.api_token(admin).await;
    let r = app
        .gql(
            Some(&token),
            "mutation($o: ID!) { createAccount(input: { name: \"Initech\", ownerId: $o }) { id } }",
            json!({ "o": acme.admin.user_id }),
        )
        .await;
    let id = r.data()["createAccount"]["id"].as_str().unwrap().to_owned();
    app.gql(
        Some(admin),
        "mutation($id: ID!) { updateAccount(id: $id, input: { name: \"Initech Corp\" }) { id } }",
        json!({ "id": id }),
    )
    .await
    .data();

    let without_user = |mut trace: Value| {
        trace.as_object_mut().unwrap().shift_remove("user");
        trace
    };
    let mut delivered = Vec::new();
    for _ in 0..3 {
        let p = plain.next().await;
        let e = executed.next().await;
        let p = p["payload"]["data"]["traceAdded"].clone();
        assert_eq!(p, without_user(e["payload"]["data"]["traceAdded"].clone()));
        delivered.push(p);
    }
    let keys = |row: &Value| row.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let expected = ["__typename", "id", "kind", "after", "seq", "hash", "at", "changeType", "entityType", "entityId"];
    assert_eq!(keys(&delivered[1])[..10], expected);
    assert_eq!(delivered[1]["after"]["name"], "Initech");
    assert!(delivered[1]["apiTokenId"].is_string());
    assert_eq!(
        (delivered[2]["before"]["name"].clone(), delivered[2]["after"]["name"].clone()),
        (json!("Initech"), json!("Initech Corp"))
    );

    let query = |user: &str| {
        format!(
            "{{ traces(first: 5) {{ nodes {{ {s} }} edges {{ cursor node {{ {s} }} }} }} }} {fragment}",
            s = selection(user)
        )
    };
    let plain = app.gql(Some(admin), &query(""), json!({})).await.data()["traces"].clone();
    let executed = app.gql(Some(admin), &query("user { id }"), json!({})).await.data()["traces"].clone();
    let nodes: Vec<Value> = executed["nodes"].as_array().unwrap().iter().cloned().map(without_user).collect();
    assert_eq!(plain["nodes"], json!(nodes));
    for (plain, executed) in plain["edges"].as_array().unwrap().iter().zip(executed["edges"].as_array().unwrap()) {
        assert_eq!(plain["cursor"], executed["cursor"]);
        assert_eq!(plain["node"], without_user(executed["node"].clone()));
    }
    assert_eq!(plain["nodes"][0], delivered[2], "the query and the subscription answer alike");
}
