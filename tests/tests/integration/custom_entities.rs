//! Custom entities: definitions, record CRUD with traces, lists, references,
//! access rules, and other tenants.

use crm_tests::serde_json::{Value, json};
use crm_tests::{TestApp, db_tests};

db_tests!(custom_entity_records_live_like_core_records, custom_entities_obey_access_and_tenancy);

const DEFINE: &str = "mutation($i: CreateCustomFieldInput!) { createCustomField(input: $i) { id } }";
const CREATE: &str = "mutation($v: JSON, $x: String) { createRecord(entity: \"Course\", input: { values: $v, externalId: $x }) { id entity version customFields owner { email } } }";
const UPDATE: &str = "mutation($id: ID!, $v: JSON, $ver: Int) { updateRecord(entity: \"Course\", id: $id, input: { values: $v }, expectedVersion: $ver) { version customFields } }";
const LIST: &str = "query($f: RecordFilterInput, $o: CustomRecordOrderBy, $first: Int, $after: String) { records(entity: \"Course\", filter: $f, orderBy: $o, first: $first, after: $after) { totalCount nodes { customFields } pageInfo { hasNextPage endCursor } } }";

async fn course(app: &TestApp, token: &str) {
    let r = app
        .gql(
            Some(token),
            "mutation { createEntity(name: \"Course\", label: \"Training course\") { name label } }",
            json!({}),
        )
        .await;
    assert_eq!(r.data()["createEntity"], json!({ "name": "Course", "label": "Training course" }));
    for field in [
        json!({ "entity": "Course", "name": "title", "label": "Title", "type": "TEXT", "required": true }),
        json!({ "entity": "Course", "name": "seats", "label": "Seats", "type": "INTEGER" }),
        json!({ "entity": "Course", "name": "level", "label": "Level", "type": "PICKLIST", "options": [{ "key": "intro", "label": "Intro" }, { "key": "expert", "label": "Expert" }] }),
    ] {
        app.gql(Some(token), DEFINE, json!({ "i": field })).await.data();
    }
}

fn titles(r: &crm_tests::Gql) -> Vec<Value> {
    r.data()["records"]["nodes"].as_array().unwrap().iter().map(|n| n["customFields"]["title"].clone()).collect()
}

