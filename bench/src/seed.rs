//! The dataset: tenants and users through the server's own services, then the
//! bulk of the measured tenant's rows with multi-row INSERTs (seeding a million
//! traces one request at a time would take longer than the measurements).
//! Seeded traces are not hash-chained: the benchmark never verifies them.
#![allow(clippy::disallowed_methods, reason = "the benchmark bulk-loads the database beside the server")]

use std::sync::Arc;

use chrono::{Duration, Utc};
use crm_api::auth::{Actor, password};
use crm_api::db::Db;
use crm_api::service::{adoption, picklists, tenants, users};
use entity::{account, activity, app_user, contact, opportunity, trace, trace_head};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::Error;

pub const PASSWORD: &str = "bench-password";

pub struct Size {
    pub tenants: usize,
    pub users: usize,
    pub accounts: usize,
    pub contacts: usize,
    pub opportunities: usize,
    pub activities: usize,
    pub traces: usize,
}

impl Size {
    pub fn full() -> Self {
        Self {
            tenants: 20,
            users: 50,
            accounts: 10_000,
            contacts: 100_000,
            opportunities: 20_000,
            activities: 50_000,
            traces: 1_000_000,
        }
    }

    pub fn quick() -> Self {
        Self {
            tenants: 3,
            users: 10,
            accounts: 300,
            contacts: 2_000,
            opportunities: 400,
            activities: 1_000,
            traces: 10_000,
        }
    }
}

/// What the scenarios need to know about the measured tenant.
pub struct Dataset {
    pub slug: String,
    pub tenant_id: Uuid,
    pub user_email: String,
    pub accounts: Vec<Uuid>,
    pub users: Vec<Uuid>,
}

/// Inserts `rows` 500 at a time.
async fn chunks<A>(rows: Vec<A>, insert: impl AsyncFn(Vec<A>) -> Result<(), Error>) -> Result<(), Error> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        insert(rows.by_ref().take(500).collect()).await?;
    }
    Ok(())
}

pub async fn seed(db: &Db, size: &Size) -> Result<Dataset, Error> {
    let conn = db.connection();
    let mut measured = None;
    for t in 0..size.tenants {
        let slug = format!("bench-{t}");
        let tenant = tenants::create(
            db,
            tenants::NewTenant {
                slug: slug.clone(),
                name: format!("Bench {t}"),
                admin_email: format!("admin@{slug}.test"),
                admin_password: PASSWORD.into(),
                admin_name: None,
            },
        )
        .await
        .map_err(|e| format!("creating a tenant: {e:?}"))?;
        if t == 0 {
            measured = Some(tenant);
        }
    }
    let tenant = measured.ok_or("no tenant")?;
    let profiles = users::profiles(&db.read(Arc::new(Actor::system(tenant.id, Uuid::nil()))))
        .await
        .map_err(|e| format!("{e:?}"))?;
    let admin_profile = profiles.iter().find(|p| p.is_admin).ok_or("no admin profile")?.id;
    let sales = profiles.iter().find(|p| p.name == "Sales").ok_or("no Sales profile")?.id;
    let read = db.read(Arc::new(Actor::system(tenant.id, admin_profile)));
    let stage = picklists::options(&read, "Opportunity", "stage").await.map_err(|e| format!("{e:?}"))?;
    let kinds = picklists::options(&read, "Activity", "kind").await.map_err(|e| format!("{e:?}"))?;

    // Users: one password hash for all (hashing is deliberately slow).
    let hash = password::hash(PASSWORD).map_err(|e| format!("{e:?}"))?;
    let now = Utc::now();
    let user_ids: Vec<Uuid> = (0..size.users).map(|_| Uuid::now_v7()).collect();
    let rows: Vec<app_user::ActiveModel> = user_ids
        .iter()
        .enumerate()
        .map(|(i, id)| app_user::ActiveModel {
            tenant_id: Set(tenant.id),
            id: Set(*id),
            email: Set(format!("user{i}@bench.test")),
            display_name: Set(format!("User {i}")),
            password_hash: Set(hash.clone()),
            profile_id: Set(sales),
            manager_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        })
        .collect();
    chunks(rows, async |batch| Ok(app_user::Entity::insert_many(batch).exec(conn).await.map(|_| ())?)).await?;

    let owner = |i: usize| user_ids[i % user_ids.len()];
    let accounts: Vec<Uuid> = (0..size.accounts).map(|_| Uuid::now_v7()).collect();
    let rows: Vec<account::ActiveModel> = accounts
        .iter()
        .enumerate()
        .map(|(i, id)| account::ActiveModel {
            tenant_id: Set(tenant.id),
            id: Set(*id),
            name: Set(format!("Account {i:06}")),
            city: Set(Some(["Lyon", "Paris", "Berlin", "Madrid"][i % 4].to_owned())),
            owner_id: Set(owner(i)),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
            ..Default::default()
        })
        .collect();
    chunks(rows, async |batch| Ok(account::Entity::insert_many(batch).exec(conn).await.map(|_| ())?)).await?;

    let rows: Vec<contact::ActiveModel> = (0..size.contacts)
        .map(|i| contact::ActiveModel {
            tenant_id: Set(tenant.id),
            id: Set(Uuid::now_v7()),
            account_id: Set(Some(accounts[i % accounts.len()])),
            first_name: Set(Some(format!("First{i}"))),
            last_name: Set(format!("Last {i:07}")),
            email: Set(Some(format!("c{i}@mail.bench"))),
            owner_id: Set(owner(i)),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
            ..Default::default()
        })
        .collect();
    chunks(rows, async |batch| Ok(contact::Entity::insert_many(batch).exec(conn).await.map(|_| ())?)).await?;

    let rows: Vec<opportunity::ActiveModel> = (0..size.opportunities)
        .map(|i| opportunity::ActiveModel {
            tenant_id: Set(tenant.id),
            id: Set(Uuid::now_v7()),
            account_id: Set(accounts[i % accounts.len()]),
            name: Set(format!("Deal {i}")),
            stage_id: Set(stage[i % stage.len()].id),
            amount_e4: Set(Some(1_000_000 * (1 + (i as i64 % 50)))),
            currency: Set(Some("EUR".into())),
            stage_changed_at: Set(now),
            owner_id: Set(owner(i)),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
            ..Default::default()
        })
        .collect();
    chunks(rows, async |batch| Ok(opportunity::Entity::insert_many(batch).exec(conn).await.map(|_| ())?)).await?;

    let rows: Vec<activity::ActiveModel> = (0..size.activities)
        .map(|i| activity::ActiveModel {
            tenant_id: Set(tenant.id),
            id: Set(Uuid::now_v7()),
            kind_id: Set(kinds[i % kinds.len()].id),
            subject: Set(format!("Activity {i}")),
            due_at: Set(Some(now - Duration::hours(i as i64 % 2000))),
            completed_at: Set((i % 3 != 0).then_some(now)),
            account_id: Set(Some(accounts[i % accounts.len()])),
            owner_id: Set(owner(i)),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
            ..Default::default()
        })
        .collect();
    chunks(rows, async |batch| Ok(activity::Entity::insert_many(batch).exec(conn).await.map(|_| ())?)).await?;

    let data = Dataset {
        slug: tenant.slug,
        tenant_id: tenant.id,
        user_email: "user0@bench.test".into(),
        accounts,
        users: user_ids.clone(),
    };
    add_traces(db, &data, size.traces / 10).await?;

    // Planner statistics, as a live database would have them after autovacuum.
    sea_orm::ConnectionTrait::execute_unprepared(conn, "ANALYZE").await?;

    Ok(data)
}

