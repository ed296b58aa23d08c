//! Points, the leaderboard, the award event, and the adoption CSV export.

use std::time::Duration;

use chrono::Utc;
use crm_tests::serde_json::{Value, json};
use crm_tests::{TestApp, db_tests};

db_tests!(
    points_are_awarded_once_and_ranked,
    points_awarded_congratulates_the_user,
    adoption_csv_export,
    a_lead_completed_quickly_earns_points_once,
);

async fn activity(app: &TestApp, token: &str) -> String {
    let account =
        app.gql(Some(token), "mutation { createAccount(input: { name: \"Initech\" }) { id } }", json!({})).await;
    let account = account.data()["createAccount"]["id"].clone();
    let input = json!({ "kind": "Call", "subject": "Call", "target": { "accountId": account } });
    let r = app
        .gql(
            Some(token),
            "mutation($i: CreateActivityInput!) { createActivity(input: $i) { id } }",
            json!({ "i": input }),
        )
        .await;
    r.data()["createActivity"]["id"].as_str().unwrap().to_owned()
}

const COMPLETE: &str = "mutation($id: ID!) { completeActivity(id: $id) { id } }";
const BOARD: &str = "query($w: NaiveDate!) { leaderboard(week: $w) { week
    byPoints { rank userId points writes user { displayName } } byActivity { rank userId points writes } } }";

async fn board(app: &TestApp, token: &str) -> Value {
    let r = app.gql(Some(token), BOARD, json!({ "w": Utc::now().date_naive().to_string() })).await;
    r.data()["leaderboard"].clone()
}

async fn points_are_awarded_once_and_ranked(app: TestApp) {
    let acme = app.tenant("acme").await;
    let ana = app.user(&acme, "Ana", "Sales").await;
    let bob = app.user(&acme, "Bob", "Sales").await;
    for _ in 0..2 {
        let id = activity(&app, &ana.token).await;
        app.gql(Some(&ana.token), COMPLETE, json!({ "id": id })).await.data();
        // Completing again is refused, and awards nothing more.
        app.gql(Some(&ana.token), COMPLETE, json!({ "id": id })).await.assert_code("CONFLICT");
    }
    let id = activity(&app, &bob.token).await;
    app.gql(Some(&bob.token), COMPLETE, json!({ "id": id })).await.data();
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM points_award").await, 3);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM trace WHERE entity_type = 'PointsAward'").await, 3, "traced");

    let week = board(&app, &acme.admin.token).await;
    let points: Vec<(Value, Value, Value)> = week["byPoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["rank"].clone(), p["user"]["displayName"].clone(), p["points"].clone()))
        .collect();
    assert_eq!(points, vec![(json!(1), json!("Ana"), json!(2)), (json!(2), json!("Bob"), json!(1))]);
    // By activity: Ana wrote 2 accounts, 2 activities, 2 completions; Bob half.
    let busiest: Vec<(Value, Value)> =
        week["byActivity"].as_array().unwrap().iter().map(|p| (p["rank"].clone(), p["writes"].clone())).collect();
    assert_eq!(busiest, vec![(json!(1), json!(6)), (json!(2), json!(3))]);
    // Bob sees everyone's points, but only his own activity (as in `adoption`).
    let bobs = board(&app, &bob.token).await;
    let writes: Vec<Value> = bobs["byPoints"].as_array().unwrap().iter().map(|p| p["writes"].clone()).collect();
    assert_eq!(writes, vec![Value::Null, json!(3)]);
    assert_eq!(bobs["byActivity"].as_array().unwrap().len(), 1);
    assert_eq!(bobs["byActivity"][0]["userId"], bob.user_id.as_str());

    // Rules: admins change them; others may not; bad values are refused.
    let set = "mutation($p: Int!) { setPointsRule(rule: ACTIVITY_COMPLETED, points: $p, enabled: true) { rule points enabled } }";
    app.gql(Some(&ana.token), set, json!({ "p": 5 })).await.assert_code("FORBIDDEN");
    app.gql(Some(&acme.admin.token), set, json!({ "p": 0 })).await.assert_invalid("points");
    let r = app.gql(Some(&acme.admin.token), set, json!({ "p": 5 })).await;
    assert_eq!(r.data()["setPointsRule"]["points"], 5);
    let id = activity(&app, &bob.token).await;
    app.gql(Some(&bob.token), COMPLETE, json!({ "id": id })).await.data();
    let week = board(&app, &bob.token).await;
    assert_eq!(week["byPoints"][0]["points"], 6, "Bob now leads: {week}");
    // Award traces cannot be reached through a custom entity of the same name.
    let entity = "mutation { createEntity(name: \"PointsAward\", label: \"Awards\") { name } }";
    app.gql(Some(&acme.admin.token), entity, json!({})).await.assert_code("BAD_USER_INPUT");
    assert_eq!(week["byPoints"][0]["userId"], bob.user_id.as_str());
    let rules = app.gql(Some(&ana.token), "{ pointsRules { rule points enabled } }", json!({})).await;
    assert_eq!(
        rules.data()["pointsRules"],
        json!([{ "rule": "LEAD_COMPLETED_QUICKLY", "points": 10, "enabled": true },
               { "rule": "ACTIVITY_COMPLETED", "points": 5, "enabled": true }])
    );
    // Another tenant's leaderboard is empty.
    let globex = app.tenant("globex").await;
    assert_eq!(board(&app, &globex.admin.token).await["byPoints"], json!([]));
}

