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
//! SQLite has no data-modifying `WITH`; there the same writes go as a
//! [`Batch`] of statements in one call.

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

/// Several statements sent to SQLite in one call.
///
/// SQLite runs in the server's process, but each statement through sqlx is a
/// hand-off to the connection's thread and back: two thread switches that
/// cost more than the work of a small write. Given several statements at
/// once, sqlx runs them in order on that thread and answers once. Unlike the
/// parts of a PostgreSQL `WITH`, each statement sees the writes before it.
#[derive(Default)]
pub(super) struct Batch {
    sql: String,
    values: Vec<Value>,
}

impl Batch {
    /// Adds a statement built for SQLite (its parameters are plain `?`s,
    /// which sqlx numbers on from those of the statements before it).
    pub fn push(&mut self, statement: Statement) {
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
        }
        self.sql.push_str(&statement.sql);
        self.values.extend(statement.values.map(|values| values.0).unwrap_or_default());
    }

    /// Runs the statements, stopping at the first that fails; nothing when empty.
    pub async fn run<C: ConnectionTrait>(self, conn: &C) -> Result<(), DbErr> {
        if self.sql.is_empty() {
            return Ok(());
        }
        conn.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, self.sql, self.values)).await?;
        Ok(())
    }
}
