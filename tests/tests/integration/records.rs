//! What holds for every record type: other tenants' ids are not found anywhere,
//! and relations are batched (no query per row).

use crm_tests::{TestApp, db_tests, serde_json::json};
use serde_json::Value;

use crate::contacts::account;

db_tests!(
    other_tenants_records_are_not_found_anywhere,
    relations_are_batched_not_one_query_per_row,
    a_requests_reads_share_one_connection,
    a_write_runs_a_fixed_number_of_statements,
    every_list_orders_and_pages,
    every_list_answers_as_nodes_edges_or_both,
    response_fields_follow_the_selection_order,
    record_lists_answer_any_selection_as_the_executor_does,
    each_field_alone_answers_as_in_the_whole_row,
    rows_decode_as_sea_orm_decodes_them,
);

/// One record of each type in a tenant: (type name, id).
async fn one_of_each(app: &TestApp, token: &str) -> Vec<(&'static str, Value)> {
    let account = account(app, token, "Secret Corp").await;
    let t = Some(token);
    let contact = app
        .gql(
            t,
            "mutation($a: ID!) { createContact(input: { lastName: \"Secret\", accountId: $a }) { id } }",
            json!({ "a": account }),
        )
        .await
        .data()["createContact"]["id"]
        .clone();
    let lead = app.gql(t, "mutation { createLead(input: { lastName: \"Secret\" }) { id } }", json!({})).await.data()
        ["createLead"]["id"]
        .clone();
    let opportunity = app
        .gql(
            t,
            "mutation($a: ID!) { createOpportunity(input: { accountId: $a, name: \"Secret\" }) { id } }",
            json!({ "a": account }),
        )
        .await
        .data()["createOpportunity"]["id"]
        .clone();
    let activity = app
        .gql(
            t,
            "mutation($a: ID!) { createActivity(input: { kind: \"call\", subject: \"Secret\", target: { accountId: $a } }) { id } }",
            json!({ "a": account }),
        )
        .await
        .data()["createActivity"]["id"]
        .clone();
    vec![
        ("Account", json!(account)),
        ("Contact", contact),
        ("Lead", lead),
        ("Opportunity", opportunity),
        ("Activity", activity),
    ]
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_lowercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

fn plural(name: &str) -> String {
    match name {
        "Opportunity" => "opportunities".into(),
        "Activity" => "activities".into(),
        other => format!("{}s", lower_first(other)),
    }
}

async fn other_tenants_records_are_not_found_anywhere(app: TestApp) {
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let records = one_of_each(&app, &acme.admin.token).await;
    let g = Some(globex.admin.token.as_str());
    let ids: std::collections::HashMap<_, _> = records.iter().cloned().collect();
    for (name, id) in &records {
        let field = lower_first(name);
        let vars = json!({ "id": id });
        app.gql(g, &format!("query($id: ID!) {{ {field}(id: $id) {{ id }} }}"), vars.clone())
            .await
            .assert_code("NOT_FOUND");
        for op in ["delete", "restore"] {
            app.gql(g, &format!("mutation($id: ID!) {{ {op}{name}(id: $id) {{ id }} }}"), vars.clone())
                .await
                .assert_code("NOT_FOUND");
        }
        let update =
            format!("mutation($id: ID!) {{ update{name}(id: $id, input: {{ externalId: \"pwned\" }}) {{ id }} }}");
        app.gql(g, &update, vars.clone()).await.assert_code("NOT_FOUND");
        let list = format!("{{ {}(filter: {{ mine: false }}) {{ totalCount }} }}", plural(name));
        let r = app.gql(g, &list, json!({})).await;
        assert_eq!(r.data()[plural(name)]["totalCount"], 0, "{name}");
        let traces =
            app.gql(g, "query($id: ID!) { traces(filter: { entityId: $id }) { nodes { id } } }", vars.clone()).await;
        assert!(traces.data()["traces"]["nodes"].as_array().unwrap().is_empty(), "{name} traces");
    }
    app.gql(g, "mutation($id: ID!) { completeActivity(id: $id) { id } }", json!({ "id": ids["Activity"] }))
        .await
        .assert_code("NOT_FOUND");
    app.gql(g, "mutation($id: ID!) { convertLead(id: $id) { lead { id } } }", json!({ "id": ids["Lead"] }))
        .await
        .assert_code("NOT_FOUND");

    // Another tenant's ids are refused as references too, naming the field.
    let account = &ids["Account"];
    let checks = [
        ("mutation($x: ID!) { createContact(input: { lastName: \"x\", accountId: $x }) { id } }", account, "accountId"),
        ("mutation($x: ID!) { createOpportunity(input: { name: \"x\", accountId: $x }) { id } }", account, "accountId"),
        (
            "mutation($x: ID!) { createActivity(input: { kind: \"call\", subject: \"x\", target: { contactId: $x } }) { id } }",
            &ids["Contact"],
            "target.contactId",
        ),
        (
            "mutation($x: ID!) { createActivity(input: { kind: \"call\", subject: \"x\", target: { opportunityId: $x } }) { id } }",
            &ids["Opportunity"],
            "target.opportunityId",
        ),
    ];
    for (query, id, field) in checks {
        app.gql(g, query, json!({ "x": id })).await.assert_invalid(field);
    }
    let own = app.gql(g, "mutation { createLead(input: { lastName: \"Mine\" }) { id } }", json!({})).await;
    let own = own.data()["createLead"]["id"].clone();
    app.gql(
        g,
        "mutation($id: ID!, $a: ID!) { convertLead(id: $id, input: { accountId: $a }) { lead { id } } }",
        json!({ "id": own, "a": account }),
    )
    .await
    .assert_invalid("accountId");
    // Filters by another tenant's ids find nothing rather than leaking.
    let r = app
        .gql(g, "query($a: ID!) { contacts(filter: { account: $a }) { totalCount } }", json!({ "a": account }))
        .await;
    assert_eq!(r.data()["contacts"]["totalCount"], 0);
    // Acme still sees everything, untouched.
    for (name, id) in &records {
        let r = app
            .gql(
                Some(&acme.admin.token),
                &format!("query($id: ID!) {{ {}(id: $id) {{ version }} }}", lower_first(name)),
                json!({ "id": id }),
            )
            .await;
        assert_eq!(r.data()[lower_first(name)]["version"], 1, "{name}");
    }
}

/// Statements the server runs for one request.
async fn statements_for(app: &TestApp, token: &str, query: &str) -> (u64, Value) {
    // The caller's credential kept, as after any request with no access change since.
    app.caught_up().await;
    app.gql(Some(token), "{ __typename }", json!({})).await.data();
    let before = app.statements();
    let r = app.gql(Some(token), query, json!({})).await;
    let data = r.data().clone();
    (app.statements() - before, data)
}

async fn relations_are_batched_not_one_query_per_row(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let users = [app.user(&acme, "Sam", "Sales").await, app.user(&acme, "Kim", "Sales").await];
    let mut accounts = Vec::new();
    for i in 0..10 {
        accounts.push(account(&app, t, &format!("Account {i}")).await);
    }
    for i in 0..50 {
        app.gql(
            Some(t),
            "mutation($a: ID!, $o: ID!, $n: String!) { createContact(input: { lastName: $n, accountId: $a, ownerId: $o }) { id } }",
            json!({ "a": accounts[i % 10], "o": users[i % 2].user_id, "n": format!("Contact {i:02}") }),
        )
        .await
        .data();
    }
    // A list the plain walk leaves to the executor (custom fields) loads each
    // relation once all the same: one statement more for the owners, none
    // once their rows are kept (until the tenant's access changes).
    let (without, _) = statements_for(&app, t, "{ contacts(first: 50) { nodes { customFields } } }").await;
    let owners = "{ contacts(first: 50) { nodes { customFields owner { email } } } }";
    let (with, _) = statements_for(&app, t, owners).await;
    assert_eq!(with, without + 1);
    let (kept, _) = statements_for(&app, t, owners).await;
    assert_eq!(kept, without);

    let query = |n: usize| {
        format!(
            "{{ contacts(first: {n}) {{ nodes {{ lastName account {{ name owner {{ email }} contacts(first: 3) {{ lastName }} }} owner {{ email }} }} }} }}"
        )
    };
    // Once, so that both runs below find the same users' rows kept.
    statements_for(&app, t, &query(50)).await;
    let (few, small) = statements_for(&app, t, &query(5)).await;
    let (many, data) = statements_for(&app, t, &query(50)).await;
    let nodes = data["contacts"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 50);
    assert!(nodes.iter().all(|n| n["account"]["name"].is_string() && n["owner"]["email"].is_string()));
    assert_eq!(small["contacts"]["nodes"].as_array().unwrap().len(), 5);
    // Authentication, the page, then one batch per relation: the same for 5 rows as for 50.
    assert_eq!(few, many, "statements must not grow with the number of rows");
    assert!(many <= 8, "{many} statements for 50 contacts with account, owner and siblings");
}

/// An HTTP request's reads run on one connection taken from the pool once
/// (sqlx pings every connection it takes back); holding them starves no one:
/// many more requests than connections, reads and writes, all answer, and
/// every hold is given back.
async fn a_requests_reads_share_one_connection(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let mut accounts = Vec::new();
    for i in 0..5 {
        accounts.push(account(&app, t, &format!("Held {i}")).await);
    }
    let create = "mutation($a: ID!, $n: String!) { createContact(input: { lastName: $n, accountId: $a }) { id account { name } } }";
    for i in 0..10 {
        app.gql(Some(t), create, json!({ "a": accounts[i % 5], "n": format!("Held {i}") })).await.data();
    }
    let page = "{ contacts(first: 50) { nodes { lastName account { name } owner { email } } } }";
    // The owners kept, as the page reads them after its first time.
    statements_for(&app, t, page).await;
    let checkouts = app.db.read_checkouts();
    let (statements, data) = statements_for(&app, t, page).await;
    assert_eq!(data["contacts"]["nodes"].as_array().unwrap().len(), 10);
    assert_eq!(statements, 2, "the page and its accounts' names");
    // `statements_for` sent one request before the page (its `__typename`
    // runs no statement).
    assert_eq!(app.db.read_checkouts() - checkouts, 1, "one connection for the page's two statements");
    // A request that ends leaves its connection to the next one, instead of
    // giving it back to the pool, whose ping is a round trip.
    let reused = app.db.holds_reused();
    for _ in 0..3 {
        app.gql(Some(t), page, json!({})).await.data();
    }
    assert_eq!(app.db.holds_reused() - reused, 3, "each request took the one before's connection");

    // Root fields run concurrently: a statement that finds the held
    // connection busy runs on the pool or waits for it.
    let all = "{ me { tenant { name } } contacts(first: 50) { nodes { account { name } } } accounts(first: 50) { nodes { name } } }";
    let r = app.gql(Some(t), all, json!({})).await;
    assert_eq!(r.data()["accounts"]["nodes"].as_array().unwrap().len(), 5);
    assert!(r.data()["me"]["tenant"]["name"].is_string());

    // Half the pool's connections (16 on PostgreSQL, 8 on SQLite) may be held.
    let idle = app.db.holds_available();
    assert_eq!(idle, if app.backend() == sea_orm::DbBackend::Postgres { 8 } else { 4 });
    let requests = (0..96).map(|i| {
        let app = &app;
        let accounts = &accounts;
        async move {
            if i % 4 == 0 {
                let r = app.gql(Some(t), create, json!({ "a": accounts[i % 5], "n": format!("Crowd {i}") })).await;
                r.data()["createContact"]["account"]["name"].as_str().map(str::to_owned)
            } else {
                let r = app.gql(Some(t), page, json!({})).await;
                r.data()["contacts"]["nodes"][0]["account"]["name"].as_str().map(str::to_owned)
            }
        }
    });
    let answers = tokio::time::timeout(std::time::Duration::from_secs(60), futures_util::future::join_all(requests))
        .await
        .expect("96 requests on a pool of at most 16 connections answer");
    assert!(answers.iter().all(Option::is_some), "every request answered with its account's name");
    assert_eq!(app.db.holds_available(), idle, "every hold given back");
}

async fn a_write_runs_a_fixed_number_of_statements(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let account = account(&app, t, "Budget Corp").await;
    let create = |n: usize| {
        format!(
            "mutation {{ createContact(input: {{ lastName: \"Budget {n}\", email: \"b{n}@budget.test\", accountId: \"{}\" }}) {{ id }} }}",
            account
        )
    };
    let (first, data) = statements_for(&app, t, &create(1)).await;
    assert!(data["createContact"]["id"].is_string());
    let (second, _) = statements_for(&app, t, &create(2)).await;
    let (third, _) = statements_for(&app, t, &create(3)).await;
    assert_eq!(second, third, "every write of the same kind runs the same statements");
    // The first contact written since the server started reads the contact's
    // configuration (custom fields, field rules, key fields); the next ones
    // find it kept at the version they read with the tenant's row.
    assert_eq!(first, second + 3, "the configuration is read once, then kept");
    // The account's check; the tenant's row (its configuration version and
    // time zone, held shared on PostgreSQL); the insert; the trace head
    // taken; then the trace stored, the head moved and the rollup counted in
    // one call: on PostgreSQL one statement with the notification, on SQLite
    // a batch of three statements. SQLite reads the head with the tenant's
    // row: its transaction holds the write lock from the start. The
    // credential was checked by the first request and is kept.
    let budget = if app.backend() == sea_orm::DbBackend::Postgres { 5 } else { 4 };
    assert_eq!(second, budget, "statements for one createContact");
    // SQLite's writes take turns on one connection of their own, which keeps
    // its page cache from one write to the next.
    if app.backend() == sea_orm::DbBackend::Sqlite {
        let writes = app.db.write_connection().get_sqlite_connection_pool();
        let reads = app.db.connection().get_sqlite_connection_pool();
        assert_eq!((writes.size(), writes.options().get_max_connections()), (1, 1));
        assert_eq!(reads.options().get_max_connections(), 8, "reads have a pool of their own");
        let tx = app.db.begin(crate::configuration::system_actor(&app, t).await, None).await.unwrap();
        assert_eq!(writes.num_idle(), 0, "the transaction has the writing connection");
        let (_, data) = statements_for(&app, t, "{ contacts(first: 5) { nodes { id } } }").await;
        assert_eq!(data["contacts"]["nodes"].as_array().unwrap().len(), 3, "reads go on beside it");
        drop(tx);
        let back = async {
            while writes.num_idle() == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), back).await.expect("the connection comes back");
    }
}

