//! The configuration record writes read (custom fields, picklists, field
//! rules, key fields), which each server keeps across requests by the
//! tenant's configuration version: a change reaches the next write through
//! any server at once, waits for the writes that read the configuration it
//! replaces, and is made before a transaction reads it or writes a trace.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crm_api::auth::Actor;
use crm_api::db::trace::Change;
use crm_api::db::{TenantTx, system};
use crm_api::error::ServiceError;
use crm_api::service::{custom_fields, field_rules};
use crm_tests::serde_json::{Value, json};
use crm_tests::{TestApp, db_tests};

db_tests!(
    configuration_changes_reach_every_server_at_once,
    a_configuration_change_waits_for_a_write_that_read_it,
    a_write_that_traced_before_reading_configuration_does_not_deadlock_a_change,
    configuration_is_changed_before_it_is_read_or_traced,
    a_write_without_a_trace_is_not_committed,
);

const CREATE: &str = "mutation($i: CreateContactInput!) { createContact(input: $i) { id completeness customFields } }";

/// Each change is made through a second server, and the next write goes
/// through the first, which has kept the configuration it read before.
async fn configuration_changes_reach_every_server_at_once(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = Some(acme.admin.token.as_str());
    let other = app.second_server().await;
    let app = &app;
    let write = |input: Value| async move { app.gql(t, CREATE, json!({ "i": input })).await };
    let change = |query: &'static str, variables: Value| async move {
        app.gql_at(other, t, query, variables).await.data().clone()
    };

    let plain = write(json!({ "lastName": "Kept" })).await;
    let before = plain.data()["createContact"]["completeness"].as_f64().unwrap();
    assert!(before < 1.0, "the default key fields ask for more than a last name");
    write(json!({ "lastName": "Region", "customFields": { "region": "emea" } }))
        .await
        .assert_invalid("customFields.region");

    let field = "mutation { createCustomField(input: { entity: \"Contact\", name: \"region\", label: \"Region\", \
        type: PICKLIST, options: [{ key: \"emea\", label: \"EMEA\" }] }) { id } }";
    change(field, json!({})).await;
    let r = write(json!({ "lastName": "Region", "customFields": { "region": "emea" } })).await;
    assert_eq!(r.data()["createContact"]["customFields"]["region"], "emea", "the new field is known");
    write(json!({ "lastName": "Region", "customFields": { "region": "apac" } }))
        .await
        .assert_invalid("customFields.region");

    let option = "mutation { addPicklistOption(input: { entity: \"Contact\", field: \"region\", key: \"apac\", \
        label: \"APAC\" }) { key } }";
    change(option, json!({})).await;
    let r = write(json!({ "lastName": "Region", "customFields": { "region": "apac" } })).await;
    assert_eq!(r.data()["createContact"]["customFields"]["region"], "apac", "the new option is known");

    change("mutation { setFieldRequired(entity: \"Contact\", field: \"phone\", required: true) }", json!({})).await;
    write(json!({ "lastName": "No phone" })).await.assert_invalid("phone");

    let keys = "mutation { setKeyFields(entity: \"Contact\", fields: [\"phone\"]) }";
    change(keys, json!({})).await;
    let r = write(json!({ "lastName": "Phone", "phone": "+1 555 0100" })).await;
    assert_eq!(r.data()["createContact"]["completeness"], 1.0, "scored by the new key fields");

    change("mutation { setFieldRequired(entity: \"Contact\", field: \"phone\", required: false) }", json!({})).await;
    let r = write(json!({ "lastName": "Optional again" })).await;
    assert_eq!(r.data()["createContact"]["completeness"], 0.0, "phone is optional, and the only key field");
}

/// The tenant admin's profile as a system actor, for transactions opened
/// beside the server's requests.
pub(crate) async fn system_actor(app: &TestApp, token: &str) -> Arc<Actor> {
    let tenant = system::tenant_by_slug(app.db.connection(), "acme").await.unwrap().unwrap();
    let me = app.gql(Some(token), "{ me { user { profile { id } } } }", json!({})).await;
    let profile = me.data()["me"]["user"]["profile"]["id"].as_str().unwrap().parse().unwrap();
    Arc::new(Actor::system(tenant.id, profile))
}

