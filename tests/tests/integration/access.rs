//! Profiles and field visibility: what a profile hides never leaks, through
//! selections, aliases, fragments, nesting, filters, orderings, history, the
//! change feed, metadata or writes; admins' changes apply on the next request.

use crm_tests::serde_json::{Value, json};
use crm_tests::{Session, TenantFixture, TestApp, db_tests};

db_tests!(
    hidden_fields_never_leak,
    read_only_fields_cannot_be_written,
    entity_rights_apply_on_the_next_request,
    profiles_are_administered_and_traced,
    picklists_are_edited_without_rewriting_records,
);

const SET_FIELD: &str = "mutation($p: ID!, $e: String!, $f: String!, $a: FieldAccessLevel!) { setFieldAccess(profileId: $p, entity: $e, field: $f, access: $a) { field access } }";
const SET_ENTITY: &str = "mutation($p: ID!, $e: String!, $a: EntityAccessInput!) { setEntityAccess(profileId: $p, entity: $e, access: $a) { entity canRead canCreate canUpdate canDelete } }";

async fn profile_id(app: &TestApp, tenant: &TenantFixture, name: &str) -> String {
    let r = app.gql(Some(&tenant.admin.token), "{ profiles { id name } }", json!({})).await;
    let profiles = r.data()["profiles"].as_array().unwrap().clone();
    profiles.iter().find(|p| p["name"] == name).unwrap()["id"].as_str().unwrap().to_owned()
}

async fn set_field(app: &TestApp, tenant: &TenantFixture, profile: &str, entity: &str, field: &str, access: &str) {
    let r = app
        .gql(Some(&tenant.admin.token), SET_FIELD, json!({ "p": profile, "e": entity, "f": field, "a": access }))
        .await;
    assert_eq!(r.data()["setFieldAccess"]["access"], access);
}

fn all(read: bool, create: bool, update: bool, delete: bool) -> Value {
    json!({ "canRead": read, "canCreate": create, "canUpdate": update, "canDelete": delete })
}

/// Acme with an account and a contact (email and phone set), and a Sales user.
async fn setup(app: &TestApp) -> (TenantFixture, Session, String, String, String) {
    let acme = app.tenant("acme").await;
    let sales = app.user(&acme, "Sam", "Sales").await;
    let t = acme.admin.token.as_str();
    let a = app.gql(Some(t), "mutation { createAccount(input: { name: \"Initech\" }) { id } }", json!({})).await;
    let account = a.data()["createAccount"]["id"].as_str().unwrap().to_owned();
    let c = app
        .gql(
            Some(t),
            "mutation($a: ID!) { createContact(input: { accountId: $a, lastName: \"Gibbons\", email: \"peter@initech.test\", phone: \"+331234\" }) { id } }",
            json!({ "a": account }),
        )
        .await;
    let contact = c.data()["createContact"]["id"].as_str().unwrap().to_owned();
    let profile = profile_id(app, &acme, "Sales").await;
    (acme, sales, profile, account, contact)
}

fn error_paths(r: &crm_tests::Gql, code: &str) -> Vec<Value> {
    r.body["errors"]
        .as_array()
        .map(|errors| errors.iter().filter(|e| e["extensions"]["code"] == code).map(|e| e["path"].clone()).collect())
        .unwrap_or_default()
}

