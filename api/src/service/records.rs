//! What every CRM record shares: owner, audit stamps, version, external id,
//! soft deletion, the trace of each change, filters, ordering and pages.
//!
//! An entity module implements [`Record`] (its own fields: how to validate them
//! and how a trace shows them); the write flows here are then the same for all,
//! so no entity can forget its trace, its version check or its tenant.

use std::future::Future;

use chrono::{DateTime, Utc};
use entity::TenantOwned;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, TryIntoModel,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::adoption::counters::OverdueSpan;
use super::catalog::{self, EntityDef};
use super::custom_fields::{self, Test};
use super::picklists::{self, Choosable};
use super::validate::{self, Patch};
use super::{data_quality, field_rules};
use super::{require_admin, users};
use crate::auth::access::Op;
use crate::db::decode::{self, Decode};
use crate::db::trace::{Change, ChangeType};
use crate::db::{Scope, TenantTx};
use crate::error::{ServiceError, ServiceResult};

/// Largest page a client can ask for.
pub const MAX_PAGE: u64 = 500;

/// The columns every record table has (see `migration::common::record_table`).
pub struct Columns<C> {
    pub id: C,
    pub owner: C,
    pub created_at: C,
    pub created_by: C,
    pub updated_at: C,
    pub updated_by: C,
    pub version: C,
    pub external_id: C,
    pub deleted_at: C,
    /// Custom field values (JSON).
    pub custom: C,
    /// Share of key fields filled (see `data_quality`).
    pub completeness: C,
}

/// A CRM entity: its name in traces, its shared columns, and its own fields.
pub trait Record:
    EntityTrait<
        Model: Sync + IntoActiveModel<Self::ActiveModel> + Decode,
        ActiveModel: ActiveModelBehavior + Send + Sync + TryIntoModel<Self::Model> + From<Self::Model>,
    > + TenantOwned
{
    /// The entity type of its traces, as clients name it.
    const NAME: &'static str;
    const COLUMNS: Columns<Self::Column>;

    /// The record's own fields as a client sends them.
    type Fields: Send + Sync + 'static;

    fn id(model: &Self::Model) -> Uuid;
    fn version(model: &Self::Model) -> i32;
    fn owner(model: &Self::Model) -> Uuid;
    fn external_id(model: &Self::Model) -> Option<&str>;
    fn custom(model: &Self::Model) -> Option<&Value>;
    fn completeness(model: &Self::Model) -> f64;
    fn stamps(model: &Self::Model) -> Stamps;

    /// The API names of the fields a client sent (to check them against the profile).
    fn given(fields: &Self::Fields) -> Vec<&'static str>;

    /// When the record counts as an overdue activity (activities only): every
    /// write here hands the span before and after to the adoption rollup.
    fn overdue(_model: &Self::Model) -> Option<OverdueSpan> {
        None
    }

    /// How a trace shows the record's own fields (picklists by key, references by id).
    fn snapshot(
        scope: &(impl Scope + Send),
        model: &Self::Model,
    ) -> impl Future<Output = ServiceResult<Map<String, Value>>> + Send;

    /// Validates and cleans `fields` onto `model`; every failure names its field.
    /// `creating`: absent fields take their defaults and absent required ones fail.
    fn fill(
        tx: &TenantTx,
        model: &mut Self::ActiveModel,
        fields: Self::Fields,
        creating: bool,
    ) -> impl Future<Output = ServiceResult<()>> + Send;
}

/// Implements the bookkeeping half of [`Record`] for an entity module whose
/// table was made by `record_table`.
#[macro_export]
macro_rules! record_columns {
    ($module:ident) => {
        const COLUMNS: $crate::service::records::Columns<$module::Column> = $crate::service::records::Columns {
            id: $module::Column::Id,
            owner: $module::Column::OwnerId,
            created_at: $module::Column::CreatedAt,
            created_by: $module::Column::CreatedBy,
            updated_at: $module::Column::UpdatedAt,
            updated_by: $module::Column::UpdatedBy,
            version: $module::Column::Version,
            external_id: $module::Column::ExternalId,
            deleted_at: $module::Column::DeletedAt,
            custom: $module::Column::Custom,
            completeness: $module::Column::Completeness,
        };

        fn id(model: &$module::Model) -> uuid::Uuid {
            model.id
        }

        fn version(model: &$module::Model) -> i32 {
            model.version
        }

        fn owner(model: &$module::Model) -> uuid::Uuid {
            model.owner_id
        }

        fn external_id(model: &$module::Model) -> Option<&str> {
            model.external_id.as_deref()
        }

        fn custom(model: &$module::Model) -> Option<&serde_json::Value> {
            model.custom.as_ref()
        }

        fn completeness(model: &$module::Model) -> f64 {
            model.completeness
        }

        fn stamps(model: &$module::Model) -> $crate::service::records::Stamps {
            $crate::service::records::Stamps {
                entity: <Self as $crate::service::records::Record>::NAME.into(),
                id: model.id,
                owner_id: model.owner_id,
                created_at: model.created_at,
                updated_at: model.updated_at,
                created_by: model.created_by,
                updated_by: model.updated_by,
                version: model.version,
                external_id: model.external_id.clone(),
                deleted: model.deleted_at.is_some(),
                custom: model.custom.clone(),
                completeness: model.completeness,
            }
        }
    };
}

