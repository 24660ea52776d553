//! The knex preset: migrations written as knex code (`exports.up = knex => ...`, or
//! TypeScript `export async function up(knex: Knex)`) in the directory a `knexfile` names,
//! run through the project's own knex, one `migrate:up <file>` / `migrate:down <file>` at a
//! time, with zero configuration. Facts from knex 3.3 (bin/cli.js, lib/migrations): the CLI
//! finds `knexfile.{js,cjs,mjs,ts}` from its working directory; command-line options win over
//! the knexfile (so `--migrations-directory` pins the directory we listed); migrations run in
//! file-name order, each in its own transaction; the history is `knex_migrations` (`name` is
//! the file name with its extension) with the lock row in `knex_migrations_lock`, or the
//! knexfile's `tableName`; `migrate:up` with nothing pending exits 0, so what ran is read
//! from the history, never inferred from the exit status. A TypeScript knexfile needs a
//! loader: knex's own (ts-node) type-checks every call (3-7 s each), so when the project has
//! `tsx` the CLI runs under `node --import tsx` (0.6 s).

use std::path::{Path, PathBuf};

use super::Migration;
use super::bookkeeping::{Applied, Book, Bookkeeping, by_name, file_name, literal, record};
use super::command::{Preset, Tool, is_code_file, project_with};
use super::{Entry, Evidence, Format, FormatSpec, Found, Listing, Settings, Strength, Version};
use crate::error::InputError;

/// The knex format.
pub const FORMAT: Format = Format::new(&Knex);

/// The file names knex looks for.
const KNEXFILES: [&str; 4] = ["knexfile.ts", "knexfile.js", "knexfile.cjs", "knexfile.mjs"];

/// knex (`knex migrate`).
pub struct Knex;

impl FormatSpec for Knex {
    fn name(&self) -> &'static str {
        "knex"
    }

    fn layout(&self) -> &'static str {
        "knex migrations (`.js`/`.ts` code) next to a `knexfile`, run through knex"
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        let code: Vec<&Entry> = listing
            .top_files()
            .filter(|e| is_code_file(&e.rel))
            .collect();
        let Some(first) = code.first() else {
            return Ok(None);
        };
        let named = listing.project().names("knex").is_some();
        if let Some((project, knexfile)) = project_with(&listing.dir, &KNEXFILES) {
            let strength = if named {
                Strength::Marker
            } else {
                Strength::Naming
            };
            return Ok(Some(Evidence::file(&project.join(knexfile), strength)));
        }
        // Migrations run from the application's code, without a knexfile: knex-shaped files
        // in a project that depends on knex (discovery says what to add).
        let shaped = code
            .iter()
            .filter(|e| e.text().is_ok_and(|t| is_knex_shaped(&t.sql)))
            .count();
        Ok((named && shaped * 2 > code.len())
            .then(|| Evidence::entry(first, Strength::Naming).supported_by(shaped)))
    }

    fn discover(&self, listing: &Listing, settings: &Settings) -> Result<Found, InputError> {
        let tool = tool(&listing.dir, &settings.knex)?;
        let mut migrations = Vec::new();
        let mut ignored = Vec::new();
        for entry in listing.top_files() {
            if is_code_file(&entry.rel) {
                migrations.push(tool.migration(entry, Tool::file_version(&entry.rel))?);
            } else {
                ignored.push(entry.path.clone());
            }
        }
        Ok(Found {
            migrations,
            ignored,
            ..Found::default()
        })
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        is_code_file(rel)
    }

    fn version_of_path(&self, rel: &str, _settings: &Settings) -> Option<Version> {
        is_code_file(rel).then(|| Tool::file_version(rel))
    }

    fn migration_key(&self, rel: &str, _settings: &Settings) -> String {
        rel.to_string()
    }

    fn transaction_rule(&self) -> &'static str {
        "each migration in its own transaction (knex's own)"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        Some("`exports.config = { transaction: false }` in the migration")
    }

    fn bookkeeping(&self) -> Option<Book> {
        Some(&Knex)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(
            format!("{version}_{name}.js"),
            "exports.up = async (knex) => {};\n\nexports.down = async (knex) => {};\n".to_string(),
        )]
    }
}

