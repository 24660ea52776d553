//! Issue #27: the running code on the changed schema, end to end on the embedded
//! PostgreSQL. Each test is a git repository whose `main` holds the merged migrations and
//! the old code's queries, and whose branch adds a migration and changes the queries;
//! `verify --base main` judges the old queries on the migrated schema (deploy) and the new
//! ones on the schema after the downs (rollback).

mod common;

use std::path::Path;
use std::process::Output;

use serde_json::Value;

/// The first migration, merged on `main`: users and posts.
const USERS: &str = "CREATE TABLE users (id serial PRIMARY KEY, name varchar(100) NOT NULL, email text, bio text);\n\
                     CREATE TABLE posts (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users (id), title text NOT NULL);\n";
const USERS_DOWN: &str = "DROP TABLE posts;\nDROP TABLE users;\n";

/// The old code: sqlc queries.
const OLD_QUERIES: &str = "-- name: GetUser :one\n\
                           SELECT id, name, email FROM users WHERE id = $1;\n\
                           \n\
                           -- name: CreateUser :one\n\
                           INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id;\n\
                           \n\
                           -- name: CreatePost :exec\n\
                           INSERT INTO posts (user_id, title) VALUES (@user_id, @title);\n";

/// A repository: `main` with the users migration and `base_queries`, then a branch
/// `change` adding migration 2 (`up`, `down`) and replacing the queries with
/// `head_queries` (`None`: the file is removed).
fn project(
    base_queries: Option<&str>,
    up: &str,
    down: &str,
    head_queries: Option<&str>,
) -> tempfile::TempDir {
    const QUERIES: &str = "db/queries/users.sql";
    let mut base = vec![
        ("migrations/1_users.up.sql", USERS),
        ("migrations/1_users.down.sql", USERS_DOWN),
    ];
    base.extend(base_queries.map(|queries| (QUERIES, queries)));
    let mut change = vec![
        ("migrations/2_change.up.sql", up),
        ("migrations/2_change.down.sql", down),
    ];
    change.extend(head_queries.map(|queries| (QUERIES, queries)));
    let removed: &[&str] = if head_queries.is_none() {
        &[QUERIES]
    } else {
        &[]
    };
    repository_changing(&base, &change, removed)
}

/// `verify migrations --base main --queries db/queries/*.sql --json -` in `repo`, with
/// `extra` flags.
fn check(repo: &Path, extra: &[&str]) -> (Output, Value) {
    let tmp = common::private_tmp();
    let output = common::command(tmp.path())
        .current_dir(repo)
        .args(["verify", "migrations", "--base", "main", "--json", "-"])
        .args(["--queries", "db/queries/*.sql"])
        .args(extra)
        .output()
        .expect("run migration-check");
    common::assert_nothing_left(tmp.path());
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("no report: {}", common::stderr(&output)));
    (output, report)
}

