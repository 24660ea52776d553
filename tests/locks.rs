//! Issue #15's measured lock findings, end to end on the embedded PostgreSQL: a migration
//! that changes a pre-existing table's column to bigint, builds a plain index on it and
//! adds a validated foreign key gets three measured findings with their safe rewrites; its
//! safe version gets none; an allow comment acknowledges a finding.

mod common;

use serde_json::Value;

/// A sqlx directory: version 1 creates the tables (and is not measured: nothing existed
/// before it), version 2 is `up`/`down`.
fn migrations(up: &str, down: &str) -> tempfile::TempDir {
    common::migrations_dir(&[
        (
            "1_tables.up.sql",
            "CREATE TABLE customers (id int PRIMARY KEY, name text);\n\
             CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric);\n\
             INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 1000) g;\n\
             INSERT INTO orders SELECT g, 1 + g % 1000, g FROM generate_series(1, 1000) g;\n",
        ),
        (
            "1_tables.down.sql",
            "DROP TABLE orders;\nDROP TABLE customers;\n",
        ),
        ("2_change.up.sql", up),
        ("2_change.down.sql", down),
    ])
}

/// Verifies only version 2 (`--base` without git: every migration is verified, so the
/// first one is measured too, against nothing pre-existing).
fn locks_of(dir: &tempfile::TempDir) -> (Value, String) {
    let (output, report) = common::verify(dir.path(), &[]);
    let report = report.unwrap_or_else(|| panic!("no report: {}", common::stderr(&output)));
    assert_eq!(
        output.status.code(),
        Some(0),
        "findings are warnings: {}",
        common::stderr(&output)
    );
    assert!(
        report["migrations"][0].get("locks").is_none(),
        "the first migration touched no pre-existing table, and its down drops only what \
         its up created: {}",
        report["migrations"][0]
    );
    (up_locks(&report["migrations"][1]), common::stderr(&output))
}