async fn every_list_orders_and_pages(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let mut created: Vec<Vec<(&'static str, Value)>> = Vec::new();
    for _ in 0..3 {
        created.push(one_of_each(&app, t).await);
    }
    for (i, (name, _)) in created[0].iter().enumerate() {
        let list = plural(name);
        let q = format!(
            "query($after: String) {{ {list}(first: 2, after: $after, orderBy: {{ field: CREATED_AT, direction: DESC }}) {{ totalCount nodes {{ id }} pageInfo {{ hasNextPage endCursor }} }} }}"
        );
        let first = app.gql(Some(t), &q, json!({})).await.data()[&list].clone();
        assert_eq!(first["totalCount"], 3, "{list}");
        assert_eq!(first["pageInfo"]["hasNextPage"], true, "{list}");
        let second =
            app.gql(Some(t), &q, json!({ "after": first["pageInfo"]["endCursor"] })).await.data()[&list].clone();
        assert_eq!(second["pageInfo"]["hasNextPage"], false, "{list}");
        let seen: Vec<Value> = first["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .chain(second["nodes"].as_array().unwrap())
            .map(|n| n["id"].clone())
            .collect();
        let newest_first: Vec<Value> = created.iter().rev().map(|batch| batch[i].1.clone()).collect();
        assert_eq!(seen, newest_first, "{list}");
    }
}

/// A page is shown as `nodes`, as `edges { node }`, or both; each shape the
/// selection reaches, through aliases, fragments or a list selected twice,
/// holds the same rows in the same order.
async fn every_list_answers_as_nodes_edges_or_both(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    let mut created: Vec<Vec<(&'static str, Value)>> = Vec::new();
    for _ in 0..2 {
        created.push(one_of_each(&app, t).await);
    }
    for (i, (name, _)) in created[0].iter().enumerate() {
        let list = plural(name);
        let newest_first: Vec<Value> = created.iter().rev().map(|batch| batch[i].1.clone()).collect();
        let order = "orderBy: { field: CREATED_AT, direction: DESC }";
        let q = format!(
            "{{ n: {list}({order}) {{ nodes {{ id }} }}
                e: {list}({order}) {{ edges {{ cursor node {{ id }} }} }}
                b: {list}({order}) {{ edges {{ node {{ id }} }} nodes {{ id }} }}
                f: {list}({order}) {{ ...Shapes }}
                a: {list}({order}) {{ x: edges {{ y: node {{ id }} }} }}
                twice: {list}({order}) {{ nodes {{ id }} }}
                twice: {list}({order}) {{ edges {{ node {{ id }} }} }}
                none: {list}({order}) {{ pageInfo {{ hasNextPage }} }} }}
            fragment Shapes on {name}Connection {{ ... on {name}Connection {{ edges {{ node {{ id }} }} }} nodes {{ id }} }}"
        );
        let r = app.gql(Some(t), &q, json!({})).await;
        let d = r.data();
        let ids = |rows: &Value, at: &dyn Fn(&Value) -> Value| -> Vec<Value> {
            rows.as_array().unwrap_or_else(|| panic!("{list}: {rows}")).iter().map(at).collect()
        };
        let of_node = |n: &Value| n["id"].clone();
        let of_edge = |e: &Value| e["node"]["id"].clone();
        assert_eq!(ids(&d["n"]["nodes"], &of_node), newest_first, "{list}: nodes alone");
        assert!(d["n"].get("edges").is_none(), "{list}: only what was asked");
        assert_eq!(ids(&d["e"]["edges"], &of_edge), newest_first, "{list}: edges alone");
        assert!(d["e"]["edges"][0]["cursor"].as_str().is_some_and(|c| !c.is_empty()), "{list}");
        assert_eq!(ids(&d["b"]["edges"], &of_edge), newest_first, "{list}: edges beside nodes");
        assert_eq!(ids(&d["b"]["nodes"], &of_node), newest_first, "{list}: nodes beside edges");
        assert_eq!(ids(&d["f"]["edges"], &of_edge), newest_first, "{list}: through fragments");
        assert_eq!(ids(&d["f"]["nodes"], &of_node), newest_first, "{list}: through a fragment");
        assert_eq!(ids(&d["a"]["x"], &|e| e["y"]["id"].clone()), newest_first, "{list}: aliased");
        assert_eq!(ids(&d["twice"]["nodes"], &of_node), newest_first, "{list}: merged");
        assert_eq!(ids(&d["twice"]["edges"], &of_edge), newest_first, "{list}: merged");
        assert_eq!(d["none"]["pageInfo"]["hasNextPage"], false, "{list}");
    }
}

async fn response_fields_follow_the_selection_order(app: TestApp) {
    let acme = app.tenant("acme").await;
    let t = acme.admin.token.as_str();
    account(&app, t, "Zeta").await;
    let r =
        app.gql(Some(t), "{ accounts { nodes { version name z: id createdAt a: city } totalCount } }", json!({})).await;
    let node = r.data()["accounts"]["nodes"][0].as_object().unwrap().clone();
    let keys: Vec<&str> = node.keys().map(String::as_str).collect();
    assert_eq!(keys, ["version", "name", "z", "createdAt", "a"], "as selected, not sorted");
    let top: Vec<&str> = r.data()["accounts"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(top, ["nodes", "totalCount"]);

    // The executor's paths, where a loaded field (`account`, `owner`) comes
    // after the fields that resolve at once unless the response is reordered:
    // one record, a list with `customFields`, a union behind type conditions
    // that select the same keys in opposite orders, `@skip` with a defaulted
    // variable, and fields merged from a fragment.
    let acct = account(&app, t, "Initech").await;
    let create = "mutation($a: ID!) { createContact(input: { accountId: $a, lastName: \"Gibbons\" }) { id } }";
    let contact = app.gql(Some(t), create, json!({ "a": acct })).await.data()["createContact"]["id"].clone();
    let call = "mutation($c: ID!) { createActivity(input: { kind: \"call\", subject: \"x\", target: { contactId: $c } }) { id } }";
    let activity = app.gql(Some(t), call, json!({ "c": contact })).await.data()["createActivity"]["id"].clone();
    let q = "query($c: ID!, $x: ID!, $skip: Boolean = true) {
        late: contact(id: $c) { lastName account { owner { email } name } id owner @skip(if: $skip) { email } ...Who version }
        list: contacts(first: 1) { nodes { lastName account { name id } customFields owner { email } id } }
        act: activity(id: $x) { subject target {
            ... on Account { id owner { email } name }
            ... on Contact { account { name } owner { email } id lastName }
        } id }
    }
    fragment Who on Contact { createdBy { email } lastName firstName }";
    let r = app.gql(Some(t), q, json!({ "c": contact, "x": activity })).await;
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let data = r.data();
    assert_eq!(keys(data), ["late", "list", "act"], "{}", r.body);
    assert_eq!(keys(&data["late"]), ["lastName", "account", "id", "createdBy", "firstName", "version"], "{}", r.body);
    assert_eq!(keys(&data["late"]["account"]), ["owner", "name"]);
    let node = &data["list"]["nodes"][0];
    assert_eq!(keys(node), ["lastName", "account", "customFields", "owner", "id"], "{}", r.body);
    assert_eq!(keys(&node["account"]), ["name", "id"]);
    assert_eq!(keys(&data["act"]), ["subject", "target", "id"], "{}", r.body);
    assert_eq!(keys(&data["act"]["target"]), ["account", "owner", "id", "lastName"], "{}", r.body);
    // A union member named by `__typename`, where another member's fragment
    // selects the same keys in another order (so no guess by the keys).
    let named = "query($x: ID!) { activity(id: $x) { target { __typename
        ... on Account { id owner { email displayName } }
        ... on Contact { owner { displayName email } id }
    } } }";
    let r = app.gql(Some(t), named, json!({ "x": activity })).await;
    let target = &r.data()["activity"]["target"];
    assert_eq!(keys(target), ["__typename", "owner", "id"], "{}", r.body);
    assert_eq!(keys(&target["owner"]), ["displayName", "email"], "{}", r.body);
    // The variable's default skipped `owner` above; sent, it is obeyed.
    let r = app.gql(Some(t), q, json!({ "c": contact, "x": activity, "skip": false })).await;
    let late = keys(&r.data()["late"]);
    assert_eq!(late, ["lastName", "account", "id", "owner", "createdBy", "firstName", "version"], "{}", r.body);
}

