//! Data quality: completeness on every write, key-field changes, the
//! `dataQuality` figures, hygiene lists, visibility and other tenants.

use crm_tests::serde_json::{Value, json};
use crm_tests::{TenantFixture, TestApp, db_tests};

db_tests!(
    completeness_is_set_on_every_write,
    key_field_changes_recompute_this_tenant_only,
    custom_entities_and_custom_key_fields,
    data_quality_figures_are_exact,
    hidden_fields_leave_the_figures,
    stale_and_undated_opportunities,
    overdue_activities_by_owner,
    probable_duplicates_are_grouped,
    bad_inputs_have_stable_codes,
    migration_backfill_agrees_with_the_server,
    data_quality_changed_follows_writes,
    stale_days_is_a_tenant_setting,
);

const SET_KEYS: &str = "mutation($e: String!, $f: [String!]!) { setKeyFields(entity: $e, fields: $f) }";
const QUALITY: &str = "query($e: String!) { dataQuality(entity: $e) { entity keyFields records averageCompleteness
    distribution { min max records } fillRates { field filled rate } owners { ownerId records averageCompleteness owner { email } }
    missingRequired } }";

fn close(actual: &Value, expected: f64) {
    let actual = actual.as_f64().unwrap_or_else(|| panic!("not a number: {actual}"));
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

async fn set_keys(app: &TestApp, tenant: &TenantFixture, entity: &str, fields: Value) {
    let r = app.gql(Some(&tenant.admin.token), SET_KEYS, json!({ "e": entity, "f": fields })).await;
    assert_eq!(r.data()["setKeyFields"], fields);
}

async fn create(app: &TestApp, token: &str, mutation: &str, input: Value) -> Value {
    let q = format!(
        "mutation($i: {}Input!) {{ {mutation}(input: $i) {{ id completeness version }} }}",
        match mutation {
            "createAccount" => "CreateAccount",
            "createContact" => "CreateContact",
            "createLead" => "CreateLead",
            "createOpportunity" => "CreateOpportunity",
            _ => "CreateActivity",
        }
    );
    let r = app.gql(Some(token), &q, json!({ "i": input })).await;
    r.data()[mutation].clone()
}

async fn lead_completeness(app: &TestApp, token: &str, id: &str) -> (f64, i64) {
    let r =
        app.gql(Some(token), "query($id: ID!) { lead(id: $id) { completeness version } }", json!({ "id": id })).await;
    (r.data()["lead"]["completeness"].as_f64().unwrap(), r.data()["lead"]["version"].as_i64().unwrap())
}

fn assert_completeness((completeness, version): (f64, i64), expected: f64, expected_version: i64) {
    assert!((completeness - expected).abs() < 1e-9, "{completeness} != {expected}");
    assert_eq!(version, expected_version, "derived data moves no version");
}

async fn completeness_is_set_on_every_write(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    // The eleven default key fields of a lead.
    let keys = app.gql(Some(t), "{ keyFields(entity: \"Lead\") }", json!({})).await;
    assert_eq!(
        keys.data()["keyFields"],
        json!([
            "firstName",
            "lastName",
            "company",
            "title",
            "phone",
            "email",
            "street",
            "city",
            "state",
            "postalCode",
            "website"
        ])
    );
    let lead =
        create(&app, t, "createLead", json!({ "firstName": "Bob", "lastName": "Slydell", "company": "Bobs" })).await;
    close(&lead["completeness"], 3.0 / 11.0);
    let id = lead["id"].as_str().unwrap().to_owned();
    let update = "mutation($id: ID!, $i: UpdateLeadInput!) { updateLead(id: $id, input: $i) { completeness version } }";
    let r = app
        .gql(
            Some(t),
            update,
            json!({ "id": id, "i": { "email": "bob@bobs.test", "phone": "+33 1 23 45 67 89", "company": null } }),
        )
        .await;
    close(&r.data()["updateLead"]["completeness"], 4.0 / 11.0);
    assert_eq!(r.data()["updateLead"]["version"], 2);

    // Bulk upsert: created, then updated.
    let upsert = "mutation($r: [LeadUpsertInput!]!) { upsertLeads(records: $r) { results { id status } } }";
    let r = app
        .gql(Some(t), upsert, json!({ "r": [{ "externalId": "L-1", "lastName": "Porter", "city": "Austin" }] }))
        .await;
    let up = r.data()["upsertLeads"]["results"][0]["id"].as_str().unwrap().to_owned();
    assert_completeness(lead_completeness(&app, t, &up).await, 2.0 / 11.0, 1);
    let r =
        app.gql(Some(t), upsert, json!({ "r": [{ "externalId": "L-1", "title": "Manager", "state": "TX" }] })).await;
    assert_eq!(r.data()["upsertLeads"]["results"][0]["status"], "UPDATED");
    assert_completeness(lead_completeness(&app, t, &up).await, 4.0 / 11.0, 2);

    // Lead conversion copies into new records, each with its own completeness.
    let convert = "mutation($id: ID!) { convertLead(id: $id, input: { opportunityName: \"Deal\" }) {
        account { completeness } contact { completeness } opportunity { completeness } lead { completeness } } }";
    let r = app.gql(Some(t), convert, json!({ "id": id })).await;
    let converted = r.data()["convertLead"].clone();
    // The account: its name (from the lead's) and phone, of ten key fields.
    close(&converted["account"]["completeness"], 0.2);
    // The opportunity: name, stage and account, of five.
    close(&converted["opportunity"]["completeness"], 0.6);
    // firstName, lastName, email, phone and accountId: five of six (no title).
    close(&converted["contact"]["completeness"], 5.0 / 6.0);
    close(&converted["lead"]["completeness"], 4.0 / 11.0);

    // Activity completion keeps completeness current.
    let acc = create(&app, t, "createAccount", json!({ "name": "Initech" })).await;
    let act = create(
        &app,
        t,
        "createActivity",
        json!({ "kind": "call", "subject": "Call", "target": { "accountId": acc["id"] } }),
    )
    .await;
    close(&act["completeness"], 2.0 / 3.0);
    let r = app
        .gql(
            Some(t),
            "mutation($id: ID!) { completeActivity(id: $id) { completeness version } }",
            json!({ "id": act["id"] }),
        )
        .await;
    close(&r.data()["completeActivity"]["completeness"], 2.0 / 3.0);

    // A custom field as key field: values written, then removed by a forced deletion.
    let define = "mutation { createCustomField(input: { entity: \"Lead\", name: \"segment\", label: \"Segment\", type: TEXT }) { id } }";
    let field = app.gql(Some(t), define, json!({})).await.data()["createCustomField"]["id"].clone();
    set_keys(&app, &acme, "Lead", json!(["lastName", "segment"])).await;
    assert_completeness(lead_completeness(&app, t, &up).await, 0.5, 2);
    let r = app.gql(Some(t), update, json!({ "id": up, "i": { "customFields": { "segment": "SMB" } } })).await;
    close(&r.data()["updateLead"]["completeness"], 1.0);
    let del = "mutation($id: ID!) { deleteCustomField(id: $id, force: true) { name } }";
    app.gql(Some(t), del, json!({ "id": field })).await.data();
    let keys = app.gql(Some(t), "{ keyFields(entity: \"Lead\") }", json!({})).await;
    assert_eq!(keys.data()["keyFields"], json!(["lastName"]), "a deleted field leaves the list");
    assert_eq!(lead_completeness(&app, t, &up).await.0, 1.0);

    // Deleting and restoring keep the stored figure.
    app.gql(Some(t), "mutation($id: ID!) { deleteLead(id: $id) { id } }", json!({ "id": up })).await.data();
    let r = app.gql(Some(t), "mutation($id: ID!) { restoreLead(id: $id) { completeness } }", json!({ "id": up })).await;
    close(&r.data()["restoreLead"]["completeness"], 1.0);
}