async fn hidden_fields_never_leak(app: TestApp) {
    let (acme, sales, profile, account, contact) = setup(&app).await;
    let s = Some(sales.token.as_str());
    set_field(&app, &acme, &profile, "Contact", "email", "HIDDEN").await;

    // Selected directly, through an alias, a fragment and a nested list: null,
    // with a FORBIDDEN error on each path; the rest of the response is there.
    let r = app
        .gql(
            s,
            "query($id: ID!, $a: ID!) {
               contact(id: $id) { lastName email mail: email ...F }
               account(id: $a) { name contacts { lastName email } }
               contacts(first: 5) { nodes { ... on Contact { email } phone } }
             }
             fragment F on Contact { fragmentEmail: email }",
            json!({ "id": contact, "a": account }),
        )
        .await;
    let data = &r.body["data"];
    assert_eq!(data["contact"]["lastName"], "Gibbons");
    assert_eq!(data["contact"], json!({ "lastName": "Gibbons", "email": null, "mail": null, "fragmentEmail": null }));
    assert!(data["contact"]["fragmentEmail"].is_null());
    assert_eq!(data["account"]["contacts"][0]["lastName"], "Gibbons");
    assert!(data["account"]["contacts"][0]["email"].is_null());
    assert!(data["contacts"]["nodes"][0]["email"].is_null());
    assert_eq!(data["contacts"]["nodes"][0]["phone"], "+331234");
    assert!(!r.body.to_string().contains("peter@initech.test"), "{}", r.body);
    let mut paths = error_paths(&r, "FORBIDDEN");
    paths.sort_by_key(Value::to_string);
    let mut expected = vec![
        json!(["contact", "email"]),
        json!(["contact", "mail"]),
        json!(["contact", "fragmentEmail"]),
        json!(["account", "contacts", 0, "email"]),
        json!(["contacts", "nodes", 0, "email"]),
    ];
    expected.sort_by_key(Value::to_string);
    assert_eq!(paths, expected, "{}", r.body);

    // Filters and orderings on it are refused rather than answered.
    for filter in [json!({ "email": "peter@initech.test" }), json!({ "emailContains": "peter" })] {
        let r = app
            .gql(s, "query($f: ContactFilterInput) { contacts(filter: $f) { totalCount } }", json!({ "f": filter }))
            .await;
        r.assert_invalid("filter");
    }
    let r = app.gql(s, "{ contacts(orderBy: { field: EMAIL }) { nodes { id } } }", json!({})).await;
    r.assert_invalid("orderBy");

    // History and the change feed leave the value out.
    let h = app
        .gql(
            s,
            "query($id: ID!) { contact(id: $id) { history { nodes { changeType after } } } }",
            json!({ "id": contact }),
        )
        .await;
    let after = &h.data()["contact"]["history"]["nodes"][0]["after"];
    assert_eq!(after["lastName"], "Gibbons");
    assert!(after.get("email").is_none(), "{after}");
    // The entry's hash would let a reader test guesses of the hidden value.
    let hash = "query($id: ID!) { contact(id: $id) { history { nodes { hash } } } }";
    let h = app.gql(s, hash, json!({ "id": contact })).await;
    assert!(h.data()["contact"]["history"]["nodes"][0]["hash"].is_null());
    let h = app.gql(Some(&acme.admin.token), hash, json!({ "id": contact })).await;
    assert!(h.data()["contact"]["history"]["nodes"][0]["hash"].is_string());
    let feed = app.gql(s, "{ changes(entities: [\"Contact\"]) { changes { after } } }", json!({})).await;
    assert!(!feed.data().to_string().contains("peter@initech.test"));
    let traces = app.gql(s, "{ traces { nodes { before after } } }", json!({})).await;
    assert!(!traces.data().to_string().contains("peter@initech.test"));

    // Writing it is FORBIDDEN, even with the value it already holds (which would
    // otherwise confirm a guess), and nothing of the mutation is written.
    let before = app.sql_count("SELECT COUNT(*) FROM contact").await;
    let r = app
        .gql(
            s,
            "mutation { createContact(input: { lastName: \"Lumbergh\", email: \"bill@initech.test\" }) { id } }",
            json!({}),
        )
        .await;
    r.assert_code("FORBIDDEN");
    assert_eq!(r.error_field(), Some("email"));
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM contact").await, before);
    let r = app
        .gql(
            s,
            "mutation($id: ID!) { updateContact(id: $id, input: { title: \"Boss\", email: \"peter@initech.test\" }) { id } }",
            json!({ "id": contact }),
        )
        .await;
    r.assert_code("FORBIDDEN");
    let title = app.gql(s, "query($id: ID!) { contact(id: $id) { title version } }", json!({ "id": contact })).await;
    assert_eq!(title.data()["contact"], json!({ "title": null, "version": 1 }));

    // Metadata does not list it; the admin still sees everything.
    let m = app.gql(s, "{ metadata { name fields { name access } } }", json!({})).await;
    let contact_meta =
        m.data()["metadata"].as_array().unwrap().iter().find(|e| e["name"] == "Contact").unwrap().clone();
    let names: Vec<&str> =
        contact_meta["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(!names.contains(&"email") && names.contains(&"lastName"), "{names:?}");
    let r = app
        .gql(Some(&acme.admin.token), "query($id: ID!) { contact(id: $id) { email } }", json!({ "id": contact }))
        .await;
    assert_eq!(r.data()["contact"]["email"], "peter@initech.test");
}

