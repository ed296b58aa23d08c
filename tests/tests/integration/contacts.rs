//! Contacts: CRUD with traces, the account relation both ways, lists, validation.

use crm_tests::{TestApp, db_tests, serde_json::json};

db_tests!(contact_lifecycle_is_traced, contact_lists_filter_order_and_page, contact_input_is_validated);

const CREATE: &str = "mutation($i: CreateContactInput!) { createContact(input: $i) { id firstName lastName email phone version account { id name } owner { email } } }";
const UPDATE: &str = "mutation($id: ID!, $i: UpdateContactInput!, $v: Int) { updateContact(id: $id, input: $i, expectedVersion: $v) { id lastName title version account { name } } }";

pub async fn account(app: &TestApp, token: &str, name: &str) -> String {
    let r = app
        .gql(
            Some(token),
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }",
            json!({ "i": { "name": name } }),
        )
        .await;
    r.data()["createAccount"]["id"].as_str().unwrap().to_owned()
}

async fn contact_lifecycle_is_traced(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let initech = account(&app, t, "Initech").await;
    let c = app
        .gql(
            Some(t),
            CREATE,
            json!({ "i": { "accountId": initech, "firstName": " Peter ", "lastName": "Gibbons", "email": "Peter@Initech.TEST", "phone": "+33 (0)1-23.45.67" } }),
        )
        .await;
    let c = c.data()["createContact"].clone();
    assert_eq!(c["firstName"], "Peter");
    assert_eq!(c["email"], "peter@initech.test");
    assert_eq!(c["phone"], "+3301234567");
    assert_eq!(c["account"]["name"], "Initech");
    assert_eq!(c["owner"]["email"], "admin@acme.test");
    let id = c["id"].as_str().unwrap().to_owned();

    // The relation the other way round.
    let a = app
        .gql(Some(t), "query($id: ID!) { account(id: $id) { contacts { lastName } } }", json!({ "id": initech }))
        .await;
    assert_eq!(a.data()["account"]["contacts"], json!([{ "lastName": "Gibbons" }]));

    let u =
        app.gql(Some(t), UPDATE, json!({ "id": id, "i": { "title": "Engineer", "accountId": null }, "v": 1 })).await;
    assert_eq!(u.data()["updateContact"]["title"], "Engineer");
    assert!(u.data()["updateContact"]["account"].is_null());
    assert_eq!(u.data()["updateContact"]["version"], 2);
    app.gql(Some(t), UPDATE, json!({ "id": id, "i": { "title": "Boss" }, "v": 1 })).await.assert_code("CONFLICT");
    let same = app.gql(Some(t), UPDATE, json!({ "id": id, "i": { "title": "Engineer" } })).await;
    assert_eq!(same.data()["updateContact"]["version"], 2, "a no-op writes nothing");

    app.gql(Some(t), "mutation($id: ID!) { deleteContact(id: $id) { id } }", json!({ "id": id })).await.data();
    app.gql(Some(t), "query($id: ID!) { contact(id: $id) { id } }", json!({ "id": id })).await.assert_code("NOT_FOUND");
    app.gql(Some(t), UPDATE, json!({ "id": id, "i": { "title": "x" } })).await.assert_code("NOT_FOUND");
    let restored = app
        .gql(Some(t), "mutation($id: ID!) { restoreContact(id: $id) { lastName version } }", json!({ "id": id }))
        .await;
    assert_eq!(restored.data()["restoreContact"]["version"], 4);

    let h = app
        .gql(
            Some(t),
            "query($id: ID!) { contact(id: $id) { history { nodes { changeType entityType before after } } } }",
            json!({ "id": id }),
        )
        .await;
    let nodes = h.data()["contact"]["history"]["nodes"].as_array().unwrap().clone();
    let kinds: Vec<_> = nodes.iter().map(|n| n["changeType"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["RESTORE", "DELETE", "UPDATE", "CREATE"]);
    assert!(nodes.iter().all(|n| n["entityType"] == "Contact"));
    assert_eq!(nodes[2]["before"], json!({ "accountId": initech, "title": null }));
    assert_eq!(nodes[2]["after"], json!({ "accountId": null, "title": "Engineer" }));
    assert_eq!(nodes[3]["after"]["lastName"], "Gibbons");
    assert!(nodes[1]["after"].is_null());
}

async fn contact_lists_filter_order_and_page(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let sam = app.user(&acme, "Sam", "Sales").await;
    let initech = account(&app, t, "Initech").await;
    for (first, last, email) in [("Peter", "Gibbons", "peter@initech.test"), ("Bill", "Lumbergh", "bill@initech.test")]
    {
        app.gql(
            Some(t),
            CREATE,
            json!({ "i": { "accountId": initech, "firstName": first, "lastName": last, "email": email } }),
        )
        .await
        .data();
    }
    for i in 0..3 {
        app.gql(Some(&sam.token), CREATE, json!({ "i": { "lastName": format!("Zed {i}"), "title": "Buyer" } }))
            .await
            .data();
    }
    let q = "query($f: ContactFilterInput, $o: ContactOrderBy, $first: Int, $after: String) { contacts(filter: $f, orderBy: $o, first: $first, after: $after) { totalCount nodes { lastName } edges { cursor } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let names = |r: &crm_tests::Gql| -> Vec<String> {
        r.data()["contacts"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["lastName"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&app.gql(Some(t), q, json!({ "f": { "account": initech } })).await), ["Gibbons", "Lumbergh"]);
    assert_eq!(names(&app.gql(Some(t), q, json!({ "f": { "hasAccount": false } })).await), ["Zed 0", "Zed 1", "Zed 2"]);
    assert_eq!(names(&app.gql(Some(t), q, json!({ "f": { "emailContains": "BILL@" } })).await), ["Lumbergh"]);
    assert_eq!(names(&app.gql(Some(t), q, json!({ "f": { "email": "Peter@Initech.test" } })).await), ["Gibbons"]);
    let mine = app.gql(Some(&sam.token), q, json!({ "f": { "mine": true, "title": "Buyer" } })).await;
    assert_eq!(mine.data()["contacts"]["totalCount"], 3);
    let by_owner = app.gql(Some(t), q, json!({ "f": { "owner": sam.user_id } })).await;
    assert_eq!(by_owner.data()["contacts"]["totalCount"], 3);
    let desc = app.gql(Some(t), q, json!({ "o": { "field": "LAST_NAME", "direction": "DESC" }, "first": 2 })).await;
    assert_eq!(names(&desc), ["Zed 2", "Zed 1"]);
    assert_eq!(desc.data()["contacts"]["pageInfo"]["hasNextPage"], true);
    let rest = app
        .gql(
            Some(t),
            q,
            json!({ "o": { "field": "LAST_NAME", "direction": "DESC" }, "first": 10, "after": desc.data()["contacts"]["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(names(&rest), ["Zed 0", "Lumbergh", "Gibbons"]);
    assert_eq!(rest.data()["contacts"]["pageInfo"]["hasPreviousPage"], true);
    // Cursors of one list are refused by another.
    let cursor = desc.data()["contacts"]["edges"][0]["cursor"].clone();
    app.gql(Some(t), "query($a: String) { accounts(after: $a) { totalCount } }", json!({ "a": cursor }))
        .await
        .assert_invalid("after");
    app.gql(Some(t), q, json!({ "first": 501 })).await.assert_invalid("first");
}

async fn contact_input_is_validated(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = Some(acme.admin.token.as_str());
    for (input, field) in [
        (json!({ "lastName": "  " }), "lastName"),
        (json!({ "lastName": "X", "email": "not-an-email" }), "email"),
        (json!({ "lastName": "X", "phone": "call me" }), "phone"),
        (json!({ "lastName": "X", "mobile": "12" }), "mobile"),
        (json!({ "lastName": "X", "accountId": "nope" }), "accountId"),
        (json!({ "lastName": "X", "accountId": "0190b8a4-0000-7000-8000-000000000000" }), "accountId"),
        (json!({ "lastName": "x".repeat(101) }), "lastName"),
    ] {
        app.gql(t, CREATE, json!({ "i": input })).await.assert_invalid(field);
    }
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM contact").await, 0, "no bad input was stored");
    let c = app.gql(t, CREATE, json!({ "i": { "lastName": "Ok" } })).await;
    let id = c.data()["createContact"]["id"].clone();
    app.gql(t, UPDATE, json!({ "id": id, "i": { "lastName": null } })).await.assert_invalid("lastName");
    app.gql(t, UPDATE, json!({ "id": id, "i": { "ownerId": null } })).await.assert_invalid("ownerId");
}
