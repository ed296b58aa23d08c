//! The change feed: every committed change exactly once, in sequence order,
//! resumable from a cursor, even while writers commit concurrently.

use std::collections::BTreeSet;

use crm_tests::{TestApp, db_tests, serde_json::json};
use serde_json::Value;

db_tests!(feed_resumes_without_gaps_or_repeats_under_concurrent_writers, feed_filters_and_echo_detection);

const FEED: &str = "query($after: String, $e: [String!], $first: Int) { changes(after: $after, entities: $e, first: $first) { cursor hasMore changes { seq changeType entityType entityId source apiTokenId after } } }";

async fn feed_resumes_without_gaps_or_repeats_under_concurrent_writers(app: TestApp) {
    let acme = app.tenant("acme").await;
    let token = acme.admin.token.clone();
    // Where the integrator starts: after everything that exists now.
    let start = app.gql(Some(&token), FEED, json!({ "first": 1000 })).await;
    let mut cursor = start.data()["changes"]["cursor"].clone();
    let before = start.data()["changes"]["changes"].as_array().unwrap().len();
    assert!(before > 0, "tenant setup is traced");

    // Writers commit concurrently while the consumer keeps polling with small pages.
    const WRITERS: usize = 6;
    const EACH: usize = 8;
    let app = std::sync::Arc::new(app);
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (app, token) = (app.clone(), token.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..EACH {
                let r = app
                    .gql(
                        Some(&token),
                        "mutation($n: String!) { createAccount(input: { name: $n }) { id } }",
                        json!({ "n": format!("W{w} #{i}") }),
                    )
                    .await;
                r.data();
            }
        }));
    }
    let mut seen: Vec<i64> = Vec::new();
    let mut names = BTreeSet::new();
    let mut idle_rounds = 0;
    loop {
        let page = app.gql(Some(&token), FEED, json!({ "after": cursor, "first": 5 })).await;
        let feed = page.data()["changes"].clone();
        for change in feed["changes"].as_array().unwrap() {
            seen.push(change["seq"].as_i64().unwrap());
            names.insert(change["after"]["name"].as_str().unwrap_or_default().to_owned());
        }
        cursor = feed["cursor"].clone();
        let done = writers.iter().all(|w| w.is_finished());
        if done && !feed["hasMore"].as_bool().unwrap() {
            idle_rounds += 1;
            if idle_rounds > 1 {
                break;
            }
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(seen.len(), WRITERS * EACH, "every change once: {seen:?}");
    assert!(seen.windows(2).all(|p| p[1] == p[0] + 1), "in sequence, no gap, no repeat: {seen:?}");
    assert_eq!(names.len(), WRITERS * EACH);
    // A consumer resuming from the end sees nothing new, and keeps its cursor.
    let again = app.gql(Some(&token), FEED, json!({ "after": cursor })).await;
    assert!(again.data()["changes"]["changes"].as_array().unwrap().is_empty());
    assert_eq!(again.data()["changes"]["cursor"], cursor);
}

async fn feed_filters_and_echo_detection(app: TestApp) {
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let created = app
        .gql(Some(&acme.admin.token), "mutation { createApiToken(name: \"ERP\") { token apiToken { id } } }", json!({}))
        .await;
    let erp = created.data()["createApiToken"]["token"].as_str().unwrap().to_owned();
    let erp_id = created.data()["createApiToken"]["apiToken"]["id"].clone();
    let head = app.gql(Some(&erp), FEED, json!({ "first": 1000 })).await;
    let cursor = head.data()["changes"]["cursor"].clone();

    let owner = acme.admin.user_id.clone();
    let mine = "mutation($o: ID!) { createAccount(input: { name: \"From ERP\", ownerId: $o }) { id } }";
    let account = app.gql(Some(&erp), mine, json!({ "o": owner })).await.data()["createAccount"]["id"].clone();
    app.gql(
        Some(&acme.admin.token),
        "mutation($a: ID!) { createContact(input: { lastName: \"From a person\", accountId: $a }) { id } }",
        json!({ "a": account }),
    )
    .await
    .data();
    app.gql(
        Some(&globex.admin.token),
        "mutation { createAccount(input: { name: \"Other tenant\" }) { id } }",
        json!({}),
    )
    .await
    .data();

    let all = app.gql(Some(&erp), FEED, json!({ "after": cursor })).await;
    let changes: Vec<Value> = all.data()["changes"]["changes"].as_array().unwrap().clone();
    let kinds: Vec<_> = changes.iter().map(|c| c["entityType"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Account", "Contact"], "only this tenant's changes");
    assert_eq!(changes[0]["source"], "API_TOKEN");
    assert_eq!(changes[0]["apiTokenId"], erp_id, "the integration recognises its own echo");
    assert_eq!(changes[1]["source"], "APP");
    let contacts = app.gql(Some(&erp), FEED, json!({ "after": cursor, "e": ["Contact"] })).await;
    assert_eq!(contacts.data()["changes"]["changes"].as_array().unwrap().len(), 1);

    // Bad input is refused with a code, never misread.
    app.gql(Some(&erp), FEED, json!({ "after": "not-a-cursor" })).await.assert_invalid("after");
    app.gql(Some(&erp), FEED, json!({ "first": 1001 })).await.assert_invalid("first");
    app.gql(Some(&erp), FEED, json!({ "e": [] })).await.assert_invalid("entities");
    // A non-admin user sees CRM changes only.
    let sam = app.user(&acme, "Sam", "Sales").await;
    let theirs = app.gql(Some(&sam.token), FEED, json!({ "first": 1000 })).await;
    let types: BTreeSet<_> = theirs.data()["changes"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["entityType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, BTreeSet::from(["Account".to_owned(), "Contact".to_owned()]));
}