/// Implements [`Record::given`] from a field-struct member to API name list.
#[macro_export]
macro_rules! given_fields {
    ($($member:ident => $name:literal),* $(,)?) => {
        fn given(f: &Self::Fields) -> Vec<&'static str> {
            let mut given = Vec::new();
            $(if !f.$member.is_keep() {
                given.push($name);
            })*
            given
        }
    };
}

/// What every record carries besides its own fields.
#[derive(Clone, Debug)]
pub struct Stamps {
    pub entity: std::borrow::Cow<'static, str>,
    pub id: Uuid,
    pub owner_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub updated_by: Option<Uuid>,
    pub version: i32,
    pub external_id: Option<String>,
    pub deleted: bool,
    /// Custom field values as stored (see `custom_fields`).
    pub custom: Option<Value>,
    /// Share of the entity's key fields filled (see `data_quality`).
    pub completeness: f64,
}

/// A record as a client sends it: the shared fields and the entity's own.
pub struct RecordInput<F> {
    /// Create: defaults to the caller. Records always have an owner.
    pub owner: Patch<Uuid>,
    pub external_id: Patch<String>,
    pub fields: F,
    /// Custom field values by API name; `None` leaves them all as they are.
    pub custom: Option<Map<String, Value>>,
}

impl<F: Default> Default for RecordInput<F> {
    fn default() -> Self {
        Self { owner: Patch::Keep, external_id: Patch::Keep, fields: F::default(), custom: None }
    }
}

/// The object of a `json!` literal (anything else is empty).
pub fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The complete trace view: the entity's fields plus owner and external id.
pub async fn snapshot<R: Record>(scope: &(impl Scope + Send), model: &R::Model) -> ServiceResult<Value> {
    let mut fields = R::snapshot(scope, model).await?;
    // Custom API names never clash with built-in ones (checked when defined).
    fields.extend(custom_fields::view(scope, R::NAME, R::custom(model)).await?);
    fields.insert("ownerId".into(), Value::from(R::owner(model).to_string()));
    fields.insert("externalId".into(), R::external_id(model).map_or(Value::Null, Value::from));
    Ok(Value::Object(fields))
}

/// The catalog entry of a record type.
pub fn def<R: Record>() -> ServiceResult<&'static EntityDef> {
    catalog::entity(R::NAME).ok_or_else(|| ServiceError::Internal(format!("{} is not in the catalog", R::NAME)))
}

/// Whether the caller's profile allows `op` on `R` (reads: NOT_FOUND otherwise).
pub fn allowed<R: Record>(scope: &impl Scope, op: Op) -> ServiceResult<()> {
    catalog::require(&scope.actor().access, R::NAME, op)
}

/// Every field a client sent must be EDIT for the caller; one that is not
/// fails the whole write with FORBIDDEN, before anything is written. The
/// check is on presence, not on change: otherwise sending a guess for a hidden
/// field would tell, by succeeding, that the guess was right.
fn check_given<R: Record>(scope: &impl Scope, fields: &R::Fields) -> ServiceResult<()> {
    let entity = def::<R>()?;
    for name in R::given(fields) {
        let Some(field) = entity.field(name) else { continue };
        catalog::require_edit(catalog::access(&scope.actor().access, R::NAME, field), name)?;
    }
    Ok(())
}

/// A filter or order on `column` reads its field: a hidden one is refused, so
/// that which records match cannot reveal the hidden values.
fn check_column<R: Record>(scope: &impl Scope, input: &str, column: &R::Column) -> ServiceResult<()> {
    let name = sea_orm::IdenStatic::as_str(column);
    check_fields::<R>(scope, input, def::<R>()?.fields_of_column(name).map(|f| f.name))
}

/// Whether the caller may see every field a column holds.
pub fn column_visible<R: Record>(scope: &impl Scope, column: &R::Column) -> ServiceResult<bool> {
    let name = sea_orm::IdenStatic::as_str(column);
    Ok(def::<R>()?.fields_of_column(name).all(|f| scope.actor().access.can_see(R::NAME, f.name)))
}

fn check_fields<'a, R: Record>(
    scope: &impl Scope,
    input: &str,
    fields: impl IntoIterator<Item = &'a str>,
) -> ServiceResult<()> {
    for field in fields {
        if !scope.actor().access.can_see(R::NAME, field) {
            return Err(ServiceError::invalid(input, format!("{field} is not visible to your profile")));
        }
    }
    Ok(())
}

