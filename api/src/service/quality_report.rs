//! `dataQuality(entity)`: how complete an entity's live records are, in a few
//! aggregate statements over the stored `completeness` and the key-field
//! columns (JSON values for custom fields), never one statement per record.

use entity::{account, activity, contact, custom_record, lead, opportunity};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select};
use uuid::Uuid;

use super::catalog::{self, FieldKind};
use super::data_quality::{KeyField, key_fields};
use super::entities::{self, EntityRef};
use super::records::{self, Record};
use super::{custom_fields, field_rules};
use crate::auth::access::Op;
use crate::db::Scope;
use crate::error::{ServiceError, ServiceResult};

/// Lower bounds of the completeness buckets: [0, .25), [.25, .5), [.5, .75),
/// [.75, 1) and exactly 1.
pub const BUCKETS: [(f64, f64); 5] = [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0), (1.0, 1.0)];

/// One key field's fill rate among the live records.
#[derive(Clone, Debug, PartialEq)]
pub struct FillRate {
    pub field: String,
    pub filled: u64,
}

/// One owner's records and their average completeness.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnerQuality {
    pub owner_id: Uuid,
    pub records: u64,
    pub average: f64,
}

/// The figures of one entity.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub entity: String,
    pub key_fields: Vec<String>,
    pub records: u64,
    /// `None` when there are no live records.
    pub average: Option<f64>,
    /// Records per bucket, in [`BUCKETS`] order.
    pub buckets: [u64; 5],
    /// Visible key fields only, in key-field order.
    pub fill_rates: Vec<FillRate>,
    pub owners: Vec<OwnerQuality>,
    pub missing_required: u64,
}

/// A field to test for a value in SQL: a built-in one by its columns, a custom one by its JSON key.
struct Probe {
    name: String,
    custom: bool,
    columns: &'static [&'static str],
    kind: FieldKind,
}

impl From<&KeyField> for Probe {
    fn from(f: &KeyField) -> Self {
        Self { name: f.name.clone(), custom: f.custom, columns: f.columns, kind: f.kind }
    }
}

/// SQL that holds when the row has a value for the field: any of its columns
/// is set, and text is not blank after trimming (the same rule as
/// `data_quality::is_filled` on the trace view).
fn filled_sql(backend: DbBackend, table: &str, probe: &Probe) -> String {
    if probe.custom {
        return format!("({})", custom_fields::present_sql(backend, table, &probe.name));
    }
    let text = matches!(
        probe.kind,
        FieldKind::Text | FieldKind::LongText | FieldKind::Email | FieldKind::Phone | FieldKind::Url
    );
    let parts: Vec<String> = probe
        .columns
        .iter()
        .map(|c| {
            if text {
                format!("(\"{table}\".\"{c}\" IS NOT NULL AND TRIM(\"{table}\".\"{c}\") <> '')")
            } else {
                format!("\"{table}\".\"{c}\" IS NOT NULL")
            }
        })
        .collect();
    if parts.is_empty() { "1 = 0".into() } else { format!("({})", parts.join(" OR ")) }
}

fn count_if(condition: &str) -> String {
    format!("COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0)")
}

/// The report on `entity` for the caller: NOT_FOUND when its profile may not
/// read the entity, BAD_USER_INPUT on `entity` when there is no such entity.
pub async fn report(scope: &impl Scope, entity: &str) -> ServiceResult<Report> {
    let target = entities::resolve(scope, "entity", entity).await?;
    catalog::require(&scope.actor().access, target.name(), Op::Read)?;
    match &target {
        EntityRef::Core(def) => match def.name {
            "Account" => core::<account::Entity>(scope, &target).await,
            "Contact" => core::<contact::Entity>(scope, &target).await,
            "Lead" => core::<lead::Entity>(scope, &target).await,
            "Opportunity" => core::<opportunity::Entity>(scope, &target).await,
            "Activity" => core::<activity::Entity>(scope, &target).await,
            other => Err(ServiceError::Internal(format!("{other} has no record table"))),
        },
        EntityRef::Custom(def) => {
            let query = scope
                .select::<custom_record::Entity>()
                .filter(custom_record::Column::Entity.eq(def.name.as_str()))
                .filter(custom_record::Column::DeletedAt.is_null());
            build(scope, &target, "custom_record", query, custom_record::Column::OwnerId).await
        }
    }
}