/// How the project's knex is run: under tsx for a TypeScript project that has it, else its
/// own bin; always from the knexfile's directory with our migrations directory pinned, in the
/// knexfile environment `[knex] environment` names (else knex's own: `NODE_ENV`, else
/// `development`), seeing `NODE_ENV` and the variables `[knex] env` lists.
fn tool(dir: &Path, preset: &Preset) -> Result<Tool, InputError> {
    let Some((project, knexfile)) = project_with(dir, &KNEXFILES) else {
        let directory = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let home =
            project_with(dir, &["package.json"]).map_or(directory.clone(), |(project, _)| project);
        let relative = directory
            .strip_prefix(&home)
            .map_or(directory.display().to_string(), |p| p.display().to_string());
        return Err(InputError::new(
            dir,
            format!(
                "knex migrations without a knexfile (the application runs them from its code): \
                 knex's command line, which migration-check runs them with, needs one. Add \
                 {} with:\n\n\
                 module.exports = {{\n  client: 'pg',\n  connection: process.env.DATABASE_URL,\n  \
                 migrations: {{ directory: '{relative}' }},\n}};\n\n\
                 (migration-check gives the throwaway database as DATABASE_URL), or describe \
                 the commands in `[command]` with format = \"command\"",
                home.join("knexfile.js").display()
            ),
        ));
    };
    let typescript = knexfile.ends_with(".ts");
    let modules = project.join("node_modules");
    let base: Vec<String> = if typescript && modules.join("tsx").is_dir() {
        vec![
            "node".into(),
            "--import".into(),
            "tsx".into(),
            modules.join("knex/bin/cli.js").display().to_string(),
        ]
    } else {
        vec![modules.join(".bin/knex").display().to_string()]
    };
    let directory = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let with = |command: &str, base: &[String]| -> Vec<String> {
        let mut argv = base.to_vec();
        argv.extend([
            command.to_string(),
            "{file}".to_string(),
            "--migrations-directory".to_string(),
            directory.display().to_string(),
        ]);
        if let Some(environment) = &preset.environment {
            argv.extend(["--env".to_string(), environment.clone()]);
        }
        argv
    };
    let table = table_name(&project.join(&knexfile)).unwrap_or_else(|| TABLE.into());
    Ok(Tool {
        up: with("migrate:up", &base),
        down: Some(with("migrate:down", &base)),
        up_to: Some(with("migrate:to", &base)),
        workdir: PathBuf::from(&project),
        pass_env: std::iter::once("NODE_ENV".to_string())
            .chain(preset.env.iter().cloned())
            .collect(),
        bookkeeping: vec![table.clone(), format!("{table}_lock")],
        wrong_database_hint: Some(format!(
            "knex took its connection from the {knexfile}'s `{}` environment; set `[knex] \
             environment` in migration-check.toml to the one whose connection reads \
             DATABASE_URL (and `[knex] env` to the variables it needs)",
            preset.environment.as_deref().unwrap_or("development")
        )),
        identity: None,
    })
}

/// Whether a migration file is knex's: it exports `up` and speaks to a `knex` object.
fn is_knex_shaped(code: &str) -> bool {
    (code.contains("exports.up") || code.contains("function up") || code.contains("up ="))
        && code.contains("knex")
}

