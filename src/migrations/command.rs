//! Migrations written as code (knex, node-pg-migrate JS/TS, TypeORM, Rails, Alembic, ...)
//! cannot be read, but they can be run: the `command` format runs the team's own tool one
//! step at a time against the throwaway database, and the pipeline snapshots between steps
//! exactly as it does between SQL scripts. This file holds what every such format shares
//! (a [`CommandStep`] per up and down, the tool's bookkeeping tables, placeholders) and the
//! generic format configured by `[command]` in `migration-check.toml`; `knex` and
//! node-pg-migrate's JS/TS mode are presets built on it.
//!
//! Commands are argument vectors, never shell lines; placeholders (`{file}`, `{path}`,
//! `{name}`) are substituted only as whole arguments. What the process may see is decided
//! by `postgres::process`: the throwaway database and a cleared environment.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    Entry, Evidence, Format, FormatSpec, Found, Listing, Migration, Script,
    Settings as AllSettings, TransactionMode, Version,
};
use crate::error::InputError;

/// The command format.
pub const FORMAT: Format = Format::new(&Command);

/// `[command]` in `migration-check.toml`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The migration files, a glob relative to the migrations directory (`*.js`; a leading
    /// `<directory name>/` is accepted): one migration per file, in file-name order.
    pub migrations: String,
    /// Applies the next pending migration (argv; `{file}`, `{path}`, `{name}` substituted).
    pub up: Vec<String>,
    /// Reverts the last applied migration.
    pub down: Option<Vec<String>>,
    /// Applies every pending migration up to and including `{file}` (or the next `{count}`)
    /// in one invocation: history is then applied in one call instead of one per migration.
    pub up_to: Option<Vec<String>>,
    /// Names of our environment variables the commands may see (none other is passed).
    #[serde(default)]
    pub env: Vec<String>,
    /// The tool's own tables (its history first): read after each step, never snapshotted.
    #[serde(default)]
    pub bookkeeping: Vec<String>,
    /// Where the commands run, relative to the current directory (default: it).
    pub workdir: Option<PathBuf>,
}

/// `[knex]`, `[node-pg-migrate]`, `[sequelize]`: what a preset passes its tool besides the
/// throwaway database.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// The configuration environment the tool runs with (`knex --env`, `sequelize --env`):
    /// the one whose connection reads `DATABASE_URL`. Default: the tool's own (`NODE_ENV`,
    /// else `development`).
    pub environment: Option<String>,
    /// Names of our environment variables the tool may see (none other is passed).
    #[serde(default)]
    pub env: Vec<String>,
}

/// Which way a step moves the tool's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Applies one migration: its history gains exactly its row.
    Up,
    /// Reverts one migration: its history loses exactly its row.
    Down,
}

/// One invocation of the team's own tool, and what it must do to its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandStep {
    /// The program and its arguments, placeholders already substituted.
    pub argv: Vec<String>,
    /// The directory it runs in.
    pub workdir: PathBuf,
    /// Our environment variables it may see, by name.
    pub pass_env: Vec<String>,
    /// The tool's tables: the first is its history; all are left out of snapshots.
    pub bookkeeping: Vec<String>,
    /// Whether it applies or reverts.
    pub direction: Direction,
    /// Each migration the step must apply or revert, in order, as the names its history
    /// may record it under (file name, stem): one for a step, several for a batch.
    pub expected: Vec<Vec<String>>,
    /// For an up step: the command applying every pending migration up to and including this
    /// one in one invocation (`{count}` still to fill), when the tool has one; history is
    /// applied with it in as few invocations as the tool allows.
    pub up_to: Option<Vec<String>>,
    /// What to change when the tool connected to another database than the throwaway one
    /// (its output says `database "development" does not exist`): the preset's setting.
    pub wrong_database_hint: Option<String>,
}

impl CommandStep {
    /// The command as one line for messages (arguments are never passed through a shell).
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }
}

