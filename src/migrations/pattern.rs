//! Any hand-rolled layout, described in `[pattern]` of `migration-check.toml`, so teams that
//! wrote their own runner keep their files. Three shapes cover what real projects do:
//! separate up and down files (`up = "{version}_{name}.sql"`, `down =
//! "rollbacks/{version}_{name}_down.sql"`), up and down as suffixes (`V{version}.{name}.up.sql`
//! / `.down.sql`), or one file per migration with whole-line section markers (`up_section =
//! "-- UP"`, `down_section = "-- DOWN"`, matched case-insensitively, surrounding whitespace
//! ignored). `{version}` matches digits with `.`, `_` or `-` separators; `{name}` matches the
//! rest up to the next literal (never a `/`). Versions are ordered part by part as numbers
//! (`order = "numeric"`) or as strings (`"lexical"`). A file that matches neither pattern is
//! reported as ignored: not silently skipped, not an error.

use std::collections::BTreeMap;

use super::{
    Entry, Evidence, Format, FormatSpec, Found, KeyPart, Listing, Migration, Script,
    Settings as AllSettings, Strength, Text, TransactionMode, Version, lines,
};
use crate::error::InputError;

/// The pattern format.
pub const FORMAT: Format = Format::new(&Pattern);

/// How deep patterns may reach below the migrations directory.
const MAX_DEPTH: usize = 4;

/// `[pattern]` in `migration-check.toml`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The up file (or the single file), relative to the migrations directory:
    /// `{version}_{name}.sql`.
    pub up: String,
    /// The down file, when downs are separate files.
    pub down: Option<String>,
    /// The whole-line marker starting the up section of a single file.
    pub up_section: Option<String>,
    /// The whole-line marker starting the down section of a single file.
    pub down_section: Option<String>,
    /// `numeric` (default) or `lexical`.
    #[serde(default)]
    pub order: Order,
    /// Whether the runner wraps each script in a transaction (default true); false runs
    /// each script as written.
    #[serde(default = "default_transaction")]
    pub transaction: bool,
}

/// How versions are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Part by part as numbers (`1.10` after `1.9`).
    #[default]
    Numeric,
    /// As strings.
    Lexical,
}

/// Hand-rolled runners wrap each script in a transaction more often than not.
fn default_transaction() -> bool {
    true
}

/// One piece of a file pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Version,
    Name,
}

/// A compiled file pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FilePattern {
    tokens: Vec<Token>,
}

/// What a file name gave for a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Captured {
    version: String,
    name: String,
}

impl FilePattern {
    /// Compiles `pattern` (the `key` setting, for errors): literals with `{version}` exactly
    /// once and `{name}` at most once, never next to each other.
    fn compile(key: &str, pattern: &str) -> Result<FilePattern, String> {
        let mut tokens = Vec::new();
        let mut rest = pattern;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("{version}") {
                tokens.push(Token::Version);
                rest = after;
            } else if let Some(after) = rest.strip_prefix("{name}") {
                tokens.push(Token::Name);
                rest = after;
            } else {
                let end = rest[1..].find('{').map_or(rest.len(), |i| i + 1);
                match tokens.last_mut() {
                    Some(Token::Literal(text)) => text.push_str(&rest[..end]),
                    _ => tokens.push(Token::Literal(rest[..end].to_string())),
                }
                rest = &rest[end..];
            }
        }
        let count = |wanted: &Token| tokens.iter().filter(|t| *t == wanted).count();
        if count(&Token::Version) != 1 {
            return Err(format!(
                "[pattern] {key} = \"{pattern}\": needs `{{version}}` exactly once"
            ));
        }
        if count(&Token::Name) > 1 {
            return Err(format!(
                "[pattern] {key} = \"{pattern}\": `{{name}}` at most once"
            ));
        }
        if tokens
            .windows(2)
            .any(|w| !matches!(w[0], Token::Literal(_)) && !matches!(w[1], Token::Literal(_)))
        {
            return Err(format!(
                "[pattern] {key} = \"{pattern}\": put a literal between `{{version}}` and `{{name}}`"
            ));
        }
        if pattern.starts_with('/') || pattern.split('/').any(|part| part == "..") {
            return Err(format!(
                "[pattern] {key} = \"{pattern}\": must be relative to the migrations directory"
            ));
        }
        if pattern.split('/').count() > MAX_DEPTH {
            return Err(format!(
                "[pattern] {key} = \"{pattern}\": at most {MAX_DEPTH} levels deep"
            ));
        }
        Ok(FilePattern { tokens })
    }

    /// The version and name of `rel` if it matches the whole pattern.
    fn capture(&self, rel: &str) -> Option<Captured> {
        let mut captured = Captured {
            version: String::new(),
            name: String::new(),
        };
        match_tokens(&self.tokens, rel, &mut captured).then_some(captured)
    }
}

