//! The TypeORM preset: migrations written as TypeORM classes (`export class Init1693891895163
//! implements MigrationInterface { async up(queryRunner) … }`) run through the project's own
//! TypeORM command line against its data source. Facts from TypeORM 0.3 (`src/commands/
//! MigrationRunCommand.ts`, `src/migration/MigrationExecutor.ts`): the migrations are the
//! classes the data source lists, ordered by the 13-digit timestamp that ends each class
//! name; the history is the `migrations` table (`id`, `timestamp`, `name`: the class name);
//! `migration:run` applies every pending migration (`--transaction each`: each in its own
//! transaction), `migration:revert` reverts the last one. TypeORM has no "up to this one":
//! verification applies the next migration with `migration:run`, which is exactly one step
//! only while it is the only pending one, and the step's history check says so when not.
//! The data source is `[typeorm] data_source`, else the one file of the project whose name
//! says it is one (`data-source.ts`, `DataSource.ts`, `datasource.js` …).

use std::path::{Path, PathBuf};

use super::command::{Tool, is_code_file, project_with};
use super::{Entry, Evidence, Format, FormatSpec, Found, Listing, Strength, Version};
use crate::error::InputError;

/// The TypeORM format.
pub const FORMAT: Format = Format::new(&Typeorm);

/// TypeORM's history table (its `migrationsTableName` default).
pub const TABLE: &str = "migrations";

/// How deep below the project's directory a data source file is looked for.
const DATA_SOURCE_DEPTH: usize = 5;

/// `[typeorm]` in migration-check.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The data source file the command line loads (`-d`), relative to the project's
    /// directory (the one holding package.json).
    pub data_source: Option<PathBuf>,
    /// Names of our environment variables the tool may see (none other is passed).
    #[serde(default)]
    pub env: Vec<String>,
}

/// TypeORM (`typeorm migration:run`).
pub struct Typeorm;

impl FormatSpec for Typeorm {
    fn name(&self) -> &'static str {
        "typeorm"
    }

    fn layout(&self) -> &'static str {
        "TypeORM migration classes (`implements MigrationInterface`), run through its data source"
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &super::Settings,
    ) -> Result<Option<Evidence>, InputError> {
        let shaped: Vec<&Entry> = listing
            .top_files()
            .filter(|e| is_code_file(&e.rel))
            .filter(|e| e.text().is_ok_and(|t| t.sql.contains("MigrationInterface")))
            .collect();
        let Some(first) = shaped.first() else {
            return Ok(None);
        };
        let strength = if listing.project().names("typeorm").is_some() {
            Strength::Marker
        } else {
            Strength::Naming
        };
        Ok(Some(
            Evidence::entry(first, strength).supported_by(shaped.len()),
        ))
    }

    fn discover(&self, listing: &Listing, settings: &super::Settings) -> Result<Found, InputError> {
        let tool = tool(&listing.dir, &settings.typeorm)?;
        let mut found = Found::default();
        for entry in listing.top_entries() {
            if !entry.is_dir && is_code_file(&entry.rel) {
                let text = &entry.text()?.sql;
                let Some(class) = class_name(text) else {
                    found.ignored.push(entry.path.clone());
                    continue;
                };
                found
                    .migrations
                    .push(tool.migration(entry, version_of(&class, &entry.rel))?);
            } else {
                found.ignored.push(entry.path.clone());
            }
        }
        Ok(found)
    }

    fn is_migration_path(&self, rel: &str, _settings: &super::Settings) -> bool {
        is_code_file(rel)
    }

    fn version_of_path(&self, rel: &str, _settings: &super::Settings) -> Option<Version> {
        is_code_file(rel).then(|| Tool::file_version(rel))
    }

    fn migration_key(&self, rel: &str, _settings: &super::Settings) -> String {
        rel.to_string()
    }

    fn transaction_rule(&self) -> &'static str {
        "each migration in its own transaction (`migration:run --transaction each`)"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        Some("`transaction = false` on the migration class")
    }

    fn history_table(&self) -> Option<&'static str> {
        Some(TABLE)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(
            format!("{version}-{name}.ts"),
            format!(
                "import {{ MigrationInterface, QueryRunner }} from 'typeorm';\n\n\
                 export class {name}{version} implements MigrationInterface {{\n  \
                 public async up(queryRunner: QueryRunner): Promise<void> {{}}\n\n  \
                 public async down(queryRunner: QueryRunner): Promise<void> {{}}\n}}\n"
            ),
        )]
    }
}

/// The migration class a file exports: what TypeORM records as its name.
fn class_name(code: &str) -> Option<String> {
    code.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("export ")?;
        let rest = rest.strip_prefix("default ").unwrap_or(rest);
        let rest = rest.strip_prefix("class ")?;
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
            .collect();
        (!name.is_empty() && line.contains("MigrationInterface")).then_some(name)
    })
}

/// The version of a class: the 13-digit timestamp TypeORM reads from its name's end, shown as
/// the file's version, ordered by that timestamp.
fn version_of(class: &str, rel: &str) -> Version {
    let digits = class.len() - class.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let timestamp = &class[class.len() - digits.min(13)..];
    let shown = Tool::file_version(rel);
    Version::with_key(
        &shown.text,
        vec![
            super::KeyPart::digits(timestamp),
            super::KeyPart::text(class),
        ],
    )
}

