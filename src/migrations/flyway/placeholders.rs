//! `${name}` placeholders: Flyway replaces them in a script's raw text before it parses
//! it, from migration-check.toml, its configuration file or its built-ins, and fails on a
//! name without a value. Where a value comes from and why one is missing are decided, and
//! reported, here.

use std::path::Path;

use super::config::{Config, Setting};
use super::{Settings, history};
use crate::error::InputError;
use crate::migrations::line_of_byte;

/// The built-in placeholders whose value depends on Flyway's connection or run, which
/// migration-check cannot know (their names after `flyway:`, lower-case).
const CONNECTION_PLACEHOLDERS: &[&str] = &[
    "user",
    "database",
    "timestamp",
    "workingdirectory",
    "environment",
];

/// `sql` with its placeholders replaced, as Flyway's `PlaceholderReplacingReader` replaces
/// them: everywhere in the text, comments and strings included. A value without line breaks
/// keeps every line where it was.
pub(super) fn replace_placeholders(
    sql: &str,
    path: &Path,
    file: &str,
    config: &Config,
    settings: &Settings,
) -> Result<String, InputError> {
    let prefix = config.placeholder_prefix.as_str();
    let suffix = config.placeholder_suffix.as_str();
    let mut result = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find(prefix) {
        let offset = sql.len() - rest.len() + start;
        result.push_str(&rest[..start]);
        let after = &rest[start + prefix.len()..];
        let (name, next) = match after.find(suffix) {
            Some(end) => (&after[..end], &after[end + suffix.len()..]),
            None => (after, ""),
        };
        let shown = format!("{prefix}{name}{suffix}");
        let at = |message: String| InputError::at_line(path, line_of_byte(sql, offset), message);
        let value = value(config, name, file, settings).map_err(|e| match e {
            PlaceholderError::Missing => at(format!(
                "No value provided for placeholder: {shown}; set it under \
                 [flyway.placeholders] in migration-check.toml{}",
                config
                    .file
                    .as_ref()
                    .map(|f| format!(" or in {}", f.display()))
                    .unwrap_or_default()
            )),
            PlaceholderError::UnknownBuiltin => at(format!(
                "Failed to populate value for default placeholder: {shown} (Flyway has no such \
                 built-in placeholder)"
            )),
            PlaceholderError::Connection => at(format!(
                "{shown} is filled by Flyway from its connection or run, which migration-check \
                 cannot know; set the value to use under [flyway.placeholders] in \
                 migration-check.toml (`\"{name}\" = \"...\"`)"
            )),
            PlaceholderError::Environment(setting) => at(format!(
                "placeholder {shown} is set from the environment in {}{} (`{}`), which \
                 migration-check never reads; set it under [flyway.placeholders] in \
                 migration-check.toml",
                config
                    .file
                    .as_ref()
                    .map(|f| f.display().to_string())
                    .unwrap_or_default(),
                setting.line.map(|l| format!(":{l}")).unwrap_or_default(),
                setting.value
            )),
        })?;
        result.push_str(&value);
        rest = next;
    }
    result.push_str(rest);
    Ok(result)
}

/// The value of the placeholder `name` (as written between prefix and suffix) in `file`.
fn value(
    config: &Config,
    name: &str,
    file: &str,
    settings: &Settings,
) -> Result<String, PlaceholderError> {
    let lower = name.to_lowercase();
    let configured = || {
        settings
            .placeholders
            .iter()
            .find(|(key, _)| key.to_lowercase() == lower)
            .map(|(_, value)| value.clone())
    };
    let builtin_prefix = format!("flyway{}", config.placeholder_separator).to_lowercase();
    if let Some(builtin) = lower.strip_prefix(&builtin_prefix) {
        return match builtin {
            "defaultschema" => Ok(config
                .default_schema
                .clone()
                .unwrap_or_else(|| "public".to_string())),
            "table" => Ok(config
                .table
                .clone()
                .unwrap_or_else(|| history::TABLE.to_string())),
            "filename" => Ok(file.to_string()),
            _ if CONNECTION_PLACEHOLDERS.contains(&builtin) => {
                configured().ok_or(PlaceholderError::Connection)
            }
            _ => Err(PlaceholderError::UnknownBuiltin),
        };
    }
    if let Some(value) = configured() {
        return Ok(value);
    }
    match config.placeholders.get(&lower) {
        Some(setting) if setting.value.contains("${") => {
            Err(PlaceholderError::Environment(setting.clone()))
        }
        Some(setting) => Ok(setting.value.clone()),
        None => Err(PlaceholderError::Missing),
    }
}

/// Why a placeholder has no value.
#[derive(Debug)]
enum PlaceholderError {
    /// Neither migration-check.toml nor the configuration file sets it.
    Missing,
    /// A `flyway:` name Flyway does not know.
    UnknownBuiltin,
    /// A built-in whose value depends on Flyway's connection, not set in migration-check.toml.
    Connection,
    /// The configuration file sets it from an environment variable.
    Environment(Setting),
}

#[cfg(test)]
mod tests {
    use super::super::test_support::discover_with;
    use crate::migrations::test_util::{tempdir, write};

    #[test]
    fn placeholders_replaced_in_place_case_insensitively() {
        let t = tempdir();
        write(
            t.path(),
            "V1__a.sql",
            "-- owner ${Owner}\ncreate table ${flyway:defaultSchema}.t (x int);\n\
             comment on table t is '${flyway:filename} ${FLYWAY:TABLE}';\n",
        );
        let d = discover_with(t.path(), &[("owner", "app")]).unwrap();
        assert_eq!(
            d.migrations[0].up.sql,
            "-- owner app\ncreate table public.t (x int);\n\
             comment on table t is 'V1__a.sql flyway_schema_history';\n"
        );
    }

    #[test]
    fn placeholder_errors_name_file_and_line() {
        let t = tempdir();
        let path = write(t.path(), "V1__a.sql", "select 1;\nselect '${missing}';\n");
        let err = discover_with(t.path(), &[]).unwrap_err();
        assert_eq!((err.path.clone(), err.line), (path.clone(), Some(2)));
        assert!(
            err.message
                .contains("No value provided for placeholder: ${missing}"),
            "{err}"
        );
        write(
            t.path(),
            "V1__a.sql",
            "\n\ngrant all on t to ${flyway:user};\n",
        );
        let err = discover_with(t.path(), &[]).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("${flyway:user}"), "{err}");
        let d = discover_with(t.path(), &[("flyway:user", "app")]).unwrap();
        assert!(d.migrations[0].up.sql.contains("to app;"));
        write(t.path(), "V1__a.sql", "select '${flyway:nope}';");
        let err = discover_with(t.path(), &[]).unwrap_err();
        assert!(
            err.message
                .contains("Failed to populate value for default placeholder")
        );
    }
}
