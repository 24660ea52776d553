//! The snapshot's oracle: for many pairs of databases built from DDL, the
//! verdict of `migration-check diff` must equal whether `pg_dump --schema-only`
//! of the two differs (ignoring comment lines, SET lines and the
//! \restrict/\unrestrict lines of newer pg_dump). A disagreement is a snapshot
//! bug: either we miss something pg_dump shows, or we see something it does not.

mod common;

use std::path::Path;
use std::process::Command;

use migration_check::postgres::embedded::{EmbeddedOptions, EmbeddedServer};

/// (name, DDL of database A, DDL of database B). Every coverage item of
/// DESIGN.md's "Snapshot coverage" and every equivalence case appears.
const PAIRS: &[(&str, &str, &str)] = &[
    // ---- equivalences: the same catalog state written differently ----
    (
        "int4 is integer",
        "CREATE TABLE t (a int4);",
        "CREATE TABLE t (a integer);",
    ),
    (
        "varchar spelling",
        "CREATE TABLE t (a varchar(10));",
        "CREATE TABLE t (a character varying(10));",
    ),
    (
        "timestamp spelling",
        "CREATE TABLE t (a timestamp);",
        "CREATE TABLE t (a timestamp without time zone);",
    ),
    (
        "inline vs added primary key",
        "CREATE TABLE t (id int CONSTRAINT t_pkey PRIMARY KEY);",
        "CREATE TABLE t (id int NOT NULL); ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY (id);",
    ),
    (
        "inline vs added check",
        "CREATE TABLE t (a int, CONSTRAINT pos CHECK (a > 0));",
        "CREATE TABLE t (a int); ALTER TABLE t ADD CONSTRAINT pos CHECK (a > 0);",
    ),
    (
        "inline vs added foreign key",
        "CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (p int CONSTRAINT c_p_fkey REFERENCES p);",
        "CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (p int); ALTER TABLE c ADD CONSTRAINT c_p_fkey FOREIGN KEY (p) REFERENCES p (id);",
    ),
    (
        "dropped column leaves nothing",
        "CREATE TABLE t (a int, b int); ALTER TABLE t DROP COLUMN a;",
        "CREATE TABLE t (b int);",
    ),
    (
        "index dropped and recreated",
        "CREATE TABLE t (a int); CREATE INDEX i ON t (a); DROP INDEX i; CREATE INDEX i ON t (a);",
        "CREATE TABLE t (a int); CREATE INDEX i ON t (a);",
    ),
    (
        "function dropped and recreated",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'; DROP FUNCTION f(); CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
    ),
    (
        "serial vs explicit sequence",
        "CREATE TABLE t (id serial);",
        "CREATE SEQUENCE t_id_seq AS integer; CREATE TABLE t (id integer NOT NULL DEFAULT nextval('t_id_seq')); ALTER SEQUENCE t_id_seq OWNED BY t.id;",
    ),
    (
        "renamed table",
        "CREATE TABLE x (a int); ALTER TABLE x RENAME TO t;",
        "CREATE TABLE t (a int);",
    ),
    (
        "view replaced with the same",
        "CREATE VIEW v AS SELECT 1 AS a; CREATE OR REPLACE VIEW v AS SELECT 1 AS a;",
        "CREATE VIEW v AS SELECT 1 AS a;",
    ),
    (
        "grant then revoke",
        "CREATE TABLE t (a int); GRANT SELECT ON t TO oracle_reader; REVOKE SELECT ON t FROM oracle_reader;",
        "CREATE TABLE t (a int);",
    ),
    (
        "comment set then removed",
        "CREATE TABLE t (a int); COMMENT ON TABLE t IS 'x'; COMMENT ON TABLE t IS NULL;",
        "CREATE TABLE t (a int);",
    ),
    (
        "enum built by ADD VALUE",
        "CREATE TYPE e AS ENUM ('a'); ALTER TYPE e ADD VALUE 'b';",
        "CREATE TYPE e AS ENUM ('a', 'b');",
    ),
    (
        "identical schemas",
        "CREATE SCHEMA s; CREATE TABLE s.t (a int);",
        "CREATE SCHEMA s; CREATE TABLE s.t (a int);",
    ),
    // ---- differences: every coverage item ----
    (
        "default spelled differently",
        "CREATE TABLE t (a timestamptz DEFAULT now());",
        "CREATE TABLE t (a timestamptz DEFAULT CURRENT_TIMESTAMP);",
    ),
    ("schema", "", "CREATE SCHEMA s;"),
    (
        "schema owner",
        "CREATE SCHEMA s;",
        "CREATE SCHEMA s AUTHORIZATION oracle_reader;",
    ),
    ("extension", "", "CREATE EXTENSION citext;"),
    (
        "extension schema",
        "CREATE EXTENSION citext;",
        "CREATE SCHEMA ext; CREATE EXTENSION citext SCHEMA ext;",
    ),
    (
        "enum labels",
        "CREATE TYPE e AS ENUM ('a', 'b');",
        "CREATE TYPE e AS ENUM ('a', 'b', 'c');",
    ),
    (
        "enum order",
        "CREATE TYPE e AS ENUM ('a', 'b');",
        "CREATE TYPE e AS ENUM ('b', 'a');",
    ),
    (
        "domain",
        "CREATE DOMAIN d AS int;",
        "CREATE DOMAIN d AS int CHECK (VALUE > 0);",
    ),
    (
        "composite type",
        "CREATE TYPE c AS (a int);",
        "CREATE TYPE c AS (a int, b text);",
    ),
    (
        "range type",
        "CREATE TYPE r AS RANGE (subtype = int4);",
        "CREATE TYPE r AS RANGE (subtype = int8);",
    ),
    (
        "extra table",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int); CREATE TABLE u (a int);",
    ),
    (
        "column order",
        "CREATE TABLE t (a int, b int);",
        "CREATE TABLE t (b int, a int);",
    ),
    (
        "column type",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a bigint);",
    ),
    (
        "not null",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int NOT NULL);",
    ),
    (
        "column default",
        "CREATE TABLE t (a int DEFAULT 1);",
        "CREATE TABLE t (a int DEFAULT 2);",
    ),
    (
        "identity",
        "CREATE TABLE t (a int GENERATED ALWAYS AS IDENTITY);",
        "CREATE TABLE t (a int GENERATED BY DEFAULT AS IDENTITY);",
    ),
    (
        "identity options",
        "CREATE TABLE t (a int GENERATED ALWAYS AS IDENTITY);",
        "CREATE TABLE t (a int GENERATED ALWAYS AS IDENTITY (START WITH 100));",
    ),
    (
        "generated column",
        "CREATE TABLE t (a int, b int GENERATED ALWAYS AS (a * 2) STORED);",
        "CREATE TABLE t (a int, b int GENERATED ALWAYS AS (a * 3) STORED);",
    ),
    (
        "column collation",
        "CREATE TABLE t (a text);",
        "CREATE TABLE t (a text COLLATE \"C\");",
    ),
    (
        "collation object",
        "",
        "CREATE COLLATION mycoll (provider = libc, locale = 'C');",
    ),
    (
        "column storage",
        "CREATE TABLE t (a text);",
        "CREATE TABLE t (a text); ALTER TABLE t ALTER COLUMN a SET STORAGE EXTERNAL;",
    ),
    (
        "statistics target",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int); ALTER TABLE t ALTER COLUMN a SET STATISTICS 500;",
    ),
    (
        "replica identity",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int); ALTER TABLE t REPLICA IDENTITY FULL;",
    ),
    (
        "clustered index",
        "CREATE TABLE t (a int); CREATE INDEX i ON t (a);",
        "CREATE TABLE t (a int); CREATE INDEX i ON t (a); ALTER TABLE t CLUSTER ON i;",
    ),
    (
        "reloptions",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int) WITH (fillfactor = 70);",
    ),
    (
        "unlogged",
        "CREATE TABLE t (a int);",
        "CREATE UNLOGGED TABLE t (a int);",
    ),
    (
        "inheritance",
        "CREATE TABLE p (a int); CREATE TABLE c (a int);",
        "CREATE TABLE p (a int); CREATE TABLE c () INHERITS (p);",
    ),
    (
        "partition key",
        "CREATE TABLE t (a int) PARTITION BY RANGE (a);",
        "CREATE TABLE t (a int) PARTITION BY LIST (a);",
    ),
    (
        "partition bounds",
        "CREATE TABLE t (a int) PARTITION BY RANGE (a); CREATE TABLE t1 PARTITION OF t FOR VALUES FROM (0) TO (10);",
        "CREATE TABLE t (a int) PARTITION BY RANGE (a); CREATE TABLE t1 PARTITION OF t FOR VALUES FROM (0) TO (20);",
    ),
    (
        "check expression",
        "CREATE TABLE t (a int CONSTRAINT c CHECK (a > 0));",
        "CREATE TABLE t (a int CONSTRAINT c CHECK (a >= 0));",
    ),
    (
        "exclusion constraint",
        "CREATE TABLE t (r int4range);",
        "CREATE TABLE t (r int4range, EXCLUDE USING gist (r WITH &&));",
    ),
    (
        "not valid constraint",
        "CREATE TABLE t (a int); ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);",
        "CREATE TABLE t (a int); ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;",
    ),
    (
        "deferrable constraint",
        "CREATE TABLE t (a int UNIQUE);",
        "CREATE TABLE t (a int UNIQUE DEFERRABLE INITIALLY DEFERRED);",
    ),
    (
        "extra index",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int); CREATE INDEX i ON t (lower(a::text));",
    ),
    (
        "index method",
        "CREATE TABLE t (a int); CREATE INDEX i ON t (a);",
        "CREATE TABLE t (a int); CREATE INDEX i ON t USING hash (a);",
    ),
    (
        "partial index",
        "CREATE TABLE t (a int); CREATE INDEX i ON t (a);",
        "CREATE TABLE t (a int); CREATE INDEX i ON t (a) WHERE a > 0;",
    ),
    (
        "view definition",
        "CREATE VIEW v AS SELECT 1 AS a;",
        "CREATE VIEW v AS SELECT 2 AS a;",
    ),
    (
        "materialized view",
        "CREATE VIEW v AS SELECT 1 AS a;",
        "CREATE MATERIALIZED VIEW v AS SELECT 1 AS a;",
    ),
    (
        "sequence parameters",
        "CREATE SEQUENCE s;",
        "CREATE SEQUENCE s INCREMENT BY 5;",
    ),
    (
        "sequence ownership",
        "CREATE TABLE t (a int); CREATE SEQUENCE s;",
        "CREATE TABLE t (a int); CREATE SEQUENCE s OWNED BY t.a;",
    ),
    (
        "function body",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 2';",
    ),
    (
        "function volatility",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';",
    ),
    (
        "function security definer",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';",
    ),
    (
        "function SET option",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = public AS 'SELECT 1';",
    ),
    (
        "function strictness",
        "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'SELECT $1';",
        "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql STRICT AS 'SELECT $1';",
    ),
    (
        "function parallel safety",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql PARALLEL SAFE AS 'SELECT 1';",
    ),
    (
        "procedure",
        "",
        "CREATE PROCEDURE p() LANGUAGE sql AS 'SELECT 1';",
    ),
    (
        "aggregate",
        "",
        "CREATE AGGREGATE mysum(int) (sfunc = int4pl, stype = int);",
    ),
    (
        "trigger",
        "CREATE TABLE t (a int); CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';",
        "CREATE TABLE t (a int); CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();",
    ),
    (
        "trigger disabled",
        "CREATE TABLE t (a int); CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();",
        "CREATE TABLE t (a int); CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f(); ALTER TABLE t DISABLE TRIGGER tr;",
    ),
    (
        "event trigger",
        "CREATE FUNCTION ef() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END';",
        "CREATE FUNCTION ef() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END'; CREATE EVENT TRIGGER et ON ddl_command_start EXECUTE FUNCTION ef();",
    ),
    (
        "row level security",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int); ALTER TABLE t ENABLE ROW LEVEL SECURITY;",
    ),
    (
        "forced row level security",
        "CREATE TABLE t (a int); ALTER TABLE t ENABLE ROW LEVEL SECURITY;",
        "CREATE TABLE t (a int); ALTER TABLE t ENABLE ROW LEVEL SECURITY; ALTER TABLE t FORCE ROW LEVEL SECURITY;",
    ),
    (
        "policy",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int); CREATE POLICY p ON t USING (a > 0);",
    ),
    (
        "publication",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int); CREATE PUBLICATION pub FOR TABLE t;",
    ),
    (
        "text search configuration",
        "",
        "CREATE TEXT SEARCH CONFIGURATION mycfg (COPY = english);",
    ),
    (
        "cast",
        "CREATE TYPE c AS (a int); CREATE FUNCTION c_to_int(c) RETURNS int LANGUAGE sql AS 'SELECT $1.a';",
        "CREATE TYPE c AS (a int); CREATE FUNCTION c_to_int(c) RETURNS int LANGUAGE sql AS 'SELECT $1.a'; CREATE CAST (c AS int) WITH FUNCTION c_to_int(c);",
    ),
    (
        "operator",
        "CREATE FUNCTION addone(int, int) RETURNS int LANGUAGE sql AS 'SELECT $1 + $2 + 1';",
        "CREATE FUNCTION addone(int, int) RETURNS int LANGUAGE sql AS 'SELECT $1 + $2 + 1'; CREATE OPERATOR <~> (leftarg = int, rightarg = int, function = addone);",
    ),
    (
        "default privileges",
        "",
        "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO oracle_reader;",
    ),
    (
        "table privilege",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int); GRANT SELECT ON t TO oracle_reader;",
    ),
    (
        "column privilege",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int); GRANT SELECT (a) ON t TO oracle_reader;",
    ),
    (
        "function privilege",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'; REVOKE EXECUTE ON FUNCTION f() FROM PUBLIC;",
    ),
    (
        "owner",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int); ALTER TABLE t OWNER TO oracle_reader;",
    ),
    (
        "comment on table",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int); COMMENT ON TABLE t IS 'x';",
    ),
    (
        "comment on column",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int); COMMENT ON COLUMN t.a IS 'x';",
    ),
    (
        "comment on index",
        "CREATE TABLE t (a int); CREATE INDEX i ON t (a);",
        "CREATE TABLE t (a int); CREATE INDEX i ON t (a); COMMENT ON INDEX i IS 'x';",
    ),
    (
        "comment on function",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'; COMMENT ON FUNCTION f() IS 'x';",
    ),
    (
        "comment on constraint",
        "CREATE TABLE t (a int CONSTRAINT c CHECK (a > 0));",
        "CREATE TABLE t (a int CONSTRAINT c CHECK (a > 0)); COMMENT ON CONSTRAINT c ON t IS 'x';",
    ),
    (
        "comment on schema",
        "CREATE SCHEMA s;",
        "CREATE SCHEMA s; COMMENT ON SCHEMA s IS 'x';",
    ),
    (
        "comment on type",
        "CREATE TYPE e AS ENUM ('a');",
        "CREATE TYPE e AS ENUM ('a'); COMMENT ON TYPE e IS 'x';",
    ),
    (
        "comment on trigger",
        "CREATE TABLE t (a int); CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();",
        "CREATE TABLE t (a int); CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f(); COMMENT ON TRIGGER tr ON t IS 'x';",
    ),
    (
        "comment on sequence",
        "CREATE SEQUENCE s;",
        "CREATE SEQUENCE s; COMMENT ON SEQUENCE s IS 'x';",
    ),
    (
        "rule",
        "CREATE TABLE t (a int);",
        "CREATE TABLE t (a int); CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING;",
    ),
    (
        "extended statistics",
        "CREATE TABLE t (a int, b int);",
        "CREATE TABLE t (a int, b int); CREATE STATISTICS st ON a, b FROM t;",
    ),
];