/// Matches `tokens` against all of `text`, backtracking over where `{version}` and
/// `{name}` end: `{version}` longest first, `{name}` shortest first (up to the next literal).
fn match_tokens(tokens: &[Token], text: &str, captured: &mut Captured) -> bool {
    let Some((token, rest)) = tokens.split_first() else {
        return text.is_empty();
    };
    match token {
        Token::Literal(literal) => text
            .strip_prefix(literal.as_str())
            .is_some_and(|after| match_tokens(rest, after, captured)),
        Token::Version => {
            let mut ends = version_ends(text);
            ends.reverse();
            ends.into_iter().any(|end| {
                captured.version = text[..end].to_string();
                match_tokens(rest, &text[end..], captured)
            })
        }
        Token::Name => {
            let limit = text.find('/').unwrap_or(text.len());
            (1..=limit)
                .filter(|end| text.is_char_boundary(*end))
                .any(|end| {
                    captured.name = text[..end].to_string();
                    match_tokens(rest, &text[end..], captured)
                })
        }
    }
}

/// The byte lengths at which a prefix of `text` is a version: digits, optionally followed by
/// groups of one separator (`.`, `_`, `-`) and digits.
fn version_ends(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut ends = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            break;
        }
        ends.push(i);
        if i + 1 < bytes.len() && matches!(bytes[i], b'.' | b'_' | b'-') {
            i += 1;
        } else {
            break;
        }
    }
    ends
}

/// The settings compiled: the patterns and the section markers.
struct Compiled<'a> {
    settings: &'a Settings,
    up: FilePattern,
    down: Option<FilePattern>,
}

impl<'a> Compiled<'a> {
    /// Compiles `[pattern]`; a missing table or a bad pattern is an error naming the setting.
    fn new(settings: &'a AllSettings, dir: &std::path::Path) -> Result<Self, InputError> {
        let Some(pattern) = &settings.pattern else {
            return Err(InputError::new(
                dir,
                "format `pattern` needs a `[pattern]` table in migration-check.toml \
                 (at least `up = \"{version}_{name}.sql\"`)",
            ));
        };
        let error = |message: String| InputError::new(dir, message);
        let up = FilePattern::compile("up", &pattern.up).map_err(error)?;
        let down = match &pattern.down {
            Some(down) => Some(FilePattern::compile("down", down).map_err(error)?),
            None => None,
        };
        if down.is_some() && pattern.down_section.is_some() {
            return Err(error(
                "[pattern]: set either `down` (separate down files) or `down_section` \
                 (a section of the up file), not both"
                    .to_string(),
            ));
        }
        Ok(Compiled {
            settings: pattern,
            up,
            down,
        })
    }

    /// The migration files: `(captured, is_down)` of `rel`, the up pattern first.
    fn classify(&self, rel: &str) -> Option<(Captured, bool)> {
        if let Some(captured) = self.up.capture(rel) {
            return Some((captured, false));
        }
        self.down
            .as_ref()
            .and_then(|down| down.capture(rel))
            .map(|captured| (captured, true))
    }

