//! Adoption metrics: counters, visibility, rebuild, time zones, subscriptions.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, TimeZone, Utc};
use crm_api::auth::{Actor, admin_access};
use crm_api::db::system;
use crm_api::db::trace::Change;
use crm_tests::serde_json::{Value, json};
use crm_tests::{Session, TenantFixture, TestApp, db_tests};

db_tests!(
    adoption_counts_a_scripted_week,
    metrics_visibility_between_users_managers_and_admins,
    rebuild_equals_incremental,
    time_zone_moves_week_boundaries,
    a_time_zone_change_waits_for_a_write_holding_the_tenant,
    bad_adoption_input,
    report_rows_answer_any_selection_as_the_executor_does,
    overdue_is_counted_as_of_each_week_end,
    overdue_follows_every_write_of_an_activity,
    upgrading_rebuilds_the_rollup_of_existing_tenants,
    adoption_changed_reaches_a_websocket_subscriber,
    trace_added_follows_visibility_and_ends_on_revocation,
    events_cross_server_processes,
    a_kept_report_stands_until_its_data_or_its_clock_moves,
);

const REPORT: &str = "query($f: NaiveDate!, $t: NaiveDate!, $u: [ID!]) { adoption(from: $f, to: $t, users: $u) {
    timeZone weeks
    users { week userId user { displayName } lastActiveAt counts { ...C } }
    totals { week seats activeUsers writingUsers writingShare writingShareChange counts { ...C } change { ...C } }
    automated { week kind apiTokenId userId counts { ...C } } } }
    fragment C on AdoptionCounts { activitiesLogged activitiesCompleted activitiesOverdue accountsCreated contactsCreated
      leadsCreated opportunitiesCreated recordsCreated { entity count } updates logins writes }";

fn today() -> String {
    Utc::now().date_naive().to_string()
}

async fn report(app: &TestApp, token: &str, users: Option<Vec<&str>>) -> Value {
    let r = app.gql(Some(token), REPORT, json!({ "f": today(), "t": today(), "u": users })).await;
    r.data()["adoption"].clone()
}

fn row<'a>(report: &'a Value, user: &Session) -> &'a Value {
    report["users"].as_array().unwrap().iter().find(|r| r["userId"] == user.user_id.as_str()).unwrap()
}