/// A trace view with the fields the caller may not see left out.
pub fn visible(scope: &impl Scope, entity: &str, value: Value) -> Value {
    let Value::Object(mut fields) = value else { return value };
    let access = &scope.actor().access;
    let def = catalog::entity(entity);
    // A key that is no built-in field is a custom field's API name (custom
    // entities have only those).
    fields.retain(|key, _| {
        access.can_see(entity, def.and_then(|d| d.field_of_key(key)).map_or(key.as_str(), |f| f.name))
    });
    Value::Object(fields)
}

/// The tenant's records that are not deleted.
pub fn live<R: Record>(scope: &impl Scope) -> Select<R> {
    scope.select::<R>().filter(R::COLUMNS.deleted_at.is_null())
}

/// A record that is not deleted; another tenant's is NOT_FOUND like a missing one.
pub async fn get<R: Record>(scope: &impl Scope, id: Uuid) -> ServiceResult<R::Model> {
    allowed::<R>(scope, Op::Read)?;
    decode::one(live::<R>(scope).filter(R::COLUMNS.id.eq(id)), scope.conn()).await?.ok_or(ServiceError::NotFound)
}

/// Records by id (for DataLoaders); deleted and foreign ones are left out.
pub async fn by_ids<R: Record>(scope: &impl Scope, ids: &[Uuid]) -> ServiceResult<Vec<R::Model>> {
    allowed::<R>(scope, Op::Read)?;
    Ok(decode::all(live::<R>(scope).filter(R::COLUMNS.id.is_in(ids.iter().copied())), scope.conn()).await?)
}

/// The live records whose `column` is one of `ids`, ordered by `order` then id.
pub async fn children<R: Record>(
    scope: &impl Scope,
    column: R::Column,
    ids: &[Uuid],
    order: R::Column,
) -> ServiceResult<Vec<R::Model>> {
    allowed::<R>(scope, Op::Read)?;
    // Listing the records that point at a parent tells what the pointing field holds.
    if !column_visible::<R>(scope, &column)? {
        return Err(ServiceError::Forbidden(format!("your profile may not see which {} records point here", R::NAME)));
    }
    let mut query = live::<R>(scope).filter(column.is_in(ids.iter().copied()));
    // Ordered by a hidden field, the list would reveal its values' order.
    if column_visible::<R>(scope, &order)? {
        query = query.order_by_asc(order);
    }
    Ok(decode::all(query.order_by_asc(R::COLUMNS.id), scope.conn()).await?)
}

fn set<A: ActiveModelTrait>(
    model: &mut A,
    column: <A::Entity as EntityTrait>::Column,
    value: impl Into<sea_orm::Value>,
) {
    model.set(column, value.into());
}

/// A text field's patch, cleaned: blank clears.
pub fn text(patch: Patch<String>, field: &str, max: usize) -> ServiceResult<Patch<Option<String>>> {
    map(patch, |v| validate::optional_text(field, Some(v), max))
}

/// A field's patch through a cleaner that may return `None` (blank).
pub fn map<T>(
    patch: Patch<String>,
    f: impl FnOnce(&str) -> ServiceResult<Option<T>>,
) -> ServiceResult<Patch<Option<T>>> {
    Ok(match patch {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Set(None),
        Patch::Set(v) => Patch::Set(f(&v)?),
    })
}

/// A patch of a value that may be cleared.
pub fn optional<T>(patch: Patch<T>) -> Patch<Option<T>> {
    match patch {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Set(None),
        Patch::Set(v) => Patch::Set(Some(v)),
    }
}

/// Writes a patch onto an active model's field.
pub fn apply<T: Into<sea_orm::Value>>(target: &mut sea_orm::ActiveValue<T>, patch: Patch<T>) {
    if let Patch::Set(value) = patch {
        *target = sea_orm::ActiveValue::Set(value);
    }
}

/// A required text field: `Keep` on create and `Clear` always fail.
pub fn required(patch: Patch<String>, field: &str, max: usize, creating: bool) -> ServiceResult<Option<String>> {
    match patch {
        Patch::Keep if creating => Err(ServiceError::invalid(field, "is required")),
        Patch::Keep => Ok(None),
        Patch::Clear => Err(ServiceError::invalid(field, "is required")),
        Patch::Set(v) => validate::required_text(field, &v, max).map(Some),
    }
}

/// A picklist field's patch: an option's key or label (active options only); blank clears.
pub async fn picklist(
    tx: &TenantTx,
    entity: &str,
    field: &str,
    patch: Patch<String>,
) -> ServiceResult<Patch<Option<Uuid>>> {
    Ok(match patch {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Set(None),
        Patch::Set(v) if v.trim().is_empty() => Patch::Set(None),
        Patch::Set(v) => {
            Patch::Set(Some(picklists::resolve(tx, entity, field, field, &v, Choosable::ActiveOnly).await?))
        }
    })
}