/// How a tool is run: templates of its up and down commands and where its history lives.
#[derive(Debug, Clone)]
pub struct Tool {
    /// Applies one migration (templates with placeholders).
    pub up: Vec<String>,
    /// Reverts one migration, if the tool can.
    pub down: Option<Vec<String>>,
    /// Applies every pending migration up to and including one (`{file}`, `{name}`,
    /// `{count}`: how many), if the tool can.
    pub up_to: Option<Vec<String>>,
    /// Where the commands run.
    pub workdir: PathBuf,
    /// Our variables passed through.
    pub pass_env: Vec<String>,
    /// The tool's tables, its history first.
    pub bookkeeping: Vec<String>,
    /// See [`CommandStep::wrong_database_hint`].
    pub wrong_database_hint: Option<String>,
    /// A name the history may record that only the file's code gives (TypeORM records the
    /// migration's class name).
    pub identity: Option<fn(&str) -> Option<String>>,
}

impl Tool {
    /// The version of a code file as tools that order by file name see it: shown as its
    /// leading number when it has one (`20240101_users.ts` → `20240101`), else its stem;
    /// ordered by the whole file name.
    pub(crate) fn file_version(rel: &str) -> Version {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
        let shown = super::split_version(stem).map_or(stem, |(digits, _)| digits);
        Version::textual(shown, rel)
    }

    /// The migration of one code file, run by this tool; `version` orders it.
    pub(crate) fn migration(
        &self,
        entry: &Entry,
        version: Version,
    ) -> Result<Migration, InputError> {
        let file = entry.name().to_string();
        let stem = file
            .rsplit_once('.')
            .map_or(file.as_str(), |(stem, _)| stem)
            .to_string();
        let name = super::split_version(&stem).map_or(stem.as_str(), |(_, rest)| rest);
        let absolute = std::path::absolute(&entry.path).unwrap_or_else(|_| entry.path.clone());
        let leading = stem
            .split_once('_')
            .map_or(stem.as_str(), |(prefix, _)| prefix)
            .to_string();
        let value = |placeholder: &str| match placeholder {
            "{file}" => Some(file.clone()),
            "{name}" => Some(stem.clone()),
            "{version}" => Some(leading.clone()),
            "{path}" => Some(absolute.display().to_string()),
            _ => None,
        };
        // A placeholder is a whole argument, or the whole value of a `KEY=` argument
        // (`VERSION={version}` for Rails); nothing else of an argument is ever rewritten.
        let substitute = |template: &[String]| -> Vec<String> {
            template
                .iter()
                .map(|arg| {
                    if let Some(whole) = value(arg) {
                        return whole;
                    }
                    match arg.split_once('=') {
                        Some((key, placeholder)) if !key.contains('{') => {
                            value(placeholder).map_or_else(|| arg.clone(), |v| format!("{key}={v}"))
                        }
                        _ => arg.clone(),
                    }
                })
                .collect()
        };
        let text = entry.text()?;
        let up_to = self.up_to.as_ref().map(|template| substitute(template));
        // What a history may record: the file name (knex), the stem (node-pg-migrate,
        // Django), or the version before the first `_` (Rails, Alembic's revision).
        let mut identities = vec![file.clone(), stem.clone()];
        if let Some(id) = self.identity.and_then(|identity| identity(&text.sql)) {
            identities.push(id);
        }
        if leading != stem && !leading.is_empty() {
            identities.push(leading.clone());
        }
        let script = |argv: Vec<String>, direction| Script {
            path: entry.path.clone(),
            sql: text.sql.clone(),
            line_offset: 0,
            byte_offset: text.bom_len,
            transaction: TransactionMode::AsWritten,
            step: Some(Arc::new(CommandStep {
                argv,
                workdir: self.workdir.clone(),
                pass_env: self.pass_env.clone(),
                bookkeeping: self.bookkeeping.clone(),
                direction,
                expected: vec![identities.clone()],
                up_to: if direction == Direction::Up {
                    up_to.clone()
                } else {
                    None
                },
                wrong_database_hint: self.wrong_database_hint.clone(),
            })),
        };
        Ok(Migration {
            version,
            name: name.to_string(),
            up: script(substitute(&self.up), Direction::Up),
            down: self
                .down
                .as_ref()
                .map(|down| script(substitute(down), Direction::Down)),
        })
    }
}

