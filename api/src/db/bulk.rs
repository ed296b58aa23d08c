//! Multi-row inserts for bulk writes (an ERP batch's records, a commit's traces).
//!
//! On PostgreSQL a VALUES list of a few hundred rows costs more to parse and
//! bind than to execute, and its text changes with the row count. There the
//! rows travel instead as one JSON parameter that `json_populate_recordset`
//! turns back into rows of the table's own type: one short statement, parsed
//! once per connection, one parameter to bind. SQLite, which parses in
//! process, takes VALUES lists kept under its bind limit.

use chrono::SecondsFormat;
use sea_orm::sea_query::Value;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait, IdenStatic, Iterable, QueryTrait,
    Statement,
};
use serde_json::Value as Json;

use super::combined::Combined;

/// Binds one statement may carry on SQLite (its limit is 32,766).
const SQLITE_BINDS: usize = 30_000;

/// Rows one JSON parameter carries on PostgreSQL.
const JSON_ROWS: usize = 2_000;

/// What an insert does with a row whose key is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Fails the statement.
    Fail,
    /// Skips the row (the count returned tells).
    Skip,
}

/// Inserts `rows`, which all set the same columns; returns how many went in.
pub(super) async fn insert<A, C>(conn: &C, rows: Vec<A>, taken: Taken) -> Result<u64, DbErr>
where
    A: ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    let Some(first) = rows.first() else { return Ok(0) };
    let skip = if taken == Taken::Skip { " ON CONFLICT DO NOTHING" } else { "" };
    let mut inserted = 0;
    let columns = set_columns(first);
    if conn.get_database_backend() == DbBackend::Postgres
        && let Some(documents) = as_json(&rows, &columns)
    {
        let sql = json_insert::<A>(&columns, "$1", skip);
        for document in documents {
            let statement = Statement::from_sql_and_values(DbBackend::Postgres, &sql, [document.into()]);
            inserted += conn.execute_raw(statement).await?.rows_affected();
        }
        return Ok(inserted);
    }
    for statement in values_inserts(conn.get_database_backend(), rows, taken) {
        inserted += conn.execute_raw(statement).await?.rows_affected();
    }
    Ok(inserted)
}

/// `rows` (all setting the same columns) as INSERTs with VALUES lists, each
/// under SQLite's bind limit.
pub(super) fn values_inserts<A: ActiveModelTrait>(backend: DbBackend, rows: Vec<A>, taken: Taken) -> Vec<Statement> {
    let Some(first) = rows.first() else { return Vec::new() };
    let per_statement = (SQLITE_BINDS / set_columns(first).len().max(1)).max(1);
    let mut statements = Vec::with_capacity(rows.len().div_ceil(per_statement));
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per_statement).collect();
        let mut insert = <A::Entity as EntityTrait>::insert_many(chunk);
        if taken == Taken::Skip {
            insert = insert.on_conflict(sea_orm::sea_query::OnConflict::new().do_nothing().to_owned());
        }
        statements.push(insert.build(backend));
    }
    statements
}

/// The columns `row` sets (every row of one insert sets the same ones).
fn set_columns<A: ActiveModelTrait>(row: &A) -> Vec<<A::Entity as EntityTrait>::Column> {
    <<A::Entity as EntityTrait>::Column as Iterable>::iter().filter(|c| row.get(*c).into_value().is_some()).collect()
}

/// PostgreSQL's INSERT of `columns` from the JSON document bound at `param`.
fn json_insert<A: ActiveModelTrait>(columns: &[<A::Entity as EntityTrait>::Column], param: &str, tail: &str) -> String {
    let names: Vec<String> = columns.iter().map(|c| format!("\"{}\"", c.as_str())).collect();
    let names = names.join(", ");
    let table = A::Entity::default().table_name().to_owned();
    format!(
        "INSERT INTO \"{table}\" ({names}) SELECT {names} FROM json_populate_recordset(NULL::\"{table}\", {param}::json){tail}"
    )
}

/// `rows` (all setting the same columns) as one part of a combined statement
/// (PostgreSQL), `tail` closing the INSERT (an ON CONFLICT clause, say):
/// `None`, with nothing added, when they do not fit one JSON document.
pub(super) fn insert_part<A: ActiveModelTrait>(combined: &mut Combined, rows: &[A], tail: &str) -> Option<()> {
    let columns = set_columns(rows.first()?);
    let mut documents = as_json(rows, &columns)?;
    if documents.len() != 1 {
        return None;
    }
    let param = combined.bind(documents.pop()?);
    combined.part(json_insert::<A>(&columns, &param, tail));
    Some(())
}