async fn read_only_fields_cannot_be_written(app: TestApp) {
    let (acme, sales, profile, _account, contact) = setup(&app).await;
    let s = Some(sales.token.as_str());
    set_field(&app, &acme, &profile, "Contact", "phone", "READ").await;
    let r = app.gql(s, "query($id: ID!) { contact(id: $id) { phone } }", json!({ "id": contact })).await;
    assert_eq!(r.data()["contact"]["phone"], "+331234", "READ fields are shown");
    let r = app
        .gql(
            s,
            "mutation($id: ID!) { updateContact(id: $id, input: { phone: \"+339999\" }) { id } }",
            json!({ "id": contact }),
        )
        .await;
    r.assert_code("FORBIDDEN");
    assert_eq!(r.error_field(), Some("phone"));
    let r = app
        .gql(
            s,
            "mutation($id: ID!) { updateContact(id: $id, input: { title: \"CTO\" }) { title } }",
            json!({ "id": contact }),
        )
        .await;
    assert_eq!(r.data()["updateContact"]["title"], "CTO", "the other fields stay writable");

    // A bulk upsert fails just the record that writes it.
    let token = app
        .gql(
            Some(&acme.admin.token),
            "mutation($p: ID!) { createApiToken(name: \"ERP\", profileId: $p) { token } }",
            json!({ "p": profile }),
        )
        .await;
    let token = token.data()["createApiToken"]["token"].as_str().unwrap().to_owned();
    let owner = sales.user_id.clone();
    let r = app
        .gql(
            Some(&token),
            "mutation($r: [ContactUpsertInput!]!) { upsertContacts(records: $r) { results { status field } } }",
            json!({ "r": [
                { "externalId": "C-1", "ownerId": owner, "lastName": "Bolton" },
                { "externalId": "C-2", "ownerId": owner, "lastName": "Waddams", "phone": "+331111" },
            ] }),
        )
        .await;
    let results = r.data()["upsertContacts"]["results"].clone();
    assert_eq!(results, json!([{ "status": "CREATED", "field": null }, { "status": "FAILED", "field": "phone" }]));

    let m = app.gql(s, "{ metadata { name fields { name access } } }", json!({})).await;
    let contact_meta =
        m.data()["metadata"].as_array().unwrap().iter().find(|e| e["name"] == "Contact").unwrap().clone();
    let phone = contact_meta["fields"].as_array().unwrap().iter().find(|f| f["name"] == "phone").unwrap().clone();
    assert_eq!(phone["access"], "READ");
}

