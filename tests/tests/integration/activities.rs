//! Activities: targets, completion, overdue, and the relation from every record.

use crm_tests::{TestApp, db_tests, serde_json::json};

use crate::contacts::account;

db_tests!(activity_targets_and_completion, overdue_and_completed_filters);

const CREATE: &str = "mutation($i: CreateActivityInput!) { createActivity(input: $i) { id subject kind { key } overdue completedAt target { __typename ... on Account { name } ... on Contact { lastName } ... on Lead { lastName } ... on Opportunity { name } } } }";
const COMPLETE: &str = "mutation($id: ID!, $r: String) { completeActivity(id: $id, result: $r) { completedAt result { key } version overdue } }";

async fn activity_targets_and_completion(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let initech = account(&app, t, "Initech").await;
    let r = app
        .gql(
            Some(t),
            "mutation($a: ID!) { createContact(input: { lastName: \"Gibbons\", accountId: $a }) { id } }",
            json!({ "a": initech }),
        )
        .await;
    let contact = r.data()["createContact"]["id"].clone();
    let r = app.gql(Some(t), "mutation { createLead(input: { lastName: \"Bolton\" }) { id } }", json!({})).await;
    let lead = r.data()["createLead"]["id"].clone();
    let r = app
        .gql(
            Some(t),
            "mutation($a: ID!) { createOpportunity(input: { accountId: $a, name: \"TPS\" }) { id } }",
            json!({ "a": initech }),
        )
        .await;
    let opportunity = r.data()["createOpportunity"]["id"].clone();

    let mut ids = Vec::new();
    for (target, typename) in [
        (json!({ "accountId": initech }), "Account"),
        (json!({ "contactId": contact }), "Contact"),
        (json!({ "leadId": lead }), "Lead"),
        (json!({ "opportunityId": opportunity }), "Opportunity"),
    ] {
        let r = app
            .gql(
                Some(t),
                CREATE,
                json!({ "i": { "kind": "Call", "subject": format!("Call {typename}"), "target": target } }),
            )
            .await;
        let a = r.data()["createActivity"].clone();
        assert_eq!(a["target"]["__typename"], typename);
        assert_eq!(a["kind"]["key"], "call");
        ids.push(a["id"].clone());
    }
    // Each record lists its own activities.
    let r = app
        .gql(
            Some(t),
            "query($a: ID!, $c: ID!, $l: ID!, $o: ID!) { account(id: $a) { activities { subject } } contact(id: $c) { activities { subject } } lead(id: $l) { activities { subject } } opportunity(id: $o) { activities { subject } } }",
            json!({ "a": initech, "c": contact, "l": lead, "o": opportunity }),
        )
        .await;
    assert_eq!(r.data()["account"]["activities"], json!([{ "subject": "Call Account" }]));
    assert_eq!(r.data()["opportunity"]["activities"], json!([{ "subject": "Call Opportunity" }]));

    // Exactly one target: none or two are refused by the oneOf input.
    let none = json!({ "i": { "kind": "call", "subject": "x", "target": {} } });
    app.gql(Some(t), CREATE, none).await.assert_code("BAD_USER_INPUT");
    let two = json!({ "i": { "kind": "call", "subject": "x", "target": { "accountId": initech, "leadId": lead } } });
    app.gql(Some(t), CREATE, two).await.assert_code("BAD_USER_INPUT");
    let missing = json!({ "i": { "kind": "call", "subject": "x", "target": { "leadId": "0190b8a4-0000-7000-8000-000000000000" } } });
    app.gql(Some(t), CREATE, missing).await.assert_invalid("target.leadId");
    let kind = json!({ "i": { "kind": "telegram", "subject": "x", "target": { "leadId": lead } } });
    app.gql(Some(t), CREATE, kind).await.assert_invalid("kind");
    // The database refuses a row with two targets, whatever the code does.
    let sql = "UPDATE activity SET lead_id = account_id WHERE account_id IS NOT NULL";
    assert!(app.sql(sql).await.is_err(), "CHECK constraint");

    let done = app.gql(Some(t), COMPLETE, json!({ "id": ids[1], "r": "Successful" })).await;
    let done = done.data()["completeActivity"].clone();
    assert!(done["completedAt"].is_string());
    assert_eq!(done["result"]["key"], "successful");
    assert_eq!(done["version"], 2);
    app.gql(Some(t), COMPLETE, json!({ "id": ids[1] })).await.assert_code("CONFLICT");
    app.gql(Some(t), COMPLETE, json!({ "id": ids[2], "r": "meh" })).await.assert_invalid("result");
    let h = app
        .gql(
            Some(t),
            "query($id: ID!) { activity(id: $id) { history(first: 1) { nodes { changeType before after } } } }",
            json!({ "id": ids[1] }),
        )
        .await;
    let trace = h.data()["activity"]["history"]["nodes"][0].clone();
    assert_eq!(trace["changeType"], "COMPLETE");
    assert_eq!(trace["before"]["result"], serde_json::Value::Null);
    assert_eq!(trace["after"]["result"], "successful");
    assert!(trace["after"]["completedAt"].is_string());

    // Moving an activity to another record replaces its target.
    let moved = app
        .gql(
            Some(t),
            "mutation($id: ID!, $c: ID!) { updateActivity(id: $id, input: { target: { contactId: $c } }) { target { __typename } } }",
            json!({ "id": ids[0], "c": contact }),
        )
        .await;
    assert_eq!(moved.data()["updateActivity"]["target"]["__typename"], "Contact");
}

async fn overdue_and_completed_filters(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let initech = account(&app, t, "Initech").await;
    let mut ids = Vec::new();
    for (subject, due) in [("past", "2025-01-01T09:00:00Z"), ("future", "2099-01-01T09:00:00Z"), ("undated", "")] {
        let due = if due.is_empty() { serde_json::Value::Null } else { json!(due) };
        let r = app
            .gql(
                Some(t),
                CREATE,
                json!({ "i": { "kind": "task", "subject": subject, "dueAt": due, "target": { "accountId": initech } } }),
            )
            .await;
        ids.push(r.data()["createActivity"].clone());
    }
    assert_eq!(ids[0]["overdue"], true);
    assert_eq!(ids[1]["overdue"], false);
    let q = "query($f: ActivityFilterInput) { activities(filter: $f) { nodes { subject } } }";
    let subjects = |r: crm_tests::Gql| -> Vec<String> {
        r.data()["activities"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["subject"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(subjects(app.gql(Some(t), q, json!({ "f": { "overdue": true } })).await), ["past"]);
    assert_eq!(subjects(app.gql(Some(t), q, json!({ "f": { "overdue": false } })).await), ["future", "undated"]);
    app.gql(Some(t), COMPLETE, json!({ "id": ids[0]["id"] })).await.data();
    assert!(subjects(app.gql(Some(t), q, json!({ "f": { "overdue": true } })).await).is_empty());
    assert_eq!(subjects(app.gql(Some(t), q, json!({ "f": { "completed": true } })).await), ["past"]);
    assert_eq!(
        subjects(app.gql(Some(t), q, json!({ "f": { "completed": false, "kind": "Task" } })).await),
        ["future", "undated"]
    );
    let r = app.gql(Some(t), q, json!({ "f": { "dueFrom": "2090-01-01T00:00:00Z" } })).await;
    assert_eq!(subjects(r), ["future"]);
}