/// The first program (or node script) a migration's steps would run that cannot be found,
/// with what to do: checked before any database is started, so a missing `node_modules` is
/// one clear error rather than a failed step per migration.
pub fn missing_program(migrations: &[Migration]) -> Option<String> {
    migrations
        .iter()
        .flat_map(|m| [Some(&m.up), m.down.as_ref()])
        .flatten()
        .filter_map(|script| script.step.as_ref())
        .find_map(|step| {
            let missing = missing_in(step)?;
            let hint = if missing.contains("node_modules") {
                format!(
                    "install the project's dependencies first (run `npm ci` in {} before \
                     this step)",
                    step.workdir.display()
                )
            } else {
                "install it, or correct `up`/`down` in [command]".to_string()
            };
            Some(format!("`{missing}` not found: {hint}"))
        })
}

/// What of a step's program is missing: the program itself (a path, or a name looked up on
/// `PATH`), or a script path handed to it (`node --import tsx .../knex/bin/cli.js`).
fn missing_in(step: &CommandStep) -> Option<&str> {
    let program = step.argv.first()?;
    let found = if program.contains('/') {
        step.workdir.join(program).is_file()
    } else {
        std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join(program).is_file())
        })
    };
    if !found {
        return Some(program);
    }
    step.argv[1..]
        .iter()
        .take_while(|arg| arg.starts_with('-') || arg.contains('/') || *arg == "tsx")
        .find(|arg| arg.contains("node_modules") && !step.workdir.join(arg).exists())
        .map(String::as_str)
}

/// How many directories above the migrations directory a JavaScript project's
/// `package.json` (or `knexfile`) is looked for.
const PROJECT_LEVELS: usize = 5;

/// The JavaScript project the migrations directory belongs to: the nearest directory at or
/// above it holding `file` (`package.json`, `knexfile.ts`, ...).
pub(crate) fn project_with(dir: &Path, files: &[&str]) -> Option<(PathBuf, String)> {
    let absolute = std::path::absolute(dir).ok()?;
    absolute.ancestors().take(PROJECT_LEVELS + 1).find_map(|d| {
        files
            .iter()
            .find(|f| d.join(f).is_file())
            .map(|f| (d.to_path_buf(), f.to_string()))
    })
}

/// The files of JavaScript and TypeScript migrations (type declarations excepted).
pub(crate) const CODE_EXTENSIONS: [&str; 6] = [".js", ".ts", ".cjs", ".mjs", ".cts", ".mts"];

/// Whether `rel` names a JavaScript/TypeScript migration file directly in the directory.
pub(crate) fn is_code_file(rel: &str) -> bool {
    !rel.contains('/')
        && !rel.starts_with('.')
        && !rel.ends_with(".d.ts")
        && CODE_EXTENSIONS.iter().any(|ext| rel.ends_with(ext))
}

/// Whether `name` matches a glob of `*` (any run of characters but `/`) and `?`.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' && n[ni] != '/' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star
            && n[mark] != '/'
        {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The `[command]` table, or the error saying it is needed.
fn settings<'a>(settings: &'a AllSettings, dir: &Path) -> Result<&'a Settings, InputError> {
    settings.command.as_ref().ok_or_else(|| {
        InputError::new(
            dir,
            "format `command` needs a `[command]` table in migration-check.toml \
             (`migrations`, `up`, `down`, `bookkeeping`)",
        )
    })
}

/// The glob relative to the migrations directory: when its directory part is the tail of
/// the migrations directory's path (`alembic/versions/*.py` for `alembic/versions`), only
/// its file part.
fn glob_in_dir<'a>(command: &'a Settings, dir: &Path) -> &'a str {
    if let Some((dir_part, file_part)) = command.migrations.rsplit_once('/') {
        let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        if absolute.ends_with(dir_part) {
            return file_part;
        }
    }
    &command.migrations
}

/// The generic adapter: any tool, configured in `[command]`.
pub struct Command;