    fn version(&self, text: &str) -> Version {
        match self.settings.order {
            Order::Numeric => Version::with_key(
                text,
                text.split(['.', '_', '-']).map(KeyPart::digits).collect(),
            ),
            Order::Lexical => Version::textual(text, text),
        }
    }

    fn transaction(&self) -> TransactionMode {
        if self.settings.transaction {
            TransactionMode::Wrapped
        } else {
            TransactionMode::AsWritten
        }
    }
}

/// A hand-rolled layout.
pub struct Pattern;

impl FormatSpec for Pattern {
    fn name(&self) -> &'static str {
        "pattern"
    }

    fn layout(&self) -> &'static str {
        "a hand-rolled layout described in `[pattern]`"
    }

    fn depth(&self) -> usize {
        MAX_DEPTH
    }

    /// A `[pattern]` table is the user's own description of the directory: it outweighs
    /// every tool's evidence but another tool's annotation, which ties (exit 2, pick one).
    fn recognise(
        &self,
        listing: &Listing,
        settings: &AllSettings,
    ) -> Result<Option<Evidence>, InputError> {
        Ok(settings
            .pattern
            .as_ref()
            .map(|_| Evidence::file(&listing.dir.clone(), Strength::Annotation)))
    }

    fn discover(&self, listing: &Listing, settings: &AllSettings) -> Result<Found, InputError> {
        let compiled = Compiled::new(settings, &listing.dir)?;
        let mut ups: BTreeMap<Version, (&Entry, Captured)> = BTreeMap::new();
        let mut downs: Vec<(&Entry, Captured)> = Vec::new();
        let mut ignored = Vec::new();
        for entry in listing.files() {
            match compiled.classify(&entry.rel) {
                Some((captured, true)) => downs.push((entry, captured)),
                Some((captured, false)) => {
                    let version = compiled.version(&captured.version);
                    if let Some((other, _)) = ups
                        .keys()
                        .find(|v| v.same_key(&version))
                        .and_then(|v| ups.get(v))
                    {
                        return Err(duplicate(entry, other, &captured.version));
                    }
                    ups.insert(version, (entry, captured));
                }
                None => ignored.push(entry.path.clone()),
            }
        }
        let mut down_of: BTreeMap<Version, &Entry> = BTreeMap::new();
        for (entry, captured) in downs {
            let version = compiled.version(&captured.version);
            let Some(key) = ups.keys().find(|v| v.same_key(&version)).cloned() else {
                return Err(InputError::new(
                    &entry.path,
                    format!(
                        "down file without an up file: no file matches `{}` with version {}",
                        compiled.settings.up, captured.version
                    ),
                ));
            };
            if let Some(other) = down_of.insert(key, entry) {
                return Err(duplicate(entry, other, &captured.version));
            }
        }
        let mut migrations = Vec::new();
        for (version, (entry, captured)) in ups {
            let text = entry.text()?;
            let migration = match down_of.get(&version) {
                Some(down) => Migration {
                    up: text.whole_script(&entry.path, compiled.transaction()),
                    down: Some(
                        down.text()?
                            .whole_script(&down.path, compiled.transaction()),
                    ),
                    version,
                    name: captured.name,
                },
                None => sections(&compiled, entry, text, version, captured.name)?,
            };
            migrations.push(migration);
        }
        Ok(Found {
            migrations,
            ignored,
            ..Found::default()
        })
    }

    fn is_migration_path(&self, rel: &str, settings: &AllSettings) -> bool {
        Compiled::new(settings, std::path::Path::new(""))
            .is_ok_and(|compiled| compiled.classify(rel).is_some())
    }

    fn version_of_path(&self, rel: &str, settings: &AllSettings) -> Option<Version> {
        let compiled = Compiled::new(settings, std::path::Path::new("")).ok()?;
        let (captured, _) = compiled.classify(rel)?;
        Some(compiled.version(&captured.version))
    }

    fn migration_key(&self, rel: &str, settings: &AllSettings) -> String {
        self.version_of_path(rel, settings)
            .map_or_else(|| rel.to_string(), |v| v.text)
    }

    fn transaction_rule(&self) -> &'static str {
        "each script in its own transaction, unless `transaction = false` (then as written)"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn history_table(&self) -> Option<&'static str> {
        None
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        vec![(format!("{version}_{name}.sql"), format!("-- {name}\n"))]
    }
}