async fn key_field_changes_recompute_this_tenant_only(app: TestApp) {
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let (a, g) = (acme.admin.token.as_str(), globex.admin.token.as_str());
    let full = create(&app, a, "createAccount", json!({ "name": "Initech", "city": "Lyon" })).await;
    let half = create(&app, a, "createAccount", json!({ "name": "Hooli" })).await;
    let other = create(&app, g, "createAccount", json!({ "name": "Globex", "city": "Paris" })).await;
    // Default account keys: ten fields.
    close(&full["completeness"], 0.2);
    close(&other["completeness"], 0.2);

    set_keys(&app, &acme, "Account", json!(["name", "city"])).await;
    let q = "{ accounts(orderBy: { field: NAME }) { nodes { name completeness version } } }";
    let r = app.gql(Some(a), q, json!({})).await;
    assert_eq!(
        r.data()["accounts"]["nodes"],
        json!([{ "name": "Hooli", "completeness": 0.5, "version": 1 }, { "name": "Initech", "completeness": 1.0, "version": 1 }])
    );
    let r = app.gql(Some(g), q, json!({})).await;
    assert_eq!(r.data()["accounts"]["nodes"], json!([{ "name": "Globex", "completeness": 0.2, "version": 1 }]));
    let keys = app.gql(Some(g), "{ keyFields(entity: \"Account\") }", json!({})).await;
    assert_eq!(keys.data()["keyFields"].as_array().unwrap().len(), 10, "globex keeps the defaults");

    // One trace for the list, none for the recomputed records.
    let traces = "{ traces(filter: { entityType: \"KeyFields\" }) { nodes { changeType before after } } }";
    let r = app.gql(Some(a), traces, json!({})).await;
    let nodes = r.data()["traces"]["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["changeType"], "UPDATE");
    assert_eq!(nodes[0]["after"], json!({ "entity": "Account", "fields": ["name", "city"] }));
    assert_eq!(nodes[0]["before"]["fields"].as_array().unwrap().len(), 10);
    let r = app
        .gql(
            Some(a),
            "query($id: ID!) { account(id: $id) { history { nodes { changeType } } } }",
            json!({ "id": half["id"] }),
        )
        .await;
    assert_eq!(r.data()["account"]["history"]["nodes"].as_array().unwrap().len(), 1);

    // The same list again changes nothing; an empty list makes every record complete.
    set_keys(&app, &acme, "Account", json!(["name", "city"])).await;
    assert_eq!(app.gql(Some(a), traces, json!({})).await.data()["traces"]["nodes"].as_array().unwrap().len(), 1);
    set_keys(&app, &acme, "Account", json!([])).await;
    let r = app.gql(Some(a), q, json!({})).await;
    assert_eq!(r.data()["accounts"]["nodes"][0]["completeness"], 1.0);
    assert_eq!(r.data()["accounts"]["nodes"][1]["completeness"], 1.0);
    let r = app.gql(Some(a), "{ metadata { name fields { name isKey } } }", json!({})).await;
    let contact = r.data()["metadata"].as_array().unwrap().iter().find(|e| e["name"] == "Contact").unwrap().clone();
    let email = contact["fields"].as_array().unwrap().iter().find(|f| f["name"] == "email").unwrap().clone();
    assert_eq!(email["isKey"], true);
    let account = r.data()["metadata"].as_array().unwrap().iter().find(|e| e["name"] == "Account").unwrap().clone();
    assert!(account["fields"].as_array().unwrap().iter().all(|f| f["isKey"] == false));
}

async fn custom_entities_and_custom_key_fields(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = Some(acme.admin.token.as_str());
    app.gql(t, "mutation { createEntity(name: \"Course\", label: \"Course\") { id } }", json!({})).await.data();
    for (name, required) in [("title", true), ("level", false)] {
        let q = "mutation($n: String!, $r: Boolean!) { createCustomField(input: { entity: \"Course\", name: $n, label: $n, type: TEXT, required: $r }) { id } }";
        app.gql(t, q, json!({ "n": name, "r": required })).await.data();
    }
    assert_eq!(app.gql(t, "{ keyFields(entity: \"Course\") }", json!({})).await.data()["keyFields"], json!([]));
    let create = "mutation($v: JSON) { createRecord(entity: \"Course\", input: { values: $v }) { id completeness } }";
    let r = app.gql(t, create, json!({ "v": { "title": "Rust 101" } })).await;
    assert_eq!(r.data()["createRecord"]["completeness"], 1.0, "no key fields: nothing is missing");
    let id = r.data()["createRecord"]["id"].clone();
    set_keys(&app, &acme, "Course", json!(["title", "level"])).await;
    let get = "query($id: ID!) { record(entity: \"Course\", id: $id) { completeness version } }";
    assert_eq!(
        app.gql(t, get, json!({ "id": id })).await.data()["record"],
        json!({ "completeness": 0.5, "version": 1 })
    );
    let upsert = "mutation($r: [RecordUpsertInput!]!) { upsertRecords(entity: \"Course\", records: $r) { results { id status } } }";
    let r =
        app.gql(t, upsert, json!({ "r": [{ "externalId": "C-2", "values": { "title": "Go", "level": "1" } }] })).await;
    let id2 = r.data()["upsertRecords"]["results"][0]["id"].clone();
    assert_eq!(app.gql(t, get, json!({ "id": id2 })).await.data()["record"]["completeness"], 1.0);
    let update = "mutation($id: ID!) { updateRecord(entity: \"Course\", id: $id, input: { values: { level: \"2\" } }) { completeness } }";
    assert_eq!(app.gql(t, update, json!({ "id": id })).await.data()["updateRecord"]["completeness"], 1.0);
    let r = app.gql(t, QUALITY, json!({ "e": "Course" })).await;
    let q = r.data()["dataQuality"].clone();
    assert_eq!(q["records"], 2);
    assert_eq!(
        q["fillRates"],
        json!([{ "field": "title", "filled": 2, "rate": 1.0 }, { "field": "level", "filled": 2, "rate": 1.0 }])
    );
    // A key field nobody filled, then deleted (no values, so no force): the
    // list loses it and the records count without it again.
    let room = "mutation { createCustomField(input: { entity: \"Course\", name: \"room\", label: \"Room\", type: TEXT }) { id } }";
    let room = app.gql(t, room, json!({})).await.data()["createCustomField"]["id"].clone();
    set_keys(&app, &acme, "Course", json!(["title", "room"])).await;
    assert_eq!(app.gql(t, get, json!({ "id": id })).await.data()["record"]["completeness"], 0.5);
    app.gql(t, "mutation($id: ID!) { deleteCustomField(id: $id) { name } }", json!({ "id": room })).await.data();
    assert_eq!(app.gql(t, "{ keyFields(entity: \"Course\") }", json!({})).await.data()["keyFields"], json!(["title"]));
    assert_eq!(app.gql(t, get, json!({ "id": id })).await.data()["record"]["completeness"], 1.0);

    // A deleted entity takes its list along: a new one of the same name has none.
    let tmp = app.gql(t, "mutation { createEntity(name: \"Tmp\", label: \"Tmp\") { id } }", json!({})).await;
    let tmp = tmp.data()["createEntity"]["id"].clone();
    let f = "mutation { createCustomField(input: { entity: \"Tmp\", name: \"code\", label: \"Code\", type: TEXT }) { id } }";
    app.gql(t, f, json!({})).await.data();
    set_keys(&app, &acme, "Tmp", json!(["code"])).await;
    app.gql(t, "mutation($id: ID!) { deleteEntity(id: $id) { name } }", json!({ "id": tmp })).await.data();
    app.gql(t, "mutation { createEntity(name: \"Tmp\", label: \"Tmp\") { id } }", json!({})).await.data();
    app.gql(t, f, json!({})).await.data();
    assert_eq!(app.gql(t, "{ keyFields(entity: \"Tmp\") }", json!({})).await.data()["keyFields"], json!([]));
}

async fn data_quality_figures_are_exact(app: TestApp) {
    let acme = app.tenant("acme").await;
    let sam = app.user(&acme, "Sam", "Sales").await;
    let a = acme.admin.token.as_str();
    set_keys(&app, &acme, "Contact", json!(["firstName", "email", "phone", "title"])).await;
    let people = [
        (a, json!({ "lastName": "A" })),
        (a, json!({ "lastName": "B", "firstName": "Bo" })),
        (a, json!({ "lastName": "C", "firstName": "Cy", "email": "cy@x.test" })),
        (
            sam.token.as_str(),
            json!({ "lastName": "D", "firstName": "Di", "email": "di@x.test", "phone": "+33 1 23 45 67 01" }),
        ),
        (
            sam.token.as_str(),
            json!({ "lastName": "E", "firstName": "Ed", "email": "ed@x.test", "phone": "+33 1 23 45 67 02", "title": "CEO" }),
        ),
        (
            a,
            json!({ "lastName": "F", "firstName": "Fi", "email": "fi@x.test", "phone": "+33 1 23 45 67 03", "title": "CTO" }),
        ),
    ];
    let mut ids = Vec::new();
    for (token, input) in people {
        ids.push(create(&app, token, "createContact", input).await["id"].clone());
    }
    // Deleted records leave the figures.
    app.gql(Some(a), "mutation($id: ID!) { deleteContact(id: $id) { id } }", json!({ "id": ids[5] })).await.data();
    // Another tenant's contacts never count.
    let globex = app.tenant("globex").await;
    create(&app, &globex.admin.token, "createContact", json!({ "lastName": "Z" })).await;
    // Title made required after the fact: the four without one miss it.
    let req = "mutation { setFieldRequired(entity: \"Contact\", field: \"title\", required: true) }";
    app.gql(Some(a), req, json!({})).await.data();

    let r = app.gql(Some(a), QUALITY, json!({ "e": "Contact" })).await;
    let q = r.data()["dataQuality"].clone();
    assert_eq!(q["entity"], "Contact");
    assert_eq!(q["records"], 5);
    close(&q["averageCompleteness"], 0.5);
    assert_eq!(
        q["distribution"],
        json!([
            { "min": 0.0, "max": 0.25, "records": 1 }, { "min": 0.25, "max": 0.5, "records": 1 },
            { "min": 0.5, "max": 0.75, "records": 1 }, { "min": 0.75, "max": 1.0, "records": 1 },
            { "min": 1.0, "max": 1.0, "records": 1 }
        ])
    );
    assert_eq!(
        q["fillRates"],
        json!([
            { "field": "firstName", "filled": 4, "rate": 0.8 }, { "field": "email", "filled": 3, "rate": 0.6 },
            { "field": "phone", "filled": 2, "rate": 0.4 }, { "field": "title", "filled": 1, "rate": 0.2 }
        ])
    );
    assert_eq!(q["missingRequired"], 4);
    let owners = q["owners"].as_array().unwrap();
    assert_eq!(owners.len(), 2);
    let admin = owners.iter().find(|o| o["ownerId"] == acme.admin.user_id.as_str()).unwrap();
    assert_eq!(admin["records"], 3);
    close(&admin["averageCompleteness"], 0.25);
    let own = owners.iter().find(|o| o["ownerId"] == sam.user_id.as_str()).unwrap();
    assert_eq!((own["records"].clone(), own["owner"]["email"].clone()), (json!(2), json!("sam@acme.test")));
    close(&own["averageCompleteness"], 0.875);

    // No records: zero counts, no average.
    let r = app.gql(Some(a), QUALITY, json!({ "e": "Opportunity" })).await;
    let q = r.data()["dataQuality"].clone();
    assert_eq!((q["records"].clone(), q["averageCompleteness"].clone()), (json!(0), Value::Null));
    assert_eq!(q["fillRates"][0], json!({ "field": "name", "filled": 0, "rate": 0.0 }));
}

async fn hidden_fields_leave_the_figures(app: TestApp) {
    let acme = app.tenant("acme").await;
    let sam = app.user(&acme, "Sam", "Sales").await;
    let a = acme.admin.token.as_str();
    let sales = app.profile_id(&acme, "Sales").await;
    let hide = "mutation($p: ID!) { setFieldAccess(profileId: $p, entity: \"Contact\", field: \"email\", access: HIDDEN) { access } }";
    app.gql(Some(a), hide, json!({ "p": sales })).await.data();
    let no_leads = "mutation($p: ID!) { setEntityAccess(profileId: $p, entity: \"Lead\", access: { canRead: false, canCreate: false, canUpdate: false, canDelete: false }) { entity } }";
    app.gql(Some(a), no_leads, json!({ "p": sales })).await.data();
    create(&app, a, "createContact", json!({ "lastName": "Lumbergh", "email": "bill@initech.test" })).await;
    create(&app, a, "createContact", json!({ "lastName": "Bill", "email": "bill@initech.test" })).await;

    let admin = app.gql(Some(a), QUALITY, json!({ "e": "Contact" })).await.data()["dataQuality"].clone();
    let seen = app.gql(Some(&sam.token), QUALITY, json!({ "e": "Contact" })).await.data()["dataQuality"].clone();
    let fields =
        |q: &Value| -> Vec<Value> { q["fillRates"].as_array().unwrap().iter().map(|f| f["field"].clone()).collect() };
    assert!(fields(&admin).contains(&json!("email")));
    assert!(!fields(&seen).contains(&json!("email")), "{seen}");
    assert_eq!(fields(&seen).len(), 5);
    assert_eq!(admin["averageCompleteness"], seen["averageCompleteness"], "the average stays");

    let dup = "query($e: String!) { probableDuplicates(entity: $e) { edges { node { key } } } }";
    app.gql(Some(&sam.token), dup, json!({ "e": "Contact" })).await.assert_code("FORBIDDEN");
    let r = app.gql(Some(a), dup, json!({ "e": "Contact" })).await;
    assert_eq!(r.data()["probableDuplicates"]["edges"][0]["node"]["key"], "bill@initech.test");
    // A list chosen by a hidden field is refused, not silently filtered.
    let hide = "mutation($p: ID!) { setFieldAccess(profileId: $p, entity: \"Opportunity\", field: \"closeDate\", access: HIDDEN) { access } }";
    app.gql(Some(a), hide, json!({ "p": sales })).await.data();
    let undated = "{ opportunitiesNeedingCloseDate { nodes { id } } }";
    app.gql(Some(&sam.token), undated, json!({})).await.assert_code("FORBIDDEN");
    app.gql(Some(a), undated, json!({})).await.data();
    app.gql(Some(&sam.token), "{ staleOpportunities { nodes { id } } }", json!({})).await.data();
    app.gql(Some(&sam.token), QUALITY, json!({ "e": "Lead" })).await.assert_code("NOT_FOUND");
    app.gql(Some(&sam.token), "{ keyFields(entity: \"Lead\") }", json!({})).await.assert_code("NOT_FOUND");
}

async fn opportunity(app: &TestApp, t: &str, account: &Value, name: &str, extra: Value) -> String {
    let mut input = json!({ "accountId": account, "name": name });
    input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    create(app, t, "createOpportunity", input).await["id"].as_str().unwrap().to_owned()
}

async fn stale_and_undated_opportunities(app: TestApp) {
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let t = acme.admin.token.as_str();
    let acc = create(&app, t, "createAccount", json!({ "name": "Initech" })).await["id"].clone();
    opportunity(&app, t, &acc, "Old", json!({})).await;
    opportunity(&app, t, &acc, "Fresh", json!({ "closeDate": "2999-01-01" })).await;
    opportunity(&app, t, &acc, "Won", json!({ "stage": "won" })).await;
    opportunity(&app, t, &acc, "Past", json!({ "closeDate": "2020-01-01" })).await;
    let gacc = create(&app, &globex.admin.token, "createAccount", json!({ "name": "G" })).await["id"].clone();
    opportunity(&app, &globex.admin.token, &gacc, "Foreign", json!({})).await;
    // Behind the API's back: stages that last moved on 2026-01-01.
    app.sql(
        "UPDATE opportunity SET stage_changed_at = '2026-01-01T00:00:00+00:00' WHERE name IN ('Old', 'Won', 'Foreign')",
    )
    .await
    .unwrap();

    let stale = "query($d: Int) { staleOpportunities(days: $d) { nodes { name } pageInfo { hasNextPage } } }";
    let names = |r: &crm_tests::Gql, list: &str| -> Vec<Value> {
        r.data()[list]["nodes"].as_array().unwrap().iter().map(|n| n["name"].clone()).collect()
    };
    assert_eq!(names(&app.gql(Some(t), stale, json!({})).await, "staleOpportunities"), vec![json!("Old")]);
    assert!(names(&app.gql(Some(t), stale, json!({ "d": 3650 })).await, "staleOpportunities").is_empty());
    // The tenant's threshold (set behind the API's back: another change exposes it).
    app.sql("UPDATE tenant SET stale_opportunity_days = 3000 WHERE slug = 'acme'").await.unwrap();
    assert!(names(&app.gql(Some(t), stale, json!({})).await, "staleOpportunities").is_empty());
    assert_eq!(names(&app.gql(Some(t), stale, json!({ "d": 1 })).await, "staleOpportunities"), vec![json!("Old")]);
    for bad in [0, 3651] {
        app.gql(Some(t), stale, json!({ "d": bad })).await.assert_invalid("days");
    }

    let undated = "{ opportunitiesNeedingCloseDate(first: 1) { nodes { name } pageInfo { hasNextPage endCursor } } }";
    let r = app.gql(Some(t), undated, json!({})).await;
    assert_eq!(names(&r, "opportunitiesNeedingCloseDate"), vec![json!("Past")]);
    assert_eq!(r.data()["opportunitiesNeedingCloseDate"]["pageInfo"]["hasNextPage"], true);
    let cursor = r.data()["opportunitiesNeedingCloseDate"]["pageInfo"]["endCursor"].clone();
    let next = "query($a: String) { opportunitiesNeedingCloseDate(first: 5, after: $a) { nodes { name } } }";
    let r = app.gql(Some(t), next, json!({ "a": cursor })).await;
    assert_eq!(names(&r, "opportunitiesNeedingCloseDate"), vec![json!("Old")]);
    app.gql(Some(t), "{ staleOpportunities(after: \"zz\") { nodes { id } } }", json!({})).await.assert_invalid("after");
}

async fn overdue_activities_by_owner(app: TestApp) {
    let acme = app.tenant("acme").await;
    let sam = app.user(&acme, "Sam", "Sales").await;
    let t = acme.admin.token.as_str();
    let acc = create(&app, t, "createAccount", json!({ "name": "Initech" })).await["id"].clone();
    let activity = |subject: &str, due: &str, owner: &str| json!({ "kind": "call", "subject": subject, "dueAt": due, "ownerId": owner, "target": { "accountId": acc } });
    create(&app, t, "createActivity", activity("Late", "2020-01-01T09:00:00Z", &acme.admin.user_id)).await;
    create(&app, t, "createActivity", activity("Later", "2020-02-01T09:00:00Z", &sam.user_id)).await;
    create(&app, t, "createActivity", activity("Future", "2999-01-01T09:00:00Z", &sam.user_id)).await;
    let done = create(&app, t, "createActivity", activity("Done", "2020-01-01T09:00:00Z", &sam.user_id)).await;
    app.gql(Some(t), "mutation($id: ID!) { completeActivity(id: $id) { id } }", json!({ "id": done["id"] }))
        .await
        .data();
    let gone = create(&app, t, "createActivity", activity("Gone", "2020-01-01T09:00:00Z", &sam.user_id)).await;
    app.gql(Some(t), "mutation($id: ID!) { deleteActivity(id: $id) { id } }", json!({ "id": gone["id"] })).await.data();

    let q = "query($o: ID) { overdueActivities(ownerId: $o) { totalCount nodes { subject } } overdueActivityCounts { ownerId count owner { email } } }";
    let r = app.gql(Some(t), q, json!({})).await;
    assert_eq!(r.data()["overdueActivities"]["nodes"], json!([{ "subject": "Late" }, { "subject": "Later" }]));
    assert_eq!(r.data()["overdueActivities"]["totalCount"], 2);
    let counts = r.data()["overdueActivityCounts"].as_array().unwrap().clone();
    assert_eq!(counts.len(), 2);
    assert!(counts.iter().all(|c| c["count"] == 1));
    assert!(counts.iter().any(|c| c["owner"]["email"] == "sam@acme.test"));
    let r = app.gql(Some(t), q, json!({ "o": sam.user_id })).await;
    assert_eq!(r.data()["overdueActivities"]["nodes"], json!([{ "subject": "Later" }]));
    app.gql(Some(t), q, json!({ "o": "nope" })).await.assert_invalid("ownerId");
    // Another tenant sees none of them.
    let globex = app.tenant("globex").await;
    let r = app.gql(Some(&globex.admin.token), q, json!({})).await;
    assert_eq!(r.data()["overdueActivities"]["totalCount"], 0);
    assert_eq!(r.data()["overdueActivityCounts"], json!([]));
}

async fn probable_duplicates_are_grouped(app: TestApp) {
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let t = acme.admin.token.as_str();
    for name in ["Acme, Inc.", "ACME  inc", "acme GmbH", "Acme Holdings", "Initech", "Initech LLC", "Hooli"] {
        create(&app, t, "createAccount", json!({ "name": name })).await;
    }
    create(&app, &globex.admin.token, "createAccount", json!({ "name": "Acme Ltd" })).await;
    for (last, email) in [("A", "Pat@X.test"), ("B", "pat@x.test"), ("C", "solo@x.test")] {
        create(&app, t, "createContact", json!({ "lastName": last, "email": email })).await;
    }
    create(&app, &globex.admin.token, "createContact", json!({ "lastName": "G", "email": "pat@x.test" })).await;
    for (last, email) in [("L1", "lead@x.test"), ("L2", "LEAD@x.test")] {
        create(&app, t, "createLead", json!({ "lastName": last, "email": email })).await;
    }

    let q = "query($e: String!, $f: Int, $a: String) { probableDuplicates(entity: $e, first: $f, after: $a) {
        edges { cursor node { key records { __typename ... on Account { name } ... on Contact { lastName } ... on Lead { lastName } } } }
        pageInfo { hasNextPage endCursor } } }";
    let r = app.gql(Some(t), q, json!({ "e": "Account" })).await;
    assert_eq!(
        r.data()["probableDuplicates"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .collect::<Vec<_>>(),
        vec![
            json!({ "key": "acme", "records": [
                { "__typename": "Account", "name": "Acme, Inc." }, { "__typename": "Account", "name": "ACME inc" },
                { "__typename": "Account", "name": "acme GmbH" }] }),
            json!({ "key": "initech", "records": [
                { "__typename": "Account", "name": "Initech" }, { "__typename": "Account", "name": "Initech LLC" }] }),
        ]
    );
    let r = app.gql(Some(t), q, json!({ "e": "Account", "f": 1 })).await;
    assert_eq!(r.data()["probableDuplicates"]["pageInfo"]["hasNextPage"], true);
    let after = r.data()["probableDuplicates"]["pageInfo"]["endCursor"].clone();
    let r = app.gql(Some(t), q, json!({ "e": "Account", "f": 1, "a": after })).await;
    assert_eq!(r.data()["probableDuplicates"]["edges"][0]["node"]["key"], "initech");
    assert_eq!(r.data()["probableDuplicates"]["pageInfo"]["hasNextPage"], false);

    let r = app.gql(Some(t), q, json!({ "e": "Contact" })).await;
    let edges = r.data()["probableDuplicates"]["edges"].clone();
    assert_eq!(edges.as_array().unwrap().len(), 1);
    assert_eq!(edges[0]["node"]["key"], "pat@x.test");
    assert_eq!(edges[0]["node"]["records"].as_array().unwrap().len(), 2, "globex's contact is not in it");
    let r = app.gql(Some(t), q, json!({ "e": "Lead" })).await;
    assert_eq!(r.data()["probableDuplicates"]["edges"][0]["node"]["records"].as_array().unwrap().len(), 2);
    let r = app.gql(Some(&globex.admin.token), q, json!({ "e": "Account" })).await;
    assert_eq!(r.data()["probableDuplicates"]["edges"], json!([]));
}

