//! Tenant isolation: another tenant's ids behave exactly like ids that do not exist.

use crm_tests::{PASSWORD, TestApp, db_tests, serde_json::json};

db_tests!(other_tenants_objects_are_not_found, non_admins_cannot_administer, errors_have_stable_codes);

async fn other_tenants_objects_are_not_found(app: TestApp) {
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let ana = app.user(&acme, "Ana", "Sales").await;
    let token = app
        .gql(Some(&acme.admin.token), "mutation { createApiToken(name: \"acme erp\") { apiToken { id } } }", json!({}))
        .await;
    let token_id = token.data()["createApiToken"]["apiToken"]["id"].clone();
    let acme_profiles = app.gql(Some(&acme.admin.token), "{ profiles { id } }", json!({})).await;
    let acme_profile = acme_profiles.data()["profiles"][0]["id"].clone();
    let missing = uuid::Uuid::now_v7().to_string();
    let g = Some(globex.admin.token.as_str());

    // Reads: the other tenant's id and a random id answer the same.
    for id in [json!(ana.user_id), json!(missing)] {
        app.gql(g, "query($id: ID!) { user(id: $id) { id } }", json!({ "id": id })).await.assert_code("NOT_FOUND");
        app.gql(g, "mutation($id: ID!) { deleteUser(id: $id) { id } }", json!({ "id": id }))
            .await
            .assert_code("NOT_FOUND");
    }
    for id in [token_id.clone(), json!(missing)] {
        app.gql(g, "mutation($id: ID!) { revokeApiToken(id: $id) { id } }", json!({ "id": id }))
            .await
            .assert_code("NOT_FOUND");
    }
    // A reference to another tenant's profile is as unknown as a missing one.
    for profile in [acme_profile, json!(missing)] {
        let r = app
            .gql(
                g,
                "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                json!({ "i": { "email": "x@globex.test", "displayName": "X", "password": PASSWORD, "profileId": profile } }),
            )
            .await;
        r.assert_code("BAD_USER_INPUT");
        assert_eq!(r.body["errors"][0]["extensions"]["field"], "profileId");
    }

    // Lists never show the other tenant's rows.
    let users = app.gql(g, "{ users { email } profiles { id } apiTokens { id } }", json!({})).await;
    let emails: Vec<_> = users.data()["users"].as_array().unwrap().iter().map(|u| u["email"].clone()).collect();
    assert_eq!(emails, vec![json!("admin@globex.test")]);
    assert_eq!(users.data()["profiles"].as_array().unwrap().len(), 4);
    assert!(users.data()["apiTokens"].as_array().unwrap().is_empty());

    // And acme's objects are untouched.
    let still = app
        .gql(Some(&acme.admin.token), "query($id: ID!) { user(id: $id) { email } }", json!({ "id": ana.user_id }))
        .await;
    assert_eq!(still.data()["user"]["email"], "ana@acme.test");
    app.gql(Some(&acme.admin.token), "{ apiTokens { revokedAt } }", json!({})).await.data();
}

async fn non_admins_cannot_administer(app: TestApp) {
    let acme = app.tenant("acme").await;
    let ana = app.user(&acme, "Ana", "Sales").await;
    let profiles = app.gql(Some(&ana.token), "{ profiles { id } }", json!({})).await;
    let profile = profiles.data()["profiles"][0]["id"].clone();
    app.gql(
        Some(&ana.token),
        "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
        json!({ "i": { "email": "eve@acme.test", "displayName": "Eve", "password": PASSWORD, "profileId": profile } }),
    )
    .await
    .assert_code("FORBIDDEN");
    app.gql(Some(&ana.token), "mutation($id: ID!) { deleteUser(id: $id) { id } }", json!({ "id": acme.admin.user_id }))
        .await
        .assert_code("FORBIDDEN");
}

async fn errors_have_stable_codes(app: TestApp) {
    let acme = app.tenant("acme").await;
    let admin = Some(acme.admin.token.as_str());
    let create = "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }";
    let profiles = app.gql(admin, "{ profiles { id } }", json!({})).await;
    let profile = profiles.data()["profiles"][0]["id"].clone();

    let bad_email = app
        .gql(
            admin,
            create,
            json!({ "i": { "email": "not an email", "displayName": "X", "password": PASSWORD, "profileId": profile } }),
        )
        .await;
    bad_email.assert_code("BAD_USER_INPUT");
    assert_eq!(bad_email.body["errors"][0]["extensions"]["field"], "email");

    let short = app
        .gql(
            admin,
            create,
            json!({ "i": { "email": "x@acme.test", "displayName": "X", "password": "short", "profileId": profile } }),
        )
        .await;
    assert_eq!(short.body["errors"][0]["extensions"]["field"], "password");

    app.gql(admin, "query { user(id: \"not-a-uuid\") { id } }", json!({})).await.assert_code("BAD_USER_INPUT");

    let dup = app
        .gql(admin, create, json!({ "i": { "email": "ADMIN@acme.test", "displayName": "X", "password": PASSWORD, "profileId": profile } }))
        .await;
    dup.assert_code("CONFLICT");
}