/// The error for two files with the same version.
fn duplicate(entry: &Entry, other: &Entry, version: &str) -> InputError {
    InputError::new(
        &entry.path,
        format!(
            "duplicate version {version}: {} has the same version",
            other.path.display()
        ),
    )
}

/// Whether `line` is the whole-line marker `marker` (case-insensitive, surrounding
/// whitespace ignored).
fn is_marker(line: &str, marker: &str) -> bool {
    line.trim().eq_ignore_ascii_case(marker.trim())
}

/// The migration of a single file: whole up (no section markers configured), or split at
/// its `up_section` / `down_section` lines.
fn sections(
    compiled: &Compiled<'_>,
    entry: &Entry,
    text: &Text,
    version: Version,
    name: String,
) -> Result<Migration, InputError> {
    let settings = compiled.settings;
    let mode = compiled.transaction();
    let path = &entry.path;
    let mut up_marker: Option<(usize, usize)> = None;
    let mut down_marker: Option<(usize, usize)> = None;
    for line in lines(&text.sql) {
        let is =
            |marker: &Option<String>| marker.as_deref().is_some_and(|m| is_marker(line.text, m));
        let (slot, marker) = if is(&settings.up_section) {
            (&mut up_marker, settings.up_section.as_deref())
        } else if is(&settings.down_section) {
            (&mut down_marker, settings.down_section.as_deref())
        } else {
            continue;
        };
        if let Some((first, _)) = slot {
            return Err(InputError::at_line(
                path,
                line.number,
                format!(
                    "second `{}` marker (the first is on line {first})",
                    marker.unwrap_or_default()
                ),
            ));
        }
        *slot = Some((line.number, line.end));
    }
    if settings.up_section.is_some() && up_marker.is_none() {
        return Err(InputError::new(
            path,
            format!(
                "no `{}` line: [pattern] up_section says each migration file has one",
                settings.up_section.as_deref().unwrap_or_default()
            ),
        ));
    }
    if let (Some((up_line, _)), Some((down_line, _))) = (up_marker, down_marker)
        && down_line < up_line
    {
        return Err(InputError::at_line(
            path,
            down_line,
            format!(
                "`{}` before `{}` (line {up_line})",
                settings.down_section.as_deref().unwrap_or_default(),
                settings.up_section.as_deref().unwrap_or_default()
            ),
        ));
    }
    let up_start = up_marker.map_or(0, |(_, end)| end);
    if let Some(line) = lines(&text.sql[..up_start]).find(|l| {
        let t = l.text.trim();
        !(t.is_empty() || t.starts_with("--") || up_marker.is_some_and(|(n, _)| n == l.number))
    }) {
        return Err(InputError::at_line(
            path,
            line.number,
            format!(
                "statement before `{}`; only the up and down sections run",
                settings.up_section.as_deref().unwrap_or_default()
            ),
        ));
    }
    let down_start = down_marker.map(|(line, end)| (line_start(text, line), end));
    let up_end = down_start.map_or(text.sql.len(), |(start, _)| start);
    let up = text.section_script(path, up_start, up_end, mode);
    let down: Option<Script> =
        down_start.map(|(_, end)| text.section_script(path, end, text.sql.len(), mode));
    Ok(Migration {
        version,
        name,
        up,
        down,
    })
}