async fn bad_inputs_have_stable_codes(app: TestApp) {
    let acme = app.tenant("acme").await;
    let sam = app.user(&acme, "Sam", "Sales").await;
    let a = Some(acme.admin.token.as_str());
    app.gql(a, QUALITY, json!({ "e": "Nope" })).await.assert_invalid("entity");
    app.gql(a, "{ keyFields(entity: \"Nope\") }", json!({})).await.assert_invalid("entity");
    app.gql(a, SET_KEYS, json!({ "e": "Nope", "f": [] })).await.assert_invalid("entity");
    app.gql(a, SET_KEYS, json!({ "e": "Lead", "f": ["lastName", "shoeSize"] })).await.assert_invalid("fields");
    app.gql(a, SET_KEYS, json!({ "e": "Lead", "f": ["email", "email"] })).await.assert_invalid("fields");
    app.gql(a, SET_KEYS, json!({ "e": "Lead", "f": ["convertedAt"] })).await.assert_invalid("fields");
    app.gql(Some(&sam.token), SET_KEYS, json!({ "e": "Lead", "f": ["email"] })).await.assert_code("FORBIDDEN");
    let keys = app.gql(a, "{ keyFields(entity: \"Lead\") }", json!({})).await;
    assert_eq!(keys.data()["keyFields"].as_array().unwrap().len(), 11, "nothing was stored");
    let dup = "query($e: String!) { probableDuplicates(entity: $e) { edges { cursor } } }";
    app.gql(a, dup, json!({ "e": "Opportunity" })).await.assert_invalid("entity");
    app.gql(a, dup, json!({ "e": "Nope" })).await.assert_invalid("entity");
    app.gql(a, "{ probableDuplicates(entity: \"Account\", first: 0) { edges { cursor } } }", json!({}))
        .await
        .assert_invalid("first");
    // A custom entity named like the key-field traces is refused.
    app.gql(a, "mutation { createEntity(name: \"KeyFields\", label: \"x\") { id } }", json!({}))
        .await
        .assert_invalid("name");
}