/// The rows as JSON arrays of objects keyed by column name, [`JSON_ROWS`] per
/// document, written straight to text; `None` when a value has no JSON form
/// here (the caller then uses a VALUES list).
fn as_json<A: ActiveModelTrait>(rows: &[A], columns: &[<A::Entity as EntityTrait>::Column]) -> Option<Vec<String>> {
    // Each key once, quoted and escaped, with its colon.
    let keys: Vec<String> = columns.iter().map(|c| format!("{}:", Json::from(c.as_str()))).collect();
    let mut documents = Vec::with_capacity(rows.len().div_ceil(JSON_ROWS));
    for chunk in rows.chunks(JSON_ROWS) {
        let mut out: Vec<u8> = Vec::with_capacity(chunk.len() * 64 * columns.len());
        out.push(b'[');
        for (i, row) in chunk.iter().enumerate() {
            out.extend_from_slice(if i == 0 { b"{" } else { b",{" });
            for (j, (column, key)) in columns.iter().zip(&keys).enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(key.as_bytes());
                write_json(&mut out, &row.get(*column).into_value()?)?;
            }
            out.push(b'}');
        }
        out.push(b']');
        documents.push(String::from_utf8(out).ok()?);
    }
    Some(documents)
}

/// Appends a value as JSON text: the forms of [`json`], written without
/// building them for the common kinds (strings, the bulk of a row, are
/// escaped straight into the buffer).
fn write_json(out: &mut Vec<u8>, value: &Value) -> Option<()> {
    use std::io::Write;
    match value {
        Value::String(Some(text)) => serde_json::to_writer(&mut *out, text.as_str()).ok()?,
        Value::Uuid(Some(id)) => write!(out, "\"{id}\"").ok()?,
        Value::ChronoDateTimeUtc(Some(t)) => {
            write!(out, "\"{}\"", t.to_rfc3339_opts(SecondsFormat::Micros, true)).ok()?
        }
        Value::Json(Some(document)) => serde_json::to_writer(&mut *out, &**document).ok()?,
        other => serde_json::to_writer(&mut *out, &json(other)?).ok()?,
    }
    Some(())
}

/// A value as `json_populate_recordset` reads it back: numbers and booleans
/// as such, everything else as the text PostgreSQL's input function takes
/// (decimals too, which a JSON number would round).
fn json(value: &Value) -> Option<Json> {
    fn or_null<T>(value: &Option<T>, f: impl FnOnce(&T) -> Json) -> Json {
        value.as_ref().map_or(Json::Null, f)
    }
    Some(match value {
        Value::Bool(v) => or_null(v, |b| Json::Bool(*b)),
        Value::TinyInt(v) => or_null(v, |n| Json::from(*n)),
        Value::SmallInt(v) => or_null(v, |n| Json::from(*n)),
        Value::Int(v) => or_null(v, |n| Json::from(*n)),
        Value::BigInt(v) => or_null(v, |n| Json::from(*n)),
        Value::TinyUnsigned(v) => or_null(v, |n| Json::from(*n)),
        Value::SmallUnsigned(v) => or_null(v, |n| Json::from(*n)),
        Value::Unsigned(v) => or_null(v, |n| Json::from(*n)),
        Value::BigUnsigned(v) => or_null(v, |n| Json::from(*n)),
        // A non-finite float has no JSON form: leave it to the VALUES path.
        Value::Float(Some(f)) if !f.is_finite() => return None,
        Value::Double(Some(f)) if !f.is_finite() => return None,
        Value::Float(v) => or_null(v, |f| Json::from(f64::from(*f))),
        Value::Double(v) => or_null(v, |f| Json::from(*f)),
        Value::String(v) => or_null(v, |s| Json::String(s.to_string())),
        Value::Char(v) => or_null(v, |c| Json::String(c.to_string())),
        Value::Json(v) => or_null(v, |j| (**j).clone()),
        Value::Uuid(v) => or_null(v, |u| Json::String(u.to_string())),
        Value::Decimal(v) => or_null(v, |d| Json::String(d.to_string())),
        Value::ChronoDate(v) => or_null(v, |d| Json::String(d.to_string())),
        Value::ChronoDateTime(v) => or_null(v, |t| Json::String(t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())),
        Value::ChronoDateTimeUtc(v) => or_null(v, |t| Json::String(t.to_rfc3339_opts(SecondsFormat::Micros, true))),
        Value::ChronoDateTimeWithTimeZone(v) => {
            or_null(v, |t| Json::String(t.to_rfc3339_opts(SecondsFormat::Micros, true)))
        }
        _ => return None,
    })
}