fn pg_dump_schema(server: &EmbeddedServer, database: &str) -> String {
    let socket = server.path().join("socket");
    let output = Command::new(server.bin_dir().join("pg_dump"))
        .args(["--schema-only", "--no-password", "-U", "postgres", "-h"])
        .arg(&socket)
        .arg(database)
        .output()
        .expect("pg_dump");
    assert!(
        output.status.success(),
        "pg_dump {database}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| {
            // Top-level SET statements only: a function's `SET search_path`
            // option is indented and part of its definition.
            !(line.trim().is_empty()
                || line.starts_with("--")
                || line.starts_with("SET ")
                || line.starts_with("\\restrict")
                || line.starts_with("\\unrestrict"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn psql(server: &EmbeddedServer, database: &str, sql: &str) {
    let output = Command::new(server.bin_dir().join("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-h"])
        .arg(server.path().join("socket"))
        .args(["-d", database, "-c", sql])
        .output()
        .expect("psql");
    assert!(
        output.status.success(),
        "psql {database}: {sql}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn connection_string(server: &EmbeddedServer, database: &str) -> String {
    format!(
        "host={} port=5432 user=postgres dbname={database}",
        server.path().join("socket").display()
    )
}

#[tokio::test(flavor = "current_thread")]
async fn diff_agrees_with_pg_dump_on_every_pair() {
    assert!(
        PAIRS.len() >= 50,
        "the oracle needs at least 50 pairs, has {}",
        PAIRS.len()
    );
    let server = EmbeddedServer::start(&EmbeddedOptions::default())
        .await
        .expect("embedded PostgreSQL");
    psql(&server, "postgres", "CREATE ROLE oracle_reader");
    let mut disagreements = Vec::new();
    let mut differing = 0;
    for (index, (name, left, right)) in PAIRS.iter().enumerate() {
        let (a, b) = (format!("oracle_{index}_a"), format!("oracle_{index}_b"));
        for (database, ddl) in [(&a, left), (&b, right)] {
            psql(&server, "postgres", &format!("CREATE DATABASE {database}"));
            if !ddl.is_empty() {
                psql(&server, database, ddl);
            }
        }
        let dumps_differ = pg_dump_schema(&server, &a) != pg_dump_schema(&server, &b);
        differing += usize::from(dumps_differ);
        let output = Command::new(common::binary())
            .args([
                "diff",
                &connection_string(&server, &a),
                &connection_string(&server, &b),
            ])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let ours = match output.status.code() {
            Some(0) => false,
            Some(1) => true,
            other => panic!(
                "{name}: diff exited {other:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
        };
        if ours != dumps_differ {
            disagreements.push(format!(
                "{name}: pg_dump says {}, diff says {}\n{}",
                if dumps_differ { "different" } else { "equal" },
                if ours { "different" } else { "equal" },
                String::from_utf8_lossy(&output.stdout)
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s) with pg_dump:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(
        differing >= 40 && differing < PAIRS.len(),
        "pairs cover both verdicts ({differing} differ)"
    );
    let _ = Path::new("");
}
