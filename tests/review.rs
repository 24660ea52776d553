//! What a reviewer reads (issue #12): on a pull request that adds a table with a foreign
//! key, alters a column's type and adds an index, the report shows each change in full
//! (JSON, Markdown, terminal) and an entity-relationship diagram that the real Mermaid
//! library draws, hostile identifiers included.

mod common;

use std::path::PathBuf;

use serde_json::Value;

use common::write;

/// A repository whose `main` has the customers table and whose checked-out branch adds
/// orders (with a foreign key to customers), a table with a hostile name that references
/// orders, changes customers.email's type and indexes customers.name.
fn pull_request() -> tempfile::TempDir {
    let repo = tempfile::Builder::new()
        .prefix("mc-review-")
        .tempdir_in("/tmp")
        .unwrap();
    let dir = repo.path();
    common::git(dir, &["init", "-q"]);
    write(
        dir,
        "migrations/1_customers.up.sql",
        "CREATE TABLE customers (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  \
         email text NOT NULL UNIQUE,\n  name text\n);\n",
    );
    write(
        dir,
        "migrations/1_customers.down.sql",
        "DROP TABLE customers;\n",
    );
    common::git(dir, &["add", "."]);
    common::git(dir, &["commit", "-q", "-m", "base"]);
    common::git(dir, &["checkout", "-q", "-b", "pr"]);
    write(
        dir,
        "migrations/2_orders.up.sql",
        "CREATE TABLE orders (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  \
         customer_id bigint NOT NULL REFERENCES customers (id),\n  \
         total numeric(10,2) NOT NULL DEFAULT 0\n);\n\
         ALTER TABLE customers ALTER COLUMN email TYPE varchar(320);\n\
         CREATE INDEX customers_name_idx ON customers (name);\n\
         CREATE TABLE \"x}\"\"--\" (\"we\"\"ird %%{init}%%\" bigint REFERENCES orders (id));\n",
    );
    write(
        dir,
        "migrations/2_orders.down.sql",
        "DROP TABLE \"x}\"\"--\";\nDROP INDEX customers_name_idx;\n\
         ALTER TABLE customers ALTER COLUMN email TYPE text;\nDROP TABLE orders;\n",
    );
    common::git(dir, &["add", "."]);
    common::git(dir, &["commit", "-q", "-m", "orders"]);
    repo
}

/// `change object` of each entry of a JSON list, e.g. `added public.orders`.
fn pairs(list: &Value, first: &str, second: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e[first].as_str().unwrap(),
                e[second].as_str().unwrap()
            )
        })
        .collect()
}

fn change<'a>(report: &'a Value, change: &str, object: &str) -> &'a Value {
    report["schema_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["change"] == change
                && c["kind"]
                    .as_str()
                    .zip(c["name"].as_str())
                    .is_some_and(|(k, n)| format!("{k} {n}") == object)
        })
        .unwrap_or_else(|| panic!("no {change} {object}: {:#}", report["schema_changes"]))
}

