//! Building blocks the migrations share.
use sea_orm_migration::prelude::*;

pub fn index(name: &str, table: impl IntoIden, cols: Vec<DynIden>, unique: bool) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col);
    }
    if unique {
        index.unique();
    }
    index.to_owned()
}

/// An index on `(tenant_id, col...)`.
pub fn tenant_index(name: &str, table: &str, cols: &[&str], unique: bool) -> IndexCreateStatement {
    let mut all: Vec<DynIden> = vec![Alias::new("tenant_id").into_iden()];
    all.extend(cols.iter().map(|c| Alias::new(*c).into_iden()));
    index(name, Alias::new(table), all, unique)
}

/// `(tenant_id, col)` referencing `(tenant_id, id)` of `target`: a row can only
/// point at a row of its own tenant.
pub fn tenant_fk(table: &str, col: &str, target: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(Alias::new(table), (Alias::new("tenant_id"), Alias::new(col)))
        .to(Alias::new(target), (Alias::new("tenant_id"), Alias::new("id")))
        .to_owned()
}

pub fn text(col: &str, len: u32) -> ColumnDef {
    ColumnDef::new(Alias::new(col)).string_len(len).null().to_owned()
}

pub fn uuid(col: &str, required: bool) -> ColumnDef {
    let mut def = ColumnDef::new(Alias::new(col));
    def.uuid();
    if required {
        def.not_null()
    } else {
        def.null()
    };
    def
}

pub fn timestamp(col: &str, required: bool) -> ColumnDef {
    let mut def = ColumnDef::new(Alias::new(col));
    def.timestamp_with_time_zone();
    if required {
        def.not_null()
    } else {
        def.null()
    };
    def
}

/// A CRM record table: tenant and id leading, the record's own columns, then
/// what every record shares (owner, audit stamps, version, external id, soft delete).
pub fn record_table(table: &str, columns: Vec<ColumnDef>) -> TableCreateStatement {
    let mut create = Table::create();
    create.table(Alias::new(table)).col(uuid("tenant_id", true)).col(uuid("id", true));
    for column in columns {
        create.col(column);
    }
    create
        .col(uuid("owner_id", true))
        .col(timestamp("created_at", true))
        .col(timestamp("updated_at", true))
        .col(uuid("created_by", false))
        .col(uuid("updated_by", false))
        .col(ColumnDef::new(Alias::new("version")).integer().not_null().default(1))
        .col(text("external_id", 200))
        .col(timestamp("deleted_at", false))
        .primary_key(Index::create().col(Alias::new("tenant_id")).col(Alias::new("id")))
        .foreign_key(
            ForeignKey::create()
                .from(Alias::new(table), Alias::new("tenant_id"))
                .to(Alias::new("tenant"), Alias::new("id")),
        )
        .foreign_key(&mut tenant_fk(table, "owner_id", "app_user"));
    create
}

/// The indexes every record table has: external id (unique; NULLs never collide), owner, last change.
pub fn record_indexes(table: &str) -> Vec<IndexCreateStatement> {
    vec![
        tenant_index(&format!("ux_{table}_external_id"), table, &["external_id"], true),
        tenant_index(&format!("ix_{table}_owner"), table, &["owner_id"], false),
        tenant_index(&format!("ix_{table}_updated_at"), table, &["updated_at"], false),
    ]
}

/// Adds a counter column, 0 in the rows already there.
pub fn add_counter(table: &str, col: &str) -> TableAlterStatement {
    Table::alter()
        .table(Alias::new(table))
        .add_column(ColumnDef::new(Alias::new(col)).big_integer().not_null().default(0))
        .to_owned()
}

pub fn drop_column(table: &str, col: &str) -> TableAlterStatement {
    Table::alter().table(Alias::new(table)).drop_column(Alias::new(col)).to_owned()
}