/// A picklist field that always holds a value. `Clear` fails; `Keep` on create
/// fails too, unless `default` is given: then the first active option whose key is
/// not in `default` is taken (a new lead is "new", a new opportunity "received").
pub async fn required_picklist(
    tx: &TenantTx,
    entity: &str,
    field: &str,
    patch: Patch<String>,
    creating: bool,
    default: Option<&[&str]>,
) -> ServiceResult<Option<Uuid>> {
    match (patch, default) {
        (Patch::Keep, Some(except)) if creating => {
            let options = picklists::options(tx, entity, field).await?;
            let first = options.iter().find(|o| o.active && !except.contains(&o.key.as_str()));
            let first = first.ok_or_else(|| ServiceError::invalid(field, "the picklist has no active option"))?;
            Ok(Some(first.id))
        }
        (Patch::Keep, None) if creating => Err(ServiceError::invalid(field, "is required")),
        (Patch::Keep, _) => Ok(None),
        (Patch::Clear, _) => Err(ServiceError::invalid(field, "is required")),
        (Patch::Set(v), _) => Ok(Some(picklists::resolve(tx, entity, field, field, &v, Choosable::ActiveOnly).await?)),
    }
}

/// Checks that a referenced record exists (live, same tenant); the error names `field`.
pub async fn reference<T: Record>(scope: &impl Scope, field: &str, id: Uuid) -> ServiceResult<Uuid> {
    allowed::<T>(scope, Op::Read)?;
    if scope.memo().is_some_and(|memo| memo.is_live_record(T::NAME, id)) {
        return Ok(id);
    }
    // Its id alone: the row's other columns (the custom fields' JSON among
    // them) would be decoded for nothing.
    let found: Option<Uuid> = live::<T>(scope)
        .filter(T::COLUMNS.id.eq(id))
        .select_only()
        .column(T::COLUMNS.id)
        .into_tuple()
        .one(scope.conn())
        .await?;
    if found.is_none() {
        return Err(ServiceError::invalid(field, format!("no such {}", T::NAME.to_lowercase())));
    }
    if let Some(memo) = scope.memo() {
        memo.live_records(T::NAME, [id]);
    }
    Ok(id)
}

/// Picklist keys of the given option ids, for snapshots.
pub async fn option_keys<const N: usize>(
    scope: &impl Scope,
    ids: [Option<Uuid>; N],
) -> ServiceResult<[Option<String>; N]> {
    let wanted: Vec<Uuid> = ids.iter().flatten().copied().collect();
    let options = if wanted.is_empty() { Default::default() } else { picklists::by_ids(scope, &wanted).await? };
    Ok(ids.map(|id| id.and_then(|id| options.get(&id)).map(|o| o.key.clone())))
}

/// A new owner, checked to be a live user of the tenant; a record always has one.
pub async fn owner_of(tx: &TenantTx, owner: Patch<Uuid>) -> ServiceResult<Option<Uuid>> {
    match owner {
        Patch::Keep => Ok(None),
        Patch::Clear => Err(ServiceError::invalid("ownerId", "a record always has an owner")),
        Patch::Set(owner) => {
            let memo = tx.memo();
            if !memo.is_some_and(|m| m.is_live_user(owner)) {
                users::get(tx, owner).await.map_err(|e| match e {
                    ServiceError::NotFound => ServiceError::invalid("ownerId", "no such user"),
                    other => other,
                })?;
                if let Some(memo) = memo {
                    memo.live_user(owner);
                }
            }
            Ok(Some(owner))
        }
    }
}

/// The owner of a record a caller creates: the given one, else the caller.
pub fn default_owner(tx: &TenantTx, owner: Patch<Uuid>) -> ServiceResult<Patch<Uuid>> {
    match owner {
        Patch::Keep => Ok(Patch::Set(
            tx.actor()
                .user_id
                .ok_or_else(|| ServiceError::invalid("ownerId", "is required when an API token creates a record"))?,
        )),
        other => Ok(other),
    }
}

async fn fill_shared<R: Record>(
    tx: &TenantTx,
    model: &mut R::ActiveModel,
    owner: Patch<Uuid>,
    external_id: Patch<String>,
) -> ServiceResult<()> {
    if let Some(owner) = owner_of(tx, owner).await? {
        set(model, R::COLUMNS.owner, owner);
    }
    if let Patch::Set(id) = text(external_id, "externalId", 200)? {
        set(model, R::COLUMNS.external_id, id);
    }
    Ok(())
}

/// Creates a record owned by the caller (or `input.owner`), with its CREATE trace.
pub async fn create<R: Record>(tx: &TenantTx, input: RecordInput<R::Fields>) -> ServiceResult<R::Model> {
    let new = prepare::<R>(tx, input).await?;
    tx.insert(new.row.clone()).await?;
    created::<R>(tx, new).await
}

/// A record checked and built for insertion, not stored yet.
pub struct NewRecord<R: Record> {
    /// Every column set, so that the row stored is exactly `model`.
    pub row: R::ActiveModel,
    pub model: R::Model,
    /// What its CREATE trace shows.
    view: Value,
}