#[test]
fn a_pull_request_shows_each_schema_change_in_full_and_as_a_diagram() {
    let repo = pull_request();
    let dir = repo.path().join("migrations");
    let out = tempfile::tempdir().unwrap();
    let markdown = out.path().join("report.md");
    let erd = out.path().join("schema.mmd");
    let (output, report) = common::verify(
        &dir,
        &[
            "--base",
            "main",
            "--markdown",
            markdown.to_str().unwrap(),
            "--erd",
            erd.to_str().unwrap(),
        ],
    );
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(0), "{report:#}");

    // JSON: the new table in full, the column's type before and after, the index.
    let orders = change(&report, "added", "table public.orders");
    let details = &orders["details"];
    let columns: Vec<String> = details["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {}",
                c["name"], c["type"], c["not_null"], c["default"]
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            "\"id\" \"bigint\" true null",
            "\"customer_id\" \"bigint\" true null",
            "\"total\" \"numeric(10,2)\" true \"0\""
        ]
    );
    assert_eq!(details["columns"][0]["identity"], "always");
    assert!(
        details["constraints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["definition"] == "FOREIGN KEY (customer_id) REFERENCES public.customers(id)"),
        "{details:#}"
    );
    // The identity sequence went with its table.
    assert_eq!(
        orders["object"],
        "table public.orders (with 7 dependent objects)"
    );
    let email = change(&report, "changed", "column public.customers.email");
    assert_eq!(email["attribute"], "type");
    assert_eq!(email["before"], "text");
    assert_eq!(email["after"], "character varying(320)");
    assert_eq!(email["table"], "public.customers");
    let index = change(&report, "added", "index public.customers_name_idx");
    assert_eq!(
        index["details"]["definition"],
        "CREATE INDEX customers_name_idx ON public.customers USING btree (name)"
    );

    // The diagram model: both new tables and the altered one; customers only once.
    let diagram = &report["schema_diagram"];
    let entities = pairs(&diagram["entities"], "state", "name");
    assert_eq!(
        entities,
        [
            "added public.\"x}\"\"--\"",
            "added public.orders",
            "altered public.customers"
        ]
    );

    // Markdown: counts first, the table in full, the diagram.
    let text = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        text.contains("**2 tables added, 1 altered · 1 index added**"),
        "{text}"
    );
    for line in [
        "+     total        numeric(10,2) not null default 0",
        "~     column email: type: text → character varying(320)",
        "+     index customers_name_idx: CREATE INDEX customers_name_idx ON public.customers USING btree (name)",
        "```mermaid",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    // --erd writes the diagram the comment shows.
    let mermaid = std::fs::read_to_string(&erd).unwrap();
    assert!(mermaid.starts_with("erDiagram\n"), "{mermaid}");
    assert!(text.contains(mermaid.trim_end()), "{mermaid}\n---\n{text}");
    assert!(
        mermaid.contains("t2 ||--o{ t1 : \"+ orders_customer_id_fkey\""),
        "{mermaid}"
    );
    assert!(!mermaid.contains("%%{"), "{mermaid}");

    // The terminal report carries the same listing.
    let terminal = common::stderr(&output);
    assert!(
        terminal.contains("schema changes: 2 tables added, 1 altered · 1 index added"),
        "{terminal}"
    );

    // The real Mermaid library draws it.
    common::mermaid_accepts(&[erd]);
}

/// Every diagram in a snapshot-tested comment is one the real Mermaid library draws.
#[test]
fn every_snapshot_tested_comment_has_a_diagram_mermaid_draws() {
    let snapshots = common::root().join("src/report/snapshots");
    let out = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(&snapshots).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, block) in text.split("```mermaid\n").skip(1).enumerate() {
            let diagram = block.split("\n```").next().unwrap();
            let name = format!("{}-{i}.mmd", path.file_stem().unwrap().to_string_lossy());
            std::fs::write(out.path().join(&name), diagram).unwrap();
            files.push(out.path().join(name));
        }
    }
    assert!(!files.is_empty(), "no snapshot shows a diagram");
    common::mermaid_accepts(&files);
}

/// A down that fails to restore the schema leaves the database after down; the schema
/// changes are still those of every up (the database is rebuilt to show them).
#[test]
fn schema_changes_are_those_of_the_ups_after_a_failed_down() {
    let dir = common::migrations_dir(&[
        (
            "1_orders.up.sql",
            "CREATE TABLE orders (id int PRIMARY KEY, note text);\n\
             CREATE INDEX orders_note_idx ON orders (note);\n",
        ),
        ("1_orders.down.sql", "DROP INDEX orders_note_idx;\n"),
    ]);
    let (output, report) = common::verify(dir.path(), &[]);
    let report = report.unwrap_or_else(|| panic!("{}", common::stderr(&output)));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(report["migrations"][0]["status"], "not_reversible");
    let changes = pairs(&report["schema_changes"], "change", "object");
    assert_eq!(
        changes,
        ["added table public.orders (with 5 dependent objects)"]
    );
}