/// The migration computes existing rows' completeness in SQL from the default
/// key fields: it must give what the server computes on write.
async fn migration_backfill_agrees_with_the_server(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let acc = create(
        &app,
        t,
        "createAccount",
        json!({ "name": "Initech", "type": "customer", "city": "Lyon", "email": "a@b.test" }),
    )
    .await;
    create(&app, t, "createAccount", json!({ "name": "Hooli", "website": "hooli.test", "country": "US" })).await;
    create(&app, t, "createContact", json!({ "lastName": "Gibbons", "accountId": acc["id"], "title": "Engineer" }))
        .await;
    create(
        &app,
        t,
        "createLead",
        json!({ "lastName": "Bolton", "company": "Initrode", "state": "TX", "postalCode": "78701" }),
    )
    .await;
    create(&app, t, "createOpportunity", json!({ "accountId": acc["id"], "name": "TPS", "amount": "10" })).await;
    create(
        &app,
        t,
        "createActivity",
        json!({ "kind": "call", "subject": "Call", "target": { "accountId": acc["id"] } }),
    )
    .await;
    create(&app, t, "createActivity", json!({ "kind": "call", "subject": "Due", "dueAt": "2026-12-01T09:00:00Z", "target": { "accountId": acc["id"] } })).await;
    let q = "{ accounts { nodes { id completeness } } contacts { nodes { id completeness } } leads { nodes { id completeness } }
        opportunities { nodes { id completeness } } activities { nodes { id completeness } } }";
    let written = app.gql(Some(t), q, json!({})).await.data().clone();
    for table in ["account", "contact", "lead", "opportunity", "activity"] {
        app.sql(&format!("UPDATE {table} SET completeness = 0")).await.unwrap();
    }
    for statement in migration::data_quality_backfill() {
        app.sql(&statement).await.unwrap();
    }
    let backfilled = app.gql(Some(t), q, json!({})).await.data().clone();
    assert_eq!(backfilled, written);
    assert_ne!(written["accounts"]["nodes"][0]["completeness"], 0.0);
}