/// A list's nodes are read straight off the rows, their accounts and users
/// loaded for the whole page at once, when the selection allows
/// (`graphql::plain`); `customFields` needs the executor, which then answers
/// the whole list. Both must answer alike, for every field the plain walk
/// knows, with aliases, fragments, `__typename`, a key selected twice, a
/// deleted account, and a profile that hides a field (null and FORBIDDEN).
async fn record_lists_answer_any_selection_as_the_executor_does(app: TestApp) {
    let acme = app.tenant("acme").await;
    let sam = app.user(&acme, "Sam", "Sales").await;
    let t = Some(acme.admin.token.as_str());
    varied_records(&app, &acme, &sam).await;

    let admin = acme.admin.token.as_str();
    same_as_executed(&app, admin, false).await;
    same_as_executed(&app, &sam.token, false).await;

    // The rows themselves: the contacts' accounts (one deleted, one never set)
    // and users, also where a link's target has links (the executor's part).
    let r = app
        .gql(
            Some(admin),
            "{ contacts(first: 5) { nodes { lastName account { name } owner { email } updatedBy { email } } } }",
            json!({}),
        )
        .await;
    let nested = app
        .gql(Some(admin), "{ contacts(first: 5) { nodes { lastName account { name owner { email } } } } }", json!({}))
        .await;
    let mine = |n: &Value| n["lastName"] == "Gibbons";
    let peters = nested.data()["contacts"]["nodes"].as_array().unwrap().iter().find(|n| mine(n)).unwrap().clone();
    assert_eq!(peters["account"], json!({ "name": "Initech", "owner": { "email": "admin@acme.test" } }));
    let nodes = r.data()["contacts"]["nodes"].as_array().unwrap().clone();
    let by_name = |name: &str| nodes.iter().find(|n| n["lastName"] == name).unwrap().clone();
    assert_eq!(
        by_name("Gibbons"),
        json!({ "lastName": "Gibbons", "account": { "name": "Initech" }, "owner": { "email": "sam@acme.test" }, "updatedBy": { "email": "admin@acme.test" } })
    );
    assert_eq!(by_name("Orphan")["account"], Value::Null);
    assert_eq!(by_name("Loner")["account"], Value::Null);

    // A field Sam's profile hides: null with FORBIDDEN on each path, as the executor reports it.
    let sales = app.profile_id(&acme, "Sales").await;
    let hide = "mutation($p: ID!) { setFieldAccess(profileId: $p, entity: \"Account\", field: \"website\", access: HIDDEN) { access } }";
    app.gql(t, hide, json!({ "p": sales })).await.data();
    same_as_executed(&app, &sam.token, true).await;
    let r = app
        .gql(Some(&sam.token), "{ contacts(first: 5) { nodes { lastName account { name website } } } }", json!({}))
        .await;
    assert!(!r.body.to_string().contains("https://initech.test"), "{}", r.body);
    // One per account shown: Initech, and Lumbergh (made by the lead's conversion).
    assert_eq!(r.codes(), ["FORBIDDEN", "FORBIDDEN"], "{}", r.body);

    // A link that selects only an account's name reads the names alone; a
    // profile that hides the name gets it as the executor gives it: null,
    // with FORBIDDEN.
    let hide = "mutation($p: ID!) { setFieldAccess(profileId: $p, entity: \"Account\", field: \"name\", access: HIDDEN) { access } }";
    app.gql(t, hide, json!({ "p": sales })).await.data();
    let names = |extra: &str| format!("{{ contacts(first: 5) {{ nodes {{ lastName account {{ name }} {extra} }} }} }}");
    let plain = app.gql(Some(&sam.token), &names(""), json!({})).await;
    let executed = app.gql(Some(&sam.token), &names("customFields"), json!({})).await;
    assert!(!plain.body.to_string().contains("Initech"), "{}", plain.body);
    assert_eq!(plain.codes(), ["FORBIDDEN", "FORBIDDEN"], "{}", plain.body);
    assert_eq!(plain.body["errors"], executed.body["errors"]);
    let gibbons =
        plain.body["data"]["contacts"]["nodes"].as_array().unwrap().iter().find(|n| n["lastName"] == "Gibbons");
    assert_eq!(gibbons.unwrap()["account"], json!({ "name": null }), "{}", plain.body);
}