async fn entity_rights_apply_on_the_next_request(app: TestApp) {
    let (acme, sales, profile, account, contact) = setup(&app).await;
    let s = Some(sales.token.as_str());
    let t = Some(acme.admin.token.as_str());
    let read = "query($id: ID!) { contact(id: $id) { lastName } }";
    assert_eq!(app.gql(s, read, json!({ "id": contact })).await.data()["contact"]["lastName"], "Gibbons");

    let r = app.gql(t, SET_ENTITY, json!({ "p": profile, "e": "Contact", "a": all(false, false, false, false) })).await;
    assert_eq!(r.data()["setEntityAccess"]["canRead"], false);
    // The very next request sees the change: every way in is NOT_FOUND.
    app.gql(s, read, json!({ "id": contact })).await.assert_code("NOT_FOUND");
    app.gql(s, "{ contacts { totalCount } }", json!({})).await.assert_code("NOT_FOUND");
    let nested =
        app.gql(s, "query($a: ID!) { account(id: $a) { name contacts { id } } }", json!({ "a": account })).await;
    assert_eq!(nested.body["data"]["account"]["name"], "Initech");
    assert_eq!(nested.codes(), ["NOT_FOUND"]);
    let traces = app.gql(s, "{ traces(first: 100) { nodes { entityType } } }", json!({})).await;
    assert!(!traces.data().to_string().contains("\"Contact\""), "{}", traces.body);
    let m = app.gql(s, "{ metadata { name } }", json!({})).await;
    assert!(!m.data().to_string().contains("\"Contact\""));
    app.gql(s, "mutation { createContact(input: { lastName: \"X\" }) { id } }", json!({}))
        .await
        .assert_code("FORBIDDEN");

    // Read but not create or delete.
    app.gql(t, SET_ENTITY, json!({ "p": profile, "e": "Contact", "a": all(true, false, true, false) })).await.data();
    assert_eq!(app.gql(s, read, json!({ "id": contact })).await.data()["contact"]["lastName"], "Gibbons");
    app.gql(s, "mutation { createContact(input: { lastName: \"X\" }) { id } }", json!({}))
        .await
        .assert_code("FORBIDDEN");
    app.gql(s, "mutation($id: ID!) { deleteContact(id: $id) { id } }", json!({ "id": contact }))
        .await
        .assert_code("FORBIDDEN");
    let m = app.gql(s, "{ metadata { name canCreate canUpdate canDelete } }", json!({})).await;
    let c = m.data()["metadata"].as_array().unwrap().iter().find(|e| e["name"] == "Contact").unwrap().clone();
    assert_eq!(c, json!({ "name": "Contact", "canCreate": false, "canUpdate": true, "canDelete": false }));

    // Back to full access, again from the next request on.
    app.gql(t, SET_ENTITY, json!({ "p": profile, "e": "Contact", "a": all(true, true, true, true) })).await.data();
    app.gql(s, "mutation { createContact(input: { lastName: \"X\" }) { id } }", json!({})).await.data();

    // A field rule too applies at once, and goes away with EDIT.
    set_field(&app, &acme, &profile, "Account", "name", "HIDDEN").await;
    // Lists still work: their default order (by name) gives way to creation order.
    app.gql(t, "mutation { createAccount(input: { name: \"Aardvark\" }) { id } }", json!({})).await.data();
    let r = app.gql(s, "{ accounts { nodes { id } } }", json!({})).await;
    let ids: Vec<Value> = r.data()["accounts"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].clone()).collect();
    assert_eq!(ids[0], account.as_str(), "created first, listed first: {ids:?}");
    app.gql(s, "{ accounts(orderBy: { field: NAME }) { nodes { id } } }", json!({})).await.assert_invalid("orderBy");
    let r = app.gql(s, "query($a: ID!) { account(id: $a) { id name } }", json!({ "a": account })).await;
    assert!(r.body["data"]["account"]["name"].is_null());
    assert_eq!(r.body["data"]["account"]["id"], account.as_str());
    set_field(&app, &acme, &profile, "Account", "name", "EDIT").await;
    let r = app.gql(s, "query($a: ID!) { account(id: $a) { name } }", json!({ "a": account })).await;
    assert_eq!(r.data()["account"]["name"], "Initech");
}

