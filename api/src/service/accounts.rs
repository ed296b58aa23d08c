//! Accounts: the customer companies.

use chrono::{DateTime, Utc};
use entity::account::{self, Column};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use super::picklists::{self, Choosable};
use super::validate::{self, Patch};
use super::{require_admin, users};
use crate::db::trace::{Change, ChangeType};
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

pub const ENTITY: &str = "Account";
/// Largest page a client can ask for.
pub const MAX_PAGE: u64 = 500;

/// Account fields as a client sends them (create: absent = empty; update: absent = keep).
#[derive(Default)]
pub struct AccountInput {
    pub name: Patch<String>,
    pub account_type: Patch<String>,
    pub sector: Patch<String>,
    pub origin: Patch<String>,
    pub purchase_potential: Patch<String>,
    pub region: Patch<String>,
    pub phone: Patch<String>,
    pub email: Patch<String>,
    pub website: Patch<String>,
    pub street: Patch<String>,
    pub city: Patch<String>,
    pub state: Patch<String>,
    pub postal_code: Patch<String>,
    pub country: Patch<String>,
    pub owner_id: Patch<Uuid>,
    pub external_id: Patch<String>,
}

/// What lists may filter on. All conditions must hold.
#[derive(Default)]
pub struct AccountFilter {
    pub name: Option<String>,
    pub name_contains: Option<String>,
    pub email_contains: Option<String>,
    pub account_type: Option<String>,
    pub purchase_potential: Option<String>,
    pub sector: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub owner_id: Option<Uuid>,
    pub mine: bool,
    pub external_id: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
}

/// Fields a list can be ordered by; the id always breaks ties.
#[derive(Clone, Copy)]
pub enum AccountOrder {
    Name,
    CreatedAt,
    UpdatedAt,
    Sector,
    Region,
    City,
    Country,
}

impl AccountOrder {
    fn column(self) -> Column {
        match self {
            Self::Name => Column::Name,
            Self::CreatedAt => Column::CreatedAt,
            Self::UpdatedAt => Column::UpdatedAt,
            Self::Sector => Column::Sector,
            Self::Region => Column::Region,
            Self::City => Column::City,
            Self::Country => Column::Country,
        }
    }
}

/// The trace's view of an account: business fields, picklists by key.
async fn snapshot(scope: &impl Scope, a: &account::Model) -> ServiceResult<Value> {
    let ids: Vec<Uuid> = [a.type_id, a.purchase_potential_id].into_iter().flatten().collect();
    let options = picklists::by_ids(scope, &ids).await?;
    let key = |id: Option<Uuid>| id.and_then(|id| options.get(&id)).map(|o| o.key.clone());
    Ok(json!({
        "name": a.name, "type": key(a.type_id), "sector": a.sector, "origin": a.origin,
        "purchasePotential": key(a.purchase_potential_id), "region": a.region, "phone": a.phone,
        "email": a.email, "website": a.website, "street": a.street, "city": a.city, "state": a.state,
        "postalCode": a.postal_code, "country": a.country, "ownerId": a.owner_id, "externalId": a.external_id,
    }))
}

fn text(patch: Patch<String>, field: &str, max: usize) -> ServiceResult<Patch<Option<String>>> {
    Ok(match patch {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Set(None),
        Patch::Set(v) => Patch::Set(validate::optional_text(field, Some(&v), max)?),
    })
}

fn with<T>(patch: Patch<String>, f: impl FnOnce(&str) -> ServiceResult<Option<T>>) -> ServiceResult<Patch<Option<T>>> {
    Ok(match patch {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Set(None),
        Patch::Set(v) => Patch::Set(f(&v)?),
    })
}

fn apply<T: Into<sea_orm::Value>>(target: &mut sea_orm::ActiveValue<T>, patch: Patch<T>) {
    if let Patch::Set(value) = patch {
        *target = Set(value);
    }
}