/// Everything [`create`] does before its insert: permissions, validation,
/// field rules, completeness. Writes nothing, so a bulk upsert can prepare
/// many records and insert them together.
pub async fn prepare<R: Record>(tx: &TenantTx, input: RecordInput<R::Fields>) -> ServiceResult<NewRecord<R>> {
    allowed::<R>(tx, Op::Create)?;
    check_given::<R>(tx, &input.fields)?;
    let actor = tx.actor();
    let owner = default_owner(tx, input.owner)?;
    let now = tx.now();
    let mut model = R::ActiveModel::default();
    set(&mut model, R::COLUMNS.id, Uuid::now_v7());
    set(&mut model, R::COLUMNS.created_at, now);
    set(&mut model, R::COLUMNS.updated_at, now);
    set(&mut model, R::COLUMNS.created_by, actor.user_id);
    set(&mut model, R::COLUMNS.updated_by, actor.user_id);
    set(&mut model, R::COLUMNS.version, 1);
    set(&mut model, R::COLUMNS.deleted_at, Option::<DateTime<Utc>>::None);
    fill_shared::<R>(tx, &mut model, owner, input.external_id).await?;
    R::fill(tx, &mut model, input.fields, true).await?;
    if let Some(custom) = custom_fields::apply(tx, R::NAME, None, input.custom, true).await? {
        set(&mut model, R::COLUMNS.custom, custom);
    }
    // The row as it will be stored gives the trace view, the field-rule check
    // and the completeness, so the insert carries its completeness at once.
    let mut row = preview::<R>(tx, &model)?;
    let view = snapshot::<R>(tx, &row.clone().try_into_model()?).await?;
    if let Value::Object(fields) = &view {
        field_rules::check(&tx.actor().access, &*field_rules::rules(tx, R::NAME).await?, R::NAME, fields, None)?;
    }
    set(&mut row, R::COLUMNS.completeness, data_quality::completeness(tx, R::NAME, &view).await?);
    let model = row.clone().try_into_model()?;
    Ok(NewRecord { row, model, view })
}

/// What follows a prepared record's insert: its CREATE trace and any points it earns.
pub async fn created<R: Record>(tx: &TenantTx, new: NewRecord<R>) -> ServiceResult<R::Model> {
    tx.trace(Change::create(R::NAME, R::id(&new.model), new.view)).await?;
    tx.overdue_moved(None, R::overdue(&new.model));
    let stamps = R::stamps(&new.model);
    super::points::on_completeness(tx, R::NAME, stamps.id, stamps.created_at, None, R::completeness(&new.model))
        .await?;
    Ok(new.model)
}

/// The model a new row will be: what the write set, the tenant, and for
/// columns it left out their type's default (all of them nullable or
/// stamped, so the view does not depend on the database's defaults).
fn preview<R: Record>(tx: &TenantTx, model: &R::ActiveModel) -> ServiceResult<R::ActiveModel> {
    let defaults = <R::ActiveModel as ActiveModelTrait>::default_values();
    let mut preview = model.clone();
    for column in <R::Column as sea_orm::Iterable>::iter() {
        if preview.is_not_set(column) {
            let value = defaults
                .get(column)
                .into_value()
                .ok_or_else(|| ServiceError::Internal(format!("{}: no value for column {column:?}", R::NAME)))?;
            preview.set(column, value);
        }
    }
    preview.set(R::tenant_column(), tx.actor().tenant_id.into());
    Ok(preview)
}

fn stale(name: &str, version: i32) -> ServiceError {
    ServiceError::Conflict(format!("the {} is at version {version}", name.to_lowercase()))
}

/// Changes only the given fields. With `expected_version`, a stale version is a CONFLICT.
/// An update that changes nothing writes nothing and keeps the version.
pub async fn update<R: Record>(
    tx: &TenantTx,
    id: Uuid,
    input: RecordInput<R::Fields>,
    expected_version: Option<i32>,
) -> ServiceResult<R::Model> {
    allowed::<R>(tx, Op::Update)?;
    check_given::<R>(tx, &input.fields)?;
    let before = get::<R>(tx, id).await?;
    if expected_version.is_some_and(|v| v != R::version(&before)) {
        return Err(stale(R::NAME, R::version(&before)));
    }
    update_loaded::<R>(tx, before, input).await
}

/// [`update`] of a record the caller has just read in this transaction (a bulk
/// upsert's prefetch); the version in the write still guards against a concurrent change.
pub async fn update_loaded<R: Record>(
    tx: &TenantTx,
    before: R::Model,
    input: RecordInput<R::Fields>,
) -> ServiceResult<R::Model> {
    match plan_update::<R>(tx, before, input).await? {
        Planned::Unchanged(before) => Ok(before),
        Planned::Write(write) => write_planned::<R>(tx, write).await,
    }
}