async fn core<R: Record>(scope: &impl Scope, target: &EntityRef) -> ServiceResult<Report> {
    let table = sea_orm::EntityName::table_name(&R::default()).to_owned();
    build(scope, target, &table, records::live::<R>(scope), R::COLUMNS.owner).await
}

async fn build<E: sea_orm::EntityTrait>(
    scope: &impl Scope,
    target: &EntityRef,
    table: &str,
    live: Select<E>,
    owner: E::Column,
) -> ServiceResult<Report> {
    let name = target.name();
    let backend = scope.conn().get_database_backend();
    let access = &scope.actor().access;
    let keys = key_fields(scope, name).await?;
    // A fill rate tells how many records hold a value: only for fields the caller may see.
    let visible: Vec<Probe> = keys.fields.iter().filter(|f| access.can_see(name, &f.name)).map(Probe::from).collect();
    let required = required_fields(scope, target).await?;
    let required: Vec<Probe> = required.into_iter().filter(|p| access.can_see(name, &p.name)).collect();

    let c = format!("\"{table}\".\"completeness\"");
    let mut exprs = vec!["COUNT(*)".to_owned(), format!("AVG({c})")];
    for (low, high) in BUCKETS {
        exprs.push(count_if(&if low == high {
            format!("{c} >= {low:?}")
        } else {
            format!("{c} >= {low:?} AND {c} < {high:?}")
        }));
    }
    exprs.extend(visible.iter().map(|p| count_if(&filled_sql(backend, table, p))));
    let missing: Vec<String> = required.iter().map(|p| format!("NOT {}", filled_sql(backend, table, p))).collect();
    exprs.push(if missing.is_empty() { "0".into() } else { count_if(&missing.join(" OR ")) });

    let mut query = live.clone().select_only();
    for (i, sql) in exprs.iter().enumerate() {
        query = query.expr_as(Expr::cust(sql.clone()), format!("c{i}"));
    }
    let row = scope
        .conn()
        .query_one(&query.into_query())
        .await?
        .ok_or_else(|| ServiceError::Internal("an aggregate returned no row".into()))?;
    let int = |i: usize| -> ServiceResult<u64> { Ok(u64::try_from(row.try_get_by_index::<i64>(i)?).unwrap_or(0)) };
    let records = int(0)?;
    let average: Option<f64> = row.try_get_by_index(1)?;
    let mut buckets = [0; 5];
    for (i, bucket) in buckets.iter_mut().enumerate() {
        *bucket = int(2 + i)?;
    }
    let fill_rates = visible
        .iter()
        .enumerate()
        .map(|(i, p)| Ok(FillRate { field: p.name.clone(), filled: int(7 + i)? }))
        .collect::<ServiceResult<Vec<_>>>()?;
    let missing_required = int(7 + visible.len())?;

    let owners = live
        .select_only()
        .column(owner)
        .expr(Expr::cust("COUNT(*)"))
        .expr(Expr::cust(format!("AVG({c})")))
        .group_by(owner)
        .order_by_asc(owner)
        .into_tuple::<(Uuid, i64, Option<f64>)>()
        .all(scope.conn())
        .await?
        .into_iter()
        .map(|(owner_id, n, avg)| OwnerQuality {
            owner_id,
            records: u64::try_from(n).unwrap_or(0),
            average: avg.unwrap_or(0.0),
        })
        .collect();
    Ok(Report {
        entity: name.to_owned(),
        key_fields: keys.names(),
        records,
        average: average.filter(|_| records > 0),
        buckets,
        fill_rates,
        owners,
        missing_required,
    })
}

/// The fields a record of `target` must hold: built-in ones always required
/// or made required by an admin, and required custom fields.
async fn required_fields(scope: &impl Scope, target: &EntityRef) -> ServiceResult<Vec<Probe>> {
    let name = target.name();
    let rules = field_rules::rules(scope, name).await?;
    let mut probes: Vec<Probe> = target
        .fields()
        .iter()
        .filter(|f| !f.server_set && (f.required || rules.required.iter().any(|r| r == f.name)))
        .map(|f| Probe { name: f.name.to_owned(), custom: false, columns: f.columns, kind: f.kind })
        .collect();
    for def in custom_fields::definitions(scope, name).await? {
        let required = def.required || rules.required.contains(&def.name);
        if required {
            let kind = custom_fields::kind(&def)?;
            probes.push(Probe { name: def.name, custom: true, columns: &[], kind });
        }
    }
    Ok(probes)
}