/// The knexfile's `tableName`, when it is written as a plain string.
fn table_name(knexfile: &Path) -> Option<String> {
    let text = std::fs::read_to_string(knexfile).ok()?;
    let at = text.find("tableName")?;
    let rest = text[at + "tableName".len()..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let quote = rest
        .chars()
        .next()
        .filter(|c| matches!(c, '\'' | '"' | '`'))?;
    let value = &rest[1..];
    let end = value.find(quote)?;
    Some(value[..end].to_string())
}

// knex's `knex_migrations` (knex 3, `lib/migrations/migrate`): the file name with its
// extension, the batch and the time, and `knex_migrations_lock`, the row knex sets to 1
// while it runs. knex migrations are code: knex itself runs each one (`migrate:up
// <file>`), takes its lock row and books it, so migration-check only reads the table; the
// tables are created as knex creates them, for a database knex has not seen yet. No
// checksum.

/// knex's history table.
pub const TABLE: &str = "knex_migrations";

impl Bookkeeping for Knex {
    fn tool(&self) -> &'static str {
        "knex"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn columns(&self) -> &'static [&'static str] {
        &["id", "name", "batch", "migration_time"]
    }

    fn create_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (id serial PRIMARY KEY, name varchar(255), \
             batch integer, migration_time timestamptz);
         CREATE TABLE IF NOT EXISTS {TABLE}_lock (index serial PRIMARY KEY, is_locked integer);
         INSERT INTO {TABLE}_lock (is_locked)
         SELECT 0 WHERE NOT EXISTS (SELECT FROM {TABLE}_lock);"
        )
    }

    fn read_sql(&self) -> String {
        format!(
            "SELECT name, name, NULL::text, migration_time::text, NULL::bigint,
                'batch ' || batch, true
         FROM {TABLE} ORDER BY id"
        )
    }

    fn interpret(&self, rows: Vec<Applied>, migrations: &[Migration]) -> Vec<Applied> {
        by_name(rows, migrations, file_name)
    }

    /// What knex writes itself, should a knex migration ever run as SQL: a new batch.
    fn record_sql(&self, migrations: &[Migration], index: usize, up: bool) -> String {
        let name = literal(&file_name(&migrations[index]));
        record(&if up {
            format!(
                "INSERT INTO {TABLE} (name, batch, migration_time) \
                 SELECT {name}, coalesce(max(batch), 0) + 1, now() FROM {TABLE};"
            )
        } else {
            format!("DELETE FROM {TABLE} WHERE name = {name};")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{discover, tempdir, write};
    use super::*;

    #[test]
    fn a_knex_project_is_recognised_and_run_through_its_knex() {
        let t = tempdir();
        write(
            t.path(),
            "package.json",
            "{\"dependencies\": {\"knex\": \"^3\"}}",
        );
        write(
            t.path(),
            "knexfile.js",
            "module.exports = { client: 'pg', migrations: { tableName: 'schema_history' } };",
        );
        let dir = t.path().join("migrations");
        write(&dir, "20240101_b.js", "exports.up = async () => {};");
        write(&dir, "20231231_a.js", "exports.up = async () => {};");
        write(&dir, "README.md", "notes");
        let d = discover(&dir, None).unwrap();
        assert_eq!(d.format(), FORMAT);
        let files: Vec<&str> = d
            .migrations
            .iter()
            .map(|m| m.version.text.as_str())
            .collect();
        assert_eq!(files, ["20231231", "20240101"]);
        let step = d.migrations[0].up.step.as_ref().unwrap();
        assert!(
            step.argv[0].ends_with("node_modules/.bin/knex"),
            "{:?}",
            step.argv
        );
        assert_eq!(step.argv[1..3], ["migrate:up", "20231231_a.js"]);
        assert_eq!(step.bookkeeping, ["schema_history", "schema_history_lock"]);
        assert_eq!(d.ignored.len(), 1);
    }

    /// `[knex] environment` picks the knexfile environment, `[knex] env` the variables the
    /// tool sees; a tool connected elsewhere is told which setting to change.
    #[test]
    fn the_preset_takes_an_environment_and_variables() {
        let t = tempdir();
        write(t.path(), "knexfile.js", "module.exports = {};");
        let dir = t.path().join("migrations");
        write(&dir, "1_a.js", "exports.up = async () => {};");
        let settings = std::sync::Arc::new(super::super::Settings {
            knex: Preset {
                environment: Some("production".into()),
                env: vec!["SEED_ADMIN".into()],
            },
            ..Default::default()
        });
        let d = crate::migrations::discover(&dir, Some(FORMAT), &settings).unwrap();
        let step = d.migrations[0].up.step.as_ref().unwrap();
        assert_eq!(step.argv[step.argv.len() - 2..], ["--env", "production"]);
        assert_eq!(step.pass_env, ["NODE_ENV", "SEED_ADMIN"]);
        assert!(
            step.wrong_database_hint
                .as_deref()
                .unwrap()
                .contains("`production` environment; set `[knex] environment`")
        );
    }

    #[test]
    fn typescript_runs_under_tsx_when_the_project_has_it() {
        let t = tempdir();
        write(t.path(), "knexfile.ts", "export default {};");
        write(t.path(), "node_modules/tsx/package.json", "{}");
        let dir = t.path().join("migrations");
        write(&dir, "1_a.ts", "export async function up() {}");
        let d = discover(&dir, Some(FORMAT)).unwrap();
        let step = d.migrations[0]
            .down
            .as_ref()
            .unwrap()
            .step
            .as_ref()
            .unwrap();
        assert_eq!(step.argv[..3], ["node", "--import", "tsx"]);
        assert!(step.argv[3].ends_with("node_modules/knex/bin/cli.js"));
        assert_eq!(step.argv[4..6], ["migrate:down", "1_a.ts"]);
        assert_eq!(
            step.bookkeeping,
            ["knex_migrations", "knex_migrations_lock"]
        );
    }

    /// A knex project that runs its migrations from code, without a knexfile, is found and
    /// told the knexfile to add, with its migrations directory.
    #[test]
    fn without_a_knexfile_it_says_what_to_add() {
        let t = tempdir();
        write(
            t.path(),
            "package.json",
            "{\"dependencies\": {\"knex\": \"0.21.7\"}}",
        );
        let dir = t.path().join("server/db/migrations");
        write(
            &dir,
            "2.0.0.js",
            "exports.up = knex => knex.schema.createTable('a', t => {});",
        );
        write(&dir, "2.1.0.js", "exports.up = async knex => {};");
        let err = discover(&dir, None).unwrap_err();
        assert!(
            err.message.contains("knex migrations without a knexfile"),
            "{err}"
        );
        assert!(
            err.message.contains("directory: 'server/db/migrations'"),
            "{err}"
        );
        assert!(
            err.message
                .contains(&t.path().join("knexfile.js").display().to_string())
        );
        // Without knex in the project, code files are no knex migrations.
        write(t.path(), "package.json", "{}");
        assert!(
            discover(&dir, None)
                .unwrap_err()
                .message
                .contains("no migrations found")
        );
    }
}