/// The compat findings of migration 2, as (window, kind, severity, query name, query line,
/// migration file name, migration line).
fn findings(report: &Value) -> Vec<(String, String, String, String, u64, String, u64)> {
    report["migrations"][1]["compat"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                text(&f["window"]),
                text(&f["kind"]),
                text(&f["severity"]),
                text(&f["query"]["name"]),
                f["query"]["line"].as_u64().unwrap_or(0),
                text(&f["file"])
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn finding(
    window: &str,
    kind: &str,
    severity: &str,
    query: &str,
    query_line: u64,
    file: &str,
    line: u64,
) -> (String, String, String, String, u64, String, u64) {
    (
        window.into(),
        kind.into(),
        severity.into(),
        query.into(),
        query_line,
        file.into(),
        line,
    )
}

#[test]
fn a_rename_breaks_the_old_query_named_with_its_line_and_the_renames_line() {
    let new_queries = OLD_QUERIES.replace("name, email", "full_name, email");
    let repo = project(
        Some(OLD_QUERIES),
        "SET lock_timeout = '5s';\nALTER TABLE users RENAME COLUMN name TO full_name;\n",
        "ALTER TABLE users RENAME COLUMN full_name TO name;\n",
        Some(&new_queries),
    );
    let (output, report) = check(repo.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    assert_eq!(
        findings(&report),
        [
            finding(
                "deploy",
                "prepare",
                "error",
                "GetUser",
                2,
                "2_change.up.sql",
                2
            ),
            finding(
                "deploy",
                "prepare",
                "error",
                "CreateUser",
                5,
                "2_change.up.sql",
                2
            ),
            finding(
                "rollback",
                "prepare",
                "warning",
                "GetUser",
                2,
                "2_change.down.sql",
                1
            ),
            finding(
                "rollback",
                "prepare",
                "warning",
                "CreateUser",
                5,
                "2_change.down.sql",
                1
            ),
        ]
    );
    let first = &report["migrations"][1]["compat"][0];
    assert_eq!(first["error"], "column \"name\" does not exist");
    assert_eq!(first["sqlstate"], "42703");
    assert_eq!(first["query"]["file"], "db/queries/users.sql");
    // The migration itself is sound: only the running code fails the check.
    assert_eq!(report["migrations"][1]["status"], "passed");
    assert_eq!(report["passed"], false);
    // Judged: three old statements (deploy) and three new ones (rollback).
    assert_eq!(report["compat"]["judged"], 6, "{}", report["compat"]);
    let text = common::stderr(&output);
    assert!(
        text.contains("GetUser (db/queries/users.sql:2): column \"name\" does not exist (42703)")
            && text.contains("caused by migrations/2_change.up.sql:2"),
        "{text}"
    );
}

#[test]
fn a_dropped_column_no_query_uses_is_no_finding() {
    let repo = project(
        Some(OLD_QUERIES),
        "ALTER TABLE users DROP COLUMN bio;\n",
        "ALTER TABLE users ADD COLUMN bio text;\n",
        Some(OLD_QUERIES),
    );
    let (output, report) = check(repo.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(findings(&report), []);
    assert_eq!(report["compat"]["judged"], 6);
    assert!(
        report["compat"].get("not_judged").is_none(),
        "{}",
        report["compat"]
    );
}

#[test]
fn a_new_not_null_column_breaks_the_old_insert_unless_it_has_a_default() {
    let repo = project(
        Some(OLD_QUERIES),
        "ALTER TABLE posts ADD COLUMN slug text NOT NULL;\n",
        "ALTER TABLE posts DROP COLUMN slug;\n",
        Some(OLD_QUERIES),
    );
    let (output, report) = check(repo.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    assert_eq!(
        findings(&report),
        [finding(
            "deploy",
            "write",
            "error",
            "CreatePost",
            8,
            "2_change.up.sql",
            1
        )]
    );
    assert_eq!(report["migrations"][1]["compat"][0]["sqlstate"], "23502");
    // The up cannot run on rows (the column has no default): the rows came after it.
    let notes = report["compat"]["notes"].to_string();
    assert!(notes.contains("generated after each up"), "{notes}");

    let repo = project(
        Some(OLD_QUERIES),
        "ALTER TABLE posts ADD COLUMN slug text NOT NULL DEFAULT '';\n",
        "ALTER TABLE posts DROP COLUMN slug;\n",
        Some(OLD_QUERIES),
    );
    let (output, report) = check(repo.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(findings(&report), []);
}

#[test]
fn a_narrowed_varchar_breaks_the_old_insert() {
    let repo = project(
        Some(OLD_QUERIES),
        "ALTER TABLE users ALTER COLUMN name TYPE varchar(10);\n",
        "ALTER TABLE users ALTER COLUMN name TYPE varchar(100);\n",
        Some(OLD_QUERIES),
    );
    let (output, report) = check(repo.path(), &["--no-lock-analysis"]);
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    assert_eq!(
        findings(&report),
        [finding(
            "deploy",
            "write",
            "error",
            "CreateUser",
            5,
            "2_change.up.sql",
            1
        )]
    );
    assert_eq!(report["migrations"][1]["compat"][0]["sqlstate"], "22001");
}

/// Expand: the new column beside the old one, the code moved to it; contract, in a later
/// change whose base code no longer reads the old column: neither breaks running code.
#[test]
fn expand_then_contract_breaks_nothing() {
    let expanded_queries = OLD_QUERIES.replace("name, email", "display_name, email");
    let repo = project(
        Some(OLD_QUERIES),
        "ALTER TABLE users ADD COLUMN display_name varchar(100);\n\
         UPDATE users SET display_name = name;\n\
         ALTER TABLE users ALTER COLUMN name DROP NOT NULL;\n",
        "UPDATE users SET name = display_name WHERE name IS NULL;\n\
         ALTER TABLE users ALTER COLUMN name SET NOT NULL;\n\
         ALTER TABLE users DROP COLUMN display_name;\n",
        Some(&expanded_queries),
    );
    let (output, report) = check(repo.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    // The new code reads display_name, which the down removes: the rollback window says so.
    assert!(
        findings(&report)
            .iter()
            .all(|f| f.0 == "rollback" && f.2 == "warning"),
        "{:?}",
        findings(&report)
    );
    assert!(!findings(&report).iter().any(|f| f.0 == "deploy"));

    // The contract step: merged expand on main, the branch drops the old column.
    let root = repo.path();
    common::git(root, &["checkout", "-q", "main"]);
    common::git(root, &["merge", "-q", "--ff-only", "change"]);
    common::git(root, &["checkout", "-qb", "contract"]);
    common::write(
        root,
        "migrations/3_contract.up.sql",
        "ALTER TABLE users DROP COLUMN name;\n",
    );
    common::write(
        root,
        "migrations/3_contract.down.sql",
        "ALTER TABLE users ADD COLUMN name varchar(100);\n",
    );
    common::git(root, &["add", "-A"]);
    common::git(root, &["commit", "-qm", "contract"]);
    let (output, report) = check(root, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(
        report["migrations"][2].get("compat").is_none(),
        "{}",
        report["migrations"][2]
    );
}

#[test]
fn a_down_dropping_a_column_the_new_code_reads_is_a_rollback_warning() {
    let new_queries = format!(
        "{OLD_QUERIES}\n-- name: GetPostWithSlug :one\nSELECT id, slug FROM posts WHERE slug = $1;\n"
    );
    let repo = project(
        Some(OLD_QUERIES),
        "ALTER TABLE posts ADD COLUMN slug text;\n",
        "ALTER TABLE posts DROP COLUMN slug;\n",
        Some(&new_queries),
    );
    let (output, report) = check(repo.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(
        findings(&report),
        [finding(
            "rollback",
            "prepare",
            "warning",
            "GetPostWithSlug",
            11,
            "2_change.down.sql",
            1
        )]
    );
    // Raised to an error by the policy.
    let (output, _) = check(repo.path(), &["--compat-rollback", "error"]);
    assert_eq!(output.status.code(), Some(1));
    // Off: not judged at all.
    let (output, report) = check(repo.path(), &["--compat-rollback", "off"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(findings(&report), []);
}

/// Code first: the new code ships before the migration, so it meets the base schema.
#[test]
fn code_first_judges_the_new_code_on_the_base_schema() {
    let new_queries = format!(
        "{OLD_QUERIES}\n-- name: GetPostWithSlug :one\nSELECT id, slug FROM posts WHERE slug = $1;\n"
    );
    let repo = project(
        Some(OLD_QUERIES),
        "ALTER TABLE posts ADD COLUMN slug text;\n",
        "ALTER TABLE posts DROP COLUMN slug;\n",
        Some(&new_queries),
    );
    let (output, report) = check(
        repo.path(),
        &["--compat-order", "code-first", "--compat-rollback", "off"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    assert_eq!(
        findings(&report),
        [finding(
            "code_first",
            "prepare",
            "error",
            "GetPostWithSlug",
            11,
            "2_change.up.sql",
            1
        )]
    );
}

#[test]
fn an_unparsable_query_file_is_exit_2_at_its_line() {
    let repo = project(
        Some(OLD_QUERIES),
        "SELECT 1;\n",
        "SELECT 1;\n",
        Some("-- name: GetUser :one\nSELECT 1;\n-- name: GetUser :one\nSELECT 2;\n"),
    );
    let tmp = common::private_tmp();
    let output = common::command(tmp.path())
        .current_dir(repo.path())
        .args(["verify", "migrations", "--base", "main"])
        .args(["--queries", "db/queries/*.sql"])
        .output()
        .unwrap();
    common::assert_nothing_left(tmp.path());
    assert_eq!(output.status.code(), Some(2), "{}", common::stderr(&output));
    let text = common::stderr(&output);
    assert!(text.contains("db/queries/users.sql:3"), "{text}");
}

#[test]
fn a_statement_that_is_not_sql_is_counted_as_not_judged() {
    let queries = format!("{OLD_QUERIES}\n-- name: Broken :one\nSELEKT everything FROM nowhere;\n");
    let repo = project(
        Some(&queries),
        "ALTER TABLE posts ADD COLUMN slug text;\n",
        "ALTER TABLE posts DROP COLUMN slug;\n",
        Some(&queries),
    );
    let (output, report) = check(repo.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(findings(&report), []);
    let not_judged = &report["compat"]["not_judged"];
    assert_eq!(not_judged[0]["query"], "Broken", "{not_judged}");
    assert!(
        not_judged[0]["reason"]
            .as_str()
            .unwrap()
            .contains("syntax error"),
        "{not_judged}"
    );
}

/// A query file that is new in the change: the old code had none, so only the new code
/// is judged (the rollback window).
#[test]
fn a_query_file_absent_at_the_base_is_read_at_head_only() {
    let repo = project(
        None,
        "ALTER TABLE posts ADD COLUMN slug text;\n",
        "ALTER TABLE posts DROP COLUMN slug;\n",
        Some("-- name: BySlug :one\nSELECT id FROM posts WHERE slug = $1;\n"),
    );
    let (output, report) = check(repo.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(
        findings(&report),
        [finding(
            "rollback",
            "prepare",
            "warning",
            "BySlug",
            2,
            "2_change.down.sql",
            1
        )]
    );
    let sources = report["compat"]["sources"].to_string();
    assert!(
        sources.contains("0 queries in 0 file(s) at the base commit"),
        "{sources}"
    );
}

#[test]
fn an_unreachable_statements_url_is_exit_3_with_the_password_masked() {
    let repo = project(
        Some(OLD_QUERIES),
        "SELECT 1;\n",
        "SELECT 1;\n",
        Some(OLD_QUERIES),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = common::private_tmp();
    let output = common::command(tmp.path())
        .current_dir(repo.path())
        .args([
            "verify",
            "migrations",
            "--base",
            "main",
            "--statements-from",
        ])
        .arg(format!(
            "postgres://reader:Sup3rSecretPw@127.0.0.1:{port}/app"
        ))
        .output()
        .unwrap();
    common::assert_nothing_left(tmp.path());
    assert_eq!(output.status.code(), Some(3), "{}", common::stderr(&output));
    let text = common::stderr(&output);
    assert!(!text.contains("Sup3rSecretPw"), "{text}");
    assert!(
        text.contains(&format!("reader@127.0.0.1:{port}/app")),
        "{text}"
    );
}

/// A test script of the application's own: node-postgres writing and reading users with
/// the column `column`, failing (exit 1) on any error.
fn node_test(column: &str) -> String {
    format!(
        "const {{ Client }} = require('pg');\n\
         if (process.env.GITHUB_TOKEN) {{ console.error('not ok 0 the token reached the tests'); process.exit(2); }}\n\
         (async () => {{\n\
         \x20 const client = new Client({{ connectionString: process.env.DATABASE_URL }});\n\
         \x20 await client.connect();\n\
         \x20 await client.query(\"INSERT INTO users ({column}, email) VALUES ('ada', 'ada@example.com')\");\n\
         \x20 const users = await client.query('SELECT {column} FROM users');\n\
         \x20 console.log('ok 1 users', users.rows.length);\n\
         \x20 await client.end();\n\
         }})().catch((error) => {{ console.error('not ok 1 users:', error.message); process.exit(1); }});\n"
    )
}

/// A repository whose tests are `node test.js` (node-postgres), its `node_modules` installed
/// in the working tree and not committed.
fn node_project(
    tools: &Path,
    base_test: &str,
    up: &str,
    down: &str,
    head_test: &str,
) -> tempfile::TempDir {
    let dir = common::migrations_dir(&[
        ("migrations/1_users.up.sql", USERS),
        ("migrations/1_users.down.sql", USERS_DOWN),
        ("test.js", base_test),
        (".gitignore", "node_modules\n"),
    ]);
    let root = dir.path();
    std::os::unix::fs::symlink(tools.join("node_modules"), root.join("node_modules")).unwrap();
    common::git(root, &["init", "-q"]);
    common::git(root, &["add", "-A"]);
    common::git(root, &["commit", "-qm", "base"]);
    common::git(root, &["checkout", "-qb", "change"]);
    common::write(root, "migrations/2_change.up.sql", up);
    common::write(root, "migrations/2_change.down.sql", down);
    common::write(root, "test.js", head_test);
    common::git(root, &["add", "-A"]);
    common::git(root, &["commit", "-qm", "change"]);
    dir
}

/// `verify` with the test command `command` in `repo`.
fn check_command(repo: &Path, command: &str, extra: &[&str]) -> (Output, Value) {
    let tmp = common::private_tmp();
    let output = common::command(tmp.path())
        .current_dir(repo)
        .args(["verify", "migrations", "--base", "main", "--json", "-"])
        .args(["--compat-command", command])
        .args(extra)
        .env("GITHUB_TOKEN", "ghp_never_seen_by_the_tests")
        .output()
        .expect("run migration-check");
    common::assert_nothing_left(tmp.path());
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("no report: {}", common::stderr(&output)));
    (output, report)
}

/// The worktree of the base commit is gone from git's records and from disk.
fn assert_no_worktree(repo: &Path) {
    let list = std::process::Command::new("git")
        .args(["worktree", "list", "--porcelain"])
        .current_dir(repo)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert_eq!(text.matches("worktree ").count(), 1, "{text}");
}

#[test]
fn the_old_codes_tests_fail_on_the_renamed_column_and_name_the_statement() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let repo = node_project(
        &tools,
        &node_test("name"),
        "ALTER TABLE users RENAME COLUMN name TO full_name;\n",
        "ALTER TABLE users RENAME COLUMN full_name TO name;\n",
        &node_test("full_name"),
    );
    let (output, report) = check_command(repo.path(), "node test.js", &["--no-lock-analysis"]);
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    let compat = &report["migrations"][1]["compat"];
    let deploy = &compat[0];
    assert_eq!(deploy["window"], "deploy", "{compat}");
    assert_eq!(deploy["kind"], "test");
    assert_eq!(deploy["severity"], "error");
    assert_eq!(deploy["query"]["name"], "node test.js");
    // The statement and the error, from the server's log.
    assert_eq!(
        deploy["query"]["sql"],
        "INSERT INTO users (name, email) VALUES ('ada', 'ada@example.com')"
    );
    assert!(
        deploy["error"]
            .as_str()
            .unwrap()
            .starts_with("column \"name\" of relation \"users\" does not exist"),
        "{deploy}"
    );
    assert_eq!(deploy["file"], "migrations/2_change.up.sql");
    assert_eq!(deploy["line"], 1);
    assert!(
        deploy["output"]
            .as_str()
            .unwrap()
            .contains("not ok 1 users"),
        "{deploy}"
    );
    let rollback = &compat[1];
    assert_eq!(rollback["window"], "rollback", "{compat}");
    assert_eq!(rollback["severity"], "warning");
    assert_eq!(rollback["file"], "migrations/2_change.down.sql");
    assert_eq!(report["compat"]["judged"], 2);
    assert_no_worktree(repo.path());
}

#[test]
fn tests_that_fail_on_their_own_schema_are_not_judged() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let broken = "console.error('not ok 1 always'); process.exit(1);\n";
    let repo = node_project(
        &tools,
        broken,
        "ALTER TABLE users ADD COLUMN slug text;\n",
        "ALTER TABLE users DROP COLUMN slug;\n",
        broken,
    );
    let (output, report) = check_command(repo.path(), "node test.js", &["--no-lock-analysis"]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(report["migrations"][1].get("compat").is_none());
    let notes = report["compat"]["notes"].to_string();
    assert!(
        notes.contains("fails on the schema its code was written for")
            && notes.contains("not ok 1 always"),
        "{notes}"
    );
    assert_no_worktree(repo.path());
}

#[test]
fn a_hanging_test_command_is_killed_at_the_timeout_and_nothing_is_left() {
    let Some(tools) = common::node_tools() else {
        return;
    };
    let marker = "mc-hanging-test-7f3a";
    let hang = format!("// {marker}\nsetInterval(() => {{}}, 1000);\n");
    let repo = node_project(
        &tools,
        &hang,
        "ALTER TABLE users ADD COLUMN slug text;\n",
        "ALTER TABLE users DROP COLUMN slug;\n",
        &hang,
    );
    let started = std::time::Instant::now();
    let (output, report) = check_command(
        repo.path(),
        &format!("node test.js {marker}"),
        &["--no-lock-analysis", "--command-timeout", "2s"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let notes = report["compat"]["notes"].to_string();
    assert!(notes.contains("killed at --command-timeout"), "{notes}");
    assert_eq!(common::processes_mentioning(marker), Vec::<i32>::new());
    assert_no_worktree(repo.path());
}

/// sqlc writes a query's `*` out as the columns its schema had: an added column changes
/// nothing for the old code, and the down removing it breaks the new code, as a missing
/// column would (GoAlert's `SELECT *` queries, seen wrongly as changed row shapes).
#[test]
fn sqlc_stars_are_the_columns_the_code_was_generated_with() {
    let queries = format!(
        "{OLD_QUERIES}\n-- name: ListPosts :many\nSELECT * FROM posts WHERE user_id = $1;\n\n\
         -- name: PostsWithAuthors :many\nSELECT sqlc.embed(posts), users.name FROM posts JOIN users ON users.id = posts.user_id;\n"
    );
    let repo = project(
        Some(&queries),
        "ALTER TABLE posts ADD COLUMN slug text;\n",
        "ALTER TABLE posts DROP COLUMN slug;\n",
        Some(&queries),
    );
    let (output, report) = check(repo.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let found = findings(&report);
    // Deploy: nothing. Rollback: the new code lists slug in both, and the down drops it.
    assert_eq!(
        found,
        [
            finding(
                "rollback",
                "prepare",
                "warning",
                "ListPosts",
                11,
                "2_change.down.sql",
                1
            ),
            finding(
                "rollback",
                "prepare",
                "warning",
                "PostsWithAuthors",
                14,
                "2_change.down.sql",
                1
            ),
        ]
    );
    let error = report["migrations"][1]["compat"][0]["error"]
        .as_str()
        .unwrap();
    assert!(
        error.starts_with("column \"slug\" does not exist"),
        "{error}"
    );
    // Every query was judged: sqlc.embed is read as the table's columns.
    assert!(
        report["compat"].get("not_judged").is_none(),
        "{}",
        report["compat"]
    );
}

/// The same `*` sent at runtime (aiosql, plain files): the row shape the code reads
/// changed, a warning.
#[test]
fn a_runtime_star_whose_columns_change_is_a_warning() {
    let queries = "-- name: list_posts\nSELECT * FROM posts WHERE user_id = :user_id;\n";
    let repo = project(
        Some(queries),
        "ALTER TABLE posts ADD COLUMN slug text;\n",
        "ALTER TABLE posts DROP COLUMN slug;\n",
        Some(queries),
    );
    let (output, report) = check(repo.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let found = findings(&report);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found
            .iter()
            .all(|f| f.1 == "row_shape" && f.2 == "warning" && f.3 == "list_posts"),
        "{found:?}"
    );
}

/// An `ON CONFLICT` whose unique constraint the change drops fails when planned (42P10),
/// even where the generated values cannot be written (the parent row is missing): the
/// write is planned with them, never executed (GoAlert's LabelSetByTarget, missed when only
/// prepared).
#[test]
fn an_on_conflict_target_dropped_by_the_change_is_found_when_planned() {
    let queries = "-- name: TagPost :exec\n\
                   INSERT INTO tags (post_id, tag) VALUES ($1, $2) ON CONFLICT (post_id, tag) DO NOTHING;\n";
    let dir = common::migrations_dir(&[
        ("migrations/1_users.up.sql", USERS),
        ("migrations/1_users.down.sql", USERS_DOWN),
        (
            "migrations/2_tags.up.sql",
            "CREATE TABLE tags (post_id int NOT NULL REFERENCES posts (id), tag text NOT NULL, \
             CONSTRAINT tags_post_tag UNIQUE (post_id, tag));\n",
        ),
        ("migrations/2_tags.down.sql", "DROP TABLE tags;\n"),
        ("db/queries/tags.sql", queries),
    ]);
    let root = dir.path();
    common::git(root, &["init", "-q"]);
    common::git(root, &["add", "-A"]);
    common::git(root, &["commit", "-qm", "base"]);
    common::git(root, &["checkout", "-qb", "change"]);
    common::write(
        root,
        "migrations/3_change.up.sql",
        "ALTER TABLE tags ADD COLUMN weight int;\nALTER TABLE tags DROP CONSTRAINT tags_post_tag;\n",
    );
    common::write(
        root,
        "migrations/3_change.down.sql",
        "ALTER TABLE tags ADD CONSTRAINT tags_post_tag UNIQUE (post_id, tag);\nALTER TABLE tags DROP COLUMN weight;\n",
    );
    common::git(root, &["add", "-A"]);
    common::git(root, &["commit", "-qm", "change"]);
    let (output, report) = check(root, &["--no-lock-analysis"]);
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    let finding = &report["migrations"][2]["compat"][0];
    assert_eq!(finding["window"], "deploy", "{}", report["migrations"][2]);
    assert_eq!(finding["query"]["name"], "TagPost");
    assert_eq!(finding["sqlstate"], "42P10");
    // Owed to the statement that drops the constraint, not the first one.
    assert_eq!(finding["line"], 2);
}

/// An edited merged migration is not part of what the running code meets: the old code is
/// still judged on the schema before the migrations the change adds (GoAlert's #3971).
#[test]
fn an_edited_merged_migration_does_not_move_the_base_schema() {
    let repo = project(
        Some(OLD_QUERIES),
        "ALTER TABLE posts ADD COLUMN slug text;\n",
        "ALTER TABLE posts DROP COLUMN slug;\n",
        Some(OLD_QUERIES),
    );
    let root = repo.path();
    common::write(
        root,
        "migrations/1_users.up.sql",
        &format!("-- reviewed\n{USERS}"),
    );
    common::git(root, &["commit", "-qam", "edit the merged migration"]);
    let (output, report) = check(root, &[]);
    // The edit fails the checksum gate; the running code is judged as before.
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    assert_eq!(report["compat"]["judged"], 6, "{}", report["compat"]);
    assert!(report["migrations"][0].get("compat").is_none());
    assert!(report["migrations"][1].get("compat").is_none());
}

/// A server with pg_stat_statements preloaded, holding database `app` with the users
/// schema and the statements a running application sent.
struct RecordingServer {
    child: Option<std::process::Child>,
    dir: tempfile::TempDir,
    port: u16,
}

impl RecordingServer {
    fn start() -> RecordingServer {
        use common::cluster;
        let bin = migration_check::postgres::embedded::find_bin_dir(None).expect("PostgreSQL");
        let dir = common::private_tmp();
        let run_as = cluster::run_as();
        let socket = dir.path().join("socket");
        std::fs::create_dir(&socket).unwrap();
        if let Some((uid, gid)) = run_as {
            for path in [dir.path(), socket.as_path()] {
                nix::unistd::chown(path, Some(uid.into()), Some(gid.into())).unwrap();
            }
        }
        let data = dir.path().join("data");
        cluster::initdb(&bin, &data, run_as);
        let port = cluster::free_port();
        let log = std::fs::File::create(dir.path().join("postgres.log")).unwrap();
        let child =
            cluster::as_server_user(std::process::Command::new(bin.join("postgres")), run_as)
                .arg("-D")
                .arg(&data)
                .arg("-k")
                .arg(&socket)
                .args(["-p", &port.to_string()])
                .args(["-c", "listen_addresses=", "-c", "fsync=off"])
                .args(["-c", "shared_preload_libraries=pg_stat_statements"])
                .stdin(std::process::Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
        let server = RecordingServer {
            child: Some(child),
            dir,
            port,
        };
        let log_path = server.dir.path().join("postgres.log");
        cluster::wait_ready(&bin, &socket, port, || {
            std::fs::read_to_string(&log_path).unwrap_or_default()
        });
        server.psql("postgres", "CREATE DATABASE app");
        server.psql("app", "CREATE EXTENSION pg_stat_statements");
        server.psql("app", USERS);
        server.psql("app", "SELECT pg_stat_statements_reset()");
        // The running application: reads and writes, a utility statement and DDL.
        for _ in 0..3 {
            server.psql(
                "app",
                "INSERT INTO users (name, email) VALUES ('ada', 'ada@example.com');\n\
                 SELECT id, name, email FROM users WHERE id = 1;\n\
                 SELECT count(*) FROM posts;\n\
                 SET application_name = 'app';\n",
            );
        }
        server.psql("app", "CREATE INDEX users_email_idx ON users (email)");
        server
    }

    fn socket(&self) -> std::path::PathBuf {
        self.dir.path().join("socket")
    }

    /// Runs `sql` in `database` with psql; its output.
    fn psql(&self, database: &str, sql: &str) -> String {
        let bin = migration_check::postgres::embedded::find_bin_dir(None).unwrap();
        let output = std::process::Command::new(bin.join("psql"))
            .arg("-h")
            .arg(self.socket())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .unwrap();
        assert!(output.status.success(), "psql: {}", common::stderr(&output));
        String::from_utf8(output.stdout).unwrap()
    }

    fn url(&self) -> String {
        format!(
            "postgresql://postgres@localhost:{}/app?host={}",
            self.port,
            self.socket().display()
        )
    }
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            common::cluster::stop(child);
        }
    }
}

/// The running application's statements, recorded for real by pg_stat_statements: exported
/// as its COPY writes them (`--statements`) and read at check time (`--statements-from`);
/// DDL, utility statements and the monitoring's own are skipped and counted.
#[test]
fn recorded_statements_are_judged_from_an_export_and_from_a_live_database() {
    let server = RecordingServer::start();
    let export = server.psql(
        "app",
        "COPY (SELECT query, calls FROM pg_stat_statements) TO STDOUT WITH CSV HEADER",
    );
    let repo = project(
        None,
        "ALTER TABLE users RENAME COLUMN name TO full_name;\n",
        "ALTER TABLE users RENAME COLUMN full_name TO name;\n",
        None,
    );
    common::write(repo.path(), "ops/statements.csv", &export);
    for source in [
        vec!["--statements".to_string(), "ops/statements.csv".to_string()],
        vec!["--statements-from".to_string(), server.url()],
    ] {
        let tmp = common::private_tmp();
        let output = common::command(tmp.path())
            .current_dir(repo.path())
            .args(["verify", "migrations", "--base", "main", "--json", "-"])
            .args(&source)
            .output()
            .unwrap();
        common::assert_nothing_left(tmp.path());
        assert_eq!(
            output.status.code(),
            Some(1),
            "{source:?}: {}",
            common::stderr(&output)
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        let compat = report["migrations"][1]["compat"].as_array().unwrap();
        let mut broken: Vec<(&str, u64)> = compat
            .iter()
            .map(|f| {
                (
                    f["query"]["sql"].as_str().unwrap(),
                    f["query"]["calls"].as_u64().unwrap(),
                )
            })
            .collect();
        broken.sort();
        assert_eq!(
            broken,
            [
                ("INSERT INTO users (name, email) VALUES ($1, $2)", 3),
                ("SELECT id, name, email FROM users WHERE id = $1", 3),
            ],
            "{source:?}: {compat:?}"
        );
        assert!(
            compat
                .iter()
                .all(|f| f["window"] == "deploy" && f["severity"] == "error")
        );
        let notes = report["compat"]["notes"].to_string();
        assert!(
            notes.contains("skipped 1 DDL statement, ") && notes.contains("utility statement"),
            "{source:?}: {notes}"
        );
        // The count query still works: judged, no finding.
        assert!(
            report["compat"]["judged"].as_u64().unwrap() >= 3,
            "{}",
            report["compat"]
        );
    }
}

/// On every claimed major (Docker): the findings hold on 13, 15, 17 and 18, and a MERGE
/// (PostgreSQL 15 and later) breaks where the server knows it and is not judged on 13.
#[test]
fn findings_hold_on_every_major() {
    if !common::docker_available() {
        return;
    }
    let majors = common::docker_majors();
    let queries = format!(
        "{OLD_QUERIES}\n-- name: UpsertUser :exec\n\
         MERGE INTO users u USING (SELECT $1::int AS id, $2::varchar AS name) s ON u.id = s.id\n\
         WHEN MATCHED THEN UPDATE SET name = s.name\n\
         WHEN NOT MATCHED THEN INSERT (name, email) VALUES (s.name, 'x');\n"
    );
    let new_queries = queries.replace("name, email", "full_name, email");
    let repo = project(
        Some(&queries),
        "ALTER TABLE users RENAME COLUMN name TO full_name;\n",
        "ALTER TABLE users RENAME COLUMN full_name TO name;\n",
        Some(&new_queries),
    );
    let majors_flag = majors.join(",");
    let template = common::docker_image_template();
    let (output, report) = check(
        repo.path(),
        &[
            "--postgres",
            "docker",
            "--postgres-versions",
            &majors_flag,
            "--image-template",
            &template,
            "--compat-rollback",
            "off",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    let compat = report["migrations"][1]["compat"].as_array().unwrap();
    let by_query = |name: &str| {
        compat
            .iter()
            .find(|f| f["query"]["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {compat:?}"))
    };
    for name in ["GetUser", "CreateUser"] {
        assert!(
            by_query(name).get("versions").is_none(),
            "found on every major: {}",
            by_query(name)
        );
    }
    let merge_majors: Vec<u64> = majors
        .iter()
        .map(|m| m.parse::<u64>().unwrap())
        .filter(|&m| m >= 15)
        .collect();
    let upsert = by_query("UpsertUser");
    if merge_majors.len() < majors.len() {
        assert_eq!(
            upsert["versions"],
            serde_json::json!(merge_majors),
            "{upsert}"
        );
        let not_judged = report["compat"]["not_judged"].to_string();
        assert!(
            not_judged.contains("UpsertUser") && not_judged.contains("syntax error"),
            "{not_judged}"
        );
    }
}

/// A repository whose `main` holds `base` (path, content) and whose branch adds `change`.
fn repository(base: &[(&str, &str)], change: &[(&str, &str)]) -> tempfile::TempDir {
    repository_changing(base, change, &[])
}

/// [`repository`], the branch also removing the files `removed`.
fn repository_changing(
    base: &[(&str, &str)],
    change: &[(&str, &str)],
    removed: &[&str],
) -> tempfile::TempDir {
    let dir = common::migrations_dir(base);
    let root = dir.path();
    common::git(root, &["init", "-q"]);
    common::git(root, &["add", "-A"]);
    common::git(root, &["commit", "-qm", "base"]);
    common::git(root, &["checkout", "-qb", "change"]);
    for (path, content) in change {
        common::write(root, path, content);
    }
    for path in removed {
        let _ = std::fs::remove_file(root.join(path));
    }
    common::git(root, &["add", "-A"]);
    common::git(root, &["commit", "-qm", "change"]);
    dir
}

/// Owners and their keys (uuid keys, a foreign key), and the old code's key insert.
const KEYS: &[(&str, &str)] = &[
    (
        "migrations/1_keys.up.sql",
        "CREATE TABLE owners (id uuid PRIMARY KEY, name text NOT NULL);\n\
         CREATE TABLE keys (id uuid PRIMARY KEY, owner_id uuid NOT NULL REFERENCES owners (id), name text NOT NULL);\n",
    ),
    (
        "migrations/1_keys.down.sql",
        "DROP TABLE keys;\nDROP TABLE owners;\n",
    ),
    (
        "db/queries/keys.sql",
        "-- name: KeyInsert :exec\nINSERT INTO keys (id, owner_id, name) VALUES ($1, $2, $3);\n",
    ),
];

/// A NOT NULL column for keys, its default dropped at once.
const SCOPE_UP: (&str, &str) = (
    "migrations/2_scope.up.sql",
    "ALTER TABLE keys ADD COLUMN scope text NOT NULL DEFAULT 'all';\n\
     ALTER TABLE keys ALTER COLUMN scope DROP DEFAULT;\n",
);
const SCOPE_DOWN: (&str, &str) = (
    "migrations/2_scope.down.sql",
    "ALTER TABLE keys DROP COLUMN scope;\n",
);

/// An INSERT of its own new key under an existing parent is judged (its key new, its
/// foreign key the first generated parent's), and the NOT NULL column the change adds
/// breaks it; the blame goes to the statement that drops the default (GoAlert's key
/// inserts, left unjudged when every key was new or every key the first row's).
#[test]
fn an_insert_of_its_own_key_under_a_parent_is_judged() {
    let repo = repository(KEYS, &[SCOPE_UP, SCOPE_DOWN]);
    let (output, report) = check(repo.path(), &["--no-lock-analysis"]);
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    assert_eq!(
        findings(&report),
        [finding(
            "deploy",
            "write",
            "error",
            "KeyInsert",
            2,
            "2_scope.up.sql",
            2
        )]
    );
    assert_eq!(report["migrations"][1]["compat"][0]["sqlstate"], "23502");
}

/// A down that gives back the base's own behaviour (a trigger that refuses a kind of row
/// the old code's identical UPDATE meets on the base schema too) is no rollback warning
/// (GoAlert's contact-method trigger).
#[test]
fn a_down_giving_back_the_bases_behaviour_is_a_note() {
    let trigger = "CREATE FUNCTION refuse_old() RETURNS trigger LANGUAGE plpgsql AS $$\n\
                   BEGIN RAISE EXCEPTION 'kind % is read-only', NEW.kind; END $$;\n";
    let repo = repository(
        &[
            (
                "migrations/1_items.up.sql",
                &format!(
                    "CREATE TABLE items (id int PRIMARY KEY, kind text NOT NULL DEFAULT 'r1', name text);\n\
                     {trigger}\
                     CREATE TRIGGER items_refuse BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION refuse_old();\n"
                ),
            ),
            (
                "migrations/1_items.down.sql",
                "DROP TABLE items;\nDROP FUNCTION refuse_old();\n",
            ),
            (
                "db/queries/items.sql",
                "-- name: Rename :exec\nUPDATE items SET name = $2 WHERE id = $1;\n",
            ),
        ],
        &[
            (
                "migrations/2_relax.up.sql",
                "DROP TRIGGER items_refuse ON items;\n\
                 CREATE TRIGGER items_refuse BEFORE UPDATE ON items FOR EACH ROW WHEN (NEW.kind <> 'r1') EXECUTE FUNCTION refuse_old();\n",
            ),
            (
                "migrations/2_relax.down.sql",
                "DROP TRIGGER items_refuse ON items;\n\
                 CREATE TRIGGER items_refuse BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION refuse_old();\n",
            ),
        ],
    );
    let (output, report) = check(repo.path(), &["--no-lock-analysis"]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(findings(&report), []);
    // A trigger's refusal after the downs depends on the rows as much as on the schema: not
    // judged, with the reason.
    let not_judged = report["compat"]["not_judged"].to_string();
    assert!(
        not_judged.contains("Rename")
            && not_judged.contains("fails in the rollback window on a row it meets"),
        "{not_judged}"
    );
}

/// Two new migrations, the second of which cannot run on rows (a NOT NULL column without a
/// default on the parent table): the rows come after all the ups and the old code is
/// judged once then, each breakage owed to the up that names it, instead of every foreign
/// key write going unjudged on empty tables.
#[test]
fn an_up_that_cannot_run_on_rows_still_leaves_the_writes_judged() {
    let repo = repository(
        KEYS,
        &[
            SCOPE_UP,
            SCOPE_DOWN,
            (
                "migrations/3_age.up.sql",
                "ALTER TABLE owners ADD COLUMN age int NOT NULL;\n",
            ),
            (
                "migrations/3_age.down.sql",
                "ALTER TABLE owners DROP COLUMN age;\n",
            ),
        ],
    );
    let (output, report) = check(repo.path(), &["--no-lock-analysis"]);
    assert_eq!(output.status.code(), Some(1), "{}", common::stderr(&output));
    assert_eq!(
        findings(&report),
        [finding(
            "deploy",
            "write",
            "error",
            "KeyInsert",
            2,
            "2_scope.up.sql",
            2
        )]
    );
    let notes = report["compat"]["notes"].to_string();
    assert!(notes.contains("generated after all the ups"), "{notes}");
    // The new code sends the same INSERT, which fails on its own schema: not judged in the
    // rollback window, and said so.
    assert_eq!(report["compat"]["judged"], 1, "{}", report["compat"]);
    let not_judged = report["compat"]["not_judged"][0]["reason"]
        .as_str()
        .unwrap();
    assert!(not_judged.contains("column \"scope\""), "{not_judged}");
}

/// A query the old code already sends and that fails on the base schema (broken in
/// production today) is no rollback warning when the down brings that schema back: a note.
#[test]
fn a_query_already_broken_on_the_base_schema_is_a_note_after_the_down() {
    let queries =
        format!("{OLD_QUERIES}\n-- name: BySlug :one\nSELECT id FROM posts WHERE slug = $1;\n");
    let repo = project(
        Some(&queries),
        "ALTER TABLE posts ADD COLUMN slug text;\n",
        "ALTER TABLE posts DROP COLUMN slug;\n",
        Some(&queries),
    );
    let (output, report) = check(repo.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    assert_eq!(findings(&report), []);
    let notes = report["compat"]["notes"].to_string();
    assert!(
        notes.contains("rollback: BySlug fails after the down as it fails on the base schema"),
        "{notes}"
    );
}