fn user_ids(report: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        report["users"].as_array().unwrap().iter().map(|r| r["userId"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

async fn create(app: &TestApp, token: &str, mutation: &str, input: Value) -> String {
    let query = format!("mutation($i: {}Input!) {{ {mutation}(input: $i) {{ id }} }}", capitalized(mutation));
    let r = app.gql(Some(token), &query, json!({ "i": input })).await;
    r.data()[mutation]["id"].as_str().unwrap().to_owned()
}

fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

async fn user_with_manager(app: &TestApp, tenant: &TenantFixture, name: &str, manager: Option<&Session>) -> Session {
    let sales = app.profile_id(tenant, "Sales").await;
    let email = format!("{}@{}.test", name.to_lowercase(), tenant.slug);
    let input = json!({ "email": email, "displayName": name, "password": crm_tests::PASSWORD, "profileId": sales,
        "managerId": manager.map(|m| m.user_id.clone()) });
    app.gql(
        Some(&tenant.admin.token),
        "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
        json!({ "i": input }),
    )
    .await
    .data();
    app.login(&tenant.slug, &email, crm_tests::PASSWORD).await
}

async fn adoption_counts_a_scripted_week(app: TestApp) {
    let acme = app.tenant("acme").await;
    let ana = app.user(&acme, "Ana", "Sales").await;
    let bob = app.user(&acme, "Bob", "Sales").await;
    let t = ana.token.as_str();
    let initech = create(&app, t, "createAccount", json!({ "name": "Initech" })).await;
    create(&app, t, "createAccount", json!({ "name": "Globex" })).await;
    create(&app, t, "createContact", json!({ "lastName": "Lumbergh", "accountId": initech })).await;
    create(&app, t, "createLead", json!({ "lastName": "Gibbons", "company": "Penetrode" })).await;
    create(&app, t, "createOpportunity", json!({ "name": "TPS", "accountId": initech })).await;
    let overdue = (Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    let call = json!({ "kind": "Call", "subject": "Call", "target": { "accountId": initech }, "dueAt": overdue });
    create(&app, t, "createActivity", call.clone()).await;
    let done = create(&app, t, "createActivity", call).await;
    app.gql(Some(t), "mutation($id: ID!) { completeActivity(id: $id) { id } }", json!({ "id": done })).await.data();
    app.gql(
        Some(t),
        "mutation($id: ID!) { updateAccount(id: $id, input: { name: \"Initech Corp\" }) { id } }",
        json!({ "id": initech }),
    )
    .await
    .data();
    // An integration's writes are reported apart and never count as a person's.
    let token = app.api_token(&acme.admin.token).await;
    create(&app, &token, "createAccount", json!({ "name": "From ERP", "ownerId": ana.user_id })).await;

    let week = report(&app, &acme.admin.token, None).await;
    assert_eq!(week["timeZone"], "UTC");
    let monday = Utc::now().date_naive() - chrono::Days::new(u64::from(Utc::now().weekday().num_days_from_monday()));
    assert_eq!(week["weeks"], json!([monday.to_string()]));
    let a = &row(&week, &ana)["counts"];
    assert_eq!(
        a,
        &json!({ "activitiesLogged": 2, "activitiesCompleted": 1, "activitiesOverdue": 1, "accountsCreated": 2,
            "contactsCreated": 1, "leadsCreated": 1, "opportunitiesCreated": 1, "recordsCreated": [], "updates": 1,
            "logins": 1, "writes": 9 })
    );
    assert!(row(&week, &ana)["lastActiveAt"].is_string());
    let b = &row(&week, &bob)["counts"];
    assert_eq!((b["logins"].as_i64(), b["writes"].as_i64()), (Some(1), Some(0)));
    assert_eq!(row(&week, &bob)["user"]["displayName"], "Bob");

    let totals = &week["totals"][0];
    assert_eq!(totals["seats"], 3);
    assert_eq!(totals["activeUsers"], 3);
    assert_eq!(totals["writingUsers"], 1);
    assert!((totals["writingShare"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(totals["counts"]["accountsCreated"], 2, "the integration's account is not a person's");
    assert_eq!(totals["change"]["accountsCreated"], 2, "nothing the week before");
    // An account stamped after its owner's work (history loaded from elsewhere)
    // still holds a seat in the weeks its owner acted.
    let later = (Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    app.sql(&format!("UPDATE app_user SET created_at = '{later}'")).await.unwrap();
    // Behind the API's back: reports see it after a rebuild, as documented.
    let tenant = system::tenant_by_slug(app.db.connection(), "acme").await.unwrap().unwrap();
    crm_api::service::adoption::rebuild(&app.db, tenant.id).await.unwrap();
    let moved = report(&app, &acme.admin.token, None).await;
    assert_eq!(moved["totals"][0]["seats"], 3, "{}", moved["totals"]);
    assert!(moved["totals"][0]["writingShare"].as_f64().unwrap() <= 1.0);
    let automated = week["automated"].as_array().unwrap();
    let erp = automated.iter().find(|r| r["kind"] == "INTEGRATION").unwrap();
    assert_eq!(erp["counts"]["accountsCreated"], 1);
    assert!(erp["apiTokenId"].is_string());
}

/// Report rows are read straight off the values when the selection allows
/// (`graphql::plain`); with a field that needs a loader the list goes through
/// the executor. Both must answer every selection alike: aliases, fragments
/// (named, inline, typed), `__typename`, a key selected twice.
async fn report_rows_answer_any_selection_as_the_executor_does(app: TestApp) {
    let acme = app.tenant("acme").await;
    let ana = app.user(&acme, "Ana", "Sales").await;
    let admin = acme.admin.token.as_str();
    app.gql(Some(admin), "mutation { createEntity(name: \"Course\", label: \"Course\") { id } }", json!({}))
        .await
        .data();
    app.gql(Some(&ana.token), "mutation { createRecord(entity: \"Course\", input: {}) { id } }", json!({}))
        .await
        .data();
    create(&app, &ana.token, "createAccount", json!({ "name": "Initech" })).await;
    let token = app.api_token(admin).await;
    create(&app, &token, "createAccount", json!({ "name": "From ERP", "ownerId": ana.user_id })).await;

    let selection = |user: &str| {
        format!(
            "query($f: NaiveDate!, $t: NaiveDate!) {{ adoption(from: $f, to: $t) {{
            users {{ __typename {user} when: week userId ...Row counts {{ writes }} counts {{ logins ... on AdoptionCounts {{ made: recordsCreated {{ entity count __typename }} }} }} }}
            totals {{ ... {{ week seats }} share: writingShare counts {{ ...C }} change {{ accountsCreated }} __typename }}
            automated {{ kind apiTokenId userId counts {{ ...C }} }} }} }}
            fragment Row on UserAdoption {{ lastActiveAt counts {{ ...C }} }}
            fragment C on AdoptionCounts {{ accountsCreated recordsCreated {{ entity count }} }}"
        )
    };
    let vars = json!({ "f": today(), "t": today() });
    let plain = app.gql(Some(admin), &selection(""), vars.clone()).await.data()["adoption"].clone();
    let executed = app.gql(Some(admin), &selection("user { id }"), vars).await.data()["adoption"].clone();

    let mut users = executed["users"].clone();
    for row in users.as_array_mut().unwrap() {
        row.as_object_mut().unwrap().shift_remove("user");
    }
    assert_eq!(plain["users"], users);
    let keys = |row: &Value| row.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let anas = row(&plain, &ana);
    assert_eq!(keys(anas), ["__typename", "when", "userId", "lastActiveAt", "counts"]);
    assert_eq!(keys(&anas["counts"]), ["accountsCreated", "recordsCreated", "writes", "logins", "made"]);
    assert_eq!(anas["__typename"], "UserAdoption");
    assert_eq!(anas["counts"]["writes"], 2);
    assert_eq!(anas["counts"]["recordsCreated"], json!([{ "entity": "Course", "count": 1 }]));
    assert_eq!(anas["counts"]["made"], json!([{ "entity": "Course", "count": 1, "__typename": "EntityCount" }]));

    let totals = &plain["totals"][0];
    assert_eq!(keys(totals), ["week", "seats", "share", "counts", "change", "__typename"]);
    assert_eq!((totals["seats"].as_i64(), totals["share"].as_f64()), (Some(2), Some(0.5)));
    assert_eq!(totals["change"], json!({ "accountsCreated": 1 }));
    let erp = plain["automated"].as_array().unwrap().iter().find(|r| r["kind"] == "INTEGRATION").unwrap();
    assert_eq!((erp["userId"].clone(), erp["counts"]["accountsCreated"].clone()), (Value::Null, json!(1)));
    assert!(erp["apiTokenId"].is_string());
}

async fn metrics_visibility_between_users_managers_and_admins(app: TestApp) {
    let acme = app.tenant("acme").await;
    let mia = user_with_manager(&app, &acme, "Mia", None).await;
    let rex = user_with_manager(&app, &acme, "Rex", Some(&mia)).await;
    let ivy = user_with_manager(&app, &acme, "Ivy", Some(&rex)).await;
    let olga = user_with_manager(&app, &acme, "Olga", None).await;
    let token = app.api_token(&acme.admin.token).await;
    create(&app, &token, "createAccount", json!({ "name": "From ERP", "ownerId": olga.user_id })).await;

    let mut team = vec![mia.user_id.clone(), rex.user_id.clone(), ivy.user_id.clone()];
    team.sort();
    assert_eq!(user_ids(&report(&app, &mia.token, None).await), team, "a manager sees the team, through levels");
    assert_eq!(
        user_ids(&report(&app, &ivy.token, None).await),
        vec![ivy.user_id.clone()],
        "a user sees their own rows"
    );
    let own = report(&app, &olga.token, None).await;
    assert_eq!(user_ids(&own), vec![olga.user_id.clone()]);
    assert_eq!(own["totals"][0]["seats"], 5, "everyone sees tenant totals");
    assert_eq!(own["automated"], json!([]), "integrations need viewAllMetrics");
    assert_eq!(user_ids(&report(&app, &acme.admin.token, None).await).len(), 5, "admins see everyone");

    let r = app.gql(Some(&mia.token), REPORT, json!({ "f": today(), "t": today(), "u": [olga.user_id] })).await;
    r.assert_code("FORBIDDEN");
    let narrowed = report(&app, &mia.token, Some(vec![&rex.user_id])).await;
    assert_eq!(user_ids(&narrowed), vec![rex.user_id.clone()]);

    // Another tenant's user is not found, exactly like a missing one.
    let globex = app.tenant("globex").await;
    let r = app.gql(Some(&mia.token), REPORT, json!({ "f": today(), "t": today(), "u": [globex.admin.user_id] })).await;
    r.assert_code("NOT_FOUND");

    // viewAllMetrics, granted to the Sales profile, shows everyone on the next request.
    let profiles = app.gql(Some(&acme.admin.token), "{ profiles { id name viewAllMetrics } }", json!({})).await;
    let sales = profiles.data()["profiles"].as_array().unwrap().iter().find(|p| p["name"] == "Sales").unwrap().clone();
    assert_eq!(sales["viewAllMetrics"], false);
    let grant =
        "mutation($p: ID!, $v: Boolean!) { setProfileMetricsAccess(id: $p, viewAllMetrics: $v) { viewAllMetrics } }";
    app.gql(Some(&olga.token), grant, json!({ "p": sales["id"], "v": true })).await.assert_code("FORBIDDEN");
    let r = app.gql(Some(&acme.admin.token), grant, json!({ "p": sales["id"], "v": true })).await;
    assert_eq!(r.data()["setProfileMetricsAccess"]["viewAllMetrics"], true);
    let all = report(&app, &olga.token, None).await;
    assert_eq!(user_ids(&all).len(), 5);
    let kinds: Vec<&Value> = all["automated"].as_array().unwrap().iter().map(|r| &r["kind"]).collect();
    assert!(kinds.contains(&&json!("INTEGRATION")), "{kinds:?}");
}

/// The rollup kept at each commit equals the one recomputed from the traces.
async fn rebuild_equals_incremental(app: TestApp) {
    let acme = app.tenant("acme").await;
    let ana = app.user(&acme, "Ana", "Sales").await;
    let bob = app.user(&acme, "Bob", "Marketing").await;
    let token = app.api_token(&acme.admin.token).await;
    let sessions = [acme.admin.token.clone(), ana.token.clone(), bob.token.clone(), token];
    // A deterministic pseudo-random mix of writes by people and an integration.
    let mut seed = 0x2545_f491_u64;
    let mut accounts = Vec::new();
    for step in 0..40 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let who = &sessions[(seed % 4) as usize];
        match (seed >> 8) % 5 {
            0 | 1 => {
                let input = json!({ "name": format!("A{step}"), "ownerId": ana.user_id });
                accounts.push(create(&app, who, "createAccount", input).await);
            }
            2 if !accounts.is_empty() => {
                let id = &accounts[(seed >> 16) as usize % accounts.len()];
                let q = "mutation($id: ID!, $n: String!) { updateAccount(id: $id, input: { name: $n }) { id } }";
                app.gql(Some(who), q, json!({ "id": id, "n": format!("B{step}") })).await.data();
            }
            3 if !accounts.is_empty() => {
                let id = accounts[(seed >> 16) as usize % accounts.len()].clone();
                let input =
                    json!({ "kind": "Call", "subject": "c", "target": { "accountId": id }, "ownerId": ana.user_id });
                let activity = create(&app, who, "createActivity", input).await;
                if seed.is_multiple_of(3) {
                    let q = "mutation($id: ID!) { completeActivity(id: $id) { id } }";
                    app.gql(Some(who), q, json!({ "id": activity })).await.data();
                }
            }
            _ => {
                app.login(&acme.slug, "ana@acme.test", crm_tests::PASSWORD).await;
            }
        }
    }
    let sql = "SELECT week, actor_kind, actor_id, counter, value FROM adoption_rollup ORDER BY 1, 2, 3, 4";
    let before = rows(&app, sql).await;
    assert!(before.len() > 12, "the mix produced counters: {}", before.len());
    let tenant = system::tenant_by_slug(app.db.connection(), "acme").await.unwrap().unwrap();
    let counted = crm_api::service::adoption::rebuild(&app.db, tenant.id).await.unwrap();
    assert!(counted > 40);
    assert_eq!(rows(&app, sql).await, before);
    // And rebuilding repairs drift.
    app.sql("UPDATE adoption_rollup SET value = value + 5").await.unwrap();
    crm_api::service::adoption::rebuild(&app.db, tenant.id).await.unwrap();
    assert_eq!(rows(&app, sql).await, before);
}

async fn rows(app: &TestApp, sql: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let result =
        app.db.connection().query_all_raw(Statement::from_string(app.backend(), sql.to_owned())).await.unwrap();
    result
        .iter()
        .map(|r| {
            let week: chrono::NaiveDate = r.try_get_by_index(0).unwrap();
            let kind: String = r.try_get_by_index(1).unwrap();
            let actor: uuid::Uuid = r.try_get_by_index(2).unwrap();
            let counter: String = r.try_get_by_index(3).unwrap();
            let value: i64 = r.try_get_by_index(4).unwrap();
            format!("{week} {kind} {actor} {counter} {value}")
        })
        .collect()
}

async fn time_zone_moves_week_boundaries(app: TestApp) {
    let acme = app.tenant("acme").await;
    let me = app.gql(Some(&acme.admin.token), "{ me { user { id profile { id } } } }", json!({})).await;
    let profile: uuid::Uuid = me.data()["me"]["user"]["profile"]["id"].as_str().unwrap().parse().unwrap();
    let user: uuid::Uuid = acme.admin.user_id.parse().unwrap();
    let tenant = system::tenant_by_slug(app.db.connection(), "acme").await.unwrap().unwrap();
    // Sunday 23:30 UTC is already Monday in Berlin.
    let sunday_night = Utc.with_ymd_and_hms(2026, 11, 15, 23, 30, 0).unwrap();
    let actor = Arc::new(Actor::person(tenant.id, user, profile, admin_access()));
    let tx = app.db.begin_at(actor, None, sunday_night).await.unwrap();
    tx.trace(Change::create("Account", uuid::Uuid::now_v7(), json!({ "name": "Late" }))).await.unwrap();
    tx.commit().await.unwrap();

    let range = json!({ "f": "2026-11-09", "t": "2026-11-16" });
    let created = |r: &Value| -> Vec<i64> {
        r["adoption"]["totals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["counts"]["accountsCreated"].as_i64().unwrap())
            .collect()
    };
    let r = app.gql(Some(&acme.admin.token), REPORT, range.clone()).await;
    assert_eq!(created(r.data()), vec![1, 0]);

    let set = "mutation($z: String!) { updateTenantSettings(input: { timeZone: $z }) { timeZone } }";
    let ana = app.user(&acme, "Ana", "Sales").await;
    app.gql(Some(&ana.token), set, json!({ "z": "Europe/Berlin" })).await.assert_code("FORBIDDEN");
    app.gql(Some(&acme.admin.token), set, json!({ "z": "Mars/Olympus" })).await.assert_invalid("timeZone");
    let r = app.gql(Some(&acme.admin.token), set, json!({ "z": " Europe/Berlin " })).await;
    assert_eq!(r.data()["updateTenantSettings"]["timeZone"], "Europe/Berlin");
    let r = app.gql(Some(&acme.admin.token), REPORT, range).await;
    assert_eq!(r.data()["adoption"]["timeZone"], "Europe/Berlin");
    assert_eq!(created(r.data()), vec![0, 1], "the rollup was recomputed in the new zone");
    let settings = app.gql(Some(&ana.token), "{ tenantSettings { timeZone } }", json!({})).await;
    assert_eq!(settings.data()["tenantSettings"]["timeZone"], "Europe/Berlin");
}

/// A write that read the tenant's row (and with it the zone it counts its
/// traces in at commit) before an admin changed the zone: the change waits
/// for the write's commit, then recounts everything in the new zone.
async fn a_time_zone_change_waits_for_a_write_holding_the_tenant(app: TestApp) {
    let acme = app.tenant("acme").await;
    let me = app.gql(Some(&acme.admin.token), "{ me { user { id profile { id } } } }", json!({})).await;
    let profile: uuid::Uuid = me.data()["me"]["user"]["profile"]["id"].as_str().unwrap().parse().unwrap();
    let user: uuid::Uuid = acme.admin.user_id.parse().unwrap();
    let tenant = system::tenant_by_slug(app.db.connection(), "acme").await.unwrap().unwrap();
    // Sunday 23:30 UTC is already Monday in Berlin.
    let sunday_night = Utc.with_ymd_and_hms(2026, 11, 15, 23, 30, 0).unwrap();
    let actor = Arc::new(Actor::person(tenant.id, user, profile, admin_access()));
    let tx = app.db.begin_at(actor, None, sunday_night).await.unwrap();
    tx.read_config().await.unwrap();
    tx.trace(Change::create("Account", uuid::Uuid::now_v7(), json!({ "name": "Late" }))).await.unwrap();

    let set = "mutation { updateTenantSettings(input: { timeZone: \"Europe/Berlin\" }) { timeZone } }";
    let changed = std::sync::atomic::AtomicBool::new(false);
    let change = async {
        let r = app.gql(Some(&acme.admin.token), set, json!({})).await;
        changed.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    };
    let write = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !changed.load(std::sync::atomic::Ordering::SeqCst),
            "the change waits for the write holding the tenant"
        );
        tx.commit().await.unwrap();
    };
    let (r, ()) = tokio::join!(change, write);
    assert_eq!(r.data()["updateTenantSettings"]["timeZone"], "Europe/Berlin");

    let range = json!({ "f": "2026-11-09", "t": "2026-11-16" });
    let r = app.gql(Some(&acme.admin.token), REPORT, range).await;
    let created: Vec<i64> = r.data()["adoption"]["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["counts"]["accountsCreated"].as_i64().unwrap())
        .collect();
    assert_eq!(created, vec![0, 1], "counted in Berlin's week, not UTC's");
    let sql = "SELECT week, actor_kind, actor_id, counter, value FROM adoption_rollup ORDER BY 1, 2, 3, 4";
    let before = rows(&app, sql).await;
    crm_api::service::adoption::rebuild(&app.db, tenant.id).await.unwrap();
    assert_eq!(rows(&app, sql).await, before, "the rollup equals a rebuild");
}

async fn bad_adoption_input(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = Some(acme.admin.token.as_str());
    app.gql(t, REPORT, json!({ "f": "2026-11-20", "t": "2026-11-01" })).await.assert_invalid("to");
    app.gql(t, REPORT, json!({ "f": "2020-01-01", "t": "2026-11-01" })).await.assert_invalid("to");
    app.gql(t, REPORT, json!({ "f": "2026-11-01", "t": "2026-11-02", "u": ["nope"] })).await.assert_invalid("users");
    app.gql(t, REPORT, json!({ "f": "2026-13-01", "t": "2026-11-02" })).await.assert_code("BAD_USER_INPUT");
    // Dates at the edges of the calendar are refused, not overflowed.
    app.gql(t, REPORT, json!({ "f": "0001-01-01", "t": "0001-01-08" })).await.assert_invalid("from");
    app.gql(t, REPORT, json!({ "f": "9999-12-30", "t": "9999-12-31" })).await.assert_invalid("from");
    let board = "query($w: NaiveDate!) { leaderboard(week: $w) { week } }";
    app.gql(t, board, json!({ "w": "9999-12-31" })).await.assert_invalid("week");
    app.gql(None, REPORT, json!({ "f": "2026-11-01", "t": "2026-11-02" })).await.assert_code("UNAUTHENTICATED");
}

const ADOPTION_CHANGED: &str =
    "subscription { adoptionChanged { week users { userId counts { accountsCreated writes } }
    totals { counts { accountsCreated } writingUsers } } }";

async fn adoption_changed_reaches_a_websocket_subscriber(app: TestApp) {
    let acme = app.tenant("acme").await;
    let ana = app.user(&acme, "Ana", "Sales").await;
    let bob = app.user(&acme, "Bob", "Sales").await;
    let mut bobs = app.socket(&bob.token).await;
    bobs.subscribe("a", ADOPTION_CHANGED, json!({})).await;
    let mut admins = app.socket(&acme.admin.token).await;
    admins.subscribe("a", ADOPTION_CHANGED, json!({})).await;
    // Give the server a moment to start both subscriptions.
    tokio::time::sleep(Duration::from_millis(300)).await;

    create(&app, &ana.token, "createAccount", json!({ "name": "Initech" })).await;
    let seen = admins.next().await;
    assert_eq!(seen["type"], "next", "{seen}");
    let change = &seen["payload"]["data"]["adoptionChanged"];
    assert_eq!(change["users"], json!([{ "userId": ana.user_id, "counts": { "accountsCreated": 1, "writes": 1 } }]));
    assert_eq!(change["totals"]["counts"]["accountsCreated"], 1);
    // Bob may not see Ana's row, but sees the totals move.
    let seen = bobs.next().await;
    let change = &seen["payload"]["data"]["adoptionChanged"];
    assert_eq!(change["users"], json!([]));
    assert_eq!(change["totals"]["writingUsers"], 1);

    // Another tenant's writes never reach them.
    let globex = app.tenant("globex").await;
    create(&app, &globex.admin.token, "createAccount", json!({ "name": "Globex" })).await;
    assert!(admins.next_within(Duration::from_millis(500)).await.is_none());
}

async fn trace_added_follows_visibility_and_ends_on_revocation(app: TestApp) {
    let acme = app.tenant("acme").await;
    let ana = app.user(&acme, "Ana", "Sales").await;
    let sales = app.profile_id(&acme, "Sales").await;
    let hide = "mutation($p: ID!) { setFieldAccess(profileId: $p, entity: \"Account\", field: \"website\", access: HIDDEN) { field } }";
    app.gql(Some(&acme.admin.token), hide, json!({ "p": sales })).await.data();

    // Subscribers of several profiles hear the same batch: the redaction
    // worked out for one profile must never reach another.
    let query = "subscription($f: TraceAddedFilter) { traceAdded(filter: $f) { entityType changeType after hash } }";
    let mut admin = app.socket(&acme.admin.token).await;
    admin.subscribe("t", query, json!({ "f": { "entityTypes": ["Account"] } })).await;
    let mut socket = app.socket(&ana.token).await;
    socket.subscribe("t", query, json!({ "f": { "entityTypes": ["Account"] } })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let input = json!({ "name": "Initech", "website": "https://initech.example" });
    create(&app, &acme.admin.token, "createAccount", input).await;
    create(&app, &acme.admin.token, "createLead", json!({ "lastName": "Gibbons", "company": "P" })).await;
    let seen = socket.next().await;
    let trace = &seen["payload"]["data"]["traceAdded"];
    assert_eq!(trace["entityType"], "Account");
    assert_eq!(trace["after"]["name"], "Initech");
    assert!(trace["after"].get("website").is_none(), "hidden field left out: {trace}");
    assert!(trace["hash"].is_null(), "no hash on a redacted entry");
    assert!(socket.next_within(Duration::from_millis(400)).await.is_none(), "the lead is filtered out");
    let seen = admin.next().await;
    let trace = &seen["payload"]["data"]["traceAdded"];
    assert_eq!(trace["after"]["website"], "https://initech.example", "the admin sees every field: {trace}");
    assert!(trace["hash"].is_string(), "an unredacted entry keeps its hash: {trace}");

    // Removing the user ends the subscription with UNAUTHENTICATED.
    let delete = "mutation($id: ID!) { deleteUser(id: $id) { id } }";
    app.gql(Some(&acme.admin.token), delete, json!({ "id": ana.user_id })).await.data();
    let seen = socket.next().await;
    assert_eq!(seen["type"], "next", "{seen}");
    assert_eq!(seen["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{seen}");
    let done = socket.next().await;
    assert_eq!(done["type"], "complete", "{done}");
}

/// Two server processes on one PostgreSQL: a write through one reaches the
/// subscribers of the other.
async fn events_cross_server_processes(app: TestApp) {
    if app.backend() != sea_orm::DbBackend::Postgres {
        eprintln!("notice: one SQLite file serves one process; the cross-process run is PostgreSQL's");
        return;
    }
    let acme = app.tenant("acme").await;
    let other = app.second_server().await;
    let mut socket = crm_tests::Socket::open(&format!("ws://{other}/graphql/ws"), &acme.admin.token).await;
    socket.subscribe("t", "subscription { traceAdded { entityType after } }", json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    create(&app, &acme.admin.token, "createAccount", json!({ "name": "Across" })).await;
    let seen = socket.next().await;
    assert_eq!(seen["payload"]["data"]["traceAdded"]["after"]["name"], "Across", "{seen}");

    // The listener's connection drops: what it missed cannot be delivered, so
    // the subscriber is told (LAGGED) instead of silently missing events.
    let kill = "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
        WHERE datname = current_database() AND query ILIKE 'listen%'";
    assert!(app.sql_count(kill).await >= 1);
    let seen = socket.next().await;
    assert_eq!(seen["payload"]["errors"][0]["extensions"]["code"], "LAGGED", "{seen}");
    assert_eq!(socket.next().await["type"], "complete");
}

async fn overdue_is_counted_as_of_each_week_end(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let account = create(&app, t, "createAccount", json!({ "name": "Initech" })).await;
    let due = (Utc::now() - chrono::Duration::days(10)).to_rfc3339();
    let input = json!({ "kind": "Call", "subject": "Call", "target": { "accountId": account }, "dueAt": due });
    let call = create(&app, t, "createActivity", input).await;
    // Behind the API's back: the activity was logged five weeks ago.
    let long_ago = (Utc::now() - chrono::Duration::days(35)).to_rfc3339();
    app.sql(&format!("UPDATE activity SET created_at = '{long_ago}'")).await.unwrap();
    // A change behind the API's back reaches the rollup through a rebuild.
    let tenant = system::tenant_by_slug(app.db.connection(), "acme").await.unwrap().unwrap();
    crm_api::service::adoption::rebuild(&app.db, tenant.id).await.unwrap();
    let overdue = |r: &Value| -> Vec<i64> {
        r["adoption"]["totals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["counts"]["activitiesOverdue"].as_i64().unwrap())
            .collect()
    };
    let from = (Utc::now() - chrono::Duration::days(28)).date_naive().to_string();
    let range = json!({ "f": from, "t": today() });
    let r = app.gql(Some(t), REPORT, range.clone()).await;
    let before = overdue(r.data());
    assert_eq!(before.len(), 5);
    // Due 10 days ago: overdue at the end of the week or two since, and now.
    let expected: Vec<i64> = before.iter().map(|n| i64::from(*n > 0)).collect();
    assert_eq!(before, expected);
    assert_eq!(before[..2], [0, 0], "not yet due four weeks ago");
    assert_eq!(before[4], 1, "overdue now");
    assert!(before.iter().sum::<i64>() >= 2, "{before:?}");
    // Completed now: still overdue at the past week ends, no longer now.
    app.gql(Some(t), "mutation($id: ID!) { completeActivity(id: $id) { id } }", json!({ "id": call })).await.data();
    let after = overdue(app.gql(Some(t), REPORT, range).await.data());
    assert_eq!(after[..4], before[..4]);
    assert_eq!(after[4], 0);
}

/// The overdue counts kept as steps at each write equal, for every week and
/// owner, what the activities themselves say (overdue as of each week's end,
/// or now for the current and later weeks), through creation, completion,
/// reassignment, a moved due date, deletion, restoring and a bulk upsert; and
/// the stored steps equal a rebuild's.
async fn overdue_follows_every_write_of_an_activity(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let ana = app.user(&acme, "Ana", "Sales").await;
    let bob = app.user(&acme, "Bob", "Sales").await;
    let account = create(&app, t, "createAccount", json!({ "name": "Initech" })).await;
    let now = Utc::now();
    let days = |n: i64| (now + chrono::Duration::days(n)).to_rfc3339();
    let activity = |owner: &Session, due: Option<String>| {
        json!({ "kind": "Call", "subject": "Call", "target": { "accountId": account }, "ownerId": owner.user_id,
            "dueAt": due })
    };
    let mut ids = Vec::new();
    for (owner, due) in [
        (&ana, Some(days(-20))),
        (&ana, Some(days(-3))),
        (&bob, Some(days(-9))),
        (&bob, Some(days(-2))),
        (&bob, Some(days(-15))),
        (&ana, Some((now + chrono::Duration::hours(1)).to_rfc3339())),
        (&ana, Some(days(5))),
        (&ana, Some(days(-40))),
        (&bob, None),
    ] {
        ids.push(create(&app, t, "createActivity", activity(owner, due)).await);
    }
    // Logged two months ago, behind the API's back, then rebuilt.
    let logged = (now - chrono::Duration::days(60)).to_rfc3339();
    app.sql(&format!("UPDATE activity SET created_at = '{logged}'")).await.unwrap();
    let tenant = system::tenant_by_slug(app.db.connection(), "acme").await.unwrap().unwrap();
    crm_api::service::adoption::rebuild(&app.db, tenant.id).await.unwrap();

    let update = "mutation($id: ID!, $i: UpdateActivityInput!) { updateActivity(id: $id, input: $i) { id } }";
    let by_id = |q: &str| format!("mutation($id: ID!) {{ {q}(id: $id) {{ id }} }}");
    app.gql(Some(t), &by_id("completeActivity"), json!({ "id": ids[1] })).await.data();
    app.gql(Some(t), update, json!({ "id": ids[2], "i": { "ownerId": ana.user_id } })).await.data();
    app.gql(Some(t), &by_id("deleteActivity"), json!({ "id": ids[3] })).await.data();
    app.gql(Some(t), &by_id("deleteActivity"), json!({ "id": ids[4] })).await.data();
    app.gql(Some(t), &by_id("restoreActivity"), json!({ "id": ids[4] })).await.data();
    app.gql(Some(t), update, json!({ "id": ids[7], "i": { "dueAt": days(-1) } })).await.data();
    app.gql(Some(t), update, json!({ "id": ids[8], "i": { "dueAt": days(-4) } })).await.data();
    let upsert = "mutation($r: [ActivityUpsertInput!]!) { upsertActivities(records: $r) { failed } }";
    let records = json!([{ "externalId": "erp-1", "target": { "accountId": account }, "ownerId": bob.user_id,
        "kind": "Call", "subject": "Imported", "dueAt": days(-6) }]);
    let r = app.gql(Some(t), upsert, json!({ "r": records })).await;
    assert_eq!(r.data()["upsertActivities"]["failed"], 0);

    // What the activities say, week by week (the tenant's zone is UTC), as of
    // when the report is asked for: after every write's stamp.
    let now = Utc::now();
    let spans = activity_spans(&app).await;
    let expected = |owner: Option<&str>, week: &str| -> i64 {
        let monday = chrono::NaiveDate::parse_from_str(week, "%Y-%m-%d").unwrap();
        let end = (monday + chrono::Days::new(7)).and_hms_opt(0, 0, 0).unwrap().and_utc().min(now);
        spans
            .iter()
            .filter(|(o, due, created, done)| {
                owner.is_none_or(|owner| o == owner) && *due < end && *created <= end && done.is_none_or(|d| d > end)
            })
            .count() as i64
    };
    // Up to two weeks ahead, a range that ended a week ago (its counts need
    // the steps written after it), and one starting three weeks ahead (its
    // counts, as of now, need the steps between now and it: the activity due
    // in five days is not overdue yet): weeks, and more overdue activities
    // than that the range must see.
    for ((from, to), weeks, least) in [((-63, 14), 12, 20), ((-63, -7), 9, 3), ((21, 35), 3, 3)] {
        let range = json!({ "f": days(from)[..10].to_owned(), "t": days(to)[..10].to_owned() });
        let report = app.gql(Some(t), REPORT, range).await;
        let report = &report.data()["adoption"];
        let totals = report["totals"].as_array().unwrap();
        assert_eq!(totals.len(), weeks);
        let mut seen = 0;
        for total in totals {
            let week = total["week"].as_str().unwrap();
            assert_eq!(total["counts"]["activitiesOverdue"], expected(None, week), "week {week}");
            seen += total["counts"]["activitiesOverdue"].as_i64().unwrap();
        }
        assert!(seen > least, "the range saw overdue activities: {seen}");
        for row in report["users"].as_array().unwrap() {
            let (user, week) = (row["userId"].as_str().unwrap(), row["week"].as_str().unwrap());
            assert_eq!(row["counts"]["activitiesOverdue"], expected(Some(user), week), "{user} in {week}");
        }
    }

    // The steps the writes kept are the ones a rebuild finds.
    let sql = "SELECT week, actor_kind, actor_id, counter, value FROM adoption_rollup \
        WHERE counter LIKE 'overdue%' ORDER BY 1, 2, 3, 4";
    let kept = rows(&app, sql).await;
    assert!(!kept.is_empty());
    crm_api::service::adoption::rebuild(&app.db, tenant.id).await.unwrap();
    assert_eq!(rows(&app, sql).await, kept);
}

/// (owner, due, created, completed) of the live activities with a due date.
async fn activity_spans(
    app: &TestApp,
) -> Vec<(String, chrono::DateTime<Utc>, chrono::DateTime<Utc>, Option<chrono::DateTime<Utc>>)> {
    use sea_orm::{ConnectionTrait, Statement};
    let sql = "SELECT owner_id, due_at, created_at, completed_at FROM activity \
        WHERE deleted_at IS NULL AND due_at IS NOT NULL";
    let result =
        app.db.connection().query_all_raw(Statement::from_string(app.backend(), sql.to_owned())).await.unwrap();
    result
        .iter()
        .map(|r| {
            let owner: uuid::Uuid = r.try_get_by_index(0).unwrap();
            (
                owner.to_string(),
                r.try_get_by_index(1).unwrap(),
                r.try_get_by_index(2).unwrap(),
                r.try_get_by_index(3).unwrap(),
            )
        })
        .collect()
}

/// A database from before the overdue steps: the migration that introduced
/// them queues every existing tenant, and migrating rebuilds their rollups.
async fn upgrading_rebuilds_the_rollup_of_existing_tenants(app: TestApp) {
    use migration::MigratorTrait;
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let account = create(&app, t, "createAccount", json!({ "name": "Initech" })).await;
    let due = (Utc::now() - chrono::Duration::days(10)).to_rfc3339();
    let input = json!({ "kind": "Call", "subject": "Call", "target": { "accountId": account }, "dueAt": due });
    create(&app, t, "createActivity", input).await;
    let overdue_now = |r: &Value| r["adoption"]["totals"][0]["counts"]["activitiesOverdue"].clone();
    let range = json!({ "f": today(), "t": today() });
    assert_eq!(overdue_now(app.gql(Some(t), REPORT, range.clone()).await.data()), 1);

    // As the database was before: no steps, and the queue not created yet
    // (the queue's migration and the two after it rolled back).
    app.sql("DELETE FROM adoption_rollup WHERE counter LIKE 'overdue%'").await.unwrap();
    migration::Migrator::down(app.db.connection(), Some(3)).await.unwrap();
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM seaql_migrations WHERE version LIKE '%queue_rollup%'").await, 0);
    assert_eq!(overdue_now(app.gql(Some(t), REPORT, range.clone()).await.data()), 0);

    app.db.migrate().await.unwrap();
    let steps = app.sql_count("SELECT COUNT(*) FROM adoption_rollup WHERE counter LIKE 'overdue%'").await;
    assert!(steps > 0, "the rebuild wrote the steps again");
    assert_eq!(overdue_now(app.gql(Some(t), REPORT, range).await.data()), 1);
    assert_eq!(app.sql_count("SELECT COUNT(*) FROM rollup_rebuild").await, 0, "the queue is done");
}

/// Statements the server runs to answer `report`, and the report.
async fn counted_report(app: &TestApp, token: &str) -> (u64, Value) {
    let before = app.statements();
    let report = report(app, token, None).await;
    (app.statements() - before, report)
}

/// A report asked again is answered from the kept answer, per caller, until a
/// trace, a rebuild of the rollup or the clock (an open activity falling due)
/// changes what it would say.
async fn a_kept_report_stands_until_its_data_or_its_clock_moves(app: TestApp) {
    let acme = app.tenant("acme").await;
    let admin = acme.admin.token.as_str();
    let ana = app.user(&acme, "Ana", "Sales").await;
    let contacts = |r: &Value| row(r, &ana)["counts"]["contactsCreated"].as_i64().unwrap();
    let overdue = |r: &Value| row(r, &ana)["counts"]["activitiesOverdue"].as_i64().unwrap();

    let (computed, first) = counted_report(&app, admin).await;
    let (kept, again) = counted_report(&app, admin).await;
    assert_eq!(again, first);
    assert!(kept < computed, "asked again, it is not computed again: {kept} statements against {computed}");
    assert_eq!(kept, 1, "a session's credential and the trace head are read in one statement");
    // Another caller asking the same question gets their own answer.
    let own = report(&app, &ana.token, None).await;
    assert_eq!(user_ids(&own), vec![ana.user_id.clone()]);
    assert!(user_ids(&report(&app, admin, None).await).len() > 1);

    // A write is a trace: the next report counts it.
    create(&app, &ana.token, "createContact", json!({ "lastName": "Lovelace" })).await;
    assert_eq!(contacts(&report(&app, admin, None).await), 1);

    // The rollup drifts behind the API's back: reports read it again after the
    // next trace (a sign-in), and a rebuild repairs it for the kept answers too.
    app.sql("UPDATE adoption_rollup SET value = value + 5 WHERE counter = 'contacts_created'").await.unwrap();
    app.login(&acme.slug, "ana@acme.test", crm_tests::PASSWORD).await;
    assert_eq!(contacts(&report(&app, admin, None).await), 6);
    let tenant = system::tenant_by_slug(app.db.connection(), "acme").await.unwrap().unwrap();
    crm_api::service::adoption::rebuild(&app.db, tenant.id).await.unwrap();
    assert_eq!(contacts(&report(&app, admin, None).await), 1);

    // An open activity falling due this week changes the report by itself.
    let account = create(&app, admin, "createAccount", json!({ "name": "Initech" })).await;
    let due = Utc::now() + chrono::Duration::seconds(4);
    let input = json!({ "kind": "Call", "subject": "Call", "target": { "accountId": account },
        "ownerId": ana.user_id, "dueAt": due.to_rfc3339() });
    create(&app, admin, "createActivity", input).await;
    let (computed, before) = counted_report(&app, admin).await;
    assert_eq!(overdue(&before), 0);
    let (kept, again) = counted_report(&app, admin).await;
    assert_eq!(overdue(&again), 0);
    assert!(Utc::now() < due, "the machine stalled past the due time: nothing checked");
    assert!(kept < computed, "kept until it falls due: {kept} statements against {computed}");
    let wait = (due - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(300);
    tokio::time::sleep(wait).await;
    assert_eq!(overdue(&report(&app, admin, None).await), 1, "due now");
}