/// What [`update_loaded`] would do, found without writing anything: a bulk
/// upsert compares a record first and needs a savepoint only to write it.
pub async fn plan_update<R: Record>(
    tx: &TenantTx,
    before: R::Model,
    input: RecordInput<R::Fields>,
) -> ServiceResult<Planned<R>> {
    allowed::<R>(tx, Op::Update)?;
    check_given::<R>(tx, &input.fields)?;
    let mut model: R::ActiveModel = before.clone().into();
    fill_shared::<R>(tx, &mut model, input.owner, input.external_id).await?;
    R::fill(tx, &mut model, input.fields, false).await?;
    if let Some(custom) = custom_fields::apply(tx, R::NAME, R::custom(&before), input.custom, false).await? {
        set(&mut model, R::COLUMNS.custom, custom);
    }
    plan::<R>(tx, before, model, ChangeType::Update).await
}

/// A write decided on and checked, or the record as it stays.
pub enum Planned<R: Record> {
    Unchanged(R::Model),
    Write(Write<R>),
}

/// A checked change of one record, not yet written.
pub struct Write<R: Record> {
    before: R::Model,
    model: R::ActiveModel,
    change: Change,
}

/// Writes `model` over `before` and traces the fields that changed as `kind`.
/// When nothing changed, nothing is written and `before` comes back.
pub async fn save<R: Record>(
    tx: &TenantTx,
    before: R::Model,
    model: R::ActiveModel,
    kind: ChangeType,
) -> ServiceResult<R::Model> {
    match plan::<R>(tx, before, model, kind).await? {
        Planned::Unchanged(before) => Ok(before),
        Planned::Write(write) => write_planned::<R>(tx, write).await,
    }
}

/// Everything [`save`] does before it writes: the diff, the field rules, the
/// version and stamps, the completeness.
async fn plan<R: Record>(
    tx: &TenantTx,
    before: R::Model,
    mut model: R::ActiveModel,
    kind: ChangeType,
) -> ServiceResult<Planned<R>> {
    let preview = model.clone().try_into_model()?;
    let old = snapshot::<R>(tx, &before).await?;
    let new = snapshot::<R>(tx, &preview).await?;
    let Some(mut change) = Change::update(R::NAME, R::id(&before), &old, &new) else {
        return Ok(Planned::Unchanged(before));
    };
    if let (Value::Object(fields), Some(Value::Object(changed))) = (&new, &change.after) {
        let changed: Vec<String> = changed.keys().cloned().collect();
        field_rules::check(
            &tx.actor().access,
            &*field_rules::rules(tx, R::NAME).await?,
            R::NAME,
            fields,
            Some(&changed),
        )?;
    }
    change.change_type = kind;
    write::<R>(tx, &before, &mut model);
    set(&mut model, R::COLUMNS.completeness, data_quality::completeness(tx, R::NAME, &new).await?);
    Ok(Planned::Write(Write { before, model, change }))
}

/// Writes a planned change: the row (if still at the version read), its trace, any points.
pub async fn write_planned<R: Record>(tx: &TenantTx, write: Write<R>) -> ServiceResult<R::Model> {
    let Write { before, model, change } = write;
    let saved =
        tx.update_where(model, R::COLUMNS.version.eq(R::version(&before))).await.map_err(
            |e| match ServiceError::from(e) {
                ServiceError::NotFound => ServiceError::Conflict(format!("the {} was changed concurrently", R::NAME)),
                other => other,
            },
        )?;
    tx.trace(change).await?;
    tx.overdue_moved(R::overdue(&before), R::overdue(&saved));
    let stamps = R::stamps(&saved);
    let (was, is) = (R::completeness(&before), R::completeness(&saved));
    super::points::on_completeness(tx, R::NAME, stamps.id, stamps.created_at, Some(was), is).await?;
    Ok(saved)
}

/// Stamps a write: next version, now, the caller.
fn write<R: Record>(tx: &TenantTx, before: &R::Model, model: &mut R::ActiveModel) {
    set(model, R::COLUMNS.version, R::version(before) + 1);
    set(model, R::COLUMNS.updated_at, tx.now());
    set(model, R::COLUMNS.updated_by, tx.actor().user_id);
}

/// Replaces a record's custom values without a trace of its own: for removing
/// a deleted field's values, which its definition's trace records.
pub async fn write_custom<R: Record>(tx: &TenantTx, before: R::Model, values: Map<String, Value>) -> ServiceResult<()> {
    let mut model: R::ActiveModel = before.clone().into();
    set(&mut model, R::COLUMNS.custom, (!values.is_empty()).then_some(Value::Object(values)));
    write::<R>(tx, &before, &mut model);
    let view = snapshot::<R>(tx, &model.clone().try_into_model()?).await?;
    set(&mut model, R::COLUMNS.completeness, data_quality::completeness(tx, R::NAME, &view).await?);
    tx.update_where(model, R::COLUMNS.version.eq(R::version(&before))).await?;
    Ok(())
}

