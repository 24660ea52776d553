//! Flyway's configuration files: a `flyway.conf` (Java properties) or `flyway.toml` beside
//! the migrations sets their naming, locations, placeholders and transaction settings, and a
//! `<script>.conf` beside a script that script's own (`SqlScriptMetadata`). They are Flyway's
//! formats, with their own syntax and errors, read here so that discovery only asks for
//! the settings.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::naming::Naming;
use crate::error::InputError;
use crate::migrations::{Entry, Listing, Text, line_of_byte, lines, read_text};

/// A value from Flyway's configuration file, with where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Setting {
    pub(super) value: String,
    pub(super) line: Option<usize>,
}

/// Flyway's configuration as far as it matters here: the defaults, overridden by a
/// `flyway.toml` or `flyway.conf` in the migrations directory or its parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Config {
    /// The configuration file read, if any.
    pub(super) file: Option<PathBuf>,
    pub(super) naming: Naming,
    /// `locations` that are `filesystem:` ones, as written (relative to the file's directory).
    locations: Vec<Setting>,
    /// `placeholders.<name>`, by lower-case name.
    pub(super) placeholders: BTreeMap<String, Setting>,
    pub(super) placeholder_prefix: String,
    pub(super) placeholder_suffix: String,
    pub(super) placeholder_separator: String,
    pub(super) placeholder_replacement: bool,
    pub(super) mixed: bool,
    pub(super) execute_in_transaction: bool,
    /// `defaultSchema`, else the first of `schemas`.
    pub(super) default_schema: Option<String>,
    pub(super) table: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            file: None,
            naming: Naming::default(),
            locations: Vec::new(),
            placeholders: BTreeMap::new(),
            placeholder_prefix: "${".to_string(),
            placeholder_suffix: "}".to_string(),
            placeholder_separator: ":".to_string(),
            placeholder_replacement: true,
            mixed: false,
            execute_in_transaction: true,
            default_schema: None,
            table: None,
        }
    }
}

impl Config {
    /// The configuration for migrations in `dir`: the nearest `flyway.toml` (preferred, as the
    /// command line prefers TOML) or `flyway.conf` in `dir` or its parent, else the defaults.
    pub(super) fn load(dir: &Path) -> Result<Config, InputError> {
        let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        for candidate in absolute.ancestors().take(2) {
            for name in ["flyway.toml", "flyway.conf"] {
                let shown = if candidate == absolute {
                    dir.join(name)
                } else {
                    dir.join("..").join(name)
                };
                if candidate.join(name).is_file() {
                    let text = read_text(&shown)?;
                    let mut config = Config {
                        file: Some(shown.clone()),
                        ..Config::default()
                    };
                    if name.ends_with(".toml") {
                        config.read_toml(&shown, &text)?;
                    } else {
                        for property in properties(&text.sql) {
                            if let Some(key) = property.key.strip_prefix("flyway.") {
                                config.set(&shown, key, property.value, Some(property.line))?;
                            }
                        }
                    }
                    return Ok(config);
                }
            }
        }
        Ok(Config::default())
    }

    /// Reads the `[flyway]` table (and `[environments.<environment>] schemas`) of a
    /// `flyway.toml`.
    fn read_toml(&mut self, path: &Path, text: &Text) -> Result<(), InputError> {
        let table: toml::Table = toml::from_str(&text.sql).map_err(|e| InputError {
            path: path.to_path_buf(),
            line: e.span().map(|span| line_of_byte(&text.sql, span.start)),
            message: format!("invalid flyway.toml: {}", e.message().trim()),
        })?;
        let Some(flyway) = table.get("flyway").and_then(toml::Value::as_table) else {
            return Ok(());
        };
        for (key, value) in flyway {
            match (key.as_str(), value) {
                ("placeholders", toml::Value::Table(placeholders)) => {
                    for (name, value) in placeholders {
                        self.set(
                            path,
                            &format!("placeholders.{name}"),
                            toml_text(value),
                            None,
                        )?;
                    }
                }
                (_, toml::Value::Table(_)) => {}
                _ => self.set(path, key, toml_text(value), None)?,
            }
        }
        let environment = flyway
            .get("environment")
            .and_then(toml::Value::as_str)
            .unwrap_or("default");
        let schemas = table
            .get("environments")
            .and_then(|e| e.get(environment))
            .and_then(|e| e.get("schemas"));
        if let Some(schemas) = schemas
            && self.default_schema.is_none()
        {
            self.set(path, "schemas", toml_text(schemas), None)?;
        }
        Ok(())
    }

