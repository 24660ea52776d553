//! Issue #15, part 1: the lock analysis measures on tables holding generated rows
//! (`--lock-rows`), and the rows change no verdict.
//!
//! - The generator on a real server (the embedded one and every Docker major): rows that
//!   keep types, NOT NULL, CHECK, unique keys and foreign keys (parents first, a cycle
//!   broken with NULLs), and tables it cannot fill named with the reason.
//! - Migrations whose verdict the rows would change if they reached the verified database
//!   (a data change the down does not undo, a unique index over duplicates, a NOT NULL
//!   column without a default): the same verdicts with `--lock-rows 0` and the default;
//!   the copy's failure is a note, and findings say the rows a table held.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use migration_check::analysis::rows::{self, Filled, Filler};
use migration_check::postgres::Server;
use migration_check::postgres::docker::DockerServer;
use migration_check::postgres::embedded::{EmbeddedOptions, EmbeddedServer};
use serde_json::{Value, json};

/// Every kind of column and key the generator handles, and three tables it cannot fill.
const SCHEMA: &str = "
CREATE TYPE mood AS ENUM ('happy', 'sad', 'calm');
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TABLE far (id int PRIMARY KEY);
CREATE TABLE customers (
  id serial PRIMARY KEY,
  far_id int REFERENCES far (id),
  email text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
  id int PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers (id),
  parent_id int REFERENCES orders (id),
  status text NOT NULL CHECK (status IN ('new', 'paid')),
  amount numeric(10, 2) NOT NULL CHECK (amount > 0 AND amount < 500),
  feeling mood NOT NULL,
  code varchar(3) NOT NULL,
  tags text[] NOT NULL DEFAULT '{}',
  payload jsonb,
  ref uuid NOT NULL UNIQUE,
  quantity positive NOT NULL,
  due date NOT NULL,
  paid boolean NOT NULL,
  address inet NOT NULL,
  valid int4range NOT NULL
);
CREATE TABLE items (
  order_id int NOT NULL REFERENCES orders (id),
  line int NOT NULL,
  PRIMARY KEY (order_id, line)
);
CREATE TABLE notes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id int NOT NULL,
  line int NOT NULL,
  body text NOT NULL,
  length int GENERATED ALWAYS AS (length(body)) STORED,
  FOREIGN KEY (order_id, line) REFERENCES items (order_id, line)
);
CREATE TABLE a (id int PRIMARY KEY, b_id int);
CREATE TABLE b (id int PRIMARY KEY, a_id int NOT NULL REFERENCES a (id));
ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b (id);
CREATE TABLE c (id int PRIMARY KEY, d_id int NOT NULL);
CREATE TABLE d (id int PRIMARY KEY, c_id int NOT NULL REFERENCES c (id));
ALTER TABLE c ADD FOREIGN KEY (d_id) REFERENCES d (id);
CREATE TABLE shapes (p point NOT NULL);
CREATE TABLE events (id int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_all PARTITION OF events FOR VALUES FROM ('2000-01-01') TO ('2100-01-01');
CREATE TABLE ranged (id int NOT NULL, at int NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE ranged_low PARTITION OF ranged FOR VALUES FROM (1) TO (100);
CREATE TABLE ranged_high PARTITION OF ranged FOR VALUES FROM (900) TO (950);
CREATE TABLE defaults_only (id serial PRIMARY KEY, at timestamptz DEFAULT now());
CREATE TABLE deferred (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE settings (key text PRIMARY KEY, value text);
INSERT INTO settings VALUES ('seeded', 'yes');
CREATE TABLE schema_migrations (version bigint PRIMARY KEY);
";

/// Fills the schema above on `server` and checks what the generator did.
async fn fill_and_check(server: &dyn Server, label: &str) {
    let admin = common::connect(server.config("postgres")).await;
    admin
        .batch_execute("DROP DATABASE IF EXISTS lock_rows")
        .await
        .unwrap();
    admin
        .batch_execute("CREATE DATABASE lock_rows")
        .await
        .unwrap();
    let client = common::connect(server.config("lock_rows")).await;
    client.batch_execute(SCHEMA).await.unwrap();
    let filler = Filler::prepare(&client).await.unwrap();
    let skip = BTreeSet::from(["schema_migrations".to_string()]);
    // First only what a migration's scripts can reach: the table they name, those with a
    // column of the domain they name, the tables those reference, and further up through
    // NOT NULL foreign keys only (customers.far_id is nullable: `far` is left alone).
    let about = [
        "ALTER TABLE notes ADD COLUMN x text;",
        "ALTER DOMAIN positive ADD CONSTRAINT small CHECK (VALUE < 10000);",
    ];
    let first = filler
        .fill(
            &client,
            1000,
            &rows::Scope {
                seen: &BTreeSet::new(),
                skip: &skip,
                about: Some(&about[..]),
                stats: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    let named: BTreeSet<u32> = first.tables.iter().map(|(oid, _)| *oid).collect();
    let expected_first: BTreeSet<u32> = client
        .query(
            "SELECT oid FROM pg_class WHERE relname IN ('customers', 'orders', 'items', 'notes')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(named, expected_first, "{label}: {first:?}");
    assert!(first.unfilled.is_empty(), "{label}: {first:?}");
    // Then everything else.
    let filled: Filled = filler
        .fill(
            &client,
            1000,
            &rows::Scope {
                seen: &first.seen,
                skip: &skip,
                about: None,
                stats: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{label}: {e}"));

    let count = |table: &str| {
        let client = &client;
        let sql = format!("SELECT count(*) FROM {table}");
        async move { client.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    let counts: BTreeMap<&str, i64> = {
        let mut counts = BTreeMap::new();
        for table in [
            "customers",
            "far",
            "orders",
            "items",
            "notes",
            "a",
            "b",
            "c",
            "d",
            "shapes",
            "events",
            "ranged",
            "defaults_only",
            "deferred",
            "settings",
            "schema_migrations",
        ] {
            counts.insert(table, count(table).await);
        }
        counts
    };
    // Rows failing `amount < 500` are left out: 499 of the 1,000.
    let expected = BTreeMap::from([
        ("customers", 1000),
        ("far", 1000),
        ("orders", 499),
        ("items", 1000),
        ("notes", 1000),
        ("a", 1000),
        ("b", 1000),
        ("c", 0),
        ("d", 0),
        ("shapes", 0),
        ("events", 1000),
        // Only the rows some partition takes: 1..99 and 900..949.
        ("ranged", 149),
        ("defaults_only", 1000),
        ("deferred", 1000),
        ("settings", 1001),
        ("schema_migrations", 0),
    ]);
    assert_eq!(counts, expected, "{label}: rows per table");

    let unfilled: BTreeMap<&str, &str> = filled
        .unfilled
        .iter()
        .map(|(table, reason)| (table.as_str(), reason.as_str()))
        .collect();
    assert_eq!(
        unfilled.keys().copied().collect::<Vec<_>>(),
        ["public.c", "public.d", "public.shapes"],
        "{label}: {unfilled:?}"
    );
    assert!(unfilled["public.c"].contains("cycle"), "{unfilled:?}");
    assert!(
        unfilled["public.shapes"].contains("column p of type point"),
        "{unfilled:?}"
    );
    assert_eq!(filled.tables.len(), 8, "{label}: {:?}", filled.tables);
    // A table is said to hold what it holds, its own rows included.
    let settings: u32 = client
        .query_one("SELECT 'settings'::regclass::oid", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        filled.tables.contains(&(settings, 1001)),
        "{label}: {:?}",
        filled.tables
    );

    // The values follow the constraints the generator read, not only those PostgreSQL
    // enforces: every listed status used, enum labels cycled, the cycle broken with NULL.
    let row = client
        .query_one(
            "SELECT (SELECT count(DISTINCT status) FROM orders),
                    (SELECT count(DISTINCT feeling) FROM orders),
                    (SELECT count(*) FROM a WHERE b_id IS NOT NULL),
                    (SELECT count(DISTINCT customer_id) FROM orders),
                    (SELECT count(*) FROM notes WHERE length = length(body))",
            &[],
        )
        .await
        .unwrap();
    let values: (i64, i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    assert_eq!(values, (2, 3, 0, 499, 1000), "{label}");

    // A second call with what the first saw fills nothing again.
    let seen: BTreeSet<u32> = first.seen.union(&filled.seen).copied().collect();
    let again = filler
        .fill(
            &client,
            1000,
            &rows::Scope {
                seen: &seen,
                skip: &skip,
                about: None,
                stats: None,
            },
        )
        .await
        .unwrap();
    assert!(
        again.tables.is_empty() && again.unfilled.is_empty(),
        "{again:?}"
    );
    assert_eq!(count("customers").await, 1000);
    drop(client);
    admin
        .batch_execute("DROP DATABASE lock_rows WITH (FORCE)")
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn generated_rows_keep_every_constraint_and_unfillable_tables_are_named() {
    let server = EmbeddedServer::start(&EmbeddedOptions::default())
        .await
        .expect("embedded PostgreSQL");
    fill_and_check(&server, "embedded").await;
}

/// The same on every claimed major.
#[tokio::test(flavor = "current_thread")]
async fn generated_rows_keep_every_constraint_on_every_major() {
    if !common::docker_available() {
        return;
    }
    for image in common::docker_images() {
        let server = DockerServer::start(&image)
            .await
            .unwrap_or_else(|e| panic!("{image}: {e}"));
        fill_and_check(&server, &image).await;
    }
}

/// What a verdict is made of: statuses, problems (the lock findings' aside), the sequence,
/// the schema changes, whether the check passed.
fn verdicts(report: &Value) -> Value {
    let migrations: Vec<Value> = report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            json!({
                "version": m["version"],
                "status": m["status"],
                "problems": m["problems"].as_array().into_iter().flatten()
                    .filter(|p| p["kind"] != "lock")
                    .map(|p| json!([p["kind"], p["severity"], p["message"], p["file"], p["line"]]))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "passed": report["passed"],
        "migrations": migrations,
        "sequence": [report["sequence"]["status"], report["sequence"]["problems"]],
        "schema_changes": report["schema_changes"],
    })
}

/// The report with `--lock-rows 0` and with the default rows.
fn both_ways(dir: &std::path::Path) -> (Value, Value) {
    let run = |extra: &[&str]| {
        let (output, report) = common::verify(dir, extra);
        report.unwrap_or_else(|| panic!("no report: {}", common::stderr(&output)))
    };
    (run(&["--lock-rows", "0"]), run(&[]))
}

fn notes(migration: &Value) -> String {
    migration["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

const BASE: (&str, &str) = (
    "CREATE TABLE t (id int PRIMARY KEY, flag boolean NOT NULL, n int NOT NULL);\n",
    "DROP TABLE t;\n",
);

#[test]
fn generated_rows_change_no_verdict() {
    // A data change its down does not undo, a rewrite, then a unique index over what the
    // generator made duplicate: on rows in the verified database the first would no longer
    // restore the data fingerprint and the last would fail.
    let dir = common::migrations_dir(&[
        ("1_base.up.sql", BASE.0),
        ("1_base.down.sql", BASE.1),
        ("2_data.up.sql", "UPDATE t SET n = n + 1;\n"),
        ("2_data.down.sql", "SELECT 1;\n"),
        (
            "3_wider.up.sql",
            "ALTER TABLE t ALTER COLUMN n TYPE bigint;\n",
        ),
        (
            "3_wider.down.sql",
            "ALTER TABLE t ALTER COLUMN n TYPE int;\n",
        ),
        (
            "4_unique.up.sql",
            "CREATE UNIQUE INDEX t_flag_key ON t (flag);\n",
        ),
        ("4_unique.down.sql", "DROP INDEX t_flag_key;\n"),
    ]);
    let (without, with) = both_ways(dir.path());
    assert_eq!(verdicts(&without), verdicts(&with));
    assert_eq!(with["passed"], true, "{}", verdicts(&with));

    let migrations = with["migrations"].as_array().unwrap();
    let rewrite = migrations[2]["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "table-rewrite" && f["script"] == "up")
        .unwrap_or_else(|| panic!("{}", migrations[2]));
    assert_eq!(
        rewrite["evidence"],
        "rewrote public.t (1,000 rows, a new relfilenode) under AccessExclusiveLock"
    );
    // Without rows the same rewrite is measured on the empty table.
    let bare = without["migrations"][2]["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "table-rewrite" && f["script"] == "up")
        .unwrap_or_else(|| panic!("{}", without["migrations"][2]))
        .clone();
    assert_eq!(
        bare["evidence"],
        "rewrote public.t (a new relfilenode) under AccessExclusiveLock"
    );
    let failed = notes(&migrations[3]);
    assert!(
        failed.contains("in its copy of the database, with generated rows in the tables")
            && failed.contains("4_unique.up.sql:1 failed (")
            && failed.contains("later migrations are measured without generated rows"),
        "{failed}"
    );
    let run_notes = with["notes"].to_string();
    assert!(
        run_notes.contains("1 table held up to 1000 generated rows"),
        "{run_notes}"
    );
    assert!(
        !without["notes"].to_string().contains("generated rows"),
        "{}",
        without["notes"]
    );
}

#[test]
fn a_not_null_column_without_default_fails_only_on_the_copy() {
    let dir = common::migrations_dir(&[
        ("1_base.up.sql", BASE.0),
        ("1_base.down.sql", BASE.1),
        (
            "2_required.up.sql",
            "SET lock_timeout = '1s';\nALTER TABLE t ADD COLUMN x int NOT NULL;\n",
        ),
        ("2_required.down.sql", "ALTER TABLE t DROP COLUMN x;\n"),
        ("3_index.up.sql", "CREATE INDEX t_n_idx ON t (n);\n"),
        ("3_index.down.sql", "DROP INDEX t_n_idx;\n"),
    ]);
    let (without, with) = both_ways(dir.path());
    assert_eq!(verdicts(&without), verdicts(&with));
    assert_eq!(with["passed"], true);
    let failed = notes(&with["migrations"][1]);
    assert!(
        failed.contains("2_required.up.sql:2 failed (") && failed.contains("contains null values"),
        "{failed}"
    );
    // Measured in the verified database from there on: the plain index is still found.
    let index = &with["migrations"][2]["locks"][0];
    assert_eq!(index["rule"], "index-without-concurrently", "{index}");
    assert_eq!(
        index["evidence"], "built index t_n_idx on public.t under ShareLock",
        "{index}"
    );
}