async fn custom_entity_records_live_like_core_records(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = Some(acme.admin.token.as_str());
    for (name, field) in [("course", "name"), ("Account", "name"), ("Trace", "")] {
        let r = app
            .gql(t, "mutation($n: String!) { createEntity(name: $n, label: \"x\") { id } }", json!({ "n": name }))
            .await;
        if field.is_empty() {
            r.data();
        } else {
            r.assert_invalid(field);
        }
    }
    course(&app, &acme.admin.token).await;
    app.gql(t, "mutation { createEntity(name: \"COURSE\", label: \"Again\") { id } }", json!({}))
        .await
        .assert_code("CONFLICT");

    let r = app
        .gql(t, CREATE, json!({ "v": { "title": "  Rust   101 ", "seats": 12, "level": "Intro" }, "x": "LMS-1" }))
        .await;
    let created = r.data()["createRecord"].clone();
    assert_eq!(created["entity"], "Course");
    assert_eq!(created["customFields"], json!({ "title": "Rust 101", "seats": 12, "level": "intro" }));
    assert_eq!(created["owner"]["email"], "admin@acme.test");
    let id = created["id"].as_str().unwrap().to_owned();
    app.gql(t, CREATE, json!({ "v": { "seats": 3 } })).await.assert_invalid("customFields.title");
    app.gql(t, CREATE, json!({ "v": { "title": "x", "seats": "many" } })).await.assert_invalid("customFields.seats");
    app.gql(t, CREATE, json!({ "v": { "title": "Dup" }, "x": "LMS-1" })).await.assert_code("CONFLICT");
    for (title, seats, level) in [("Go", 30, "expert"), ("Zig", 5, "expert")] {
        app.gql(t, CREATE, json!({ "v": { "title": title, "seats": seats, "level": level } })).await.data();
    }

    // Lists: filters, custom ordering, paging, counts.
    let r = app.gql(t, LIST, json!({ "f": { "custom": [{ "field": "level", "equals": "expert" }] }, "o": { "customField": "seats", "direction": "DESC" } })).await;
    assert_eq!(titles(&r), [json!("Go"), json!("Zig")]);
    assert_eq!(r.data()["records"]["totalCount"], 2);
    let page1 = app.gql(t, LIST, json!({ "first": 2 })).await;
    assert_eq!(titles(&page1), [json!("Rust 101"), json!("Go")]);
    let after = page1.data()["records"]["pageInfo"]["endCursor"].clone();
    let page2 = app.gql(t, LIST, json!({ "first": 2, "after": after })).await;
    assert_eq!(titles(&page2), [json!("Zig")]);
    assert_eq!(page2.data()["records"]["pageInfo"]["hasNextPage"], false);
    let r = app.gql(t, LIST, json!({ "f": { "externalId": "LMS-1" } })).await;
    assert_eq!(titles(&r), [json!("Rust 101")]);

    // Updates: version check, clearing, required fields, traces.
    app.gql(t, UPDATE, json!({ "id": id, "v": { "seats": 14 }, "ver": 7 })).await.assert_code("CONFLICT");
    let r = app.gql(t, UPDATE, json!({ "id": id, "v": { "seats": null, "level": "expert" }, "ver": 1 })).await;
    assert_eq!(
        r.data()["updateRecord"],
        json!({ "version": 2, "customFields": { "title": "Rust 101", "level": "expert" } })
    );
    app.gql(t, UPDATE, json!({ "id": id, "v": { "title": null } })).await.assert_invalid("customFields.title");
    let h = app.gql(t, "query($id: ID!) { record(entity: \"Course\", id: $id) { history { nodes { changeType entityType before after } } } }", json!({ "id": id })).await;
    let nodes = h.data()["record"]["history"]["nodes"].clone();
    assert_eq!(nodes[0]["entityType"], "Course");
    assert_eq!(nodes[0]["before"], json!({ "seats": 12, "level": "intro" }));
    assert_eq!(nodes[0]["after"], json!({ "seats": null, "level": "expert" }));
    assert_eq!(nodes[1]["changeType"], "CREATE");
    let feed = app.gql(t, "{ changes(entities: [\"Course\"]) { changes { changeType entityId } } }", json!({})).await;
    assert_eq!(feed.data()["changes"]["changes"].as_array().unwrap().len(), 4);

    // References from a core entity to a custom one.
    app.gql(t, DEFINE, json!({ "i": { "entity": "Account", "name": "course", "label": "Course", "type": "REFERENCE", "referenceTo": "Course" } })).await.data();
    let r = app
        .gql(
            t,
            "mutation($c: JSON) { createAccount(input: { name: \"Initech\", customFields: $c }) { customFields } }",
            json!({ "c": { "course": id } }),
        )
        .await;
    assert_eq!(r.data()["createAccount"]["customFields"]["course"], id.as_str());

    // Delete and restore; a deleted record is not a valid reference.
    app.gql(t, "mutation($id: ID!) { deleteRecord(entity: \"Course\", id: $id) { id } }", json!({ "id": id }))
        .await
        .data();
    app.gql(t, "query($id: ID!) { record(entity: \"Course\", id: $id) { id } }", json!({ "id": id }))
        .await
        .assert_code("NOT_FOUND");
    app.gql(
        t,
        "mutation($c: JSON) { createAccount(input: { name: \"Hooli\", customFields: $c }) { id } }",
        json!({ "c": { "course": id } }),
    )
    .await
    .assert_invalid("customFields.course");
    let r = app
        .gql(t, "mutation($id: ID!) { restoreRecord(entity: \"Course\", id: $id) { version } }", json!({ "id": id }))
        .await;
    assert_eq!(r.data()["restoreRecord"]["version"], 4);

    // Metadata; deleting an entity that has records is refused; an empty one goes.
    let m = app.gql(t, "{ metadata { name label custom fields { name type required } } }", json!({})).await;
    let entity = m.data()["metadata"].as_array().unwrap().iter().find(|e| e["name"] == "Course").unwrap().clone();
    assert_eq!(entity["custom"], true);
    assert_eq!(entity["label"], "Training course");
    assert_eq!(entity["fields"][0], json!({ "name": "title", "type": "TEXT", "required": true }));
    let defs = app
        .gql(t, "{ traces(filter: { entityType: \"EntityDefinition\" }) { nodes { entityId after } } }", json!({}))
        .await;
    let course_id = defs.data()["traces"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["after"]["name"] == "Course")
        .unwrap()["entityId"]
        .clone();
    app.gql(t, "mutation($id: ID!) { deleteEntity(id: $id) { id } }", json!({ "id": course_id }))
        .await
        .assert_code("CONFLICT");
    let trace_id = defs.data()["traces"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["after"]["name"] == "Trace")
        .unwrap()["entityId"]
        .clone();
    let r = app.gql(t, "mutation($id: ID!) { deleteEntity(id: $id) { name } }", json!({ "id": trace_id })).await;
    assert_eq!(r.data()["deleteEntity"]["name"], "Trace");
    app.gql(t, "{ records(entity: \"Trace\") { totalCount } }", json!({})).await.assert_invalid("entity");
    app.gql(t, "{ records(entity: \"Account\") { totalCount } }", json!({})).await.assert_invalid("entity");
}

