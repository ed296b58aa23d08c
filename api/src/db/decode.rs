//! Rows of the models lists read most, decoded straight from the driver:
//! whole, or with only the columns a list's rows show ([`partial`]).
//!
//! sea-orm's derived `FromQueryResult` reads a nullable column by asking for
//! the value and turning the "null" error into `None`, and it formats that
//! error's text (the column's name, escaped) for every NULL it meets. On a page
//! of accounts, most of whose 26 columns are usually empty, that alone was 7%
//! of a list's CPU. These decoders ask sqlx for each field's type by column
//! name, as sea-orm does (it asks for `Option<T>` of the same `T` on both
//! backends), so the models are the same; a test compares the two on every
//! column of every model listed here.

use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::sqlite::SqliteRow;
use sea_orm::sqlx::{self, Row};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryResult, Select};

/// A model decoded from a PostgreSQL or SQLite row by column name.
pub trait Decode: Sized {
    fn from_pg(row: &PgRow) -> Result<Self, sqlx::Error>;
    fn from_sqlite(row: &SqliteRow) -> Result<Self, sqlx::Error>;
    /// From a row with some of the columns: the others at their defaults.
    fn partial_from_pg(row: &PgRow) -> Result<Self, sqlx::Error>;
    fn partial_from_sqlite(row: &SqliteRow) -> Result<Self, sqlx::Error>;
}

/// A model read through [`Decode`] where the row allows, else as sea-orm reads it.
pub struct Decoded<M>(pub M);

impl<M: Decode + FromQueryResult> FromQueryResult for Decoded<M> {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        let decoded = match (pre, res.try_as_pg_row(), res.try_as_sqlite_row()) {
            ("", Some(row), _) => M::from_pg(row),
            ("", None, Some(row)) => M::from_sqlite(row),
            _ => return M::from_query_result(res, pre).map(Decoded),
        };
        decoded.map(Decoded).map_err(|e| DbErr::Type(e.to_string()))
    }
}

/// A model decoded from a row that selected some of its columns.
struct Partial<M>(M);

impl<M: Decode> FromQueryResult for Partial<M> {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        let decoded = match (pre, res.try_as_pg_row(), res.try_as_sqlite_row()) {
            ("", Some(row), _) => M::partial_from_pg(row),
            ("", None, Some(row)) => M::partial_from_sqlite(row),
            _ => return Err(DbErr::Type("a partial row is read from PostgreSQL or SQLite only".into())),
        };
        decoded.map(Partial).map_err(|e| DbErr::Type(e.to_string()))
    }
}

/// Every row `query` selects, with only the `columns` given (the others at
/// their types' defaults): for callers that read no other field of them.
pub async fn partial<E>(
    query: Select<E>,
    columns: &[E::Column],
    conn: &impl ConnectionTrait,
) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: Decode,
{
    use sea_orm::{IdenStatic, Iterable, QuerySelect};
    let wanted = |c: &E::Column| columns.iter().any(|w| w.as_str() == c.as_str());
    // In the entity's order, which the decoders expect (see `field_or_default`).
    let query = query.select_only().columns(E::Column::iter().filter(wanted));
    Ok(query.into_model::<Partial<E::Model>>().all(conn).await?.into_iter().map(|d| d.0).collect())
}

/// Every row `query` selects, decoded.
pub async fn all<E>(query: Select<E>, conn: &impl ConnectionTrait) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: Decode,
{
    Ok(query.into_model::<Decoded<E::Model>>().all(conn).await?.into_iter().map(|d| d.0).collect())
}

/// The first row `query` selects, decoded.
pub async fn one<E>(query: Select<E>, conn: &impl ConnectionTrait) -> Result<Option<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: Decode,
{
    Ok(query.into_model::<Decoded<E::Model>>().one(conn).await?.map(|d| d.0))
}

/// Field `name`, expected as the row's column `*at` (then moves `at` on): by
/// that index when the column there has that name, else by name. A model's
/// select lists its columns in the order its fields are listed below, so the
/// index is right and skips sqlx's hashed lookup of every column's name (3%
/// of a list's CPU); a select in another order is still decoded
/// right, by name.
fn field<'r, R, T>(row: &'r R, at: &mut usize, name: &str) -> Result<T, sqlx::Error>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'n> &'n str: sqlx::ColumnIndex<R>,
    T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    use sqlx::Column;
    let index = *at;
    *at += 1;
    if row.columns().get(index).is_some_and(|column| column.name() == name) {
        row.try_get(index)
    } else {
        row.try_get(name)
    }
}