async fn profiles_are_administered_and_traced(app: TestApp) {
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let t = Some(acme.admin.token.as_str());
    let sales = app.user(&acme, "Sam", "Sales").await;

    let r = app.gql(t, "mutation { createProfile(name: \" Field Sales \") { id name isAdmin } }", json!({})).await;
    let created = r.data()["createProfile"].clone();
    assert_eq!(created["name"], "Field Sales");
    assert_eq!(created["isAdmin"], false);
    let id = created["id"].as_str().unwrap().to_owned();
    app.gql(t, "mutation { createProfile(name: \"field sales\") { id } }", json!({})).await.assert_code("CONFLICT");
    app.gql(t, "mutation { createProfile(name: \"  \") { id } }", json!({})).await.assert_invalid("name");
    let r = app
        .gql(t, "mutation($id: ID!) { renameProfile(id: $id, name: \"Key Accounts\") { name } }", json!({ "id": id }))
        .await;
    assert_eq!(r.data()["renameProfile"]["name"], "Key Accounts");

    // Rules: unknown entities and fields, admin profiles, bad access levels.
    let admin_profile = profile_id(&app, &acme, "Admin").await;
    let r = app.gql(t, SET_FIELD, json!({ "p": id, "e": "Spaceship", "f": "name", "a": "HIDDEN" })).await;
    r.assert_invalid("entity");
    let r = app.gql(t, SET_FIELD, json!({ "p": id, "e": "Account", "f": "shoeSize", "a": "HIDDEN" })).await;
    r.assert_invalid("field");
    let r = app.gql(t, SET_FIELD, json!({ "p": admin_profile, "e": "Account", "f": "name", "a": "HIDDEN" })).await;
    r.assert_invalid("profileId");
    let r = app.gql(t, SET_FIELD, json!({ "p": id, "e": "Account", "f": "name", "a": "SECRET" })).await;
    r.assert_code("BAD_USER_INPUT");
    set_field(&app, &acme, &id, "Opportunity", "amount", "HIDDEN").await;
    let r = app
        .gql(t, "query($id: ID!) { profile: profiles { id } user(id: $id) { id } }", json!({ "id": sales.user_id }))
        .await;
    r.data();
    let rules = app.gql(t, "{ profiles { name access { entity canRead fields { field access } } } }", json!({})).await;
    let key =
        rules.data()["profiles"].as_array().unwrap().iter().find(|p| p["name"] == "Key Accounts").unwrap().clone();
    let opportunity = key["access"].as_array().unwrap().iter().find(|e| e["entity"] == "Opportunity").unwrap().clone();
    let amount = opportunity["fields"].as_array().unwrap().iter().find(|f| f["field"] == "amount").unwrap().clone();
    assert_eq!(amount["access"], "HIDDEN");

    // Assignment applies from the next request; a profile in use cannot be deleted.
    let r = app
        .gql(
            t,
            "mutation($u: ID!, $p: ID!) { assignProfile(userId: $u, profileId: $p) { profile { name } } }",
            json!({ "u": sales.user_id, "p": id }),
        )
        .await;
    assert_eq!(r.data()["assignProfile"]["profile"]["name"], "Key Accounts");
    let me = app.gql(Some(&sales.token), "{ me { profile { name } } }", json!({})).await;
    assert_eq!(me.data()["me"]["profile"]["name"], "Key Accounts");
    app.gql(t, "mutation($id: ID!) { deleteProfile(id: $id) { id } }", json!({ "id": id }))
        .await
        .assert_code("CONFLICT");
    // The last admin cannot be moved out of the admin profile.
    let r = app
        .gql(
            t,
            "mutation($u: ID!, $p: ID!) { assignProfile(userId: $u, profileId: $p) { id } }",
            json!({ "u": acme.admin.user_id, "p": id }),
        )
        .await;
    r.assert_code("CONFLICT");
    app.gql(t, "mutation($id: ID!) { deleteProfile(id: $id) { id } }", json!({ "id": admin_profile }))
        .await
        .assert_code("CONFLICT");

    // Non-admins cannot administer; other tenants' profiles do not exist.
    let s = Some(sales.token.as_str());
    app.gql(s, "mutation { createProfile(name: \"Mine\") { id } }", json!({})).await.assert_code("FORBIDDEN");
    app.gql(s, SET_FIELD, json!({ "p": id, "e": "Account", "f": "name", "a": "EDIT" })).await.assert_code("FORBIDDEN");
    let g = Some(globex.admin.token.as_str());
    app.gql(g, "mutation($id: ID!) { renameProfile(id: $id, name: \"Mine\") { id } }", json!({ "id": id }))
        .await
        .assert_code("NOT_FOUND");
    app.gql(g, "mutation($id: ID!) { deleteProfile(id: $id) { id } }", json!({ "id": id }))
        .await
        .assert_code("NOT_FOUND");
    app.gql(g, SET_FIELD, json!({ "p": id, "e": "Account", "f": "name", "a": "EDIT" })).await.assert_code("NOT_FOUND");
    let r = app
        .gql(
            g,
            "mutation($u: ID!, $p: ID!) { assignProfile(userId: $u, profileId: $p) { id } }",
            json!({ "u": sales.user_id, "p": id }),
        )
        .await;
    r.assert_code("NOT_FOUND");

    // A profile nobody holds can go; every change above is in the trace.
    let spare = app.gql(t, "mutation { createProfile(name: \"Spare\") { id } }", json!({})).await;
    let spare = spare.data()["createProfile"]["id"].as_str().unwrap().to_owned();
    set_field(&app, &acme, &spare, "Lead", "email", "READ").await;
    let r = app.gql(t, "mutation($id: ID!) { deleteProfile(id: $id) { name } }", json!({ "id": spare })).await;
    assert_eq!(r.data()["deleteProfile"]["name"], "Spare");
    let traces = app
        .gql(
            t,
            "{ traces(filter: { entityType: \"Profile\" }, first: 50) { nodes { changeType before after } } }",
            json!({}),
        )
        .await;
    let nodes = traces.data()["traces"]["nodes"].as_array().unwrap().clone();
    let kinds: Vec<&str> = nodes.iter().map(|n| n["changeType"].as_str().unwrap()).collect();
    assert_eq!(kinds[..6], ["DELETE", "UPDATE", "CREATE", "UPDATE", "UPDATE", "CREATE"], "{nodes:?}");
    assert_eq!(nodes[0]["before"]["rules"]["fieldAccess"]["Lead.email"], "READ");
    assert_eq!(nodes[1]["after"]["fieldAccess.Lead.email"], "READ");
    let assigned = app
        .gql(t, "query($id: ID!) { traces(filter: { entityType: \"User\", entityId: $id }) { nodes { changeType after } } }", json!({ "id": sales.user_id }))
        .await;
    assert_eq!(assigned.data()["traces"]["nodes"][0]["after"]["profileId"], id.as_str());
}

