//! The Sequelize preset: migrations written as Sequelize code (`module.exports = { up:
//! async (queryInterface, Sequelize) => … }`) run through the project's own sequelize-cli,
//! one at a time. Facts from sequelize-cli 6 (`src/core/migrator.js`, umzug 2): migration
//! files are `.js`, `.cjs`, `.ts` and `.cts` (type declarations excepted), run in file-name
//! order; the history is `SequelizeMeta` with one `name` per applied migration (the file
//! name with its extension); `db:migrate --to <file>` applies the pending migrations up to
//! and including that file, `db:migrate:undo --name <file>` reverts that one; the
//! connection comes from the configuration file of the environment `--env` names (else
//! `NODE_ENV`, else `development`), which projects point at `DATABASE_URL` with
//! `use_env_variable`. The tool adds no transaction of its own.

use std::path::{Path, PathBuf};

use super::command::{Preset, Tool, is_code_file, project_with};
use super::{Entry, Evidence, Format, FormatSpec, Found, Listing, Settings, Strength, Version};
use crate::error::InputError;

/// The Sequelize format.
pub const FORMAT: Format = Format::new(&Sequelize);

/// sequelize-cli's history table.
pub const TABLE: &str = "SequelizeMeta";

/// Sequelize (`sequelize-cli db:migrate`).
pub struct Sequelize;

impl FormatSpec for Sequelize {
    fn name(&self) -> &'static str {
        "sequelize"
    }

    fn layout(&self) -> &'static str {
        "Sequelize migrations (`.js`/`.ts` code with `queryInterface`), run through sequelize-cli"
    }

    fn recognise(
        &self,
        listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        let shaped: Vec<&Entry> = listing
            .top_files()
            .filter(|e| is_code_file(&e.rel))
            .filter(|e| e.text().is_ok_and(|t| t.sql.contains("queryInterface")))
            .collect();
        let Some(first) = shaped.first() else {
            return Ok(None);
        };
        let strength = if listing.project().names("sequelize").is_some() {
            Strength::Marker
        } else {
            Strength::Naming
        };
        Ok(Some(
            Evidence::entry(first, strength).supported_by(shaped.len()),
        ))
    }

    fn discover(&self, listing: &Listing, settings: &Settings) -> Result<Found, InputError> {
        let tool = tool(&listing.dir, &settings.sequelize)?;
        let mut found = Found::default();
        for entry in listing.top_entries() {
            if !entry.is_dir && is_code_file(&entry.rel) {
                found
                    .migrations
                    .push(tool.migration(entry, Tool::file_version(&entry.rel))?);
            } else {
                found.ignored.push(entry.path.clone());
            }
        }
        Ok(found)
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
        "none of the tool's own: a migration opens a transaction itself if it wants one"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn history_table(&self) -> Option<&'static str> {
        Some(TABLE)
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(
            format!("{version}-{name}.js"),
            "'use strict';\n\nmodule.exports = {\n  async up(queryInterface, Sequelize) {},\n\n  \
             async down(queryInterface, Sequelize) {},\n};\n"
                .to_string(),
        )]
    }
}

/// How the project's sequelize-cli runs one migration: its own bin, from the directory of
/// its `package.json`, on the migrations directory we listed, in `[sequelize] environment`.
fn tool(dir: &Path, preset: &Preset) -> Result<Tool, InputError> {
    let Some((project, _)) = project_with(dir, &["package.json"]) else {
        return Err(InputError::new(
            dir,
            "Sequelize migrations, but no package.json in the migrations directory or the five \
             above: migration-check runs them through the project's own sequelize-cli",
        ));
    };
    let bin = project.join("node_modules/.bin/sequelize");
    let directory = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let argv = |words: &[&str]| -> Vec<String> {
        let mut argv = vec![bin.display().to_string()];
        argv.extend(words.iter().map(|w| w.to_string()));
        argv.extend([
            "--migrations-path".to_string(),
            directory.display().to_string(),
        ]);
        if let Some(environment) = &preset.environment {
            argv.extend(["--env".to_string(), environment.clone()]);
        }
        argv
    };
    Ok(Tool {
        up: argv(&["db:migrate", "--to", "{file}"]),
        down: Some(argv(&["db:migrate:undo", "--name", "{file}"])),
        up_to: Some(argv(&["db:migrate", "--to", "{file}"])),
        workdir: PathBuf::from(&project),
        pass_env: std::iter::once("NODE_ENV".to_string())
            .chain(preset.env.iter().cloned())
            .collect(),
        bookkeeping: vec![TABLE.to_string()],
        wrong_database_hint: Some(format!(
            "sequelize-cli took its connection from the `{}` environment of its configuration \
             file; set `[sequelize] environment` in migration-check.toml to the one that reads \
             DATABASE_URL (`use_env_variable`), and `[sequelize] env` to the variables it needs",
            preset.environment.as_deref().unwrap_or("development")
        )),
        identity: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{discover, tempdir, write};
    use super::*;

    #[test]
    fn a_sequelize_project_is_recognised_and_run_through_its_cli() {
        let t = tempdir();
        write(
            t.path(),
            "package.json",
            "{\"devDependencies\": {\"sequelize-cli\": \"^6\"}}",
        );
        let dir = t.path().join("migrations");
        write(
            &dir,
            "20160619080644-initial.js",
            "module.exports = { up: async (queryInterface, Sequelize) => {} };",
        );
        write(
            &dir,
            "20160622043741-b.js",
            "module.exports = { up: async queryInterface => {} };",
        );
        let notes = write(&dir, "README.md", "notes");
        let d = discover(&dir, None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(d.ignored, [notes]);
        let step = d.migrations[0].up.step.as_ref().unwrap();
        assert!(step.argv[0].ends_with("node_modules/.bin/sequelize"));
        assert_eq!(
            step.argv[1..4],
            ["db:migrate", "--to", "20160619080644-initial.js"]
        );
        assert_eq!(step.bookkeeping, [TABLE]);
        let down = d.migrations[0]
            .down
            .as_ref()
            .unwrap()
            .step
            .as_ref()
            .unwrap();
        assert_eq!(
            down.argv[1..4],
            ["db:migrate:undo", "--name", "20160619080644-initial.js"]
        );
    }
}