async fn custom_entities_obey_access_and_tenancy(app: TestApp) {
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let t = Some(acme.admin.token.as_str());
    course(&app, &acme.admin.token).await;
    let r = app.gql(t, CREATE, json!({ "v": { "title": "Rust 101", "seats": 12 } })).await;
    let id = r.data()["createRecord"]["id"].as_str().unwrap().to_owned();
    let sales = app.user(&acme, "Sam", "Sales").await;
    let s = Some(sales.token.as_str());
    let profiles = app.gql(t, "{ profiles { id name } }", json!({})).await;
    let sales_profile =
        profiles.data()["profiles"].as_array().unwrap().iter().find(|p| p["name"] == "Sales").unwrap()["id"].clone();

    // Everyone may use a new entity until an admin narrows it.
    assert_eq!(app.gql(s, LIST, json!({})).await.data()["records"]["totalCount"], 1);
    let set_field = "mutation($p: ID!) { setFieldAccess(profileId: $p, entity: \"Course\", field: \"seats\", access: HIDDEN) { access } }";
    app.gql(t, set_field, json!({ "p": sales_profile })).await.data();
    let r = app
        .gql(
            s,
            "query($id: ID!) { record(entity: \"Course\", id: $id) { customFields history { nodes { after } } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(r.data()["record"]["customFields"], json!({ "title": "Rust 101" }));
    assert!(!r.data().to_string().contains("\"seats\""), "{}", r.body);
    app.gql(s, LIST, json!({ "f": { "custom": [{ "field": "seats", "min": 1 }] } })).await.assert_invalid("filter");
    app.gql(s, UPDATE, json!({ "id": id, "v": { "seats": 1 } })).await.assert_code("FORBIDDEN");

    let set_entity = "mutation($p: ID!, $a: EntityAccessInput!) { setEntityAccess(profileId: $p, entity: \"Course\", access: $a) { entity canRead } }";
    let r = app.gql(t, set_entity, json!({ "p": sales_profile, "a": { "canRead": true, "canCreate": false, "canUpdate": false, "canDelete": false } })).await;
    assert_eq!(r.data()["setEntityAccess"]["canRead"], true);
    app.gql(s, CREATE, json!({ "v": { "title": "Mine" } })).await.assert_code("FORBIDDEN");
    app.gql(s, "mutation($id: ID!) { deleteRecord(entity: \"Course\", id: $id) { id } }", json!({ "id": id }))
        .await
        .assert_code("FORBIDDEN");
    app.gql(t, set_entity, json!({ "p": sales_profile, "a": { "canRead": false, "canCreate": false, "canUpdate": false, "canDelete": false } })).await.data();
    app.gql(s, LIST, json!({})).await.assert_code("NOT_FOUND");
    app.gql(s, "query($id: ID!) { record(entity: \"Course\", id: $id) { id } }", json!({ "id": id }))
        .await
        .assert_code("NOT_FOUND");
    let m = app.gql(s, "{ metadata { name } }", json!({})).await;
    assert!(!m.data().to_string().contains("Course"));
    let traces = app.gql(s, "{ traces(first: 200) { nodes { entityType } } }", json!({})).await;
    assert!(!traces.data().to_string().contains("Course"));
    let rules = app.gql(t, "{ profiles { name access { entity canRead fields { field access } } } }", json!({})).await;
    let sales_rules =
        rules.data()["profiles"].as_array().unwrap().iter().find(|p| p["name"] == "Sales").unwrap().clone();
    let course_rules =
        sales_rules["access"].as_array().unwrap().iter().find(|e| e["entity"] == "Course").unwrap().clone();
    assert_eq!(course_rules["canRead"], false);

    // Another tenant: the entity does not exist there, and neither do our records.
    let g = Some(globex.admin.token.as_str());
    app.gql(g, LIST, json!({})).await.assert_invalid("entity");
    app.gql(g, CREATE, json!({ "v": { "title": "x" } })).await.assert_invalid("entity");
    course(&app, &globex.admin.token).await;
    app.gql(g, "query($id: ID!) { record(entity: \"Course\", id: $id) { id } }", json!({ "id": id }))
        .await
        .assert_code("NOT_FOUND");
    app.gql(g, UPDATE, json!({ "id": id, "v": { "seats": 1 } })).await.assert_code("NOT_FOUND");
    app.gql(g, "mutation($id: ID!) { deleteRecord(entity: \"Course\", id: $id) { id } }", json!({ "id": id }))
        .await
        .assert_code("NOT_FOUND");
    app.gql(g, "mutation($id: ID!) { restoreRecord(entity: \"Course\", id: $id) { id } }", json!({ "id": id }))
        .await
        .assert_code("NOT_FOUND");
    assert_eq!(app.gql(g, LIST, json!({})).await.data()["records"]["totalCount"], 0);
    let defs =
        app.gql(t, "{ traces(filter: { entityType: \"EntityDefinition\" }) { nodes { entityId } } }", json!({})).await;
    let acme_course = defs.data()["traces"]["nodes"][0]["entityId"].clone();
    app.gql(g, "mutation($id: ID!) { updateEntity(id: $id, label: \"Mine\") { id } }", json!({ "id": acme_course }))
        .await
        .assert_code("NOT_FOUND");
    app.gql(g, "mutation($id: ID!) { deleteEntity(id: $id) { id } }", json!({ "id": acme_course }))
        .await
        .assert_code("NOT_FOUND");
    app.gql(
        Some(&sales.token),
        "mutation { createEntity(name: \"Complaint\", label: \"Complaint\") { id } }",
        json!({}),
    )
    .await
    .assert_code("FORBIDDEN");
}

db_tests!(custom_entity_records_bulk_upsert);

const UPSERT: &str = "mutation($r: [RecordUpsertInput!]!, $m: UpsertMode, $v: Boolean) { upsertRecords(entity: \"Course\", records: $r, mode: $m, validateOnly: $v) { written created updated unchanged failed results { index id status field code } } }";

async fn custom_entity_records_bulk_upsert(app: TestApp) {
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    course(&app, &acme.admin.token).await;
    course(&app, &globex.admin.token).await;
    let token =
        app.gql(Some(&acme.admin.token), "mutation { createApiToken(name: \"LMS\") { token } }", json!({})).await;
    let token = token.data()["createApiToken"]["token"].as_str().unwrap().to_owned();
    let erp = Some(token.as_str());
    let owner = acme.admin.user_id.clone();
    let batch = json!([
        { "externalId": "C-1", "ownerId": owner, "values": { "title": "Rust 101", "seats": 12 } },
        { "externalId": "C-2", "ownerId": owner, "values": { "title": "Go 101" } },
        { "externalId": "C-3", "ownerId": owner, "values": { "title": "Bad", "seats": "many" } },
        { "externalId": " ", "ownerId": owner, "values": { "title": "No id" } },
    ]);
    let r = app.gql(erp, UPSERT, json!({ "r": batch, "v": true })).await;
    assert_eq!(r.data()["upsertRecords"]["written"], false);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM custom_record").await, 0, "a dry run writes nothing");
    let r = app.gql(erp, UPSERT, json!({ "r": batch, "m": "ALL_OR_NOTHING" })).await;
    assert_eq!(r.data()["upsertRecords"]["written"], false);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM custom_record").await, 0);

    let r = app.gql(erp, UPSERT, json!({ "r": batch })).await;
    let p = r.data()["upsertRecords"].clone();
    let statuses: Vec<&str> = p["results"].as_array().unwrap().iter().map(|x| x["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["CREATED", "CREATED", "FAILED", "FAILED"]);
    assert_eq!(p["results"][2]["field"], "customFields.seats");
    assert_eq!(p["results"][3]["field"], "externalId");
    let traces = "SELECT COUNT(*) FROM trace WHERE entity_type = 'Course'";
    assert_eq!(app.sql_count(traces).await, 2);
    let imported = app.sql_count("SELECT COUNT(*) FROM trace WHERE entity_type = 'Course' AND source = 'IMPORT'").await;
    assert_eq!(imported, 2, "traced as IMPORT");

    // Idempotent; then an update of one value.
    let again = json!([batch[0].clone(), batch[1].clone()]);
    let r = app.gql(erp, UPSERT, json!({ "r": again })).await;
    assert_eq!(r.data()["upsertRecords"]["unchanged"], 2);
    assert_eq!(app.sql_count(traces).await, 2, "unchanged records write no trace");
    let r = app.gql(erp, UPSERT, json!({ "r": [{ "externalId": "C-1", "values": { "seats": 20 } }] })).await;
    assert_eq!(r.data()["upsertRecords"]["updated"], 1);
    let list = app
        .gql(
            Some(&acme.admin.token),
            "{ records(entity: \"Course\", filter: { externalId: \"C-1\" }) { nodes { version customFields } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        list.data()["records"]["nodes"][0],
        json!({ "version": 2, "customFields": { "title": "Rust 101", "seats": 20 } })
    );

    // Another tenant's external ids never match ours.
    let r = app
        .gql(
            Some(&globex.admin.token),
            UPSERT,
            json!({ "r": [{ "externalId": "C-1", "values": { "title": "Theirs" } }] }),
        )
        .await;
    assert_eq!(r.data()["upsertRecords"]["created"], 1);

    // Two integrators sending the same new external ids at once end with one record each.
    let racing = json!([
        { "externalId": "R-1", "ownerId": owner, "values": { "title": "Race 1" } },
        { "externalId": "R-2", "ownerId": owner, "values": { "title": "Race 2" } },
    ]);
    let (a, b) =
        tokio::join!(app.gql(erp, UPSERT, json!({ "r": racing })), app.gql(erp, UPSERT, json!({ "r": racing })));
    a.data();
    b.data();
    let held = app.sql_count("SELECT COUNT(*) FROM custom_record WHERE external_id IN ('R-1', 'R-2')").await;
    assert_eq!(held, 2);
    app.gql(
        erp,
        "mutation { upsertRecords(entity: \"Nope\", records: [{ externalId: \"x\" }]) { written } }",
        json!({}),
    )
    .await
    .assert_invalid("entity");
}

db_tests!(custom_entity_bulk_upsert_inserts_in_chunks_and_keeps_input_order);

/// A batch larger than one insert chunk, mixing new records, a record sent
/// twice, an existing one and a bad one: every record gets its outcome in
/// input order, traces follow that order, and new records go in many per
/// statement.
async fn custom_entity_bulk_upsert_inserts_in_chunks_and_keeps_input_order(app: TestApp) {
    let acme = app.tenant("acme").await;
    course(&app, &acme.admin.token).await;
    let token =
        app.gql(Some(&acme.admin.token), "mutation { createApiToken(name: \"LMS\") { token } }", json!({})).await;
    let token = token.data()["createApiToken"]["token"].as_str().unwrap().to_owned();
    let erp = Some(token.as_str());
    let owner = acme.admin.user_id.clone();
    let r = app
        .gql(erp, UPSERT, json!({ "r": [{ "externalId": "OLD", "ownerId": owner, "values": { "title": "Old" } }] }))
        .await;
    assert_eq!(r.data()["upsertRecords"]["created"], 1);

    let n = 1_200;
    let mut batch: Vec<Value> = (0..n)
        .map(|i| json!({ "externalId": format!("K-{i}"), "ownerId": owner, "values": { "title": format!("Course {i}"), "seats": i } }))
        .collect();
    batch[700] = json!({ "externalId": "K-10", "values": { "title": "Renamed" } });
    batch[900] = json!({ "externalId": "OLD", "values": { "title": "Old, renamed" } });
    batch[1_000] = json!({ "externalId": "K-1000", "ownerId": owner, "values": { "seats": 3 } });
    let before = app.statements();
    let r = app.gql(erp, UPSERT, json!({ "r": batch })).await;
    let statements = app.statements() - before;
    let p = r.data()["upsertRecords"].clone();
    assert_eq!((&p["created"], &p["updated"], &p["failed"]), (&json!(n - 3), &json!(2), &json!(1)));
    let results = p["results"].as_array().unwrap();
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["index"], i, "results in input order");
        let expected = match i {
            700 | 900 => "UPDATED",
            1_000 => "FAILED",
            _ => "CREATED",
        };
        assert_eq!(result["status"], expected, "record {i}");
    }
    assert_eq!(results[1_000]["field"], "customFields.title", "a new record without its required title");
    assert_eq!(results[700]["id"], results[10]["id"], "the second K-10 updates the first");
    // New records go in a few hundred per INSERT (savepoints are not counted).
    eprintln!("statements for {n} custom records: {statements}");
    assert!(statements * 5 < n as u64, "{statements} statements for {n} records");

    let list = app
        .gql(
            Some(&acme.admin.token),
            "{ a: records(entity: \"Course\", filter: { externalId: \"K-10\" }) { nodes { version customFields } } b: records(entity: \"Course\", filter: { externalId: \"OLD\" }) { nodes { version customFields } } total: records(entity: \"Course\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        list.data()["a"]["nodes"][0],
        json!({ "version": 2, "customFields": { "title": "Renamed", "seats": 10 } })
    );
    assert_eq!(list.data()["b"]["nodes"][0], json!({ "version": 2, "customFields": { "title": "Old, renamed" } }));
    assert_eq!(
        list.data()["total"]["totalCount"],
        n - 2,
        "OLD, and the batch's records but the failed one and the repeat"
    );

    // The change feed shows the batch's writes in input order.
    let mut feed = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app
            .gql(
                Some(&acme.admin.token),
                "query($a: String) { changes(after: $a, entities: [\"Course\"], first: 1000) { cursor hasMore changes { changeType entityId } } }",
                json!({ "a": after }),
            )
            .await;
        let page = page.data()["changes"].clone();
        feed.extend(
            page["changes"].as_array().unwrap().iter().map(|c| (c["changeType"].clone(), c["entityId"].clone())),
        );
        after = page["cursor"].clone();
        if page["hasMore"] != true {
            break;
        }
    }
    let expected: Vec<(Value, Value)> = results
        .iter()
        .filter(|r| r["status"] != "FAILED")
        .map(|r| (json!(if r["status"] == "CREATED" { "CREATE" } else { "UPDATE" }), r["id"].clone()))
        .collect();
    assert_eq!(feed[1..], expected[..], "one trace per write, in input order (after OLD's creation)");

    // Sent again (K-10 with its final values both times), the batch changes
    // nothing and writes no trace.
    let traces = app.sql_count("SELECT COUNT(*) FROM trace WHERE entity_type = 'Course'").await;
    batch[10] = batch[700].clone();
    let r = app.gql(erp, UPSERT, json!({ "r": batch })).await;
    let p = r.data()["upsertRecords"].clone();
    assert_eq!((&p["unchanged"], &p["failed"]), (&json!(n - 1), &json!(1)));
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM trace WHERE entity_type = 'Course'").await, traces);

    // Two integrators sending the same 600 new external ids at once end with
    // one record each, and no record fails: the loser's chunk is rolled back
    // and its records update the winner's.
    let racing: Vec<Value> = (0..600)
        .map(
            |i| json!({ "externalId": format!("R-{i}"), "ownerId": owner, "values": { "title": format!("Race {i}") } }),
        )
        .collect();
    let (a, b) = tokio::join!(
        app.gql(erp, UPSERT, json!({ "r": racing.clone() })),
        app.gql(erp, UPSERT, json!({ "r": racing }))
    );
    for r in [a, b] {
        assert_eq!(r.data()["upsertRecords"]["failed"], 0);
    }
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM custom_record WHERE external_id LIKE 'R-%'").await, 600);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM trace WHERE entity_type = 'Course'").await, traces + 600);
}