/// A list whose rows show only some fields reads only their columns
/// (`plain::RowColumns`): each field asked alone, in `nodes` or in
/// `edges { node }`, directly or through a fragment, answers as it does in a
/// whole row (`customFields` reads whole rows).
async fn each_field_alone_answers_as_in_the_whole_row(app: TestApp) {
    let acme = app.tenant("acme").await;
    let sam = app.user(&acme, "Sam", "Sales").await;
    varied_records(&app, &acme, &sam).await;
    let t = Some(acme.admin.token.as_str());
    let shared = [
        "__typename",
        "createdAt",
        "updatedAt",
        "completeness",
        "version",
        "externalId",
        "owner { email }",
        "createdBy { id }",
        "updatedBy { email }",
    ];
    let account = "name sector origin region phone email website street city state postalCode country";
    let lead = "firstName lastName company title phone email street city state postalCode website convertedAt";
    let lists = [
        ("accounts", "Account", account.split(' ').collect::<Vec<_>>()),
        ("contacts", "Contact", vec!["firstName", "lastName", "title", "email", "phone", "mobile", "account { name }"]),
        ("leads", "Lead", lead.split(' ').chain(["convertedAccount { name }"]).collect()),
        (
            "opportunities",
            "Opportunity",
            vec!["name", "amount", "currency", "closeDate", "stageChangedAt", "account { name }"],
        ),
        ("activities", "Activity", vec!["subject", "dueAt", "completedAt", "notes"]),
    ];
    for (list, type_name, own) in lists {
        let fields: Vec<&str> = shared.iter().copied().chain(own).collect();
        let everything = fields.join(" ");
        let whole = app
            .gql(t, &format!("{{ {list}(first: 20) {{ nodes {{ id customFields {everything} }} }} }}"), json!({}))
            .await;
        let whole = whole.data()[list]["nodes"].as_array().unwrap().clone();
        assert!(whole.len() >= 2, "{list}: {whole:?}");
        for (i, field) in fields.iter().enumerate() {
            let key = field.split(' ').next().unwrap();
            let (query, rows): (String, fn(&Value) -> Vec<Value>) = match i % 3 {
                0 => (format!("nodes {{ id {field} }}"), |r| r["nodes"].as_array().unwrap().clone()),
                1 => (format!("edges {{ node {{ id {field} }} }}"), |r| {
                    r["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
                }),
                _ => (format!("nodes {{ id ...on {type_name} {{ {field} }} }}"), |r| {
                    r["nodes"].as_array().unwrap().clone()
                }),
            };
            let alone = app.gql(t, &format!("{{ {list}(first: 20) {{ {query} }} }}"), json!({})).await;
            let expected: Vec<Value> = whole.iter().map(|row| json!({ "id": row["id"], key: row[key] })).collect();
            assert_eq!(rows(&alone.data()[list]), expected, "{list}.{field}");
        }
    }
}

/// One record of each type with every field set, and records with most left
/// empty: a contact whose account was deleted, one without an account.
async fn varied_records(app: &TestApp, acme: &crm_tests::TenantFixture, sam: &crm_tests::Session) {
    let t = Some(acme.admin.token.as_str());
    let write = |query: String| async move {
        app.gql(t, &query, json!({})).await.data().as_object().unwrap().values().next().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let initech = write("mutation { createAccount(input: { name: \"Initech\", sector: \"IT\", origin: \"fair\", region: \"EU\", phone: \"+33123451\", email: \"a@initech.test\", website: \"https://initech.test\", street: \"1 Main\", city: \"Austin\", state: \"TX\", postalCode: \"73301\", country: \"US\", externalId: \"A-1\" }) { id } }".to_owned()).await;
    let gone = write("mutation { createAccount(input: { name: \"Gone\" }) { id } }".to_owned()).await;
    let peter = write(format!(
        "mutation {{ createContact(input: {{ accountId: \"{initech}\", firstName: \"Peter\", lastName: \"Gibbons\", title: \"Dev\", email: \"p@initech.test\", phone: \"+33123452\", mobile: \"+33123453\", ownerId: \"{}\" }}) {{ id }} }}",
        sam.user_id
    ))
    .await;
    write(format!("mutation {{ updateContact(id: \"{peter}\", input: {{ title: \"Lead dev\" }}) {{ id }} }}")).await;
    write(format!("mutation {{ createContact(input: {{ accountId: \"{gone}\", lastName: \"Orphan\" }}) {{ id }} }}"))
        .await;
    write("mutation { createContact(input: { lastName: \"Loner\" }) { id } }".to_owned()).await;
    write(format!("mutation {{ deleteAccount(id: \"{gone}\") {{ id }} }}")).await;
    let lead = write("mutation { createLead(input: { firstName: \"Lu\", lastName: \"Lead\", company: \"Lumbergh\", title: \"VP\", phone: \"+33123454\", email: \"l@l.test\", street: \"2 Main\", city: \"Austin\", state: \"TX\", postalCode: \"73301\", website: \"https://l.test\" }) { id } }".to_owned()).await;
    write(format!(
        "mutation {{ createOpportunity(input: {{ accountId: \"{initech}\", name: \"Deal\", amount: \"1200.50\", currency: \"EUR\", closeDate: \"2027-01-31\" }}) {{ id }} }}"
    ))
    .await;
    write(format!(
        "mutation {{ createActivity(input: {{ kind: \"call\", subject: \"Call\", dueAt: \"2026-01-02T03:04:05Z\", notes: \"n\", target: {{ accountId: \"{initech}\" }} }}) {{ id }} }}"
    ))
    .await;

    write("mutation { createLead(input: { lastName: \"Bare\" }) { id } }".to_owned()).await;
    let done = write(format!(
        "mutation {{ createActivity(input: {{ kind: \"task\", subject: \"Done\", target: {{ contactId: \"{peter}\" }} }}) {{ id }} }}"
    ))
    .await;
    write(format!("mutation {{ completeActivity(id: \"{done}\") {{ id }} }}")).await;
    let convert = format!(
        "mutation {{ convertLead(id: \"{lead}\", input: {{ opportunityName: \"From lead\", amount: \"5\", currency: \"EUR\", closeDate: \"2027-02-01\" }}) {{ account {{ id }} }} }}"
    );
    app.gql(t, &convert, json!({})).await.data();
}

/// The list decoder (`db::decode`) reads every column of every model as
/// sea-orm's own decoding does: set, empty, dates, decimals, JSON.
#[allow(clippy::disallowed_methods, reason = "reads every tenant's rows directly, to compare two decoders")]
async fn rows_decode_as_sea_orm_decodes_them(app: TestApp) {
    use crm_api::db::decode;
    use sea_orm::{EntityTrait, Iterable};
    let acme = app.tenant("acme").await;
    let sam = app.user(&acme, "Sam", "Sales").await;
    varied_records(&app, &acme, &sam).await;
    let t = Some(acme.admin.token.as_str());
    let field = json!({ "i": { "entity": "Contact", "name": "segment", "label": "Segment", "type": "TEXT" } });
    app.gql(t, "mutation($i: CreateCustomFieldInput!) { createCustomField(input: $i) { id } }", field).await.data();
    let custom =
        "mutation { createContact(input: { lastName: \"Custom\", customFields: { segment: \"SMB\" } }) { id } }";
    app.gql(t, custom, json!({})).await.data();
    let conn = app.db.connection();
    macro_rules! same {
        ($entity:path) => {{
            let ours = decode::all(<$entity>::find(), conn).await.unwrap();
            let theirs = <$entity>::find().all(conn).await.unwrap();
            assert!(ours.len() >= 2, "{}", stringify!($entity));
            assert_eq!(ours, theirs, "{}", stringify!($entity));
            // A partial read of every column is a whole one.
            let every: Vec<_> = <$entity as EntityTrait>::Column::iter().collect();
            let partial = decode::partial(<$entity>::find(), &every, conn).await.unwrap();
            assert_eq!(partial, theirs, "{} read partially", stringify!($entity));
        }};
    }
    same!(entity::account::Entity);
    same!(entity::contact::Entity);
    same!(entity::lead::Entity);
    same!(entity::opportunity::Entity);
    same!(entity::activity::Entity);
    same!(entity::app_user::Entity);
}

const FRAGMENTS: &str = "fragment C on Contact { email phone } fragment A on Account { id name }";

/// Asks each list for every plain field, then again with `customFields`
/// (executed), and compares; `hidden`: Account.website is hidden from `token`.
async fn same_as_executed(app: &TestApp, token: &str, hidden: bool) {
    let shared = "id __typename createdAt updatedAt completeness version externalId owner { email } boss: owner { id displayName createdAt __typename } createdBy { id } updatedBy { email }";
    let account = "name sector origin region phone email website street city state postalCode country";
    let lists = [
        ("accounts", format!("{account} ...on Account {{ again: name }}"), true),
        (
            "contacts",
            format!("firstName lastName title ...C mobile account {{ {account} __typename ...A }} company: account {{ id }}"),
            true,
        ),
        (
            "leads",
            "firstName lastName company title phone email street city state postalCode website convertedAt convertedAccount { name }".to_owned(),
            false,
        ),
        ("opportunities", "name amount currency closeDate stageChangedAt account { name website }".to_owned(), true),
        ("activities", "subject dueAt completedAt notes".to_owned(), false),
    ];
    for (list, fields, shows_website) in lists {
        let query = |extra: &str| {
            let fragments = if list == "contacts" { FRAGMENTS } else { "" };
            format!("{{ {list}(first: 20) {{ nodes {{ {shared} {fields} {extra} }} }} }} {fragments}")
        };
        let plain = app.gql(Some(token), &query(""), json!({})).await;
        let executed = app.gql(Some(token), &query("customFields"), json!({})).await;
        let mut nodes = executed.body["data"][list]["nodes"].clone();
        for node in nodes.as_array_mut().unwrap_or_else(|| panic!("{list}: {}", executed.body)) {
            node.as_object_mut().unwrap().shift_remove("customFields").unwrap();
        }
        assert_eq!(plain.body["data"][list]["nodes"], nodes, "{list}: {}", plain.body);
        assert_eq!(plain.body["errors"], executed.body["errors"], "{list}");
        assert_eq!(plain.body["errors"].is_array(), hidden && shows_website, "{list}: {}", plain.body);
        // In selection order, from both.
        if list == "contacts" && !hidden {
            for first in [&plain.body["data"][list]["nodes"][0], &nodes[0]] {
                let keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
                let order = [
                    "id",
                    "__typename",
                    "createdAt",
                    "updatedAt",
                    "completeness",
                    "version",
                    "externalId",
                    "owner",
                    "boss",
                    "createdBy",
                    "updatedBy",
                    "firstName",
                    "lastName",
                    "title",
                    "email",
                    "phone",
                    "mobile",
                    "account",
                    "company",
                ];
                assert_eq!(keys, order, "{}", plain.body);
            }
        }
    }
}
