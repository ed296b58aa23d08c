//! `crm demo`: a believable, traced history that a second run leaves alone.

use crm_api::db::system;
use crm_api::db::trace::{ChainStatus, verify_chain};
use crm_api::service::demo;
use crm_tests::{TestApp, db_tests, serde_json::json};

db_tests!(demo_history_is_spread_traced_and_idempotent);

async fn demo_history_is_spread_traced_and_idempotent(app: TestApp) {
    assert!(demo::ensure(&app.db, 3).await.unwrap());
    let admin = app.login(demo::SLUG, demo::ADMIN_EMAIL, demo::PASSWORD).await;
    let t = Some(admin.token.as_str());
    let totals = "{ accounts { totalCount } contacts { totalCount } leads { totalCount } opportunities { totalCount } activities { totalCount } overdue: activities(filter: { overdue: true }) { totalCount } done: activities(filter: { completed: true }) { totalCount } converted: leads(filter: { converted: true }) { totalCount } won: opportunities(filter: { stage: \"won\" }) { totalCount } }";
    let first = app.gql(t, totals, json!({})).await.data().clone();
    for list in ["accounts", "contacts", "leads", "opportunities", "activities", "overdue", "done", "converted", "won"]
    {
        assert!(first[list]["totalCount"].as_u64().unwrap() > 0, "{list}: {first}");
    }
    // The history spans the weeks asked for, and its traces chain.
    let oldest =
        app.sql_count("SELECT COUNT(*) FROM trace WHERE change_type = 'CREATE' AND entity_type = 'Account'").await;
    assert!(oldest > 10);
    let weeks = app
        .gql(t, "{ traces(filter: { changeType: LOGIN }, first: 500) { nodes { at } } }", json!({}))
        .await
        .data()["traces"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["at"].as_str().unwrap()[..10].to_owned())
        .collect::<std::collections::BTreeSet<_>>();
    assert!(weeks.len() >= 10, "logins on many days: {weeks:?}");
    let tenant = system::tenant_by_slug(app.db.connection(), demo::SLUG).await.unwrap().unwrap();
    assert!(matches!(verify_chain(app.db.connection(), tenant.id).await.unwrap(), ChainStatus::Intact { .. }));

    // A second run adds nothing.
    assert!(!demo::ensure(&app.db, 3).await.unwrap());
    assert_eq!(app.gql(t, totals, json!({})).await.data(), &first);
}
