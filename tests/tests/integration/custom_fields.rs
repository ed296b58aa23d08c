//! Custom fields: every type valid and invalid, filters, ordering, traces,
//! required fields, forced deletion, visibility, upserts, other tenants.

use crm_tests::serde_json::{Value, json};
use crm_tests::{TenantFixture, TestApp, db_tests};

db_tests!(
    custom_field_types_are_validated,
    custom_fields_filter_order_and_trace,
    custom_fields_follow_field_visibility,
    custom_field_definitions_are_checked_and_isolated,
);

const DEFINE: &str = "mutation($i: CreateCustomFieldInput!) { createCustomField(input: $i) { id name type required } }";
const CREATE: &str =
    "mutation($c: JSON) { createAccount(input: { name: \"Initech\", customFields: $c }) { id customFields } }";
const UPDATE: &str =
    "mutation($id: ID!, $c: JSON) { updateAccount(id: $id, input: { customFields: $c }) { version customFields } }";

async fn define(app: &TestApp, tenant: &TenantFixture, input: Value) -> String {
    let r = app.gql(Some(&tenant.admin.token), DEFINE, json!({ "i": input })).await;
    r.data()["createCustomField"]["id"].as_str().unwrap().to_owned()
}

/// One field of every type on Account.
async fn define_all(app: &TestApp, acme: &TenantFixture) {
    for (name, kind) in [
        ("code", "TEXT"),
        ("story", "LONG_TEXT"),
        ("fleetSize", "INTEGER"),
        ("revenue", "DECIMAL"),
        ("vip", "BOOLEAN"),
        ("since", "DATE"),
        ("lastAudit", "DATETIME"),
        ("billingEmail", "EMAIL"),
        ("hotline", "PHONE"),
        ("portal", "URL"),
    ] {
        define(app, acme, json!({ "entity": "Account", "name": name, "label": name, "type": kind })).await;
    }
    let options = json!([{ "key": "gold", "label": "Gold" }, { "key": "silver", "label": "Silver" }]);
    define(
        app,
        acme,
        json!({ "entity": "Account", "name": "tier", "label": "Tier", "type": "PICKLIST", "options": options }),
    )
    .await;
    let tags = json!([{ "key": "b2b", "label": "B2B" }, { "key": "public", "label": "Public sector" }, { "key": "eu", "label": "EU" }]);
    define(
        app,
        acme,
        json!({ "entity": "Account", "name": "tags", "label": "Tags", "type": "MULTI_PICKLIST", "options": tags }),
    )
    .await;
    define(app, acme, json!({ "entity": "Account", "name": "mainContact", "label": "Main contact", "type": "REFERENCE", "referenceTo": "Contact" })).await;
}

async fn contact(app: &TestApp, token: &str) -> String {
    let r =
        app.gql(Some(token), "mutation { createContact(input: { lastName: \"Gibbons\" }) { id } }", json!({})).await;
    r.data()["createContact"]["id"].as_str().unwrap().to_owned()
}