/// Soft delete: the record leaves every query; an admin can restore it.
pub async fn delete<R: Record>(tx: &TenantTx, id: Uuid) -> ServiceResult<R::Model> {
    allowed::<R>(tx, Op::Delete)?;
    let before = get::<R>(tx, id).await?;
    let mut model: R::ActiveModel = before.clone().into();
    set(&mut model, R::COLUMNS.deleted_at, Some(tx.now()));
    write::<R>(tx, &before, &mut model);
    let deleted = tx.update_where(model, R::COLUMNS.version.eq(R::version(&before))).await?;
    if let Some(memo) = tx.memo() {
        memo.forget_record(R::NAME, id);
    }
    tx.trace(Change::delete(R::NAME, id, snapshot::<R>(tx, &before).await?)).await?;
    tx.overdue_moved(R::overdue(&before), R::overdue(&deleted));
    Ok(deleted)
}

/// Brings a deleted record back (admins only).
pub async fn restore<R: Record>(tx: &TenantTx, id: Uuid) -> ServiceResult<R::Model> {
    require_admin(tx.actor())?;
    let deleted = tx
        .select::<R>()
        .filter(R::COLUMNS.id.eq(id))
        .filter(R::COLUMNS.deleted_at.is_not_null())
        .one(tx.conn())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let mut model: R::ActiveModel = deleted.clone().into();
    set(&mut model, R::COLUMNS.deleted_at, Option::<DateTime<Utc>>::None);
    write::<R>(tx, &deleted, &mut model);
    // Restoring changes no field: the view of the deleted row is the restored one's.
    let after = snapshot::<R>(tx, &deleted).await?;
    set(&mut model, R::COLUMNS.completeness, data_quality::completeness(tx, R::NAME, &after).await?);
    let restored = tx.update_where(model, R::COLUMNS.version.eq(R::version(&deleted))).await?;
    tx.trace(Change {
        change_type: ChangeType::Restore,
        entity_type: R::NAME.into(),
        entity_id: Some(id),
        before: None,
        after: Some(after),
    })
    .await?;
    tx.overdue_moved(R::overdue(&deleted), R::overdue(&restored));
    Ok(restored)
}

/// One condition of a list filter; a filter holds when all its criteria do.
#[derive(Clone, Debug)]
pub enum Criterion<C> {
    /// Exact text (trimmed).
    Equals(C, String),
    /// Case-insensitive substring.
    Contains(C, String),
    /// A reference or id column; `None` means unset.
    Is(C, Option<Uuid>),
    /// A picklist column given an option key or label; `field` names it in errors.
    Picklist { column: C, field: &'static str, value: String },
    /// Inclusive bounds on a date, time or number column.
    Range(C, Option<sea_orm::Value>, Option<sea_orm::Value>),
    /// Whether a column holds a value.
    Present(C, bool),
    /// The caller's own records.
    Mine,
    /// A condition an entity module builds itself (e.g. "overdue"), with the
    /// fields it reads.
    Where(&'static [&'static str], Condition),
    /// A test on a custom field, by API name.
    Custom(String, Test),
}

/// Collects criteria from optional filter inputs; absent inputs add nothing.
pub struct Criteria<C>(pub Vec<Criterion<C>>);

impl<C> Default for Criteria<C> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<C> Criteria<C> {
    pub fn equals(&mut self, column: C, value: Option<String>) -> &mut Self {
        self.0.extend(value.map(|v| Criterion::Equals(column, v)));
        self
    }

    pub fn contains(&mut self, column: C, value: Option<String>) -> &mut Self {
        self.0.extend(value.map(|v| Criterion::Contains(column, v)));
        self
    }

    pub fn is(&mut self, column: C, value: Option<Uuid>) -> &mut Self {
        self.0.extend(value.map(|v| Criterion::Is(column, Some(v))));
        self
    }

    pub fn picklist(&mut self, column: C, field: &'static str, value: Option<String>) -> &mut Self {
        self.0.extend(value.map(|value| Criterion::Picklist { column, field, value }));
        self
    }

    pub fn range<V: Into<sea_orm::Value>>(&mut self, column: C, from: Option<V>, to: Option<V>) -> &mut Self {
        if from.is_some() || to.is_some() {
            self.0.push(Criterion::Range(column, from.map(Into::into), to.map(Into::into)));
        }
        self
    }

    pub fn present(&mut self, column: C, value: Option<bool>) -> &mut Self {
        self.0.extend(value.map(|v| Criterion::Present(column, v)));
        self
    }

    pub fn mine(&mut self, value: Option<bool>) -> &mut Self {
        if value == Some(true) {
            self.0.push(Criterion::Mine);
        }
        self
    }
}

fn contains<R: Record>(column: R::Column, needle: &str) -> Condition {
    let escaped = needle.trim().to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    let lowered = Func::lower(Expr::col((R::default(), column)));
    Condition::all().add(Expr::expr(lowered).like(LikeExpr::new(format!("%{escaped}%")).escape('\\')))
}

fn check_criterion<R: Record>(scope: &impl Scope, criterion: &Criterion<R::Column>) -> ServiceResult<()> {
    match criterion {
        Criterion::Equals(c, _)
        | Criterion::Contains(c, _)
        | Criterion::Is(c, _)
        | Criterion::Picklist { column: c, .. }
        | Criterion::Range(c, ..)
        | Criterion::Present(c, _) => check_column::<R>(scope, "filter", c),
        Criterion::Where(fields, _) => check_fields::<R>(scope, "filter", fields.iter().copied()),
        // Checked where the condition is built (the field's definition is needed).
        Criterion::Mine | Criterion::Custom(..) => Ok(()),
    }
}

