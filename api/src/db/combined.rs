//! Several writes sent to PostgreSQL as one statement: data-modifying `WITH`
//! parts and a final `SELECT`.
//!
//! A commit stores its traces, moves the trace head, adds to the adoption
//! rollup and sends its `NOTIFY`: four round trips, each a wait on the
//! database for a few microseconds of its work. As parts of one statement they
//! are one. The parts run on one snapshot and do not see each other's rows,
//! so only writes that do not read one another's go together (PostgreSQL
//! documents the rule under "Data-Modifying Statements in WITH").
//!
//! SQLite has no data-modifying `WITH`; there the same writes go as a batch
//! of statements in one call ([`run_batched`]).

use sea_orm::sea_query::Value;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

#[derive(Default)]
pub(super) struct Combined {
    parts: Vec<String>,
    values: Vec<Value>,
}

impl Combined {
    /// Binds a value; returns its placeholder.
    pub fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }

    /// Adds a data-modifying statement (INSERT, UPDATE or DELETE, without a
    /// RETURNING that anything reads).
    pub fn part(&mut self, sql: String) {
        self.parts.push(sql);
    }

    /// Runs the parts with `select` (a SELECT, its placeholders bound here) as
    /// the statement's own query; nothing when there are no parts.
    pub async fn run<C: ConnectionTrait>(self, conn: &C, select: Option<String>) -> Result<(), DbErr> {
        if self.parts.is_empty() && select.is_none() {
            return Ok(());
        }
        let mut sql = String::new();
        for (i, part) in self.parts.iter().enumerate() {
            sql.push_str(if i == 0 { "WITH " } else { ", " });
            sql.push_str(&format!("w{i} AS ({part})"));
        }
        sql.push(' ');
        sql.push_str(select.as_deref().unwrap_or("SELECT 1"));
        conn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, self.values)).await?;
        Ok(())
    }
}

/// Runs statements built for SQLite, in order, stopping at the first that
/// fails: in one call when together they carry at most [`BATCH_BINDS`]
/// parameters, else one by one.
///
/// SQLite runs in the server's process, but sqlx hands each statement to the
/// connection's thread as a command of its own and wakes the caller for its
/// result: thread switches that cost more than the work of a small write.
/// Given several statements in one command, sqlx runs them in order on that
/// thread, numbering their plain `?` parameters on from one statement to the
/// next. Unlike the parts of a PostgreSQL `WITH`, each statement sees the
/// writes before it.
pub(super) async fn run_batched<C: ConnectionTrait>(conn: &C, statements: Vec<Statement>) -> Result<(), DbErr> {
    let binds: usize = statements.iter().map(|s| s.values.as_ref().map_or(0, |values| values.0.len())).sum();
    if binds > BATCH_BINDS {
        for statement in statements {
            conn.execute_raw(statement).await?;
        }
        return Ok(());
    }
    let (mut sql, mut values) = (String::new(), Vec::with_capacity(binds));
    for statement in statements {
        if !sql.is_empty() {
            sql.push_str(";\n");
        }
        sql.push_str(&statement.sql);
        values.extend(statement.values.map(|v| v.0).unwrap_or_default());
    }
    if !sql.is_empty() {
        conn.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)).await?;
    }
    Ok(())
}

/// The most parameters one call of [`run_batched`] carries. sqlx keeps each
/// statement text it prepared (the last 100 per connection), and a batch is
/// one text: a bulk commit's large inserts, whose sizes change from one
/// commit to the next, go one by one instead, each keeping its own prepared
/// statement.
const BATCH_BINDS: usize = 1_000;