async fn custom_field_types_are_validated(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = Some(acme.admin.token.as_str());
    define_all(&app, &acme).await;
    let peter = contact(&app, &acme.admin.token).await;
    let values = json!({
        "code": "  A-1   7 ", "story": "Long\nstory", "fleetSize": 12, "revenue": "1234.5", "vip": true,
        "since": "2019-03-01", "lastAudit": "2026-05-01T10:00:00+02:00", "billingEmail": "Billing@Initech.TEST",
        "hotline": "+33 1 23 45 67", "portal": "portal.initech.test", "tier": "Gold", "tags": ["eu", "b2b", "eu"],
        "mainContact": peter,
    });
    let r = app.gql(t, CREATE, json!({ "c": values })).await;
    let created = r.data()["createAccount"].clone();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["customFields"],
        json!({
            "code": "A-1 7", "story": "Long\nstory", "fleetSize": 12, "revenue": "1234.5", "vip": true,
            "since": "2019-03-01", "lastAudit": "2026-05-01T08:00:00.000000Z", "billingEmail": "billing@initech.test",
            "hotline": "+3312345 67".replace(' ', ""), "portal": "https://portal.initech.test", "tier": "gold",
            "tags": ["b2b", "eu"], "mainContact": peter,
        })
    );

    // The typed accessor.
    let r = app
        .gql(
            t,
            "query($id: ID!) { account(id: $id) { r: field(name: \"revenue\") { type decimal value } t: field(name: \"tags\") { type options { key label } } d: field(name: \"lastAudit\") { datetime } c: field(name: \"mainContact\") { referenceId } } }",
            json!({ "id": id }),
        )
        .await;
    let a = r.data()["account"].clone();
    assert_eq!(a["r"], json!({ "type": "DECIMAL", "decimal": "1234.5", "value": "1234.5" }));
    assert_eq!(a["t"]["options"], json!([{ "key": "b2b", "label": "B2B" }, { "key": "eu", "label": "EU" }]));
    assert_eq!(a["d"]["datetime"], "2026-05-01T08:00:00+00:00");
    assert_eq!(a["c"]["referenceId"], peter.as_str());
    let r = app
        .gql(t, "query($id: ID!) { account(id: $id) { field(name: \"shoeSize\") { value } } }", json!({ "id": id }))
        .await;
    r.assert_code("BAD_USER_INPUT");

    // Every type refuses what it cannot hold, naming the field; nothing is written.
    let before = app.sql_count("SELECT COUNT(*) FROM account").await;
    for (field, bad) in [
        ("code", json!(12)),
        ("code", json!("x".repeat(256))),
        ("fleetSize", json!(1.5)),
        ("fleetSize", json!("many")),
        ("revenue", json!("1.23456")),
        ("revenue", json!("lots")),
        ("vip", json!("yes")),
        ("since", json!("2019-02-30")),
        ("since", json!("20190-01-01")),
        ("lastAudit", json!("yesterday")),
        ("billingEmail", json!("not-an-email")),
        ("hotline", json!("call me")),
        ("portal", json!("ftp://x.test")),
        ("tier", json!("platinum")),
        ("tags", json!(["eu", "mars"])),
        ("mainContact", json!("not-an-id")),
        ("mainContact", json!(id)),
        ("shoeSize", json!(42)),
    ] {
        let r = app.gql(t, CREATE, json!({ "c": { field: bad } })).await;
        r.assert_invalid(&format!("customFields.{field}"));
    }
    app.gql(t, CREATE, json!({ "c": [1, 2] })).await.assert_code("BAD_USER_INPUT");
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM account").await, before);

    // Updates change only the given values; null clears one.
    let r = app.gql(t, UPDATE, json!({ "id": id, "c": { "fleetSize": 13, "code": null } })).await;
    let u = r.data()["updateAccount"].clone();
    assert_eq!(u["version"], 2);
    assert_eq!(u["customFields"]["fleetSize"], 13);
    assert!(u["customFields"].get("code").is_none());
    assert_eq!(u["customFields"]["tier"], "gold");
    let same = app.gql(t, UPDATE, json!({ "id": id, "c": { "fleetSize": 13 } })).await;
    assert_eq!(same.data()["updateAccount"]["version"], 2, "an unchanged value writes nothing");
}