async fn points_awarded_congratulates_the_user(app: TestApp) {
    let acme = app.tenant("acme").await;
    let ana = app.user(&acme, "Ana", "Sales").await;
    let bob = app.user(&acme, "Bob", "Sales").await;
    let mut anas = app.socket(&ana.token).await;
    anas.subscribe("p", "subscription { pointsAwarded { points rule entityType entityId message } }", json!({})).await;
    let mut bobs = app.socket(&bob.token).await;
    bobs.subscribe("p", "subscription { pointsAwarded { points } }", json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let id = activity(&app, &ana.token).await;
    app.gql(Some(&ana.token), COMPLETE, json!({ "id": id })).await.data();
    let seen = anas.next().await;
    let award = &seen["payload"]["data"]["pointsAwarded"];
    assert_eq!(award["points"], 1, "{seen}");
    assert_eq!(award["rule"], "ACTIVITY_COMPLETED");
    assert_eq!(award["entityId"], id.as_str());
    assert!(award["message"].as_str().unwrap().contains("+1"));
    assert!(bobs.next_within(Duration::from_millis(400)).await.is_none(), "only the winner is congratulated");
}

async fn adoption_csv_export(app: TestApp) {
    let acme = app.tenant("acme").await;
    let sales = app.profile_id(&acme, "Sales").await;
    // A display name an attacker chose to run in a spreadsheet.
    let input = json!({ "email": "ana@acme.test", "displayName": "=cmd|' /C calc'!A0, \"Ana\"",
        "password": crm_tests::PASSWORD, "profileId": sales });
    let create = "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }";
    app.gql(Some(&acme.admin.token), create, json!({ "i": input })).await.data();
    let ana = app.login("acme", "ana@acme.test", crm_tests::PASSWORD).await;
    activity(&app, &ana.token).await;
    let today = Utc::now().date_naive().to_string();
    let url = app.url(&format!("/reports/adoption.csv?from={today}&to={today}"));

    let response = app.http.get(&url).bearer_auth(&acme.admin.token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains("adoption-"));
    let body = response.text().await.unwrap();
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("week,user_id,user_name,user_email,activities_logged,"));
    assert_eq!(lines.len(), 3, "admin and Ana: {body}");
    let ana_line = lines.iter().find(|l| l.contains(&ana.user_id)).unwrap();
    // The name is quoted, its quotes doubled, and it cannot run as a formula.
    assert!(ana_line.contains(r#""'=cmd|' /C calc'!A0, ""Ana""""#), "{ana_line}");
    let fields: Vec<&str> = ana_line.rsplitn(13, ',').collect();
    assert_eq!(fields[11], "1", "activities_logged: {ana_line}");

    // The same visibility as the query: Ana sees only her own row.
    let body = app.http.get(&url).bearer_auth(&ana.token).send().await.unwrap().text().await.unwrap();
    assert_eq!(body.split("\r\n").filter(|l| !l.is_empty()).count(), 2);
    // Users may be listed comma-separated (encoded or not) or repeated.
    let both = format!("{url}&users={}%2C{}", acme.admin.user_id, ana.user_id);
    let body = app.http.get(&both).bearer_auth(&acme.admin.token).send().await.unwrap().text().await.unwrap();
    assert_eq!(body.split("\r\n").filter(|l| !l.is_empty()).count(), 3, "{body}");
    let repeated = format!("{url}&users={}&users={}", acme.admin.user_id, ana.user_id);
    let body = app.http.get(&repeated).bearer_auth(&acme.admin.token).send().await.unwrap().text().await.unwrap();
    assert_eq!(body.split("\r\n").filter(|l| !l.is_empty()).count(), 3, "{body}");
    let forbidden = format!("{url}&users={}", acme.admin.user_id);
    assert_eq!(app.http.get(&forbidden).bearer_auth(&ana.token).send().await.unwrap().status(), 403);
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(app.http.get(&url).bearer_auth("nonsense").send().await.unwrap().status(), 401);
    let bad = app.url("/reports/adoption.csv?from=yesterday&to=today");
    assert_eq!(app.http.get(&bad).bearer_auth(&acme.admin.token).send().await.unwrap().status(), 400);
}

async fn a_lead_completed_quickly_earns_points_once(app: TestApp) {
    let acme = app.tenant("acme").await;
    let ana = app.user(&acme, "Ana", "Sales").await;
    let create = "mutation($i: CreateLeadInput!) { createLead(input: $i) { id completeness } }";
    let partial = json!({ "firstName": "Peter", "lastName": "Gibbons", "company": "Initech", "title": "Engineer",
        "phone": "+1 555 0100", "email": "peter@initech.test", "street": "1 Main St", "city": "Austin",
        "state": "TX", "postalCode": "73301" });
    let r = app.gql(Some(&ana.token), create, json!({ "i": partial })).await;
    let lead = r.data()["createLead"].clone();
    assert!(lead["completeness"].as_f64().unwrap() < 1.0);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM points_award").await, 0);
    let update = "mutation($id: ID!, $w: String) { updateLead(id: $id, input: { website: $w }) { completeness } }";
    let r = app.gql(Some(&ana.token), update, json!({ "id": lead["id"], "w": "https://initech.test" })).await;
    assert_eq!(r.data()["updateLead"]["completeness"], 1.0);
    // Emptied and refilled: the lead earned its points once.
    app.gql(Some(&ana.token), update, json!({ "id": lead["id"], "w": null })).await.data();
    app.gql(Some(&ana.token), update, json!({ "id": lead["id"], "w": "https://initech.test" })).await.data();
    let board = board(&app, &ana.token).await;
    assert_eq!(board["byPoints"][0]["points"], 10, "{board}");
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM points_award").await, 1);
    // A lead older than 3 days earns nothing when completed.
    let r = app.gql(Some(&ana.token), create, json!({ "i": partial })).await;
    let old = r.data()["createLead"]["id"].as_str().unwrap().to_owned();
    let long_ago = (Utc::now() - chrono::Duration::days(4)).to_rfc3339();
    // (Every lead: ids are stored as blobs on SQLite; the first one has its points.)
    app.sql(&format!("UPDATE lead SET created_at = '{long_ago}'")).await.unwrap();
    app.gql(Some(&ana.token), update, json!({ "id": old, "w": "https://initech.test" })).await.data();
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM points_award").await, 1);
}