/// Field `name` of a row that selected some of the model's columns, in the
/// model's order (see [`partial`]): the column at `*at` when it has that name
/// (then moves `at` on), else its type's default. Only for reads whose callers
/// use no field but those selected. A row whose columns came in another order
/// leaves some unread, which [`all_read`] refuses.
fn field_or_default<'r, R, T>(row: &'r R, at: &mut usize, name: &str) -> Result<T, sqlx::Error>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database> + Default,
{
    use sqlx::Column;
    if row.columns().get(*at).is_some_and(|column| column.name() == name) {
        *at += 1;
        row.try_get(*at - 1)
    } else {
        Ok(T::default())
    }
}

/// Whether [`field_or_default`] read every column of the row.
fn all_read<R: Row>(row: &R, at: usize) -> Result<(), sqlx::Error> {
    if at == row.len() {
        Ok(())
    } else {
        Err(sqlx::Error::Decode("a partial row's columns are not in its model's order".into()))
    }
}

/// Implements [`Decode`] for a model: every field, by its column's name. A
/// field left out does not compile; a misspelt one fails every read of it.
/// Fields are read in the order listed (struct literal fields evaluate in
/// source order), which is the entity's column order.
macro_rules! decode {
    ($model:path { $($field:ident),* $(,)? }) => {
        impl Decode for $model {
            fn from_pg(row: &PgRow) -> Result<Self, sqlx::Error> {
                let mut at = 0;
                Ok(Self { $($field: field(row, &mut at, stringify!($field))?),* })
            }

            fn from_sqlite(row: &SqliteRow) -> Result<Self, sqlx::Error> {
                let mut at = 0;
                Ok(Self { $($field: field(row, &mut at, stringify!($field))?),* })
            }

            fn partial_from_pg(row: &PgRow) -> Result<Self, sqlx::Error> {
                let mut at = 0;
                let model = Self { $($field: field_or_default(row, &mut at, stringify!($field))?),* };
                all_read(row, at).map(|()| model)
            }

            fn partial_from_sqlite(row: &SqliteRow) -> Result<Self, sqlx::Error> {
                let mut at = 0;
                let model = Self { $($field: field_or_default(row, &mut at, stringify!($field))?),* };
                all_read(row, at).map(|()| model)
            }
        }
    };
}

decode!(entity::account::Model {
    tenant_id,
    id,
    name,
    type_id,
    sector,
    origin,
    purchase_potential_id,
    region,
    phone,
    email,
    website,
    street,
    city,
    state,
    postal_code,
    country,
    owner_id,
    created_at,
    updated_at,
    created_by,
    updated_by,
    version,
    external_id,
    deleted_at,
    completeness,
    custom,
});

decode!(entity::contact::Model {
    tenant_id,
    id,
    account_id,
    first_name,
    last_name,
    title,
    email,
    phone,
    mobile,
    owner_id,
    created_at,
    updated_at,
    created_by,
    updated_by,
    version,
    external_id,
    deleted_at,
    completeness,
    custom,
});

decode!(entity::lead::Model {
    tenant_id,
    id,
    first_name,
    last_name,
    company,
    title,
    phone,
    email,
    street,
    city,
    state,
    postal_code,
    website,
    status_id,
    source_id,
    converted_at,
    converted_account_id,
    converted_contact_id,
    converted_opportunity_id,
    owner_id,
    created_at,
    updated_at,
    created_by,
    updated_by,
    version,
    external_id,
    deleted_at,
    completeness,
    custom,
});

decode!(entity::opportunity::Model {
    tenant_id,
    id,
    account_id,
    name,
    stage_id,
    amount_e4,
    currency,
    close_date,
    stage_changed_at,
    owner_id,
    created_at,
    updated_at,
    created_by,
    updated_by,
    version,
    external_id,
    deleted_at,
    completeness,
    custom,
});

decode!(entity::activity::Model {
    tenant_id,
    id,
    kind_id,
    subject,
    objective_id,
    result_id,
    due_at,
    completed_at,
    notes,
    account_id,
    contact_id,
    lead_id,
    opportunity_id,
    owner_id,
    created_at,
    updated_at,
    created_by,
    updated_by,
    version,
    external_id,
    deleted_at,
    completeness,
    custom,
});

decode!(entity::app_user::Model {
    tenant_id,
    id,
    email,
    display_name,
    password_hash,
    profile_id,
    manager_id,
    created_at,
    updated_at,
    deleted_at,
});