async fn picklists_are_edited_without_rewriting_records(app: TestApp) {
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let t = Some(acme.admin.token.as_str());
    let add = "mutation($i: AddPicklistOptionInput!) { addPicklistOption(input: $i) { id key label active } }";
    let r = app
        .gql(t, add, json!({ "i": { "entity": "Account", "field": "type", "key": "reseller", "label": "Reseller" } }))
        .await;
    let option = r.data()["addPicklistOption"]["id"].as_str().unwrap().to_owned();
    app.gql(
        t,
        add,
        json!({ "i": { "entity": "Account", "field": "type", "key": "reseller", "label": "Other reseller" } }),
    )
    .await
    .assert_code("CONFLICT");
    app.gql(t, add, json!({ "i": { "entity": "Account", "field": "type", "key": "Bad Key", "label": "x" } }))
        .await
        .assert_invalid("key");
    app.gql(t, add, json!({ "i": { "entity": "Account", "field": "name", "key": "x", "label": "x" } }))
        .await
        .assert_invalid("field");
    app.gql(
        t,
        add,
        json!({ "i": { "entity": "Account", "field": "type", "key": "x", "label": "x", "probability": 50 } }),
    )
    .await
    .assert_invalid("probability");
    let stage = app
        .gql(t, add, json!({ "i": { "entity": "Opportunity", "field": "stage", "key": "verbal", "label": "Verbal yes", "probability": 90 } }))
        .await;
    assert_eq!(stage.data()["addPicklistOption"]["key"], "verbal");

    let a = app
        .gql(
            t,
            "mutation { createAccount(input: { name: \"Hooli\", type: \"reseller\" }) { id version type { label } } }",
            json!({}),
        )
        .await;
    let account = a.data()["createAccount"].clone();
    assert_eq!(account["type"]["label"], "Reseller");
    let id = account["id"].as_str().unwrap().to_owned();

    // Relabel: the record shows the new label and was not rewritten.
    let update = "mutation($id: ID!, $l: String, $a: Boolean) { updatePicklistOption(id: $id, label: $l, active: $a) { label active } }";
    app.gql(t, update, json!({ "id": option, "l": "Value-added reseller" })).await.data();
    let r =
        app.gql(t, "query($id: ID!) { account(id: $id) { version type { key label } } }", json!({ "id": id })).await;
    assert_eq!(
        r.data()["account"],
        json!({ "version": 1, "type": { "key": "reseller", "label": "Value-added reseller" } })
    );

    // Deactivate: kept where it is, refused for new values, still filterable.
    let r = app.gql(t, update, json!({ "id": option, "a": false })).await;
    assert_eq!(r.data()["updatePicklistOption"]["active"], false);
    app.gql(t, "mutation { createAccount(input: { name: \"Pied Piper\", type: \"reseller\" }) { id } }", json!({}))
        .await
        .assert_invalid("type");
    let r = app.gql(t, "query($id: ID!) { account(id: $id) { type { key active } } }", json!({ "id": id })).await;
    assert_eq!(r.data()["account"]["type"], json!({ "key": "reseller", "active": false }));
    let r = app.gql(t, "{ accounts(filter: { type: \"reseller\" }) { totalCount } }", json!({})).await;
    assert_eq!(r.data()["accounts"]["totalCount"], 1);

    // An option in use cannot be deleted (deactivating it is the way); an unused one can.
    let delete = "mutation($id: ID!) { deletePicklistOption(id: $id) { key } }";
    app.gql(t, delete, json!({ "id": option })).await.assert_code("CONFLICT");
    let temp = app
        .gql(t, add, json!({ "i": { "entity": "Account", "field": "type", "key": "temp", "label": "Temporary" } }))
        .await;
    let temp = temp.data()["addPicklistOption"]["id"].as_str().unwrap().to_owned();
    app.gql(Some(&globex.admin.token), delete, json!({ "id": temp })).await.assert_code("NOT_FOUND");
    assert_eq!(app.gql(t, delete, json!({ "id": temp })).await.data()["deletePicklistOption"]["key"], "temp");
    let custom = json!({ "entity": "Account", "name": "tier", "label": "Tier", "type": "PICKLIST", "options": [{ "key": "gold", "label": "Gold" }, { "key": "silver", "label": "Silver" }] });
    app.gql(t, "mutation($i: CreateCustomFieldInput!) { createCustomField(input: $i) { id } }", json!({ "i": custom }))
        .await
        .data();
    app.gql(
        t,
        "mutation { createAccount(input: { name: \"Gold Inc\", customFields: { tier: \"gold\" } }) { id } }",
        json!({}),
    )
    .await
    .data();
    let m = app.gql(t, "{ metadata { name fields { name options { id key } } } }", json!({})).await;
    let tier =
        m.data()["metadata"][0]["fields"].as_array().unwrap().iter().find(|f| f["name"] == "tier").unwrap().clone();
    let (gold, silver) = (tier["options"][0]["id"].clone(), tier["options"][1]["id"].clone());
    app.gql(t, delete, json!({ "id": gold })).await.assert_code("CONFLICT");
    app.gql(t, delete, json!({ "id": silver })).await.data();

    // Reorder: every key once, or nothing changes.
    let reorder =
        "mutation($k: [String!]!) { reorderPicklistOptions(entity: \"Account\", field: \"type\", keys: $k) { key } }";
    let keys = json!(["reseller", "customer", "prospect", "partner", "other"]);
    let r = app.gql(t, reorder, json!({ "k": keys })).await;
    let got: Vec<Value> =
        r.data()["reorderPicklistOptions"].as_array().unwrap().iter().map(|o| o["key"].clone()).collect();
    assert_eq!(Value::from(got), keys);
    app.gql(t, reorder, json!({ "k": ["customer", "prospect"] })).await.assert_invalid("keys");
    let m = app.gql(t, "{ metadata { name fields { name type options { key active } } } }", json!({})).await;
    let account_meta = m.data()["metadata"][0].clone();
    assert_eq!(account_meta["name"], "Account");
    let field = account_meta["fields"].as_array().unwrap().iter().find(|f| f["name"] == "type").unwrap().clone();
    assert_eq!(field["type"], "PICKLIST");
    assert_eq!(field["options"][0], json!({ "key": "reseller", "active": false }));

    // Traced; admins only; another tenant's option does not exist.
    let traces = app
        .gql(t, "{ traces(filter: { entityType: \"Picklist\" }, first: 5) { nodes { changeType after } } }", json!({}))
        .await;
    let newest = traces.data()["traces"]["nodes"][0].clone();
    assert_eq!(newest["changeType"], "UPDATE");
    assert_eq!(newest["after"]["options"][0]["key"], "reseller");
    let sales = app.user(&acme, "Sam", "Sales").await;
    app.gql(Some(&sales.token), update, json!({ "id": option, "l": "Mine" })).await.assert_code("FORBIDDEN");
    app.gql(Some(&globex.admin.token), update, json!({ "id": option, "l": "Mine" })).await.assert_code("NOT_FOUND");
}