/// The findings of a migration's up script (its down's are measured too).
fn up_locks(migration: &Value) -> Value {
    Value::Array(
        migration["locks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["script"] == "up")
            .cloned()
            .collect(),
    )
}

/// The rule of each finding, in order.
fn rule_names(locks: &Value) -> Vec<&str> {
    locks
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect()
}

/// The rules found in a migration's down script, with their lines.
fn down_rules(migration: &Value) -> Vec<(String, u64)> {
    migration["locks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["script"] == "down")
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

const DOWN: &str = "ALTER TABLE orders DROP CONSTRAINT orders_customer_fk;\n\
                    DROP INDEX orders_customer_idx;\n\
                    ALTER TABLE orders ALTER COLUMN id TYPE int;\n";

#[test]
fn a_rewrite_a_blocking_index_and_a_validated_foreign_key_are_three_measured_findings() {
    let dir = migrations(
        "SET lock_timeout = '5s';\n\
         ALTER TABLE orders ALTER COLUMN id TYPE bigint;\n\
         CREATE INDEX orders_customer_idx ON orders (customer_id);\n\
         ALTER TABLE orders ADD CONSTRAINT orders_customer_fk\n\
         \x20 FOREIGN KEY (customer_id) REFERENCES customers (id);\n",
        DOWN,
    );
    let (locks, stderr) = locks_of(&dir);
    let locks = locks.as_array().unwrap();
    let rules: Vec<(&str, u64)> = locks
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["line"].as_u64().unwrap()))
        .collect();
    // The issue's three, and the ACCESS EXCLUSIVE of line 2 held while lines 3 and 4 built an
    // index and validated a foreign key (scans).
    assert_eq!(
        rules,
        [
            ("table-rewrite", 2),
            ("exclusive-lock-held", 2),
            ("index-without-concurrently", 3),
            ("constraint-validated-in-place", 4)
        ],
        "{locks:#?}"
    );
    assert!(
        locks[1]["evidence"].as_str().unwrap().contains(
            "held it while a later statement built index orders_customer_idx on public.orders"
        ),
        "{}",
        locks[1]
    );
    let rewrite = &locks[0];
    assert_eq!(rewrite["relation"], "public.orders");
    assert_eq!(rewrite["mode"], "AccessExclusiveLock");
    assert_eq!(rewrite["blocks"], "reads_and_writes");
    assert_eq!(rewrite["rewrite"], true);
    assert_eq!(rewrite["allowed"], false);
    assert!(
        rewrite["file"]
            .as_str()
            .unwrap()
            .ends_with("2_change.up.sql")
    );
    // The index is built while line 1's ACCESS EXCLUSIVE is still held: reads wait too.
    let index = &locks[2];
    assert_eq!(index["mode"], "AccessExclusiveLock");
    assert_eq!(index["blocks"], "reads_and_writes");
    assert!(
        index["evidence"]
            .as_str()
            .unwrap()
            .contains("orders_customer_idx"),
        "{index}"
    );
    let foreign_key = &locks[3];
    assert!(
        foreign_key["evidence"]
            .as_str()
            .unwrap()
            .contains("public.customers"),
        "{foreign_key}"
    );
    assert!(
        foreign_key["safe_rewrite"]
            .as_str()
            .unwrap()
            .contains("NOT VALID")
    );
    // Locks taken by the first statement are held until the script's transaction ends.
    assert!(rewrite["held_ms"].as_u64().unwrap() >= index["held_ms"].as_u64().unwrap());
    // The down is measured too, on the tables that existed before the up: changing the
    // column back rewrites the table again.
    let (_, report) = common::verify(dir.path(), &[]);
    let report = report.unwrap();
    let total = report["migrations"][1]["locks"].as_array().unwrap().len();
    let down = down_rules(&report["migrations"][1]);
    assert!(down.contains(&("table-rewrite".to_string(), 3)), "{down:?}");

    // The terminal says it too, with the safe rewrite.
    assert!(stderr.contains("lock table-rewrite"), "{stderr}");
    assert!(stderr.contains("CREATE INDEX CONCURRENTLY"), "{stderr}");

    // The comment: a table row per finding, each rule's safe rewrite folded away.
    let markdown = tempfile::NamedTempFile::new().unwrap();
    let (output, _) = common::verify(
        dir.path(),
        &["--markdown", markdown.path().to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(0));
    let comment = std::fs::read_to_string(markdown.path()).unwrap();
    assert!(
        comment.contains(&format!("Locks on existing tables: {total} findings")),
        "{comment}"
    );
    assert!(
        comment.contains("| up 2 | `ALTER TABLE orders ALTER COLUMN id TYPE bigint` | public.orders | AccessExclusiveLock | reads and writes |"),
        "{comment}"
    );
    // One safe rewrite per rule and script: the up's four, then the down's.
    assert!(
        comment.matches("<details><summary>`").count() >= 4,
        "{comment}"
    );
    assert!(
        comment.contains("`table-rewrite` (rewrite), `exclusive-lock-held` |"),
        "the rules of a statement share its row: {comment}"
    );
    assert!(comment.contains("| down 3 |"), "{comment}");
    assert!(comment.contains("```sql\n-- Add it NOT VALID"), "{comment}");
}

#[test]
fn the_safe_version_has_no_finding() {
    // The same intent written safely: the index first, CONCURRENTLY, in a migration of its
    // own (sqlx sends a `-- no-transaction` file as one query); then with a lock_timeout,
    // in one statement, a new bigint column instead of the type change (a varchar widened
    // in place beside it: no rewrite) and the foreign key NOT VALID; the validation in a
    // later transaction.
    let dir = common::migrations_dir(&[
        (
            "1_tables.up.sql",
            "CREATE TABLE customers (id int PRIMARY KEY, name text);\n\
             CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric, note varchar(20));\n\
             INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 1000) g;\n\
             INSERT INTO orders SELECT g, 1 + g % 1000, g FROM generate_series(1, 1000) g;\n",
        ),
        (
            "1_tables.down.sql",
            "DROP TABLE orders;\nDROP TABLE customers;\n",
        ),
        (
            "2_index.up.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer_id);\n",
        ),
        ("2_index.down.sql", "DROP INDEX orders_customer_idx;\n"),
        (
            "3_safe.up.sql",
            "SET lock_timeout = '5s';\n\
             ALTER TABLE orders ADD COLUMN id_new bigint,\n\
             \x20 ALTER COLUMN note TYPE varchar(40),\n\
             \x20 ADD CONSTRAINT orders_customer_fk\n\
             \x20   FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n",
        ),
        (
            "3_safe.down.sql",
            "ALTER TABLE orders DROP CONSTRAINT orders_customer_fk;\n\
             ALTER TABLE orders ALTER COLUMN note TYPE varchar(20);\n\
             ALTER TABLE orders DROP COLUMN id_new;\n",
        ),
        (
            "4_validate.up.sql",
            "ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;\n",
        ),
        (
            "4_validate.down.sql",
            "ALTER TABLE orders DROP CONSTRAINT orders_customer_fk;\n\
             ALTER TABLE orders ADD CONSTRAINT orders_customer_fk\n\
             \x20 FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n",
        ),
    ]);
    let (output, report) = common::verify(dir.path(), &[]);
    let report = report.unwrap_or_else(|| panic!("no report: {}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    for migration in report["migrations"].as_array().unwrap() {
        assert_eq!(up_locks(migration), Value::Array(vec![]), "{migration:#}");
    }
}

#[test]
fn set_not_null_a_missing_lock_timeout_and_an_unindexed_foreign_key_are_found() {
    let dir = migrations(
        "ALTER TABLE orders ALTER COLUMN total SET NOT NULL;\n",
        "ALTER TABLE orders ALTER COLUMN total DROP NOT NULL;\n",
    );
    let (locks, _) = locks_of(&dir);
    let rules = rule_names(&locks);
    assert_eq!(
        rules,
        ["set-not-null-scan", "lock-timeout-missing"],
        "{locks:#}"
    );
    assert!(
        locks[0]["evidence"]
            .as_str()
            .unwrap()
            .contains("NOT NULL on total"),
        "{locks:#}"
    );

    let dir = migrations(
        "SET lock_timeout = '5s';\n\
         CREATE TABLE payments (id int PRIMARY KEY, customer_id int REFERENCES customers (id));\n",
        "DROP TABLE payments;\n",
    );
    let (locks, _) = locks_of(&dir);
    assert_eq!(locks.as_array().unwrap().len(), 1, "{locks:#}");
    assert_eq!(locks[0]["rule"], "foreign-key-without-index");
    assert_eq!(locks[0]["relation"], "payments");
    assert_eq!(locks[0]["line"], 2);
}

#[test]
fn an_allow_comment_acknowledges_a_finding_which_is_still_shown() {
    let dir = migrations(
        "SET lock_timeout = '5s';\n\
         -- migration-check: allow table-rewrite\n\
         ALTER TABLE orders ALTER COLUMN id TYPE bigint;\n",
        "ALTER TABLE orders ALTER COLUMN id TYPE int;\n",
    );
    let (locks, stderr) = locks_of(&dir);
    assert_eq!(locks.as_array().unwrap().len(), 1, "{locks:#}");
    assert_eq!(locks[0]["rule"], "table-rewrite");
    assert_eq!(locks[0]["line"], 3);
    assert_eq!(locks[0]["allowed"], true);
    assert!(stderr.contains("table-rewrite (allowed)"), "{stderr}");
}

#[test]
fn a_plain_index_alone_blocks_writes_under_share_lock() {
    let dir = migrations(
        "SET lock_timeout = '5s';\nCREATE INDEX orders_total_idx ON orders (total);\n",
        "DROP INDEX orders_total_idx;\n",
    );
    let (locks, _) = locks_of(&dir);
    assert_eq!(locks.as_array().unwrap().len(), 1, "{locks:#}");
    assert_eq!(locks[0]["rule"], "index-without-concurrently");
    assert_eq!(locks[0]["mode"], "ShareLock");
    assert_eq!(locks[0]["blocks"], "writes");
    assert_eq!(locks[0]["rewrite"], false);
}

#[test]
fn the_policy_fails_on_a_rule_switches_one_off_and_refuses_unknown_rules() {
    let dir = migrations(
        "SET lock_timeout = '5s';\n\
         ALTER TABLE orders ALTER COLUMN id TYPE bigint;\n\
         CREATE INDEX orders_total_idx ON orders (total);\n",
        "DROP INDEX orders_total_idx;\nALTER TABLE orders ALTER COLUMN id TYPE int;\n",
    );
    // --fail-on-lock: the finding is an error and a problem on its line: exit 1.
    let (output, report) = common::verify(dir.path(), &["--fail-on-lock", "table-rewrite"]);
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    let report = report.unwrap();
    let migration = &report["migrations"][1];
    let up = up_locks(migration);
    assert_eq!(up[0]["severity"], "error");
    assert_eq!(up[1]["severity"], "warning");
    let problem = &migration["problems"][0];
    assert_eq!(problem["kind"], "lock");
    assert_eq!(problem["severity"], "error");
    assert_eq!(problem["line"], 2);
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .starts_with("table-rewrite: rewrote public.orders"),
        "{problem}"
    );

    // [locks] in migration-check.toml: a rule switched off is not reported.
    let config = dir.path().join("migration-check.toml");
    std::fs::write(&config, "[locks]\nindex-without-concurrently = \"off\"\n").unwrap();
    let (output, report) = common::verify(dir.path(), &["--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let locks = up_locks(&report.unwrap()["migrations"][1]);
    let rules = rule_names(&locks);
    assert_eq!(rules, ["table-rewrite", "exclusive-lock-held"]);

    // An unknown rule is a usage error that names the known ones.
    let (output, _) = common::verify(dir.path(), &["--fail-on-lock", "table-rewrites"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("unknown lock rule `table-rewrites`") && stderr.contains("table-rewrite,"),
        "{stderr}"
    );
}

#[test]
fn an_index_the_up_built_and_the_downs_rewrite_rebuilds_is_not_new() {
    let dir = migrations(
        "SET lock_timeout = '5s';\nCREATE INDEX orders_total_idx ON orders (total);\n",
        "SET lock_timeout = '5s';\n\
         ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2);\n\
         DROP INDEX orders_total_idx;\n",
    );
    let (output, report) = common::verify(dir.path(), &[]);
    let report = report.unwrap_or_else(|| panic!("no report: {}", common::stderr(&output)));
    // The down changes the column's type (not reversible): its findings are what counts.
    let down = down_rules(&report["migrations"][1]);
    assert!(down.contains(&("table-rewrite".to_string(), 2)), "{down:?}");
    assert!(
        !down
            .iter()
            .any(|(rule, _)| rule == "index-without-concurrently"),
        "the rebuilt index is not a new one: {down:?}"
    );
}

#[test]
fn a_foreign_key_a_rewrite_re_creates_is_not_new() {
    // orders.customer_id references customers without an index: found when version 1 adds
    // it, not again when version 2's type change re-creates it (a new OID, the same name).
    let dir = common::migrations_dir(&[
        (
            "1_tables.up.sql",
            "CREATE TABLE customers (id int PRIMARY KEY);\n\
             CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers);\n",
        ),
        ("1_tables.down.sql", "DROP TABLE orders, customers;\n"),
        (
            "2_wider.up.sql",
            "SET lock_timeout = '5s';\nALTER TABLE customers ALTER COLUMN id TYPE bigint;\n",
        ),
        (
            "2_wider.down.sql",
            "SET lock_timeout = '5s';\nALTER TABLE customers ALTER COLUMN id TYPE int;\n",
        ),
    ]);
    let (output, report) = common::verify(dir.path(), &[]);
    let report = report.unwrap_or_else(|| panic!("no report: {}", common::stderr(&output)));
    assert!(
        rule_names(&report["migrations"][0]["locks"]).contains(&"foreign-key-without-index"),
        "{}",
        report["migrations"][0]
    );
    let rules = rule_names(&up_locks(&report["migrations"][1]))
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    assert!(rules.contains(&"table-rewrite".to_string()), "{rules:?}");
    assert!(
        !rules.contains(&"foreign-key-without-index".to_string()),
        "{rules:?}"
    );
}

#[test]
fn a_script_that_deallocates_prepared_statements_is_still_measured() {
    // The observation is a prepared statement; a script that drops every prepared one
    // between its statements gets the observation's text instead, and is measured alike.
    let dir = migrations(
        "SET lock_timeout = '5s';\nDEALLOCATE ALL;\nCREATE INDEX orders_total_idx ON orders (total);\n",
        "DROP INDEX orders_total_idx;\n",
    );
    let (output, report) = common::verify(dir.path(), &[]);
    let report = report.unwrap_or_else(|| panic!("no report: {}", common::stderr(&output)));
    let migration = &report["migrations"][1];
    assert_eq!(migration["status"], "passed", "{migration}");
    let locks = up_locks(migration);
    assert_eq!(
        rule_names(&locks),
        ["index-without-concurrently"],
        "{locks}"
    );
    assert_eq!(locks[0]["line"], 3, "{locks}");
    assert!(
        !migration["notes"].to_string().contains("lock analysis"),
        "the copy followed: {migration}"
    );
}