    /// Applies one setting (its key without `flyway.`); keys that do not matter here are
    /// ignored, values that cannot be honoured are an error at their line.
    fn set(
        &mut self,
        path: &Path,
        key: &str,
        value: String,
        line: Option<usize>,
    ) -> Result<(), InputError> {
        let error = |message: String| InputError {
            path: path.to_path_buf(),
            line,
            message,
        };
        let flag = |value: &str| match value.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(error(format!(
                "`{key}` must be true or false, not `{value}`"
            ))),
        };
        let list = |value: &str| -> Vec<String> {
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        if let Some(name) = key.strip_prefix("placeholders.") {
            self.placeholders
                .insert(name.to_lowercase(), Setting { value, line });
            return Ok(());
        }
        match key {
            "locations" => {
                self.locations = list(&value)
                    .into_iter()
                    .filter_map(|l| l.strip_prefix("filesystem:").map(str::to_string))
                    .map(|value| Setting { value, line })
                    .collect();
            }
            "sqlMigrationPrefix" => self.naming.versioned = value,
            "undoSqlMigrationPrefix" => self.naming.undo = value,
            "repeatableSqlMigrationPrefix" => self.naming.repeatable = value,
            "sqlMigrationSeparator" if value.is_empty() => {
                return Err(error("`sqlMigrationSeparator` cannot be empty".to_string()));
            }
            "sqlMigrationSeparator" => self.naming.separator = value,
            "sqlMigrationSuffixes" => self.naming.suffixes = list(&value),
            "placeholderPrefix" => self.placeholder_prefix = value,
            "placeholderSuffix" => self.placeholder_suffix = value,
            "placeholderSeparator" => self.placeholder_separator = value,
            "placeholderReplacement" => self.placeholder_replacement = flag(&value)?,
            "mixed" => self.mixed = flag(&value)?,
            "executeInTransaction" => self.execute_in_transaction = flag(&value)?,
            "defaultSchema" => self.default_schema = Some(value.trim().to_string()),
            "schemas" if self.default_schema.is_none() => {
                self.default_schema = list(&value).into_iter().next();
            }
            "table" => self.table = Some(value.trim().to_string()),
            "encoding" => check_encoding(&value).map_err(error)?,
            _ => {}
        }
        if self.placeholder_prefix.is_empty() || self.placeholder_suffix.is_empty() {
            return Err(error(
                "placeholder prefix and suffix cannot be empty".to_string(),
            ));
        }
        Ok(())
    }

    /// The parts of the migrations directory Flyway scans, as `/`-separated prefixes of
    /// relative paths; None for all of it (no `filesystem:` location, or one holding the
    /// directory). A location outside it that exists is an error: Flyway would read
    /// migrations there that migration-check does not see.
    pub(super) fn scanned_dirs(&self, dir: &Path) -> Result<Option<Vec<String>>, InputError> {
        let Some(file) = &self.file else {
            return Ok(None);
        };
        if self.locations.is_empty() {
            return Ok(None);
        }
        let base = file.parent().unwrap_or(Path::new("."));
        let migrations = normalize(dir);
        let mut inside = Vec::new();
        let mut covers_all = false;
        for location in &self.locations {
            let path = normalize(&base.join(&location.value));
            if migrations.starts_with(&path) {
                covers_all = true;
            } else if let Ok(rel) = path.strip_prefix(&migrations) {
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                inside.push(rel.join("/"));
            } else if path.is_dir() {
                return Err(InputError {
                    path: file.clone(),
                    line: location.line,
                    message: format!(
                        "location `filesystem:{}` is outside the migrations directory {}: Flyway \
                         also reads migrations from there, migration-check reads one directory; \
                         pass a directory that holds every location",
                        location.value,
                        dir.display()
                    ),
                });
            }
        }
        if covers_all {
            return Ok(None);
        }
        Ok(Some(inside))
    }
}

