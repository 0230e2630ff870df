//! Phone numbers at rest (DOMAIN.md §10): bringing every stored number under the current key.
//!
//! [`encrypt_plaintext`] runs at every start, right after the migrations and before the port
//! is bound: it encrypts the numbers a release before encryption left in clear (they are the
//! rows without a keyed hash, which every write since sets), so no plaintext number survives a
//! start. [`rotate`] (`safegrid keys rotate`) re-encrypts every number not under the current
//! suite and key, e.g. after a new key was put first in `SAFEGRID_DATA_KEYS`.
//!
//! Both walk each table in pages by id (keyset pagination), each page's writes in their own
//! transaction, and write a row only if its value is still the one they read (compare-and-set): a server
//! binding a new number meanwhile wins, and its value is already under the current key (the
//! servers must hold the new key before the rotation starts). Safe to run while servers serve,
//! and to run again after an interruption.

use sea_orm::sea_query::{Alias, Expr, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};

use crate::infra::crypto::{Keyring, CALLER_PHONE, USER_PHONE};

/// One encrypted column and its keyed hash.
struct Column {
    table: &'static str,
    value: &'static str,
    hash: &'static str,
    /// The associated data of its ciphertexts.
    field: &'static str,
}

const COLUMNS: [Column; 2] = [
    Column {
        table: "users",
        value: "phone",
        hash: "phone_hash",
        field: USER_PHONE,
    },
    Column {
        table: "reports",
        value: "caller_phone",
        hash: "caller_phone_hash",
        field: CALLER_PHONE,
    },
];

/// Rows rewritten, by table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    pub users: u64,
    pub reports: u64,
}

/// Encrypts the numbers still in clear (at start).
pub async fn encrypt_plaintext(
    db: &DatabaseConnection,
    keys: &Keyring,
) -> Result<Rewritten, DbErr> {
    walk(db, keys, 500, true).await
}

/// Re-encrypts every number not under the current key, `page` rows per transaction.
pub async fn rotate(
    db: &DatabaseConnection,
    keys: &Keyring,
    page: u64,
) -> Result<Rewritten, DbErr> {
    walk(db, keys, page.max(1), false).await
}

async fn walk(
    db: &DatabaseConnection,
    keys: &Keyring,
    page: u64,
    only_without_hash: bool,
) -> Result<Rewritten, DbErr> {
    let mut out = Rewritten::default();
    for c in &COLUMNS {
        let n = walk_column(db, keys, c, page, only_without_hash).await?;
        match c.table {
            "users" => out.users = n,
            _ => out.reports = n,
        }
    }
    Ok(out)
}

async fn walk_column(
    db: &DatabaseConnection,
    keys: &Keyring,
    c: &Column,
    page: u64,
    only_without_hash: bool,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let (table, id, value, hash) = (
        Alias::new(c.table),
        Alias::new("id"),
        Alias::new(c.value),
        Alias::new(c.hash),
    );
    let mut after = String::new();
    let mut rewritten = 0;
    loop {
        let mut q = Query::select();
        q.columns([id.clone(), value.clone(), hash.clone()])
            .from(table.clone())
            .and_where(Expr::col(value.clone()).is_not_null())
            .and_where(Expr::col(id.clone()).gt(after.clone()))
            .order_by(id.clone(), Order::Asc)
            .limit(page);
        if only_without_hash {
            q.and_where(Expr::col(hash.clone()).is_null());
        }
        // Read outside the page's transaction: the writes check the value they replace, and a
        // transaction whose first statement writes takes SQLite's write lock at once (a read
        // first would have to upgrade, which fails while a server writes).
        let rows = db.query_all(backend.build(&q)).await?;
        let Some(last) = rows.last() else {
            return Ok(rewritten);
        };
        let txn = db.begin().await?;
        after = last.try_get::<String>("", "id")?;
        for row in &rows {
            let row_id: String = row.try_get("", "id")?;
            let stored: String = row.try_get("", c.value)?;
            let stored_hash: Option<String> = row.try_get("", c.hash)?;
            if keys.is_current(&stored) && stored_hash.is_some() {
                continue;
            }
            let plain = keys
                .decrypt(c.field, &row_id, &stored)
                .map_err(|e| DbErr::Custom(format!("{}.{} of {row_id}: {e}", c.table, c.value)))?;
            let update = Query::update()
                .table(table.clone())
                .value(value.clone(), keys.encrypt(c.field, &row_id, &plain))
                .value(hash.clone(), keys.phone_hash(&plain))
                .and_where(Expr::col(id.clone()).eq(row_id.clone()))
                .and_where(Expr::col(value.clone()).eq(stored))
                .to_owned();
            rewritten += txn.execute(backend.build(&update)).await?.rows_affected();
        }
        txn.commit().await?;
    }
}