async fn custom_fields_filter_order_and_trace(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = Some(acme.admin.token.as_str());
    define_all(&app, &acme).await;
    let mut ids = Vec::new();
    for (name, fleet, tier, tags, since) in [
        ("Alpha", Some(5), "gold", json!(["eu"]), "2020-01-01"),
        ("Beta", Some(50), "silver", json!(["eu", "b2b"]), "2021-06-01"),
        ("Gamma", None, "silver", json!([]), "2022-01-01"),
    ] {
        let mut custom = json!({ "tier": tier, "tags": tags, "since": since, "code": format!("code-{name}") });
        if let Some(fleet) = fleet {
            custom["fleetSize"] = json!(fleet);
        }
        let r = app
            .gql(
                t,
                "mutation($n: String!, $c: JSON) { createAccount(input: { name: $n, customFields: $c }) { id } }",
                json!({ "n": name, "c": custom }),
            )
            .await;
        ids.push(r.data()["createAccount"]["id"].as_str().unwrap().to_owned());
    }
    let names = |r: &crm_tests::Gql| -> Vec<String> {
        r.data()["accounts"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let list =
        "query($f: AccountFilterInput, $o: AccountOrderBy) { accounts(filter: $f, orderBy: $o) { nodes { name } } }";
    for (filter, expected) in [
        (json!([{ "field": "tier", "equals": "Silver" }]), vec!["Beta", "Gamma"]),
        (json!([{ "field": "tags", "equals": "b2b" }]), vec!["Beta"]),
        (json!([{ "field": "tags", "equals": "eu" }]), vec!["Alpha", "Beta"]),
        (json!([{ "field": "tags", "equals": ["eu", "b2b"] }]), vec!["Beta"]),
        (json!([{ "field": "tags", "equals": ["b2b", "eu"] }]), vec!["Beta"]),
        (json!([{ "field": "fleetSize", "min": 10 }]), vec!["Beta"]),
        (json!([{ "field": "fleetSize", "max": 10 }]), vec!["Alpha"]),
        (json!([{ "field": "fleetSize", "present": false }]), vec!["Gamma"]),
        (json!([{ "field": "since", "min": "2021-01-01", "max": "2021-12-31" }]), vec!["Beta"]),
        (json!([{ "field": "code", "contains": "GAM" }]), vec!["Gamma"]),
        (json!([{ "field": "tier", "equals": "silver" }, { "field": "fleetSize", "present": true }]), vec!["Beta"]),
    ] {
        let r = app.gql(t, list, json!({ "f": { "custom": filter } })).await;
        assert_eq!(names(&r), expected, "{filter}");
    }
    let r =
        app.gql(t, list, json!({ "f": { "custom": [{ "field": "tier", "equals": "gold", "present": true }] } })).await;
    r.assert_invalid("filter.custom");
    let r = app.gql(t, list, json!({ "f": { "custom": [{ "field": "vip", "min": 1 }] } })).await;
    r.assert_invalid("filter.custom.vip");
    let r = app.gql(t, list, json!({ "f": { "custom": [{ "field": "nope", "equals": 1 }] } })).await;
    r.assert_invalid("filter.custom.nope");

    // Ordering: NULLs last both ways, like built-in fields.
    let r = app.gql(t, list, json!({ "o": { "customField": "fleetSize", "direction": "DESC" } })).await;
    assert_eq!(names(&r), ["Beta", "Alpha", "Gamma"]);
    let r = app.gql(t, list, json!({ "o": { "customField": "fleetSize" } })).await;
    assert_eq!(names(&r), ["Alpha", "Beta", "Gamma"]);
    app.gql(t, list, json!({ "o": { "customField": "fleetSize", "field": "NAME" } })).await.assert_invalid("orderBy");

    // Traces carry the values like built-in fields.
    let r = app.gql(t, UPDATE, json!({ "id": ids[0], "c": { "tier": "silver" } })).await;
    r.data();
    let h = app
        .gql(
            t,
            "query($id: ID!) { account(id: $id) { history { nodes { changeType before after } } } }",
            json!({ "id": ids[0] }),
        )
        .await;
    let nodes = h.data()["account"]["history"]["nodes"].clone();
    assert_eq!(nodes[0]["before"], json!({ "tier": "gold" }));
    assert_eq!(nodes[0]["after"], json!({ "tier": "silver" }));
    assert_eq!(nodes[1]["after"]["fleetSize"], 5);

    // Required: new and changed records must hold it.
    let defs = app.gql(t, "{ metadata { name fields { name custom required } } }", json!({})).await;
    let account = defs.data()["metadata"][0].clone();
    assert!(account["fields"].as_array().unwrap().iter().any(|f| f["name"] == "tier" && f["custom"] == true));
    let q = app.gql(t, "mutation($i: CreateCustomFieldInput!) { createCustomField(input: $i) { id } }", json!({ "i": { "entity": "Account", "name": "segment", "label": "Segment", "type": "TEXT", "required": true } })).await;
    let segment = q.data()["createCustomField"]["id"].as_str().unwrap().to_owned();
    app.gql(t, CREATE, json!({ "c": {} })).await.assert_invalid("customFields.segment");
    let r = app.gql(t, CREATE, json!({ "c": { "segment": "SMB" } })).await;
    let with_segment = r.data()["createAccount"]["id"].as_str().unwrap().to_owned();
    app.gql(t, UPDATE, json!({ "id": with_segment, "c": { "segment": null } }))
        .await
        .assert_invalid("customFields.segment");
    let r = app.gql(t, "mutation($id: ID!) { updateCustomField(id: $id, required: false, label: \"Market segment\") { label required } }", json!({ "id": segment })).await;
    assert_eq!(r.data()["updateCustomField"], json!({ "label": "Market segment", "required": false }));

    // Deleting a field that holds data needs force; the trace keeps the values.
    let del = "mutation($id: ID!, $f: Boolean) { deleteCustomField(id: $id, force: $f) { name } }";
    app.gql(t, del, json!({ "id": segment })).await.assert_code("CONFLICT");
    let r = app.gql(t, del, json!({ "id": segment, "f": true })).await;
    assert_eq!(r.data()["deleteCustomField"]["name"], "segment");
    let r = app
        .gql(t, "query($id: ID!) { account(id: $id) { version customFields } }", json!({ "id": with_segment }))
        .await;
    assert_eq!(r.data()["account"], json!({ "version": 2, "customFields": {} }));
    let traces = app
        .gql(
            t,
            "{ traces(filter: { entityType: \"FieldDefinition\" }, first: 1) { nodes { changeType before } } }",
            json!({}),
        )
        .await;
    let node = traces.data()["traces"]["nodes"][0].clone();
    assert_eq!(node["changeType"], "DELETE");
    assert_eq!(node["before"]["removedValues"][&with_segment], "SMB");
}

async fn custom_fields_follow_field_visibility(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = Some(acme.admin.token.as_str());
    define_all(&app, &acme).await;
    let sales = app.user(&acme, "Sam", "Sales").await;
    let s = Some(sales.token.as_str());
    let r = app.gql(t, CREATE, json!({ "c": { "revenue": "99.5", "fleetSize": 3 } })).await;
    let id = r.data()["createAccount"]["id"].as_str().unwrap().to_owned();
    let profiles = app.gql(t, "{ profiles { id name } }", json!({})).await;
    let sales_profile =
        profiles.data()["profiles"].as_array().unwrap().iter().find(|p| p["name"] == "Sales").unwrap()["id"].clone();
    let set = "mutation($p: ID!, $f: String!, $a: FieldAccessLevel!) { setFieldAccess(profileId: $p, entity: \"Account\", field: $f, access: $a) { access } }";
    app.gql(t, set, json!({ "p": sales_profile, "f": "revenue", "a": "HIDDEN" })).await.data();
    app.gql(t, set, json!({ "p": sales_profile, "f": "fleetSize", "a": "READ" })).await.data();

    let r = app
        .gql(
            s,
            "query($id: ID!) { account(id: $id) { customFields f: field(name: \"fleetSize\") { integer } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(r.data()["account"]["customFields"], json!({ "fleetSize": 3 }));
    assert_eq!(r.data()["account"]["f"]["integer"], 3);
    let r = app
        .gql(
            s,
            "query($id: ID!) { account(id: $id) { name x: field(name: \"revenue\") { decimal } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(r.codes(), ["FORBIDDEN"]);
    assert_eq!(r.body["data"]["account"], json!({ "name": "Initech", "x": null }), "null, not a missing key");
    assert_eq!(r.body["errors"][0]["path"], json!(["account", "x"]));
    assert!(!r.body.to_string().contains("99.5"));
    let list = "query($f: AccountFilterInput, $o: AccountOrderBy) { accounts(filter: $f, orderBy: $o) { totalCount } }";
    app.gql(s, list, json!({ "f": { "custom": [{ "field": "revenue", "min": 90 }] } })).await.assert_invalid("filter");
    app.gql(s, list, json!({ "o": { "customField": "revenue" } })).await.assert_invalid("orderBy");
    let r = app.gql(s, UPDATE, json!({ "id": id, "c": { "revenue": "1" } })).await;
    r.assert_code("FORBIDDEN");
    assert_eq!(r.error_field(), Some("customFields.revenue"));
    app.gql(s, UPDATE, json!({ "id": id, "c": { "fleetSize": 4 } })).await.assert_code("FORBIDDEN");
    let h =
        app.gql(s, "query($id: ID!) { account(id: $id) { history { nodes { after } } } }", json!({ "id": id })).await;
    assert!(!h.data().to_string().contains("99.5"), "{}", h.body);
    assert!(h.data().to_string().contains("fleetSize"));
    let m = app.gql(s, "{ metadata { name fields { name access custom } } }", json!({})).await;
    let fields = m.data()["metadata"][0]["fields"].clone();
    assert!(!fields.to_string().contains("revenue"));
    assert!(
        fields
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "fleetSize" && f["access"] == "READ" && f["custom"] == true)
    );
    let rules = app.gql(t, "{ profiles { name access { entity fields { field access } } } }", json!({})).await;
    let sales_rules =
        rules.data()["profiles"].as_array().unwrap().iter().find(|p| p["name"] == "Sales").unwrap().clone();
    assert!(sales_rules.to_string().contains("{\"field\":\"revenue\",\"access\":\"HIDDEN\"}"), "{sales_rules}");

    // Bulk upserts take custom values too, under the same rules.
    let owner = sales.user_id.clone();
    let r = app
        .gql(
            t,
            "mutation($r: [AccountUpsertInput!]!) { upsertAccounts(records: $r) { results { status field } } }",
            json!({ "r": [
                { "externalId": "A-1", "ownerId": owner, "name": "Hooli", "customFields": { "tier": "gold" } },
                { "externalId": "A-2", "ownerId": owner, "name": "Pied Piper", "customFields": { "tier": "bronze" } },
            ] }),
        )
        .await;
    assert_eq!(
        r.data()["upsertAccounts"]["results"],
        json!([{ "status": "CREATED", "field": null }, { "status": "FAILED", "field": "customFields.tier" }])
    );
}

async fn custom_field_definitions_are_checked_and_isolated(app: TestApp) {
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let t = Some(acme.admin.token.as_str());
    for (input, field) in [
        (json!({ "entity": "Account", "name": "name", "label": "x", "type": "TEXT" }), "name"),
        (json!({ "entity": "Account", "name": "Bad-Name", "label": "x", "type": "TEXT" }), "name"),
        (json!({ "entity": "Account", "name": "customFields", "label": "x", "type": "TEXT" }), "name"),
        // A trace key of a built-in field (the activity's target) is taken too.
        (json!({ "entity": "Activity", "name": "accountId", "label": "x", "type": "TEXT" }), "name"),
        (json!({ "entity": "Spaceship", "name": "warp", "label": "x", "type": "TEXT" }), "entity"),
        (json!({ "entity": "Account", "name": "tier", "label": "x", "type": "PICKLIST" }), "options"),
        (json!({ "entity": "Account", "name": "ref", "label": "x", "type": "REFERENCE" }), "referenceTo"),
        (
            json!({ "entity": "Account", "name": "ref", "label": "x", "type": "TEXT", "referenceTo": "Contact" }),
            "referenceTo",
        ),
        (json!({ "entity": "Account", "name": "code", "label": " ", "type": "TEXT" }), "label"),
    ] {
        app.gql(t, DEFINE, json!({ "i": input })).await.assert_invalid(field);
    }
    let id = define(&app, &acme, json!({ "entity": "Account", "name": "code", "label": "Code", "type": "TEXT" })).await;
    app.gql(t, DEFINE, json!({ "i": { "entity": "Account", "name": "code", "label": "Code", "type": "TEXT" } }))
        .await
        .assert_code("CONFLICT");
    let contact_ref = json!({ "entity": "Account", "name": "mainContact", "label": "Main", "type": "REFERENCE", "referenceTo": "Contact" });
    define(&app, &acme, contact_ref).await;

    // Another tenant: no such field, no such definition, no reference to our records.
    let g = Some(globex.admin.token.as_str());
    let r = app.gql(g, CREATE, json!({ "c": { "code": "x" } })).await;
    r.assert_invalid("customFields.code");
    app.gql(g, "mutation($id: ID!) { deleteCustomField(id: $id) { id } }", json!({ "id": id }))
        .await
        .assert_code("NOT_FOUND");
    app.gql(g, "mutation($id: ID!) { updateCustomField(id: $id, label: \"Mine\") { id } }", json!({ "id": id }))
        .await
        .assert_code("NOT_FOUND");
    let theirs = contact(&app, &globex.admin.token).await;
    app.gql(t, CREATE, json!({ "c": { "mainContact": theirs } })).await.assert_invalid("customFields.mainContact");
    let r = app.gql(g, "{ metadata { fields { name } } }", json!({})).await;
    assert!(!r.data().to_string().contains("\"code\""));

    // Admins only.
    let sales = app.user(&acme, "Sam", "Sales").await;
    app.gql(
        Some(&sales.token),
        DEFINE,
        json!({ "i": { "entity": "Lead", "name": "score", "label": "Score", "type": "INTEGER" } }),
    )
    .await
    .assert_code("FORBIDDEN");
    let traces = app
        .gql(t, "{ traces(filter: { entityType: \"FieldDefinition\" }) { nodes { changeType after } } }", json!({}))
        .await;
    assert_eq!(traces.data()["traces"]["nodes"][1]["after"]["name"], "code");
}

db_tests!(required_fields_and_dependent_picklists_hold_on_every_write);

async fn required_fields_and_dependent_picklists_hold_on_every_write(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = Some(acme.admin.token.as_str());
    let old = app.gql(t, "mutation { createAccount(input: { name: \"Old\" }) { id } }", json!({})).await;
    let old = old.data()["createAccount"]["id"].as_str().unwrap().to_owned();
    let required =
        "mutation($e: String!, $f: String!, $r: Boolean!) { setFieldRequired(entity: $e, field: $f, required: $r) }";
    assert_eq!(
        app.gql(t, required, json!({ "e": "Account", "f": "phone", "r": true })).await.data()["setFieldRequired"],
        true
    );
    app.gql(t, required, json!({ "e": "Account", "f": "name", "r": false })).await.assert_invalid("field");
    app.gql(t, required, json!({ "e": "Lead", "f": "convertedAt", "r": true })).await.assert_invalid("field");
    app.gql(t, required, json!({ "e": "Account", "f": "nope", "r": true })).await.assert_invalid("field");
    let sales = app.user(&acme, "Sam", "Sales").await;
    app.gql(Some(&sales.token), required, json!({ "e": "Account", "f": "city", "r": true }))
        .await
        .assert_code("FORBIDDEN");

    // New records need it; old ones can still change other fields, not clear it.
    app.gql(t, "mutation { createAccount(input: { name: \"Hooli\" }) { id } }", json!({}))
        .await
        .assert_invalid("phone");
    let r = app
        .gql(t, "mutation { createAccount(input: { name: \"Hooli\", phone: \"+331234567\" }) { id } }", json!({}))
        .await;
    let hooli = r.data()["createAccount"]["id"].as_str().unwrap().to_owned();
    let upd = "mutation($id: ID!, $i: UpdateAccountInput!) { updateAccount(id: $id, input: $i) { version } }";
    app.gql(t, upd, json!({ "id": old, "i": { "city": "Lyon" } })).await.data();
    app.gql(t, upd, json!({ "id": hooli, "i": { "phone": null } })).await.assert_invalid("phone");
    let m = app.gql(t, "{ metadata { name fields { name required } } }", json!({})).await;
    let account = m.data()["metadata"][0]["fields"].as_array().unwrap().clone();
    assert!(account.iter().any(|f| f["name"] == "phone" && f["required"] == true));
    app.gql(t, required, json!({ "e": "Account", "f": "phone", "r": false })).await.data();
    app.gql(t, "mutation { createAccount(input: { name: \"Pied Piper\" }) { id } }", json!({})).await.data();

    // A dependent multi-picklist limited by a custom picklist, both custom.
    let industry = json!([{ "key": "tech", "label": "Tech" }, { "key": "retail", "label": "Retail" }]);
    define(&app, &acme, json!({ "entity": "Account", "name": "industry", "label": "Industry", "type": "PICKLIST", "options": industry })).await;
    let sub = json!([{ "key": "saas", "label": "SaaS" }, { "key": "hardware", "label": "Hardware" }, { "key": "grocery", "label": "Grocery" }]);
    define(&app, &acme, json!({ "entity": "Account", "name": "subSector", "label": "Sub-sector", "type": "MULTI_PICKLIST", "options": sub })).await;
    let depend = "mutation($e: String!, $f: String!, $c: String, $r: [OptionDependencyInput!]) { setPicklistDependency(entity: $e, field: $f, controllingField: $c, rules: $r) }";
    let rules = json!([{ "controllingKey": "tech", "allowedKeys": ["saas", "hardware"] }, { "controllingKey": "retail", "allowedKeys": ["grocery"] }]);
    app.gql(t, depend, json!({ "e": "Account", "f": "subSector", "c": "industry", "r": rules })).await.data();
    app.gql(t, depend, json!({ "e": "Account", "f": "subSector", "c": "subSector", "r": [] }))
        .await
        .assert_invalid("controllingField");
    app.gql(t, depend, json!({ "e": "Account", "f": "subSector", "c": "industry", "r": [{ "controllingKey": "mining", "allowedKeys": [] }] }))
        .await
        .assert_invalid("rules.controllingKey");
    app.gql(t, depend, json!({ "e": "Account", "f": "name", "c": "industry", "r": [] })).await.assert_invalid("field");

    let r = app.gql(t, CREATE, json!({ "c": { "industry": "tech", "subSector": ["saas", "grocery"] } })).await;
    r.assert_invalid("subSector");
    let r = app.gql(t, CREATE, json!({ "c": { "industry": "tech", "subSector": ["saas"] } })).await;
    let id = r.data()["createAccount"]["id"].as_str().unwrap().to_owned();
    app.gql(t, UPDATE, json!({ "id": id, "c": { "industry": "retail" } })).await.assert_invalid("subSector");
    let r = app.gql(t, UPDATE, json!({ "id": id, "c": { "industry": "retail", "subSector": ["grocery"] } })).await;
    assert_eq!(r.data()["updateAccount"]["customFields"]["subSector"], json!(["grocery"]));

    // Built-in picklists too, and bulk upserts obey the same rule.
    let kinds = json!([{ "controllingKey": "email", "allowedKeys": ["successful", "no_answer"] }]);
    app.gql(t, depend, json!({ "e": "Activity", "f": "result", "c": "kind", "r": kinds })).await.data();
    let c = app.gql(t, "mutation { createContact(input: { lastName: \"Gibbons\" }) { id } }", json!({})).await;
    let contact = c.data()["createContact"]["id"].as_str().unwrap().to_owned();
    let r = app
        .gql(t, "mutation($c: ID!) { createActivity(input: { kind: \"email\", subject: \"Hi\", target: { contactId: $c } }) { id } }", json!({ "c": contact }))
        .await;
    let activity = r.data()["createActivity"]["id"].as_str().unwrap().to_owned();
    let r = app
        .gql(
            t,
            "mutation($id: ID!) { completeActivity(id: $id, result: \"rescheduled\") { id } }",
            json!({ "id": activity }),
        )
        .await;
    r.assert_invalid("result");
    let m = app
        .gql(
            t,
            "{ metadata { name fields { name controllingField dependencies { controllingKey allowedKeys } } } }",
            json!({}),
        )
        .await;
    let activity_meta =
        m.data()["metadata"].as_array().unwrap().iter().find(|e| e["name"] == "Activity").unwrap().clone();
    let result = activity_meta["fields"].as_array().unwrap().iter().find(|f| f["name"] == "result").unwrap().clone();
    assert_eq!(result["controllingField"], "kind");
    assert_eq!(result["dependencies"], kinds);
    let r = app
        .gql(
            t,
            "mutation($r: [AccountUpsertInput!]!) { upsertAccounts(records: $r) { results { status field } } }",
            json!({ "r": [{ "externalId": "X-1", "name": "Bulk", "customFields": { "industry": "retail", "subSector": ["saas"] } }] }),
        )
        .await;
    assert_eq!(r.data()["upsertAccounts"]["results"], json!([{ "status": "FAILED", "field": "subSector" }]));
    // Removing the limit; every rule change is traced.
    app.gql(t, depend, json!({ "e": "Account", "f": "subSector", "c": null })).await.data();
    app.gql(t, UPDATE, json!({ "id": id, "c": { "subSector": ["saas"] } })).await.data();
    let traces = app.gql(t, "{ traces(filter: { entityType: \"FieldRule\" }) { nodes { after } } }", json!({})).await;
    let nodes = traces.data()["traces"]["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 5, "{nodes:?}");
    assert_eq!(nodes[0]["after"]["field"], "subSector");
}
