//! Leads: lifecycle, status rules and conversion in one transaction.

use crm_tests::{TestApp, db_tests, serde_json::json};

use crate::contacts::account;

db_tests!(lead_lifecycle_and_status, convert_lead_creates_everything_at_once, failed_conversion_writes_nothing);

const CREATE: &str = "mutation($i: CreateLeadInput!) { createLead(input: $i) { id lastName company website status { key } source { key } version } }";
const CONVERT: &str = "mutation($id: ID!, $i: ConvertLeadInput) { convertLead(id: $id, input: $i) { lead { status { key } convertedAt convertedAccount { name } convertedContact { lastName } convertedOpportunity { name } version } account { id name origin website } contact { firstName lastName email account { name } } opportunity { name amount stage { key } account { name } } } }";

async fn lead(app: &TestApp, token: &str, input: serde_json::Value) -> String {
    let r = app.gql(Some(token), CREATE, json!({ "i": input })).await;
    r.data()["createLead"]["id"].as_str().unwrap().to_owned()
}

async fn lead_lifecycle_and_status(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = Some(acme.admin.token.as_str());
    let r = app
        .gql(
            t,
            CREATE,
            json!({ "i": { "lastName": "Bolton", "company": "Initech", "website": "initech.test", "source": "Web" } }),
        )
        .await;
    let l = r.data()["createLead"].clone();
    assert_eq!(l["status"]["key"], "new", "new leads start at the first status");
    assert_eq!(l["source"]["key"], "web");
    assert_eq!(l["website"], "https://initech.test");
    let id = l["id"].clone();
    let u = "mutation($id: ID!, $i: UpdateLeadInput!) { updateLead(id: $id, input: $i) { status { key } version } }";
    let r = app.gql(t, u, json!({ "id": id, "i": { "status": "working" } })).await;
    assert_eq!(r.data()["updateLead"]["status"]["key"], "working");
    app.gql(t, u, json!({ "id": id, "i": { "status": "converted" } })).await.assert_invalid("status");
    app.gql(t, u, json!({ "id": id, "i": { "status": "hot" } })).await.assert_invalid("status");
    app.gql(t, u, json!({ "id": id, "i": { "status": null } })).await.assert_invalid("status");
    app.gql(t, CREATE, json!({ "i": { "lastName": "X", "status": "converted" } })).await.assert_invalid("status");
    let list = "query($f: LeadFilterInput) { leads(filter: $f) { totalCount } }";
    let r = app.gql(t, list, json!({ "f": { "status": "Working", "companyContains": "INIT" } })).await;
    assert_eq!(r.data()["leads"]["totalCount"], 1);
    app.gql(t, "mutation($id: ID!) { deleteLead(id: $id) { id } }", json!({ "id": id })).await.data();
    assert_eq!(app.gql(t, list, json!({})).await.data()["leads"]["totalCount"], 0);
    app.gql(t, "mutation($id: ID!) { restoreLead(id: $id) { id } }", json!({ "id": id })).await.data();
    assert_eq!(app.gql(t, list, json!({})).await.data()["leads"]["totalCount"], 1);
}