/// Requires Contact.phone through the API while `tx` stays open: the change
/// must wait until `tx` has run `before_commit` and committed, then apply to
/// the writes after it.
async fn require_phone_beside(app: &TestApp, token: &str, tx: TenantTx, before_commit: impl AsyncFnOnce(&TenantTx)) {
    let require = "mutation { setFieldRequired(entity: \"Contact\", field: \"phone\", required: true) }";
    let changed = AtomicBool::new(false);
    let change = async {
        let r = app.gql(Some(token), require, json!({})).await;
        changed.store(true, Ordering::SeqCst);
        r
    };
    let write = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!changed.load(Ordering::SeqCst), "the change waits for the open write");
        before_commit(&tx).await;
        tx.commit().await.expect("the write commits");
    };
    let (r, ()) = tokio::join!(change, write);
    assert_eq!(r.data()["setFieldRequired"], true, "the change commits after the write");
    app.gql(Some(token), CREATE, json!({ "i": { "lastName": "After" } })).await.assert_invalid("phone");
}

/// A write holds the configuration it read until it commits: a change of
/// the field rules waits for it, then applies to the writes after it.
async fn a_configuration_change_waits_for_a_write_that_read_it(app: TestApp) {
    let acme = app.tenant("acme").await;
    let tx = app.db.begin(system_actor(&app, &acme.admin.token).await, None).await.unwrap();
    let read = field_rules::rules(&tx, "Contact").await.unwrap();
    assert!(!read.required.iter().any(|f| f == "phone"));
    require_phone_beside(&app, &acme.admin.token, tx, async |tx| {
        let again = field_rules::rules(tx, "Contact").await.unwrap();
        assert_eq!(again.required, read.required, "the rules stay as read until the commit");
    })
    .await;
}

/// A write whose first trace comes before it reads any configuration holds
/// the tenant's row from that trace on, as every writer takes it before the
/// trace head: an admin's change waits for it instead of taking the row,
/// then waiting for the head while the write waits for the row (a deadlock).
async fn a_write_that_traced_before_reading_configuration_does_not_deadlock_a_change(app: TestApp) {
    let acme = app.tenant("acme").await;
    let tx = app.db.begin(system_actor(&app, &acme.admin.token).await, None).await.unwrap();
    tx.trace(Change::create("Account", uuid::Uuid::now_v7(), json!({ "name": "First" }))).await.unwrap();
    require_phone_beside(&app, &acme.admin.token, tx, async |tx| {
        let rules = field_rules::rules(tx, "Contact").await.expect("the write reads the rules");
        assert!(!rules.required.iter().any(|f| f == "phone"), "as they were before the change");
    })
    .await;
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM trace WHERE entity_type = 'Account'").await, 1);
}

/// Changing configuration after reading it (two admins could then wait on
/// each other) or after writing a trace (which reads the tenant's row first,
/// as every writer does) is refused, and leaves nothing behind.
async fn configuration_is_changed_before_it_is_read_or_traced(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = Some(acme.admin.token.as_str());
    let actor = system_actor(&app, &acme.admin.token).await;
    let refused = |result: Result<bool, ServiceError>| {
        assert!(matches!(result, Err(ServiceError::Db(_))), "refused: {result:?}");
    };

    let tx = app.db.begin(actor.clone(), None).await.unwrap();
    custom_fields::definitions(&tx, "Contact").await.unwrap();
    refused(field_rules::set_required(&tx, "Contact", "phone", true).await);
    drop(tx);

    let tx = app.db.begin(actor.clone(), None).await.unwrap();
    tx.trace(Change::create("Account", uuid::Uuid::now_v7(), json!({ "name": "Traced" }))).await.unwrap();
    refused(field_rules::set_required(&tx, "Contact", "phone", true).await);
    drop(tx);

    // Changed first, then read: the transaction sees its own change.
    let tx = app.db.begin(actor, None).await.unwrap();
    assert!(field_rules::set_required(&tx, "Contact", "phone", true).await.unwrap());
    assert!(field_rules::rules(&tx, "Contact").await.unwrap().required.iter().any(|f| f == "phone"));
    tx.commit().await.unwrap();
    app.gql(t, CREATE, json!({ "i": { "lastName": "Checked" } })).await.assert_invalid("phone");
    let traced = "SELECT COUNT(*) FROM trace WHERE entity_type = 'Account'";
    assert_eq!(app.sql_count(traced).await, 0, "the refused transactions wrote nothing");
}