/// Validates and cleans the input onto `model`; every failure names its field.
async fn fill(tx: &TenantTx, model: &mut account::ActiveModel, input: AccountInput) -> ServiceResult<()> {
    match input.name {
        Patch::Keep => {}
        Patch::Clear => return Err(ServiceError::invalid("name", "is required")),
        Patch::Set(name) => model.name = Set(validate::required_text("name", &name, 200)?),
    }
    let picklist = |field: &'static str, input_field: &'static str, patch: Patch<String>| async move {
        Ok::<_, ServiceError>(match patch {
            Patch::Keep => Patch::Keep,
            Patch::Clear => Patch::Set(None),
            Patch::Set(v) if v.trim().is_empty() => Patch::Set(None),
            Patch::Set(v) => {
                Patch::Set(Some(picklists::resolve(tx, ENTITY, field, input_field, &v, Choosable::ActiveOnly).await?))
            }
        })
    };
    apply(&mut model.type_id, picklist("type", "type", input.account_type).await?);
    apply(
        &mut model.purchase_potential_id,
        picklist("purchasePotential", "purchasePotential", input.purchase_potential).await?,
    );
    apply(&mut model.sector, text(input.sector, "sector", 100)?);
    apply(&mut model.origin, text(input.origin, "origin", 100)?);
    apply(&mut model.region, text(input.region, "region", 100)?);
    apply(&mut model.street, text(input.street, "street", 200)?);
    apply(&mut model.city, text(input.city, "city", 100)?);
    apply(&mut model.state, text(input.state, "state", 100)?);
    apply(&mut model.postal_code, text(input.postal_code, "postalCode", 20)?);
    apply(&mut model.country, text(input.country, "country", 100)?);
    apply(&mut model.external_id, text(input.external_id, "externalId", 200)?);
    apply(&mut model.phone, with(input.phone, |v| validate::optional_phone("phone", Some(v)))?);
    apply(&mut model.email, with(input.email, |v| validate::optional_email("email", Some(v)))?);
    apply(&mut model.website, with(input.website, |v| validate::optional_url("website", Some(v)))?);
    match input.owner_id {
        Patch::Keep => {}
        Patch::Clear => return Err(ServiceError::invalid("ownerId", "an account always has an owner")),
        Patch::Set(owner) => {
            users::get(tx, owner).await.map_err(|_| ServiceError::invalid("ownerId", "no such user"))?;
            model.owner_id = Set(owner);
        }
    }
    Ok(())
}

/// An account that is not deleted.
pub async fn get(scope: &impl Scope, id: Uuid) -> ServiceResult<account::Model> {
    scope
        .select::<account::Entity>()
        .filter(Column::Id.eq(id))
        .filter(Column::DeletedAt.is_null())
        .one(scope.conn())
        .await?
        .ok_or(ServiceError::NotFound)
}

pub async fn create(tx: &TenantTx, mut input: AccountInput) -> ServiceResult<account::Model> {
    let actor = tx.actor();
    if matches!(input.owner_id, Patch::Keep) {
        let owner = actor
            .user_id
            .ok_or_else(|| ServiceError::invalid("ownerId", "is required when an API token creates a record"))?;
        input.owner_id = Patch::Set(owner);
    }
    if matches!(input.name, Patch::Keep) {
        input.name = Patch::Clear;
    }
    let now = Utc::now();
    let mut model = account::ActiveModel {
        id: Set(Uuid::now_v7()),
        created_at: Set(now),
        updated_at: Set(now),
        created_by: Set(actor.user_id),
        updated_by: Set(actor.user_id),
        version: Set(1),
        deleted_at: Set(None),
        type_id: Set(None),
        purchase_potential_id: Set(None),
        sector: Set(None),
        origin: Set(None),
        region: Set(None),
        phone: Set(None),
        email: Set(None),
        website: Set(None),
        street: Set(None),
        city: Set(None),
        state: Set(None),
        postal_code: Set(None),
        country: Set(None),
        external_id: Set(None),
        ..Default::default()
    };
    fill(tx, &mut model, input).await?;
    let created = tx.insert(model).await?;
    tx.trace(Change::create(ENTITY, created.id, snapshot(tx, &created).await?)).await?;
    Ok(created)
}

/// Changes only the given fields. With `expected_version`, a stale version is a CONFLICT.
/// An update that changes nothing writes nothing and keeps the version.
pub async fn update(
    tx: &TenantTx,
    id: Uuid,
    input: AccountInput,
    expected_version: Option<i32>,
) -> ServiceResult<account::Model> {
    let before = get(tx, id).await?;
    if expected_version.is_some_and(|v| v != before.version) {
        return Err(ServiceError::Conflict(format!("the account is at version {}", before.version)));
    }
    let mut model: account::ActiveModel = before.clone().into();
    fill(tx, &mut model, input).await?;
    let old = snapshot(tx, &before).await?;
    let mut preview = before.clone();
    apply_model(&mut preview, &model);
    let Some(change) = Change::update(ENTITY, id, &old, &snapshot(tx, &preview).await?) else {
        return Ok(before);
    };
    model.version = Set(before.version + 1);
    model.updated_at = Set(Utc::now());
    model.updated_by = Set(tx.actor().user_id);
    // The version in the WHERE clause closes the gap between our read and this write.
    let updated = tx.update_where(model, Column::Version.eq(before.version)).await.map_err(|e| match e.into() {
        ServiceError::NotFound => ServiceError::Conflict("the account was changed concurrently".into()),
        other => other,
    })?;
    tx.trace(change).await?;
    Ok(updated)
}

fn apply_model(target: &mut account::Model, model: &account::ActiveModel) {
    use sea_orm::ActiveValue::{Set as S, Unchanged};
    macro_rules! copy {
        ($($f:ident),*) => {$(
            if let S(v) | Unchanged(v) = &model.$f { target.$f = v.clone(); }
        )*};
    }
    copy!(name, type_id, sector, origin, purchase_potential_id, region, phone, email, website);
    copy!(street, city, state, postal_code, country, owner_id, external_id);
}

