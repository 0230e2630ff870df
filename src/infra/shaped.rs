//! Statements whose text is built once per shape. A hot statement's SQL depends only on its
//! shape — which rows it inserts, which of their columns are set, which query follows — never
//! on the values, which travel as parameters. So the text is built by sea-query the first
//! time a thread meets a shape and kept; afterwards only the values are collected, in column
//! order. On the submission path that skipped work was the largest single item of the
//! server's own CPU per request (BENCHMARKS.md, issue 21).
//!
//! Invariant, checked where the text is built: the values collected here equal, in order and
//! type, the values sea-query produced with the text. A shape where they differ (a value that
//! sea-query would inline, say) is never cached and is built in full each time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::sea_query::{
    Alias, CommonTableExpression, InsertStatement, SelectStatement, WithClause,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue, DbBackend, EntityTrait, Iterable, Statement, StatementBuilder,
    Value,
};

/// One row to insert: its values in column order, and which columns are set.
#[derive(Clone)]
pub struct Row {
    table: &'static str,
    set_columns: u64,
    values: Vec<Value>,
    rebuild: fn(&[Value], u64) -> InsertStatement,
}

impl Row {
    /// The row of an active model, as sea-orm's `Entity::insert` would write it (set and
    /// unchanged columns; not-set ones left to their defaults).
    pub fn insert<A>(mut model: A) -> Row
    where
        A: ActiveModelTrait + Default,
    {
        let mut set_columns = 0u64;
        let mut values = Vec::new();
        for (i, column) in <A::Entity as EntityTrait>::Column::iter().enumerate() {
            assert!(i < 64, "a table of more than 64 columns");
            match model.take(column) {
                ActiveValue::Set(v) | ActiveValue::Unchanged(v) => {
                    set_columns |= 1 << i;
                    values.push(v);
                }
                ActiveValue::NotSet => {}
            }
        }
        Row {
            table: std::any::type_name::<A>(),
            set_columns,
            values,
            rebuild: rebuild::<A>,
        }
    }

    /// The row as a plain statement, for the road that runs it alone.
    pub fn statement(&self) -> InsertStatement {
        (self.rebuild)(&self.values, self.set_columns)
    }
}

fn rebuild<A>(values: &[Value], set_columns: u64) -> InsertStatement
where
    A: ActiveModelTrait + Default,
{
    let mut model = <A as Default>::default();
    let mut values = values.iter();
    for (i, column) in <A::Entity as EntityTrait>::Column::iter().enumerate() {
        if set_columns & (1 << i) != 0 {
            let value = values.next().expect("a value for every set column");
            model.set(column, value.clone());
        }
    }
    sea_orm::QueryTrait::into_query(A::Entity::insert(model))
}

/// Whether the last shaped statement built on this thread found its text cached (tests read
/// it to prove the cache is hit, since a miss is still correct, only slower).
#[cfg(test)]
pub fn last_was_cached() -> bool {
    LAST_CACHED.with(|c| *c.borrow())
}