/// Readers keep what stands while the trace head does (kept adoption
/// answers, the change feed): a transaction that inserted or deleted rows
/// and traced no change is refused at its commit, directly or through a
/// savepoint, and leaves nothing behind. Updates that change nothing (an
/// admin saving a form as it was) and derived columns pass.
async fn a_write_without_a_trace_is_not_committed(app: TestApp) {
    use entity::account;
    use sea_orm::{ColumnTrait, Set};

    let acme = app.tenant("acme").await;
    let actor = system_actor(&app, &acme.admin.token).await;
    let me = app.gql(Some(&acme.admin.token), "{ me { user { id } } }", json!({})).await;
    let owner: uuid::Uuid = me.data()["me"]["user"]["id"].as_str().unwrap().parse().unwrap();
    let account = |name: &str| {
        let now = chrono::Utc::now();
        account::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            name: Set(name.to_owned()),
            owner_id: Set(owner),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
            completeness: Set(0.0),
            ..Default::default()
        }
    };
    let stored = |name: &'static str| {
        let app = &app;
        async move { app.sql_count(&format!("SELECT COUNT(*) FROM account WHERE name = '{name}'")).await }
    };

    let untraced = |result: Result<(), sea_orm::DbErr>| {
        let refused = result.expect_err("an untraced insert or delete is refused").to_string();
        assert!(refused.contains("traced no change"), "{refused}");
    };

    let tx = app.db.begin(actor.clone(), None).await.unwrap();
    tx.insert(account("Untraced")).await.unwrap();
    untraced(tx.commit().await);
    assert_eq!(stored("Untraced").await, 0, "and rolled back");

    let tx = app.db.begin(actor.clone(), None).await.unwrap();
    let point = tx.savepoint().await.unwrap();
    point.insert(account("Through a savepoint")).await.unwrap();
    point.commit().await.unwrap();
    untraced(tx.commit().await);
    assert_eq!(stored("Through a savepoint").await, 0);

    let tx = app.db.begin(actor.clone(), None).await.unwrap();
    let written = tx.insert(account("Traced")).await.unwrap();
    tx.trace(Change::create("Account", written.id, json!({ "name": "Traced" }))).await.unwrap();
    tx.set_column_where::<account::Entity>(account::Column::Completeness, 0.5, account::Column::Id.eq(written.id))
        .await
        .unwrap();
    tx.commit().await.expect("a traced write commits");
    assert_eq!(stored("Traced").await, 1);

    let tx = app.db.begin(actor.clone(), None).await.unwrap();
    tx.set_column_where::<account::Entity>(account::Column::Completeness, 1.0, account::Column::Id.eq(written.id))
        .await
        .unwrap();
    tx.commit().await.expect("a derived column alone needs no trace");
    let score = "query($id: ID!) { account(id: $id) { completeness } }";
    let read = app.gql(Some(&acme.admin.token), score, json!({ "id": written.id })).await;
    assert_eq!(read.data()["account"]["completeness"], 1.0);

    let tx = app.db.begin(actor.clone(), None).await.unwrap();
    assert_eq!(tx.delete_where::<account::Entity>(account::Column::Id.eq(written.id)).await.unwrap(), 1);
    untraced(tx.commit().await);
    assert_eq!(stored("Traced").await, 1, "the delete rolled back");
    let tx = app.db.begin(actor, None).await.unwrap();
    let nothing = uuid::Uuid::now_v7();
    assert_eq!(tx.delete_where::<account::Entity>(account::Column::Id.eq(nothing)).await.unwrap(), 0);
    tx.commit().await.expect("a delete that removed nothing needs no trace");

    // Through the API: an admin saving settings as they were changes nothing,
    // traces nothing, and succeeds.
    let t = Some(acme.admin.token.as_str());
    let traces = "SELECT COUNT(*) FROM trace";
    let before = app.sql_count(traces).await;
    let required = "mutation { setFieldRequired(entity: \"Contact\", field: \"phone\", required: true) }";
    let optional = "mutation { setFieldRequired(entity: \"Contact\", field: \"phone\", required: false) }";
    for rule in [optional, required, required, optional, optional] {
        app.gql(t, rule, json!({})).await.data();
    }
    let field = "mutation($i: CreateCustomFieldInput!) { createCustomField(input: $i) { id } }";
    let input = json!({ "entity": "Account", "name": "segment", "label": "Segment", "type": "TEXT" });
    let id = app.gql(t, field, json!({ "i": input })).await.data()["createCustomField"]["id"].clone();
    let same = "mutation($id: ID!) { updateCustomField(id: $id, label: \"Segment\", required: false) { id } }";
    assert_eq!(app.gql(t, same, json!({ "id": id })).await.data()["updateCustomField"]["id"], id);
    assert_eq!(app.sql_count(traces).await, before + 3, "two changes of the rule, and the new field");
}