/// Soft delete: the account leaves every query; an admin can restore it.
pub async fn delete(tx: &TenantTx, id: Uuid) -> ServiceResult<account::Model> {
    let before = get(tx, id).await?;
    let mut model: account::ActiveModel = before.clone().into();
    model.deleted_at = Set(Some(Utc::now()));
    model.version = Set(before.version + 1);
    model.updated_by = Set(tx.actor().user_id);
    let deleted = tx.update_where(model, Column::Version.eq(before.version)).await?;
    tx.trace(Change::delete(ENTITY, id, snapshot(tx, &before).await?)).await?;
    Ok(deleted)
}

/// Brings a deleted account back (admins only).
pub async fn restore(tx: &TenantTx, id: Uuid) -> ServiceResult<account::Model> {
    require_admin(tx.actor())?;
    let deleted = tx
        .select::<account::Entity>()
        .filter(Column::Id.eq(id))
        .filter(Column::DeletedAt.is_not_null())
        .one(tx.conn())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let mut model: account::ActiveModel = deleted.clone().into();
    model.deleted_at = Set(None);
    model.version = Set(deleted.version + 1);
    model.updated_by = Set(tx.actor().user_id);
    let restored = tx.update_where(model, Column::Version.eq(deleted.version)).await?;
    let after = snapshot(tx, &restored).await?;
    tx.trace(Change {
        change_type: ChangeType::Restore,
        entity_type: ENTITY,
        entity_id: Some(id),
        before: None,
        after: Some(after),
    })
    .await?;
    Ok(restored)
}

fn contains(column: Column, needle: &str) -> Condition {
    let escaped = needle.trim().to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    let lowered = Func::lower(Expr::col((account::Entity, column)));
    Condition::all().add(Expr::expr(lowered).like(LikeExpr::new(format!("%{escaped}%")).escape('\\')))
}

/// The filtered (not yet ordered or paged) query.
async fn filtered(scope: &impl Scope, filter: &AccountFilter) -> ServiceResult<Select<account::Entity>> {
    let mut query = scope.select::<account::Entity>().filter(Column::DeletedAt.is_null());
    let equal = [
        (Column::Name, &filter.name),
        (Column::Sector, &filter.sector),
        (Column::Region, &filter.region),
        (Column::City, &filter.city),
        (Column::Country, &filter.country),
        (Column::ExternalId, &filter.external_id),
    ];
    for (column, value) in equal {
        if let Some(value) = value {
            query = query.filter(column.eq(value.trim()));
        }
    }
    if let Some(needle) = &filter.name_contains {
        query = query.filter(contains(Column::Name, needle));
    }
    if let Some(needle) = &filter.email_contains {
        query = query.filter(contains(Column::Email, needle));
    }
    if let Some(value) = &filter.account_type {
        let id = picklists::resolve(scope, ENTITY, "type", "filter.type", value, Choosable::Any).await?;
        query = query.filter(Column::TypeId.eq(id));
    }
    if let Some(value) = &filter.purchase_potential {
        let id =
            picklists::resolve(scope, ENTITY, "purchasePotential", "filter.purchasePotential", value, Choosable::Any)
                .await?;
        query = query.filter(Column::PurchasePotentialId.eq(id));
    }
    if let Some(owner) = filter.owner_id {
        query = query.filter(Column::OwnerId.eq(owner));
    }
    if filter.mine {
        let me = scope.actor().user_id.ok_or_else(|| ServiceError::invalid("filter.mine", "needs a signed-in user"))?;
        query = query.filter(Column::OwnerId.eq(me));
    }
    let ranges = [
        (Column::CreatedAt, filter.created_from, filter.created_to),
        (Column::UpdatedAt, filter.updated_from, filter.updated_to),
    ];
    for (column, from, to) in ranges {
        if let Some(from) = from {
            query = query.filter(column.gte(from));
        }
        if let Some(to) = to {
            query = query.filter(column.lte(to));
        }
    }
    Ok(query)
}

/// One page of accounts: `first` rows after `offset`, plus whether more follow.
pub async fn list(
    scope: &impl Scope,
    filter: &AccountFilter,
    order: AccountOrder,
    descending: bool,
    offset: u64,
    first: u64,
) -> ServiceResult<(Vec<account::Model>, bool)> {
    if first > MAX_PAGE {
        return Err(ServiceError::invalid("first", format!("must be at most {MAX_PAGE}")));
    }
    let column = order.column();
    let direction = if descending { sea_orm::Order::Desc } else { sea_orm::Order::Asc };
    // NULLs last on both backends (SQLite and PostgreSQL disagree by default).
    let mut rows = filtered(scope, filter)
        .await?
        .order_by(Expr::col((account::Entity, column)).is_null(), sea_orm::Order::Asc)
        .order_by(column, direction.clone())
        .order_by(Column::Id, direction)
        .offset(offset)
        .limit(first + 1)
        .all(scope.conn())
        .await?;
    let more = rows.len() as u64 > first;
    rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    Ok((rows, more))
}

pub async fn count(scope: &impl Scope, filter: &AccountFilter) -> ServiceResult<u64> {
    Ok(filtered(scope, filter).await?.count(scope.conn()).await?)
}