async fn convert_lead_creates_everything_at_once(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let id = lead(
        &app,
        t,
        json!({ "firstName": "Bob", "lastName": "Slydell", "company": "Initech", "email": "bob@initech.test", "website": "initech.test", "source": "referral" }),
    )
    .await;
    let before = app.sql_count("SELECT COUNT(*) FROM trace").await;
    let r = app
        .gql(Some(t), CONVERT, json!({ "id": id, "i": { "opportunityName": "Consulting", "amount": "9000" } }))
        .await;
    let c = r.data()["convertLead"].clone();
    assert_eq!(c["lead"]["status"]["key"], "converted");
    assert!(c["lead"]["convertedAt"].is_string());
    assert_eq!(c["lead"]["convertedAccount"]["name"], "Initech");
    assert_eq!(c["lead"]["convertedContact"]["lastName"], "Slydell");
    assert_eq!(c["lead"]["convertedOpportunity"]["name"], "Consulting");
    assert_eq!(c["account"]["name"], "Initech");
    assert_eq!(c["account"]["origin"], "lead: referral");
    assert_eq!(c["account"]["website"], "https://initech.test");
    assert_eq!(c["contact"]["email"], "bob@initech.test");
    assert_eq!(c["contact"]["account"]["name"], "Initech");
    assert_eq!(c["opportunity"]["amount"], "9000");
    assert_eq!(c["opportunity"]["stage"]["key"], "received");
    assert_eq!(c["opportunity"]["account"]["name"], "Initech");

    // One trace per created record plus the CONVERT of the lead, all in one transaction.
    let traces = app
        .gql(Some(t), "{ traces(first: 4) { nodes { changeType entityType entityId after requestId } } }", json!({}))
        .await;
    let nodes = traces.data()["traces"]["nodes"].as_array().unwrap().clone();
    let kinds: Vec<_> = nodes
        .iter()
        .map(|n| format!("{} {}", n["changeType"].as_str().unwrap(), n["entityType"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, ["CONVERT Lead", "CREATE Opportunity", "CREATE Contact", "CREATE Account"]);
    assert_eq!(nodes[0]["entityId"], id.as_str());
    assert_eq!(nodes[0]["after"]["status"], "converted");
    assert!(nodes.iter().all(|n| n["requestId"] == nodes[0]["requestId"]), "one request");
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM trace").await, before + 4);

    // Converted leads stay as they are.
    app.gql(Some(t), CONVERT, json!({ "id": id })).await.assert_code("CONFLICT");
    app.gql(
        Some(t),
        "mutation($id: ID!) { updateLead(id: $id, input: { title: \"CEO\" }) { id } }",
        json!({ "id": id }),
    )
    .await
    .assert_code("CONFLICT");
    let converted = "query { leads(filter: { converted: true }) { totalCount } }";
    assert_eq!(app.gql(Some(t), converted, json!({})).await.data()["leads"]["totalCount"], 1);

    // Into an existing account, without an opportunity.
    let hooli = account(&app, t, "Hooli").await;
    let other = lead(&app, t, json!({ "lastName": "Belson", "company": "Hooli XYZ" })).await;
    let r = app.gql(Some(t), CONVERT, json!({ "id": other, "i": { "accountId": hooli } })).await;
    let c = r.data()["convertLead"].clone();
    assert_eq!(c["account"]["name"], "Hooli");
    assert!(c["opportunity"].is_null());
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM account").await, 2);
}

async fn counts(app: &TestApp) -> (i64, i64, i64) {
    (
        app.sql_count("SELECT COUNT(*) FROM account").await,
        app.sql_count("SELECT COUNT(*) FROM contact").await,
        app.sql_count("SELECT COUNT(*) FROM trace").await,
    )
}

async fn failed_conversion_writes_nothing(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let id = lead(&app, t, json!({ "lastName": "Smykowski", "company": "Initech" })).await;
    let before = counts(&app).await;
    // The opportunity fails validation after the account and contact were inserted.
    let r = app.gql(Some(t), CONVERT, json!({ "id": id, "i": { "opportunityName": "Deal", "amount": "-3" } })).await;
    r.assert_invalid("amount");
    app.gql(Some(t), CONVERT, json!({ "id": id, "i": { "amount": "3" } })).await.assert_invalid("opportunityName");
    let foreign = "0190b8a4-0000-7000-8000-000000000000";
    app.gql(Some(t), CONVERT, json!({ "id": id, "i": { "accountId": foreign } })).await.assert_invalid("accountId");
    assert_eq!(counts(&app).await, before, "nothing of a failed conversion is written");
    // A trace that cannot be written rolls the whole conversion back.
    app.sql("DELETE FROM trace_head").await.unwrap();
    app.gql(Some(t), CONVERT, json!({ "id": id })).await.assert_code("INTERNAL");
    assert_eq!(counts(&app).await, before);
    let status = app.sql_count("SELECT COUNT(*) FROM lead WHERE converted_at IS NULL").await;
    assert_eq!(status, 1);
}