async fn data_quality_changed_follows_writes(app: TestApp) {
    let acme = app.tenant("acme").await;
    let ana = app.user(&acme, "Ana", "Sales").await;
    let mut socket = app.socket(&ana.token).await;
    let query = "subscription { dataQualityChanged(entity: \"Lead\") { records averageCompleteness } }";
    socket.subscribe("q", query, json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let t = acme.admin.token.as_str();
    create(&app, t, "createLead", json!({ "lastName": "Gibbons", "company": "Initech" })).await;
    let seen = socket.next().await;
    let figures = &seen["payload"]["data"]["dataQualityChanged"];
    assert_eq!(figures["records"], 1, "{seen}");
    assert!((figures["averageCompleteness"].as_f64().unwrap() - 2.0 / 11.0).abs() < 1e-9, "{seen}");
    // A write that leaves the figures as they were sends nothing; so does another entity.
    create(&app, t, "createAccount", json!({ "name": "Initech" })).await;
    assert!(socket.next_within(std::time::Duration::from_millis(400)).await.is_none());
    // An entity the subscriber may not read is refused at once.
    let mut other = app.socket(&ana.token).await;
    other.subscribe("x", "subscription { dataQualityChanged(entity: \"Nope\") { records } }", json!({})).await;
    let refused = other.next().await;
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert_eq!(other.next().await["type"], "complete");
}

async fn stale_days_is_a_tenant_setting(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let set = "mutation($d: Int!) { updateTenantSettings(input: { staleOpportunityDays: $d }) { staleOpportunityDays timeZone } }";
    app.gql(Some(t), set, json!({ "d": 0 })).await.assert_invalid("staleOpportunityDays");
    let r = app.gql(Some(t), set, json!({ "d": 30 })).await;
    assert_eq!(r.data()["updateTenantSettings"], json!({ "staleOpportunityDays": 30, "timeZone": "UTC" }));
    let acc = create(&app, t, "createAccount", json!({ "name": "Initech" })).await["id"].clone();
    opportunity(&app, t, &acc, "Aging", json!({})).await;
    let twenty_days_ago = (chrono::Utc::now() - chrono::Duration::days(20)).to_rfc3339();
    app.sql(&format!("UPDATE opportunity SET stage_changed_at = '{twenty_days_ago}'")).await.unwrap();
    let stale = "{ staleOpportunities(first: 10) { nodes { name } } }";
    let r = app.gql(Some(t), stale, json!({})).await;
    assert_eq!(r.data()["staleOpportunities"]["nodes"], json!([]), "20 days is not stale at 30");
    app.gql(Some(t), set, json!({ "d": 14 })).await.data();
    let r = app.gql(Some(t), stale, json!({})).await;
    assert_eq!(r.data()["staleOpportunities"]["nodes"], json!([{ "name": "Aging" }]));
}