type ShapeKey = (Vec<(&'static str, u64)>, &'static str, u8);

thread_local! {
    static TEXTS: RefCell<HashMap<ShapeKey, Arc<str>>> = RefCell::new(HashMap::new());
}

#[cfg(test)]
thread_local! {
    static LAST_CACHED: RefCell<bool> = const { RefCell::new(false) };
}

/// The query a statement ends with: `shape` names its text (one name, one text, always),
/// `values` are its parameters in the order sea-query binds them, and `build` makes the
/// query itself when the text is not cached yet.
pub struct Query<F> {
    pub shape: &'static str,
    pub values: Vec<Value>,
    pub build: F,
}

/// `rows` as data-modifying CTEs `w0, w1, …` and `query` as the statement's result: one
/// statement, so it commits or fails whole.
pub fn inserts_then_query(
    backend: DbBackend,
    rows: Vec<Row>,
    query: Query<impl FnOnce() -> SelectStatement>,
) -> Statement {
    let key: ShapeKey = (
        rows.iter().map(|r| (r.table, r.set_columns)).collect(),
        query.shape,
        backend_key(backend),
    );
    if let Some(sql) = lookup(&key) {
        let values = rows.into_iter().flat_map(|r| r.values).chain(query.values);
        return Statement::from_sql_and_values(backend, sql.as_ref(), values);
    }
    let built = backend.build(&(query.build)().with(ctes(&rows)));
    let values: Vec<Value> = rows
        .into_iter()
        .flat_map(|r| r.values)
        .chain(query.values)
        .collect();
    remember(key, &built, &values);
    built
}

/// `rows` as the CTEs `w0, w1, …` of a WITH clause.
pub fn ctes(rows: &[Row]) -> WithClause {
    let mut with = WithClause::new();
    for (i, row) in rows.iter().enumerate() {
        with.cte(
            CommonTableExpression::new()
                .query(row.statement())
                .table_name(Alias::new(format!("w{i}")))
                .to_owned(),
        );
    }
    with
}

/// One statement of a fixed shape: `shape` names it, `variant` tells apart the texts it can
/// take (a list of `n` parameters, say), and `values` are its parameters in bind order.
pub fn statement<S: StatementBuilder>(
    backend: DbBackend,
    shape: &'static str,
    variant: u64,
    values: Vec<Value>,
    build: impl FnOnce() -> S,
) -> Statement {
    let key: ShapeKey = (vec![("", variant)], shape, backend_key(backend));
    if let Some(sql) = lookup(&key) {
        return Statement::from_sql_and_values(backend, sql.as_ref(), values);
    }
    let built = backend.build(&build());
    remember(key, &built, &values);
    built
}

fn backend_key(backend: DbBackend) -> u8 {
    match backend {
        DbBackend::Postgres => 0,
        DbBackend::MySql => 1,
        DbBackend::Sqlite => 2,
    }
}

fn lookup(key: &ShapeKey) -> Option<Arc<str>> {
    let cached = TEXTS.with(|t| t.borrow().get(key).cloned());
    #[cfg(test)]
    LAST_CACHED.with(|c| *c.borrow_mut() = cached.is_some());
    cached
}

/// Keeps the text of `built` for its shape when `values` — what a cached use would bind —
/// are exactly the values sea-query bound with it.
fn remember(key: ShapeKey, built: &Statement, values: &[Value]) {
    match &built.values {
        Some(v) if v.0 == values => {
            TEXTS.with(|t| t.borrow_mut().insert(key, Arc::from(built.sql.as_str())));
        }
        other => tracing::warn!(
            shape = key.1,
            built = other.as_ref().map_or(0, |v| v.0.len()),
            collected = values.len(),
            "a shaped statement's collected values differ from sea-query's: not cached"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::Query as Select;
    use sea_orm::Set;

    fn event(id: i64, note: Option<&str>) -> Row {
        Row::insert(entity::timeline_events::ActiveModel {
            subject_kind: Set("report".into()),
            subject_id: Set(format!("r{id}")),
            actor_id: Set(None),
            actor_role: Set("reporter".into()),
            action: Set("submit".into()),
            from_status: Set(String::new()),
            to_status: Set("submitted".into()),
            note: Set(note.map(Into::into)),
            data: Set(None),
            at: Set(id),
            ..Default::default()
        })
    }

    fn query(n: i64) -> Query<impl FnOnce() -> SelectStatement> {
        Query {
            shape: "tests::constant",
            values: vec![n.into()],
            build: move || {
                Select::select()
                    .expr(sea_orm::sea_query::Expr::val(n))
                    .to_owned()
            },
        }
    }

    fn in_full(rows: &[Row], n: i64) -> Statement {
        DbBackend::Postgres.build(&(query(n).build)().with(ctes(rows)))
    }

    #[test]
    fn a_shape_seen_before_reuses_its_text_with_the_new_values() {
        let first = inserts_then_query(DbBackend::Postgres, vec![event(1, None)], query(7));
        assert!(!last_was_cached());
        let rows = vec![event(2, Some("note"))];
        let expected = in_full(&rows, 8);
        let second = inserts_then_query(DbBackend::Postgres, rows, query(8));
        assert!(last_was_cached());
        assert_eq!(second.sql, first.sql);
        assert_eq!(second.sql, expected.sql);
        assert_eq!(second.values, expected.values);
    }

    #[test]
    fn another_shape_builds_its_own_text() {
        inserts_then_query(DbBackend::Postgres, vec![event(1, None)], query(1));
        let rows = vec![event(1, None), event(2, None)];
        let expected = in_full(&rows, 1);
        let two = inserts_then_query(DbBackend::Postgres, rows, query(1));
        assert!(!last_was_cached());
        assert_eq!((two.sql, two.values), (expected.sql, expected.values));
    }

    #[test]
    fn a_row_rebuilds_the_statement_sea_orm_would_write() {
        let model = entity::outbox::ActiveModel {
            topic: Set("G01".into()),
            kind: Set("report_submitted".into()),
            payload: Set("{}".into()),
            created_at: Set(5),
            published_at: Set(None),
            ..Default::default()
        };
        let direct = sea_orm::QueryTrait::into_query(entity::outbox::Entity::insert(model.clone()));
        let (a, b) = (
            DbBackend::Postgres.build(&Row::insert(model).statement()),
            DbBackend::Postgres.build(&direct),
        );
        assert_eq!((a.sql, a.values), (b.sql, b.values));
    }
}