/// Appends `count` traces spread over the last 26 weeks (people's creates,
/// updates and sign-ins), then recomputes the adoption rollup from all the
/// traces, as an operator would after a bulk load (`crm metrics rebuild`).
pub async fn add_traces(db: &Db, data: &Dataset, count: usize) -> Result<(), Error> {
    let conn = db.connection();
    let now = Utc::now();
    let head = trace_head::Entity::find()
        .filter(trace_head::Column::TenantId.eq(data.tenant_id))
        .one(conn)
        .await?
        .ok_or("no trace head")?;
    let weeks = Duration::weeks(26);
    let step_ms = weeks.num_milliseconds() / count.max(1) as i64;
    let rows: Vec<trace::ActiveModel> = (0..count)
        .map(|i| trace::ActiveModel {
            tenant_id: Set(data.tenant_id),
            seq: Set(head.last_seq + 1 + i as i64),
            id: Set(Uuid::now_v7()),
            at: Set(now - weeks + Duration::milliseconds(step_ms * i as i64)),
            user_id: Set(Some(data.users[i % data.users.len()])),
            api_token_id: Set(None),
            change_type: Set(["CREATE", "UPDATE", "UPDATE", "LOGIN"][i % 4].into()),
            entity_type: Set(["Contact", "Account", "Opportunity", "User"][i % 4].into()),
            entity_id: Set(Some(data.accounts[i % data.accounts.len()])),
            before: Set(None),
            after: Set(Some("{\"name\":\"x\"}".into())),
            source: Set("APP".into()),
            request_id: Set(None),
            prev_hash: Set(String::new()),
            hash: Set(String::new()),
        })
        .collect();
    chunks(rows, async |batch| Ok(trace::Entity::insert_many(batch).exec(conn).await.map(|_| ())?)).await?;
    trace_head::Entity::update_many()
        .col_expr(trace_head::Column::LastSeq, sea_orm::sea_query::Expr::value(head.last_seq + count as i64))
        .filter(trace_head::Column::TenantId.eq(data.tenant_id))
        .exec(conn)
        .await?;
    adoption::rebuild(db, data.tenant_id).await.map_err(|e| format!("rebuild: {e:?}"))?;
    Ok(())
}