/// A TOML value as the text Flyway's properties would hold (arrays joined by `,`).
fn toml_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) => items.iter().map(toml_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Refuses an `encoding` other than UTF-8: migration-check reads scripts as UTF-8.
fn check_encoding(value: &str) -> Result<(), String> {
    let normalized = value.trim().to_ascii_lowercase().replace(['-', '_'], "");
    if normalized == "utf8" {
        Ok(())
    } else {
        Err(format!(
            "encoding `{}` is not supported: migration-check reads migrations as UTF-8; convert \
             the files to UTF-8",
            value.trim()
        ))
    }
}

/// A path made absolute with `.` and `..` resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut normalized = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normalized.pop();
            }
            other => normalized.push(other),
        }
    }
    normalized
}

/// One `key=value` line of a Java properties file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Property {
    key: String,
    value: String,
    /// The line the key is on.
    line: usize,
}

/// The properties of a Java properties file as Flyway reads its configuration: `#` and `!`
/// comment lines, `key=value`, `key: value` or `key value`, a trailing `\` continuing the
/// value on the next line; backslashes are otherwise kept as written (Flyway doubles them
/// before loading).
fn properties(text: &str) -> Vec<Property> {
    let mut result = Vec::new();
    let mut pending: Option<Property> = None;
    for line in lines(text) {
        let trimmed = line.text.trim();
        if let Some(mut property) = pending.take() {
            let (part, more) = continued(trimmed);
            property.value.push_str(part);
            if more {
                pending = Some(property);
            } else {
                result.push(property);
            }
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        let split = trimmed
            .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
            .unwrap_or(trimmed.len());
        let key = trimmed[..split].to_string();
        let rest = trimmed[split..].trim_start();
        let rest = rest.strip_prefix(['=', ':']).map_or(rest, str::trim_start);
        let (value, more) = continued(rest);
        let property = Property {
            key,
            value: value.to_string(),
            line: line.number,
        };
        if more {
            pending = Some(property);
        } else {
            result.push(property);
        }
    }
    result.extend(pending);
    result
}

/// A value without its continuation backslash, and whether the value continues.
fn continued(value: &str) -> (&str, bool) {
    match value.strip_suffix('\\') {
        Some(part) => (part.trim_end(), true),
        None => (value, false),
    }
}

/// A script's `<file>.conf`, as Flyway's `SqlScriptMetadata` reads it.
#[derive(Debug, Default)]
pub(super) struct ScriptMetadata {
    pub(super) execute_in_transaction: Option<bool>,
    pub(super) placeholder_replacement: Option<bool>,
}

impl ScriptMetadata {
    /// Reads the `.conf` file beside `entry`, if there is one.
    pub(super) fn read(listing: &Listing, entry: &Entry) -> Result<ScriptMetadata, InputError> {
        let mut metadata = ScriptMetadata::default();
        let Some(conf) = listing.get(&format!("{}.conf", entry.rel)) else {
            return Ok(metadata);
        };
        for property in properties(&conf.text()?.sql) {
            let error = |message: String| InputError::at_line(&conf.path, property.line, message);
            let flag = || match property.value.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(error(format!(
                    "`{}` must be true or false, not `{other}`",
                    property.key
                ))),
            };
            match property.key.as_str() {
                "executeInTransaction" => metadata.execute_in_transaction = Some(flag()?),
                "placeholderReplacement" => metadata.placeholder_replacement = Some(flag()?),
                "encoding" => check_encoding(&property.value).map_err(error)?,
                "shouldExecute" if property.value.trim().eq_ignore_ascii_case("true") => {}
                "shouldExecute" => {
                    return Err(error(
                        "`shouldExecute` conditions are not supported: migration-check runs \
                         every migration; remove it or verify with the `command` format"
                            .to_string(),
                    ));
                }
                other => {
                    return Err(error(format!(
                        "Unknown script configuration property: {other} (Flyway knows \
                         executeInTransaction, encoding, placeholderReplacement and shouldExecute)"
                    )));
                }
            }
        }
        Ok(metadata)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::migrations::TransactionMode;
    use crate::migrations::flyway::FORMAT;
    use crate::migrations::flyway::test_support::{discover_with, error};
    use crate::migrations::test_util::{discover, tempdir, versions, write};

    #[test]
    fn script_conf_and_mixed_setting() {
        let t = tempdir();
        write(
            t.path(),
            "V1__a.sql",
            "create table t (x int);\ncreate index concurrently i on t (x);\n",
        );
        write(
            t.path(),
            "V1__a.sql.conf",
            "# comment\nexecuteInTransaction=false\n",
        );
        write(t.path(), "V2__b.sql", "create table u (x int);\n");
        write(t.path(), "V2__b.sql.conf", "executeInTransaction = false\n");
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.migrations[0].up.transaction, TransactionMode::None);
        assert_eq!(d.migrations[1].up.transaction, TransactionMode::None);

        let t = tempdir();
        write(
            t.path(),
            "sql/V1__a.sql",
            "create table t (x int);\ncreate index concurrently i on t (x);\n",
        );
        write(t.path(), "flyway.conf", "flyway.mixed=true\n");
        let d = discover(&t.path().join("sql"), None).unwrap();
        assert_eq!(d.migrations[0].up.transaction, TransactionMode::None);

        let (err, root) = error(&[("V1__a.sql", ""), ("V1__a.sql.conf", "\nfoo=bar\n")]);
        assert_eq!(err.path, root.join("V1__a.sql.conf"));
        assert_eq!(err.line, Some(2));
        assert!(
            err.message
                .contains("Unknown script configuration property: foo")
        );
    }

    #[test]
    fn conf_file_naming_placeholders_and_locations() {
        let t = tempdir();
        write(
            t.path(),
            "flyway.conf",
            "flyway.locations=filesystem:db/main,classpath:x\n\
             flyway.sqlMigrationPrefix=M\n\
             flyway.sqlMigrationSeparator=-\n\
             flyway.placeholders.schema=app\n\
             flyway.placeholders.owner=from_conf\n",
        );
        write(
            t.path(),
            "db/main/M1-a.sql",
            "create schema ${schema}; -- ${owner}",
        );
        write(t.path(), "db/other/M2-b.sql", "select 2;");
        let d = discover_with(t.path(), &[("OWNER", "from_toml")]).unwrap();
        assert_eq!(versions(&d), ["1"]);
        assert_eq!(d.migrations[0].up.sql, "create schema app; -- from_toml");
        // Detected by the configuration file's naming; its own placeholder value applies.
        let d = crate::migrations::discover(t.path(), None, &Arc::default()).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(d.migrations[0].up.sql, "create schema app; -- from_conf");
    }

    #[test]
    fn toml_config() {
        let t = tempdir();
        write(
            t.path(),
            "flyway.toml",
            "[environments.default]\nschemas = [\"app\", \"b\"]\n\n[flyway]\n\
             locations = [\"filesystem:migrations\"]\nsqlMigrationSuffixes = [\".pgsql\"]\n\n\
             [flyway.placeholders]\nGreeting = \"hi\"\n",
        );
        write(
            t.path(),
            "migrations/V1__a.pgsql",
            "select '${greeting}' from ${flyway:defaultSchema}.t;",
        );
        write(t.path(), "migrations/V2__b.sql", "not read");
        let d = discover(&t.path().join("migrations"), Some(FORMAT)).unwrap();
        assert_eq!(versions(&d), ["1"]);
        assert_eq!(d.migrations[0].up.sql, "select 'hi' from app.t;");
    }

    #[test]
    fn location_outside_the_directory_is_refused() {
        let t = tempdir();
        write(
            t.path(),
            "flyway.conf",
            "\nflyway.locations=filesystem:sql,filesystem:more\n",
        );
        write(t.path(), "sql/V1__a.sql", "select 1;");
        write(t.path(), "more/V2__b.sql", "select 2;");
        let err = discover(&t.path().join("sql"), Some(FORMAT)).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(
            err.message.contains("outside the migrations directory"),
            "{err}"
        );
    }

    #[test]
    fn properties_parsing() {
        let got: Vec<(String, String, usize)> =
            properties("# c\n! c\na=1\nb : 2\nc 3\nd=x,\\\n  y\n\ne=\n")
                .into_iter()
                .map(|p| (p.key, p.value, p.line))
                .collect();
        assert_eq!(
            got,
            [
                ("a".to_string(), "1".to_string(), 3),
                ("b".to_string(), "2".to_string(), 4),
                ("c".to_string(), "3".to_string(), 5),
                ("d".to_string(), "x,y".to_string(), 6),
                ("e".to_string(), String::new(), 9),
            ]
        );
    }
}