/// The byte offset where 1-based `line` starts.
fn line_start(text: &Text, line: usize) -> usize {
    lines(&text.sql)
        .find(|l| l.number == line)
        .map_or(text.sql.len(), |l| l.start)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::test_util::{tempdir, versions, write};
    use super::*;

    fn settings(toml_text: &str) -> Arc<AllSettings> {
        #[derive(serde::Deserialize)]
        struct File {
            pattern: Settings,
        }
        let file: File = toml::from_str(toml_text).unwrap();
        Arc::new(AllSettings {
            pattern: Some(file.pattern),
            ..AllSettings::default()
        })
    }

    fn discover(
        dir: &std::path::Path,
        toml_text: &str,
    ) -> Result<super::super::Discovered, InputError> {
        super::super::discover(dir, Some(FORMAT), &settings(toml_text))
    }

    #[test]
    fn patterns_capture_version_and_name() {
        let p = FilePattern::compile("up", "{version}_{name}.sql").unwrap();
        let c = p.capture("2024_01_02_add_users.sql").unwrap();
        assert_eq!(
            (c.version.as_str(), c.name.as_str()),
            ("2024_01_02", "add_users")
        );
        let p = FilePattern::compile("down", "rollbacks/{version}_{name}_down.sql").unwrap();
        let c = p.capture("rollbacks/7_add_users_down.sql").unwrap();
        assert_eq!((c.version.as_str(), c.name.as_str()), ("7", "add_users"));
        assert_eq!(p.capture("7_add_users_down.sql"), None);
        let p = FilePattern::compile("up", "V{version}.{name}.up.sql").unwrap();
        let c = p.capture("V0001.Initial_Schema.up.sql").unwrap();
        assert_eq!(
            (c.version.as_str(), c.name.as_str()),
            ("0001", "Initial_Schema")
        );
        assert_eq!(p.capture("V0001.Initial_Schema.down.sql"), None);
        assert_eq!(p.capture("Vx.Initial.up.sql"), None);
        let p = FilePattern::compile("up", "{version}-{name}.sql").unwrap();
        let c = p.capture("1.2-add-index.sql").unwrap();
        assert_eq!((c.version.as_str(), c.name.as_str()), ("1.2", "add-index"));
        assert_eq!(p.capture("sub/1-a.sql"), None);
    }

    #[test]
    fn bad_patterns_are_refused_with_the_setting() {
        for (pattern, needle) in [
            ("{name}.sql", "exactly once"),
            ("{version}{name}.sql", "literal between"),
            ("{version}_{name}_{name}.sql", "at most once"),
            ("../{version}.sql", "relative"),
            ("/{version}.sql", "relative"),
        ] {
            let err = FilePattern::compile("up", pattern).unwrap_err();
            assert!(err.contains(needle), "{pattern}: {err}");
            assert!(err.contains("[pattern] up"), "{err}");
        }
    }

    #[test]
    fn separate_down_files_in_a_subdirectory() {
        let t = tempdir();
        write(t.path(), "10_b.sql", "create table b();");
        write(t.path(), "9_a.sql", "create table a();");
        write(t.path(), "rollbacks/9_a_down.sql", "drop table a;");
        write(t.path(), "README.md", "notes");
        let toml_text = "[pattern]\nup = \"{version}_{name}.sql\"\ndown = \"rollbacks/{version}_{name}_down.sql\"\n";
        let d = discover(t.path(), toml_text).unwrap();
        assert_eq!(versions(&d), ["9", "10"]);
        assert_eq!(d.migrations[0].down.as_ref().unwrap().sql, "drop table a;");
        assert_eq!(d.migrations[1].down, None);
        assert_eq!(d.ignored, [t.path().join("README.md")]);
        assert_eq!(d.migrations[0].up.transaction, TransactionMode::Wrapped);
    }

    #[test]
    fn sections_in_one_file_case_insensitive() {
        let t = tempdir();
        write(
            t.path(),
            "1-users.sql",
            "-- users\n  -- up  \ncreate table users();\n-- Down\ndrop table users;\n",
        );
        let toml_text = "[pattern]\nup = \"{version}-{name}.sql\"\nup_section = \"-- UP\"\ndown_section = \"-- DOWN\"\ntransaction = false\n";
        let d = discover(t.path(), toml_text).unwrap();
        let m = &d.migrations[0];
        assert_eq!(m.up.sql, "create table users();\n");
        assert_eq!(m.up.line_offset, 2);
        assert_eq!(m.up.transaction, TransactionMode::AsWritten);
        let down = m.down.as_ref().unwrap();
        assert_eq!(down.sql, "drop table users;\n");
        assert_eq!(down.line_offset, 4);
    }

    #[test]
    fn numeric_and_lexical_order() {
        let t = tempdir();
        write(t.path(), "V1.10.b.up.sql", "select 1;");
        write(t.path(), "V1.9.a.up.sql", "select 1;");
        let toml_text = "[pattern]\nup = \"V{version}.{name}.up.sql\"\n";
        assert_eq!(
            versions(&discover(t.path(), toml_text).unwrap()),
            ["1.9", "1.10"]
        );
        let lexical = format!("{toml_text}order = \"lexical\"\n");
        assert_eq!(
            versions(&discover(t.path(), &lexical).unwrap()),
            ["1.10", "1.9"]
        );
    }

    #[test]
    fn bad_inputs_name_file_and_line() {
        let sections = "[pattern]\nup = \"{version}-{name}.sql\"\nup_section = \"-- UP\"\ndown_section = \"-- DOWN\"\n";
        let t = tempdir();
        let f = write(t.path(), "1-a.sql", "select 1;\n");
        let err = discover(t.path(), sections).unwrap_err();
        assert_eq!((err.path.as_path(), err.line), (f.as_path(), None));
        assert!(err.message.contains("no `-- UP` line"), "{err}");
        write(
            t.path(),
            "1-a.sql",
            "-- DOWN\nselect 1;\n-- UP\nselect 2;\n",
        );
        let err = discover(t.path(), sections).unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(err.message.contains("before"), "{err}");
        write(t.path(), "1-a.sql", "-- UP\nselect 1;\n-- up\n");
        let err = discover(t.path(), sections).unwrap_err();
        assert_eq!(err.line, Some(3));
        write(t.path(), "1-a.sql", "select 0;\n-- UP\nselect 1;\n");
        let err = discover(t.path(), sections).unwrap_err();
        assert_eq!(err.line, Some(1));
        write(t.path(), "1-a.sql", b"-- UP\n\xff\n");
        let err = discover(t.path(), sections).unwrap_err();
        assert_eq!(
            (err.line, err.message.as_str()),
            (Some(2), "not valid UTF-8")
        );

        let files = "[pattern]\nup = \"{version}_{name}.sql\"\ndown = \"rollbacks/{version}_{name}_down.sql\"\n";
        let t = tempdir();
        write(t.path(), "1_a.sql", "select 1;");
        let orphan = write(t.path(), "rollbacks/2_b_down.sql", "select 1;");
        let err = discover(t.path(), files).unwrap_err();
        assert_eq!(err.path, orphan);
        assert!(
            err.message.contains("down file without an up file"),
            "{err}"
        );
        std::fs::remove_file(&orphan).unwrap();
        write(t.path(), "01_b.sql", "select 1;");
        let err = discover(t.path(), files).unwrap_err();
        assert!(err.message.contains("duplicate version"), "{err}");
    }

    #[test]
    fn checksums_follow_the_patterns() {
        let s = settings(
            "[pattern]\nup = \"{version}_{name}.sql\"\ndown = \"rollbacks/{version}_{name}_down.sql\"\n",
        );
        assert!(Pattern.is_migration_path("rollbacks/1_a_down.sql", &s));
        assert!(!Pattern.is_migration_path("README.md", &s));
        assert_eq!(Pattern.migration_key("rollbacks/1_a_down.sql", &s), "1");
        assert_eq!(Pattern.migration_key("1_a.sql", &s), "1");
        assert_eq!(Pattern.version_of_path("2_b.sql", &s).unwrap().text, "2");
    }
}