/// The filtered (not yet ordered or paged) query over live records.
pub async fn filtered<R: Record>(scope: &impl Scope, criteria: &[Criterion<R::Column>]) -> ServiceResult<Select<R>> {
    allowed::<R>(scope, Op::Read)?;
    let mut query = live::<R>(scope);
    for criterion in criteria {
        check_criterion::<R>(scope, criterion)?;
        query = match criterion {
            Criterion::Equals(column, value) => query.filter(column.eq(value.trim())),
            Criterion::Contains(column, needle) => query.filter(contains::<R>(*column, needle)),
            Criterion::Is(column, Some(id)) => query.filter(column.eq(*id)),
            Criterion::Is(column, None) => query.filter(column.is_null()),
            Criterion::Picklist { column, field, value } => {
                let input = format!("filter.{field}");
                let id = picklists::resolve(scope, R::NAME, field, &input, value, Choosable::Any).await?;
                query.filter(column.eq(id))
            }
            Criterion::Range(column, from, to) => {
                let mut q = query;
                if let Some(from) = from {
                    q = q.filter(column.gte(from.clone()));
                }
                if let Some(to) = to {
                    q = q.filter(column.lte(to.clone()));
                }
                q
            }
            Criterion::Present(column, true) => query.filter(column.is_not_null()),
            Criterion::Present(column, false) => query.filter(column.is_null()),
            Criterion::Where(_, condition) => query.filter(condition.clone()),
            Criterion::Custom(name, test) => query.filter(custom_fields::condition::<R>(scope, name, test).await?),
            Criterion::Mine => {
                let me = scope
                    .actor()
                    .user_id
                    .ok_or_else(|| ServiceError::invalid("filter.mine", "needs a signed-in user"))?;
                query.filter(R::COLUMNS.owner.eq(me))
            }
        };
    }
    Ok(query)
}

/// One page of records: `first` rows after `offset`, plus whether more follow.
/// Ties are broken by id and NULLs sort last on both backends, so pages are stable.
///
/// With `columns`, the rows hold only those columns (the others at their
/// types' defaults): for callers that read no other field of them.
#[allow(clippy::too_many_arguments, reason = "a list's arguments, as GraphQL gives them, and what its rows show")]
pub async fn list<R: Record>(
    scope: &impl Scope,
    criteria: &[Criterion<R::Column>],
    order: Sort<R::Column>,
    descending: bool,
    offset: u64,
    first: u64,
    columns: Option<&[R::Column]>,
) -> ServiceResult<(Vec<R::Model>, bool)> {
    if first > MAX_PAGE {
        return Err(ServiceError::invalid("first", format!("must be at most {MAX_PAGE}")));
    }
    allowed::<R>(scope, Op::Read)?;
    let direction = if descending { sea_orm::Order::Desc } else { sea_orm::Order::Asc };
    let mut query = filtered::<R>(scope, criteria).await?;
    // A default order on a field the caller cannot see would tell its values'
    // order: such a list falls back to creation order (ids are time-ordered).
    let order = match order {
        Sort::Default(column) if !column_visible::<R>(scope, &column)? => None,
        Sort::Default(column) => Some(Sort::Column(column)),
        other => Some(other),
    };
    match order {
        None => {}
        Some(Sort::Column(column) | Sort::Default(column)) => {
            check_column::<R>(scope, "orderBy", &column)?;
            // Only nullable columns need the NULLs-last key; without it an index on the
            // column can serve the ordering.
            if column.def().is_null() {
                query = query.order_by(Expr::col((R::default(), column)).is_null(), sea_orm::Order::Asc);
            }
            query = query.order_by(column, direction.clone());
        }
        Some(Sort::Custom(name)) => {
            let expr = custom_fields::order_expr::<R>(scope, &name).await?;
            query = query.order_by(expr.clone().is_null(), sea_orm::Order::Asc).order_by(expr, direction.clone());
        }
    }
    let query = query.order_by(R::COLUMNS.id, direction).offset(offset).limit(first + 1);
    let mut rows = match columns {
        Some(columns) => decode::partial(query, columns, scope.conn()).await?,
        None => decode::all(query, scope.conn()).await?,
    };
    let more = rows.len() as u64 > first;
    rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    Ok((rows, more))
}

/// What a list is ordered by.
pub enum Sort<C> {
    Column(C),
    /// The list's own order, when the client asked for none.
    Default(C),
    /// A custom field, by API name.
    Custom(String),
}

pub async fn count<R: Record>(scope: &impl Scope, criteria: &[Criterion<R::Column>]) -> ServiceResult<u64> {
    Ok(filtered::<R>(scope, criteria).await?.count(scope.conn()).await?)
}