/// How the project's TypeORM runs the migrations: its command line (under ts-node for a
/// TypeScript data source, as TypeORM documents), from the directory of its package.json.
fn tool(dir: &Path, settings: &Settings) -> Result<Tool, InputError> {
    let Some((project, _)) = project_with(dir, &["package.json"]) else {
        return Err(InputError::new(
            dir,
            "TypeORM migrations, but no package.json in the migrations directory or the five \
             above: migration-check runs them through the project's own TypeORM",
        ));
    };
    let data_source = match &settings.data_source {
        Some(path) => project.join(path),
        None => find_data_source(&project).map_err(|found| {
            InputError::new(
                dir,
                format!(
                    "TypeORM migrations run through the project's data source, and {found}: \
                     name it in migration-check.toml as `[typeorm] data_source = \
                     \"src/data-source.ts\"` (relative to {})",
                    project.display()
                ),
            )
        })?,
    };
    let typescript = data_source
        .extension()
        .is_some_and(|e| e == "ts" || e == "mts" || e == "cts");
    let bin = project.join(if typescript {
        "node_modules/.bin/typeorm-ts-node-commonjs"
    } else {
        "node_modules/.bin/typeorm"
    });
    let argv = |words: &[&str]| -> Vec<String> {
        let mut argv = vec![bin.display().to_string()];
        argv.extend(words.iter().map(|w| w.to_string()));
        argv.extend(["-d".to_string(), data_source.display().to_string()]);
        argv
    };
    Ok(Tool {
        up: argv(&["migration:run", "--transaction", "each"]),
        down: Some(argv(&["migration:revert", "--transaction", "each"])),
        up_to: Some(argv(&["migration:run", "--transaction", "each"])),
        workdir: project.clone(),
        pass_env: std::iter::once("NODE_ENV".to_string())
            .chain(settings.env.iter().cloned())
            .collect(),
        bookkeeping: vec![TABLE.to_string()],
        wrong_database_hint: Some(format!(
            "TypeORM took its connection from {}; make it read DATABASE_URL (migration-check \
             gives the throwaway database there), with `[typeorm] env` for the variables it needs",
            data_source.display()
        )),
        identity: Some(class_name),
    })
}

/// The one data source file of the project (a name that says it is one), or why not.
fn find_data_source(project: &Path) -> Result<PathBuf, String> {
    let mut found = Vec::new();
    let mut stack = vec![(project.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with('.') || name == "node_modules" || name == "dist" {
                continue;
            }
            if path.is_dir() {
                if depth < DATA_SOURCE_DEPTH {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            let normalized: String = name
                .to_ascii_lowercase()
                .chars()
                .filter(|c| !matches!(c, '-' | '_'))
                .collect();
            let is_code = is_code_file(&name);
            if is_code
                && (normalized.starts_with("datasource.") || normalized.starts_with("ormconfig."))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("no data source file (`data-source.ts`, `DataSource.ts`, …) was found".into()),
        several => Err(format!(
            "{} data source files were found ({})",
            several.len(),
            several
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{discover, tempdir, write};
    use super::*;

    #[test]
    fn a_typeorm_project_is_recognised_and_run_through_its_data_source() {
        let t = tempdir();
        write(
            t.path(),
            "package.json",
            "{\"dependencies\": {\"typeorm\": \"^0.3\"}}",
        );
        write(
            t.path(),
            "src/data-source.ts",
            "export const AppDataSource = 1;",
        );
        let dir = t.path().join("src/migrations");
        write(
            &dir,
            "1693995626941-ModifyChatFlow.ts",
            "import { MigrationInterface } from 'typeorm'\n\
             export class ModifyChatFlow1693995626941 implements MigrationInterface {}\n",
        );
        write(
            &dir,
            "1693891895163-Init.ts",
            "export class Init1693891895163 implements MigrationInterface {}\n",
        );
        let d = discover(&dir, None).unwrap();
        assert_eq!(d.format(), FORMAT);
        let versions: Vec<&str> = d
            .migrations
            .iter()
            .map(|m| m.version.text.as_str())
            .collect();
        assert_eq!(
            versions,
            ["1693891895163-Init", "1693995626941-ModifyChatFlow"]
        );
        let step = d.migrations[0].up.step.as_ref().unwrap();
        assert!(step.argv[0].ends_with("node_modules/.bin/typeorm-ts-node-commonjs"));
        assert_eq!(step.argv[1..4], ["migration:run", "--transaction", "each"]);
        assert!(step.argv[5].ends_with("src/data-source.ts"));
        assert!(step.expected[0].contains(&"Init1693891895163".to_string()));
        assert_eq!(step.bookkeeping, [TABLE]);
    }

    #[test]
    fn without_one_data_source_it_says_what_to_set() {
        let t = tempdir();
        write(
            t.path(),
            "package.json",
            "{\"dependencies\": {\"typeorm\": \"^0.3\"}}",
        );
        let dir = t.path().join("migrations");
        write(
            &dir,
            "1_a.ts",
            "export class A1700000000000 implements MigrationInterface {}\n",
        );
        let err = discover(&dir, None).unwrap_err();
        assert!(err.message.contains("[typeorm] data_source"), "{err}");
        assert!(err.message.contains("no data source file"), "{err}");
    }
}