impl FormatSpec for Command {
    fn name(&self) -> &'static str {
        "command"
    }

    fn layout(&self) -> &'static str {
        "any tool run through its own commands, configured in `[command]`"
    }

    fn depth(&self) -> usize {
        2
    }

    /// Never guessed: the user says `format = "command"`.
    fn recognise(
        &self,
        _listing: &Listing,
        _settings: &AllSettings,
    ) -> Result<Option<Evidence>, InputError> {
        Ok(None)
    }

    fn discover(&self, listing: &Listing, all: &AllSettings) -> Result<Found, InputError> {
        let command = settings(all, &listing.dir)?;
        if command.up.is_empty() {
            return Err(InputError::new(
                &listing.dir,
                "[command] up: give the command as an argument list, e.g. [\"npx\", \"knex\", \"migrate:up\"]",
            ));
        }
        if command.bookkeeping.is_empty() {
            return Err(InputError::new(
                &listing.dir,
                "[command] bookkeeping: name the tool's history table (e.g. [\"knex_migrations\"]); \
                 migration-check reads it after each step to know what ran",
            ));
        }
        let glob = glob_in_dir(command, &listing.dir);
        let tool = Tool {
            up: command.up.clone(),
            down: command.down.clone(),
            up_to: command.up_to.clone(),
            workdir: command
                .workdir
                .clone()
                .unwrap_or_else(|| PathBuf::from(".")),
            pass_env: command.env.clone(),
            bookkeeping: command.bookkeeping.clone(),
            wrong_database_hint: Some(
                "give the commands the throwaway database: they get it as DATABASE_URL and \
                 PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE"
                    .into(),
            ),
            identity: None,
        };
        let mut migrations = Vec::new();
        for entry in listing.files().filter(|e| glob_match(glob, &e.rel)) {
            migrations.push(tool.migration(entry, Tool::file_version(&entry.rel))?);
        }
        Ok(migrations.into())
    }

    fn is_migration_path(&self, rel: &str, all: &AllSettings) -> bool {
        all.command.as_ref().is_some_and(|c| {
            glob_match(&c.migrations, rel) || glob_match(glob_in_dir(c, Path::new("")), rel)
        })
    }

    fn version_of_path(&self, rel: &str, all: &AllSettings) -> Option<Version> {
        self.is_migration_path(rel, all)
            .then(|| Tool::file_version(rel))
    }

    fn migration_key(&self, rel: &str, _settings: &AllSettings) -> String {
        rel.to_string()
    }

    fn transaction_rule(&self) -> &'static str {
        "the tool's own"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn history_table(&self) -> Option<&'static str> {
        None
    }

    fn template(&self, _version: &str, _name: &str) -> Vec<(String, String)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_replace_whole_arguments_or_whole_values_only() {
        let t = super::super::test_util::tempdir();
        super::super::test_util::write(t.path(), "20240101000000_create_users.rb", "");
        let listing = Listing::read(t.path(), 1).unwrap();
        let entry = listing.get("20240101000000_create_users.rb").unwrap();
        let tool = Tool {
            up: [
                "rails",
                "VERSION={version}",
                "{file}",
                "x{file}",
                "{name}",
                "A={nothing}",
            ]
            .map(String::from)
            .to_vec(),
            down: None,
            up_to: None,
            workdir: ".".into(),
            pass_env: Vec::new(),
            bookkeeping: vec!["schema_migrations".into()],
            wrong_database_hint: None,
            identity: None,
        };
        let m = tool
            .migration(entry, Tool::file_version(&entry.rel))
            .unwrap();
        let step = m.up.step.unwrap();
        assert_eq!(
            step.argv,
            [
                "rails",
                "VERSION=20240101000000",
                "20240101000000_create_users.rb",
                "x{file}",
                "20240101000000_create_users",
                "A={nothing}"
            ]
        );
        assert_eq!(step.expected[0][2], "20240101000000");
        assert_eq!(m.version.text, "20240101000000");
        assert_eq!(m.name, "create_users");
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.js", "1_a.js"));
        assert!(!glob_match("*.js", "sub/1_a.js"));
        assert!(glob_match("*/*.js", "sub/1_a.js"));
        assert!(glob_match("1_?.ts", "1_a.ts"));
        assert!(!glob_match("*.js", "1_a.ts"));
        assert!(glob_match("*", "x"));
    }
}
