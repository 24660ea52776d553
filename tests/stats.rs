//! Issue #28, first part: `stats export` on a populated cluster, read-only, its file format
//! refused when it is another version, an unreachable database with the password masked.

mod common;

use std::process::Command;

use migration_check::postgres::embedded::{EmbeddedOptions, EmbeddedServer};

/// A populated, analysed database `shop` on an embedded cluster, and its URL.
async fn shop() -> (EmbeddedServer, String) {
    let server = EmbeddedServer::start(&EmbeddedOptions::default())
        .await
        .expect("embedded PostgreSQL");
    let admin = common::connect(server.config("postgres")).await;
    admin.batch_execute("CREATE DATABASE shop").await.unwrap();
    let shop = common::connect(server.config("shop")).await;
    shop.batch_execute(
        "CREATE TABLE customers (id int PRIMARY KEY, email text, country text);\n\
         INSERT INTO customers SELECT g, CASE WHEN g % 4 = 0 THEN NULL ELSE 'c' || g || '@example.com' END, \
           (ARRAY['de', 'fr', 'us'])[1 + g % 3] FROM generate_series(1, 10000) g;\n\
         CREATE INDEX customers_country_idx ON customers (country);\n\
         ANALYZE customers;",
    )
    .await
    .unwrap();
    let url = format!(
        "host={} port=5432 user=postgres dbname=shop",
        server.path().join("socket").display()
    );
    (server, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_export_reads_sizes_and_column_statistics_without_values() {
    let (_server, url) = shop().await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("stats.json");
    let output = Command::new(common::binary())
        .args(["stats", "export", "--database", &url, "--output"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let text = std::fs::read_to_string(&out).unwrap();
    let stats = migration_check::analysis::stats::parse(&text).unwrap();
    assert_eq!(stats.version, 1);
    let customers = &stats.tables[0];
    assert_eq!(
        (customers.schema.as_str(), customers.name.as_str()),
        ("public", "customers")
    );
    assert_eq!(customers.reltuples, 10000.0);
    assert!(customers.heap_bytes > 0 && customers.index_bytes > 0);
    let email = customers
        .columns
        .iter()
        .find(|c| c.name == "email")
        .unwrap();
    assert!((email.null_frac.unwrap() - 0.25).abs() < 0.05, "{email:?}");
    let country = customers
        .columns
        .iter()
        .find(|c| c.name == "country")
        .unwrap();
    assert_eq!(country.n_distinct, Some(3.0));
    assert!(
        !text.contains("@example.com"),
        "no row values without --with-values"
    );
    assert_eq!(customers.indexes.len(), 2);
    // With --with-values, the most common values (data, and said so).
    let output = Command::new(common::binary())
        .args(["stats", "export", "--database", &url, "--with-values"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let stats =
        migration_check::analysis::stats::parse(&String::from_utf8(output.stdout.clone()).unwrap())
            .unwrap();
    let country = stats.tables[0]
        .columns
        .iter()
        .find(|c| c.name == "country")
        .unwrap();
    let mut values = country.most_common_vals.clone().unwrap();
    values.sort();
    assert_eq!(values, ["de", "fr", "us"]);
    assert!(common::stderr(&output).contains("most common values"));
}

/// The export's session is read-only: the export writes nothing, whatever the role may do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_session_refuses_to_write() {
    let (server, _url) = shop().await;
    let client = common::connect(server.config("shop")).await;
    migration_check::analysis::stats::export(&client, false)
        .await
        .unwrap();
    let error = client
        .batch_execute("CREATE TABLE intruder (id int)")
        .await
        .unwrap_err();
    assert_eq!(
        error.as_db_error().unwrap().code().code(),
        "25006",
        "read_only_sql_transaction: {error}"
    );
}

#[test]
fn an_unreachable_database_is_exit_3_with_the_password_masked() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new(common::binary())
        .args(["stats", "export", "--database"])
        .arg(format!(
            "postgres://reader:Stat5Secret@127.0.0.1:{port}/shop"
        ))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", common::stderr(&output));
    let text = common::stderr(&output);
    assert!(!text.contains("Stat5Secret"), "{text}");
    assert!(
        text.contains(&format!("reader@127.0.0.1:{port}/shop")),
        "{text}"
    );
}
